"""Dataset layout, checks, manifest and PairedFaceDataset (DataLoader workers, DistributedSampler)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from triple_dots.data import PairedFaceDataset
from triple_dots.dataset_folder import (
    BadDatasetError,
    check_dataset,
    load_pairs,
    read_manifest,
    scan_folder,
    write_manifest,
)
from triple_dots.errors import BadInputError, NoFaceError, OutputExistsError
from triple_dots.images import read_image, read_mask, write_image, write_mask
from triple_dots.preprocess import split
from triple_dots.preprocess.demo_data import ellipse_hole, make_demo_dataset


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_demo_dataset(tmp_path / "ds", 10, width=40, height=32, meta=True)


def test_scan_matches_by_stem_and_reports_leftovers(root: Path) -> None:
    write_image(root / "images" / "stray.png", np.zeros((8, 8, 3), np.uint8))
    write_mask(root / "masks" / "ghost.png", np.zeros((8, 8), np.uint8))
    scan = scan_folder(root)
    assert len(scan.pairs) == 10 and all(p.meta is not None for p in scan.pairs)
    assert [p.name for p in scan.images_only] == ["stray.png"]
    assert [p.name for p in scan.masks_only] == ["ghost.png"]
    with pytest.raises(BadDatasetError, match="preprocess pair") as exc:
        load_pairs(root)
    assert {p.path.name for p in exc.value.problems} == {"stray.png", "ghost.png"}


def test_check_dataset_facts(root: Path) -> None:
    checked = check_dataset(root, progress=False)
    assert len(checked) == 10
    for pair, facts in checked:
        assert (facts.width, facts.height) == (40, 32)
        assert facts.hole_ratio == pytest.approx(float(read_mask(pair.mask).mean()))


def test_check_dataset_lists_every_bad_file(root: Path) -> None:
    (root / "images" / "person0_0000.jpg").write_bytes(b"")
    write_mask(root / "masks" / "person1_0001.png", np.full((32, 40), 255, np.uint8), overwrite=True)
    with pytest.raises(BadDatasetError) as exc:
        check_dataset(root, progress=False)
    msg = str(exc.value)
    assert "2 bad files" in msg and "person0_0000.jpg" in msg and "empty (0 bytes)" in msg
    assert "person1_0001.png" in msg and "looks inverted" in msg
    assert sorted(p.kind for p in exc.value.problems) == ["BadMaskError", "UnreadableImageError"]


def test_missing_mask_folder_and_empty_folder(tmp_path: Path) -> None:
    write_image(tmp_path / "photos" / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(BadInputError, match="has no masks"):
        load_pairs(tmp_path / "photos")
    assert [p.mask for p in load_pairs(tmp_path / "photos", require_masks=False)] == [None]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="holds no photos"):
        load_pairs(tmp_path / "empty")
    with pytest.raises(BadInputError, match="does not exist"):
        load_pairs(tmp_path / "nope")


def test_manifest_round_trip_keeps_extra_columns(root: Path, tmp_path: Path) -> None:
    pairs = load_pairs(root)
    rows = [{"name": p.name, "image": f"../ds/images/{p.image.name}", "mask": f"../ds/masks/{p.mask.name}",
             "split": "train" if i % 2 else "test", "person": p.name[:7]} for i, p in enumerate(pairs)]  # fmt: skip
    path = tmp_path / "m" / "manifest.csv"
    write_manifest(path, rows)
    with pytest.raises(OutputExistsError):
        write_manifest(path, rows)
    back = read_manifest(path)
    assert [p.name for p in back] == [p.name for p in pairs]
    assert all(b.image.resolve() == p.image.resolve() for b, p in zip(back, pairs))
    assert back[0].fields["person"] == "person0" and back[1].split == "train"
    assert len(load_pairs(path, split="test")) == 5
    with pytest.raises(BadInputError, match="no pairs in split 'val'"):
        load_pairs(path, split="val")


@pytest.mark.parametrize("text,match", [("name,image\n,x.jpg\n", "empty 'name'"), ("a,b\n1,2\n", "lacks the column"),
                                        ("name,image\na,x.jpg\na,y.jpg\n", "appears twice")])  # fmt: skip
def test_bad_manifest_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "manifest.csv"
    path.write_text(text)
    with pytest.raises(BadInputError, match=match) as exc:
        read_manifest(path)
    assert "manifest.csv" in str(exc.value)


# --------------------------------------------------------------------------------------
# PairedFaceDataset
# --------------------------------------------------------------------------------------
def test_items_follow_the_convention(root: Path) -> None:
    ds = PairedFaceDataset(root)
    item = ds[0]
    assert item["name"] == "person0_0000"
    assert item["image"].shape == (3, 32, 40) and item["image"].dtype == torch.float32
    assert 0 <= item["image"].min() and item["image"].max() <= 1
    assert torch.equal(item["hole_mask"], read_mask(root / "masks" / "person0_0000.png"))
    assert torch.allclose(item["image"], read_image(root / "images" / "person0_0000.jpg"))
    sized = PairedFaceDataset(root, size=24)[3]
    assert sized["image"].shape == (3, 24, 24) and sized["hole_mask"].shape == (1, 24, 24)
    assert set(sized["hole_mask"].unique().tolist()) <= {0.0, 1.0}


def _marked_dataset(tmp_path: Path) -> Path:
    """One pair whose photo encodes the hole in its red channel, so any misalignment shows."""
    hole = ellipse_hole(48, 48, ratio=0.2, center=(0.35, 0.6))
    photo = np.zeros((48, 48, 3), np.uint8)
    photo[..., 0] = hole
    photo[..., 1] = np.linspace(0, 255, 48, dtype=np.uint8)[None, :]  # left-right gradient
    write_image(tmp_path / "mk" / "images" / "a.png", photo)
    write_mask(tmp_path / "mk" / "masks" / "a.png", hole)
    return tmp_path / "mk"


def test_flip_and_augment_move_photo_and_mask_together(tmp_path: Path) -> None:
    root = _marked_dataset(tmp_path)
    plain = PairedFaceDataset(root)[0]
    flipped_seen = 0
    for seed in range(8):
        ds = PairedFaceDataset(root, flip=True, augment=True, seed=seed)
        item = ds[0]
        red, hole = item["image"][0], item["hole_mask"][0]
        # the hole drawn into the photo and the mask still coincide (up to interpolation at the edge)
        agree = ((red > 0.5) == (hole > 0.5)).float().mean()
        assert agree > 0.97
        assert not torch.equal(item["image"], plain["image"])  # augmentation changed something
        gradient = item["image"][1]
        flipped_seen += int(gradient[:, :8].mean() > gradient[:, -8:].mean())
        again = ds[0]
        assert torch.equal(again["image"], item["image"]) and torch.equal(again["hole_mask"], item["hole_mask"])
    assert 0 < flipped_seen < 8  # both flipped and unflipped occur
    ds = PairedFaceDataset(root, flip=True, augment=True, seed=0)
    first = ds[0]["image"]
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["image"], first)  # a new epoch draws new augmentations


def test_fresh_synthetic_mask_per_sample_with_injected_fn(root: Path) -> None:
    calls = []

    def fake_mask(image: torch.Tensor, mask_type: str, *, seed: int) -> SimpleNamespace:
        calls.append((mask_type, seed))
        rng = np.random.default_rng(seed)
        hole = torch.zeros(1, *image.shape[-2:])
        y, x = int(rng.integers(0, image.shape[1] - 8)), int(rng.integers(0, image.shape[2] - 8))
        hole[:, y : y + 8, x : x + 8] = 1
        return SimpleNamespace(image=image, hole_mask=hole, faces=[])

    ds = PairedFaceDataset(root, synthetic_masks=True, mask_types=("surgical", "n95"), mask_fn=fake_mask, size=32)
    a, b = ds[0], ds[0]
    assert torch.equal(a["hole_mask"], b["hole_mask"])  # deterministic per (seed, epoch, index)
    assert a["hole_mask"].sum() > 0 and not torch.equal(a["hole_mask"], ds[1]["hole_mask"])
    assert not torch.equal(a["hole_mask"][0], PairedFaceDataset(root, size=32)[0]["hole_mask"][0])
    ds.set_epoch(5)
    assert not torch.equal(ds[0]["hole_mask"], a["hole_mask"])
    assert {t for t, _ in calls} <= {"surgical", "n95"} and len({s for _, s in calls}) >= 3


def test_synthetic_masks_need_no_mask_folder_and_no_face_policy(tmp_path: Path) -> None:
    write_image(tmp_path / "p" / "a.jpg", np.zeros((16, 16, 3), np.uint8))

    def no_face(image, mask_type, *, seed):
        raise NoFaceError("no face in <in-memory input>")

    ds = PairedFaceDataset(tmp_path / "p", synthetic_masks=True, mask_fn=no_face)
    assert len(ds) == 1
    with pytest.raises(NoFaceError, match="a.jpg"):
        ds[0]
    root = make_demo_dataset(tmp_path / "d", 2, width=16)
    ds2 = PairedFaceDataset(root, synthetic_masks=True, mask_fn=no_face, no_face="stored")
    with pytest.warns(UserWarning, match="person0_0000"):
        item = ds2[0]
    assert torch.equal(item["hole_mask"], read_mask(root / "masks" / "person0_0000.png"))


def test_dataset_refuses_bad_files_up_front(root: Path) -> None:
    from PIL import Image

    mask = ellipse_hole(32, 40)
    mask[mask == 255] = 7  # a faint, non-binary mask
    Image.fromarray(mask, "L").save(root / "masks" / "person2_0002.png")
    with pytest.raises(BadDatasetError, match="person2_0002.png"):
        PairedFaceDataset(root)


def _collect(loader: DataLoader) -> dict[str, torch.Tensor]:
    out = {}
    for batch in loader:
        for name, img, m in zip(batch["name"], batch["image"], batch["hole_mask"]):
            assert name not in out
            out[name] = torch.cat([img, m])
    return out


def test_workers_and_distributed_sampler(root: Path) -> None:
    ds = PairedFaceDataset(root, size=24, flip=True, augment=True, seed=4)
    serial = _collect(DataLoader(ds, batch_size=3, num_workers=0))
    parallel = _collect(DataLoader(ds, batch_size=3, num_workers=2))
    assert serial.keys() == parallel.keys() and len(serial) == 10
    assert all(torch.equal(serial[k], parallel[k]) for k in serial)  # same items whatever the worker count
    shards = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=1, drop_last=True)
        sampler.set_epoch(0)
        shards.append(_collect(DataLoader(ds, batch_size=2, sampler=sampler, num_workers=1)))
    assert not shards[0].keys() & shards[1].keys()  # disjoint
    assert shards[0].keys() | shards[1].keys() == serial.keys()  # complete (10 items, 2 ranks)
    assert all(torch.equal(shards[r][k], serial[k]) for r in range(2) for k in shards[r])


def test_split_then_dataset_by_split(root: Path, tmp_path: Path) -> None:
    split(root, tmp_path / "sp", val=0.2, test=0.2, seed=0, progress=False)
    sizes = {s: len(PairedFaceDataset(tmp_path / "sp", split=s, validate=False)) for s in ("train", "val", "test")}
    assert sizes == {"train": 6, "val": 2, "test": 2}
    m = PairedFaceDataset(tmp_path / "sp" / "manifest.csv", split="test")
    assert len(m) == 2 and m[0]["image"].shape == (3, 32, 40)


def test_real_mask_synthesis_on_a_sample_photo(tmp_path: Path, sample_paths: list[Path]) -> None:
    masks = pytest.importorskip("triple_dots.masks")
    try:
        from triple_dots.weights import locate

        locate("dlib-landmarks68")
    except Exception as exc:  # noqa: BLE001 - the predictor file is optional here
        pytest.skip(f"dlib landmark model not available: {exc}")
    photo = next(p for p in sample_paths if p.stem == "grace_hopper")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / photo.name).write_bytes(photo.read_bytes())
    ds = PairedFaceDataset(tmp_path / "p", synthetic_masks=True, mask_types=masks.MASK_TYPES[:2], size=128)
    item = ds[0]
    assert item["hole_mask"].shape == (1, 128, 128)
    ratio = float(item["hole_mask"].mean())
    assert 0.03 < ratio < 0.6  # a medical mask covers the lower face, not the whole picture
    assert torch.equal(ds[0]["hole_mask"], item["hole_mask"])


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK", "I;16"])
def test_fast_uint8_reader_matches_read_image(tmp_path: Path, mode: str) -> None:
    from PIL import Image

    from triple_dots.images import read_image, read_image_uint8, to_uint8

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8), "RGB")
    img = rgb.convert(mode) if mode != "I;16" else Image.fromarray(rng.integers(0, 65535, (9, 7), dtype=np.uint16))
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    img.save(path)
    assert np.array_equal(read_image_uint8(path), to_uint8(read_image(path)))
