"""FID/KID: our numbers against pytorch-fid's own, the activation cache, and KID by hand."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from triple_dots.errors import BadInputError, BadWeightsError, MissingWeightsError
from triple_dots.evaluation import fid as fidmod
from triple_dots.evaluation.kid import kid_from_activations, mmd2_unbiased
from triple_dots.images import write_image

FID_FILE = "pt_inception-2015-12-05-6726825d.pth"


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random Kaiming-initialised FID Inception weights saved to a file (stand-in for the real ones)."""
    d = tmp_path_factory.mktemp("fidw")
    return fidmod.save_random_inception(d / FID_FILE, seed=1)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two folders of 8 images (64 px) from clearly different distributions."""
    root = tmp_path_factory.mktemp("fidimg")
    g = torch.Generator().manual_seed(0)
    real, fake = root / "real", root / "fake"
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    for i in range(8):
        c = torch.rand(3, 1, 1, generator=g)
        write_image(real / f"img_{i}.png", (c * xx + (1 - c) * yy).clamp(0, 1))
        write_image(fake / f"img_{i}.png", torch.rand(3, 64, 64, generator=g))
    return real, fake


def _pytorch_fid_reference(tmp_path: Path, inception_file: Path, paths: list[Path], dims: int,
                           monkeypatch: pytest.MonkeyPatch) -> float:
    """pytorch-fid's own calculate_fid_given_paths, its weights taken from a patched torch hub cache."""
    import warnings

    from pytorch_fid.fid_score import calculate_fid_given_paths

    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(inception_file, hub / FID_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's sqrtm on singular covariances (N < dims)
        return float(calculate_fid_given_paths([str(p) for p in paths], 50, "cpu", dims, num_workers=0))


@pytest.mark.slow
def test_standard_2048_fid_equals_pytorch_fid(tmp_path, inception_file, folders, monkeypatch):
    """The standard FID (2048-d pool3) end to end: same files, same weights, pytorch-fid's own function."""
    real, fake = folders
    ref = _pytorch_fid_reference(tmp_path, inception_file, [real, fake], 2048, monkeypatch)
    ours = fidmod.fid(real, fake, dims=2048, weights_path=inception_file, use_cache=False)
    assert ref > 1.0, f"reference FID {ref} is ~0: the stand-in Inception weights are degenerate"
    assert ours == pytest.approx(ref, abs=1e-3)


@pytest.mark.slow
def test_fid_equals_pytorch_fid(tmp_path, inception_file, folders, monkeypatch):
    real, fake = folders
    ref = _pytorch_fid_reference(tmp_path, inception_file, [real, fake], 768, monkeypatch)
    ours = fidmod.fid(real, fake, dims=768, weights_path=inception_file, cache_dir=tmp_path / "cache")
    assert ref > 1.0, f"reference FID {ref} is ~0: the stand-in Inception weights are degenerate"
    assert ours == pytest.approx(ref, abs=1e-3)
    # weights found through torch hub's cache (where pytorch-fid keeps them) without an explicit path:
    # the cache key includes the weights' hash, so a pure cache hit proves the same file was found
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(tmp_path / "empty_home"))
    enc = fidmod.FIDEncoder(dims=768, cache_dir=tmp_path / "cache", progress=False)
    assert enc.resolved_path == tmp_path / "torch_home" / "hub" / "checkpoints" / FID_FILE
    again = fidmod.fid(real, fake, encoder=enc)
    assert enc.stats == {"encoded": 0, "cache_hits": 16}
    assert again == pytest.approx(ref, abs=1e-3)


def test_2048_activations_equal_pytorch_fid(inception_file, folders):
    """The standard 2048-d pool features equal pytorch-fid's get_activations on the same files."""
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    real, _ = folders
    files = sorted(real.glob("*.png"))[:4]
    state = torch.load(inception_file, weights_only=True)
    import pytorch_fid.inception as pfi

    orig = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: state
    try:
        ref_model = InceptionV3([3])
    finally:
        pfi.load_state_dict_from_url = orig
    ref = get_activations(files, ref_model, batch_size=4, dims=2048, device="cpu", num_workers=0)
    enc = fidmod.FIDEncoder(dims=2048, weights_path=inception_file, use_cache=False, progress=False)
    ours = enc.encode_files(files)
    assert ours.shape == (4, 2048)
    assert np.abs(ref).mean() > 0.01
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_cache_reencodes_only_changed_folder(tmp_path, inception_file, folders):
    real, fake = folders
    enc = fidmod.FIDEncoder(dims=192, weights_path=inception_file, cache_dir=tmp_path / "c", progress=False)
    first = fidmod.fid(real, fake, encoder=enc)
    assert enc.stats == {"encoded": 16, "cache_hits": 0}
    assert len(list((tmp_path / "c").glob("act_192_*.npz"))) == 2
    # a new "checkpoint" writes new fakes: only they are encoded again
    fake2 = tmp_path / "fake2"
    shutil.copytree(fake, fake2)
    write_image(fake2 / "img_0.png", torch.zeros(3, 64, 64), overwrite=True)
    second = fidmod.fid(real, fake2, encoder=enc)
    assert enc.stats == {"encoded": 24, "cache_hits": 8}
    assert second != first
    # identical content -> pure cache hit, identical number
    assert fidmod.fid(real, fake, encoder=enc) == first
    assert enc.stats["encoded"] == 24
    # a different weights file invalidates the cache
    other = fidmod.save_random_inception(tmp_path / "other.pth", seed=2)
    enc2 = fidmod.FIDEncoder(dims=192, weights_path=other, cache_dir=tmp_path / "c", progress=False)
    enc2.encode_folder(real)
    assert enc2.stats["encoded"] == 8


def test_unreadable_files_listed_before_encoding(tmp_path, inception_file):
    folder = tmp_path / "imgs"
    write_image(folder / "ok.png", torch.rand(3, 32, 32))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n not really")
    (folder / "empty.jpg").write_bytes(b"")
    enc = fidmod.FIDEncoder(dims=64, weights_path=inception_file, use_cache=False, progress=False)
    with pytest.raises(BadInputError, match=r"2 unreadable image\(s\)") as exc:
        enc.encode_folder(folder)
    assert "broken.png" in str(exc.value) and "empty.jpg" in str(exc.value)
    assert enc.stats["encoded"] == 0


def test_missing_and_bad_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(MissingWeightsError, match="fid-inception"):
        fidmod.FIDEncoder()
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(BadWeightsError, match="bad.pth"):
        fidmod.build_inception(2048, bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BadWeightsError, match="junk.pth"):
        fidmod.build_inception(2048, junk)


@pytest.mark.parametrize(("n1", "n2", "d"), [(8, 12, 256), (300, 200, 64)])
def test_exact_frechet_equals_pytorch_fid_formula(n1, n2, d):
    """Both regimes (N < dims: activation factors; N > dims: eigen factors) match pytorch-fid's sqrtm."""
    rng = np.random.default_rng(n1)
    a = np.abs(rng.normal(size=(n1, d))) * 0.3
    b = np.abs(rng.normal(loc=0.5, size=(n2, d))) * 0.3
    ref = fidmod.fid_from_activations(a, b, method="pytorch-fid")
    assert ref > 0.1
    assert fidmod.fid_from_activations(a, b) == pytest.approx(ref, abs=1e-3)
    assert fidmod.fid_from_activations(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_hand_checked():
    # 1-d features, d = 1, kernel (x*y + 1)^3:
    # Kxx off-diagonal k(0,1) = 1; Kyy off-diagonal k(1,2) = 27;
    # Kxy = k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37
    # MMD^2 = 2*1/2 + 2*27/2 - 2*37/4 = 1 + 27 - 18.5 = 9.5
    x = np.array([[0.0], [1.0]])
    y = np.array([[1.0], [2.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(9.5)
    r = kid_from_activations(x, y, subset_size=2, n_subsets=5)
    assert r.mean == pytest.approx(9.5) and r.std == pytest.approx(0.0)
    assert r.subset_size == 2


def test_kid_unbiased_same_distribution():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    c = rng.normal(loc=1.0, size=(200, 8))
    same = kid_from_activations(a, b, subset_size=50, n_subsets=50)
    diff = kid_from_activations(a, c, subset_size=50, n_subsets=50)
    assert abs(same.mean) < 3 * same.std + 1e-9  # unbiased: ~0 for equal distributions
    assert diff.mean > 10 * max(same.std, 1e-6)
    assert diff.std > 0
