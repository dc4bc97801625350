"""Preprocessing commands: never change the input, refuse unsafe outputs, name bad files, do their job."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from triple_dots import preprocess as pp
from triple_dots.cli import main as cli_main
from triple_dots.dataset_folder import BadDatasetError, load_pairs, read_manifest
from triple_dots.errors import BadInputError, OutputExistsError
from triple_dots.images import read_image, read_mask, write_image, write_mask
from triple_dots.preprocess.demo_data import ellipse_hole, make_demo_dataset


def tree_hash(root: Path) -> str:
    """SHA-256 over every file's relative path and bytes (and every folder's name)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(p.relative_to(root).as_posix().encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = make_demo_dataset(tmp_path / "in", 12, width=40, height=32, meta=True)
    return root


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------
# Input never changes
# ---------------------------------------------------------------------------------------
COMMANDS = {
    "convert": lambda src, out: pp.convert(src, out, to="png", progress=False),
    "resize": lambda src, out: pp.resize(src, out, size=24, progress=False),
    "pair": lambda src, out: pp.pair(src, out, progress=False),
    "enlarge": lambda src, out: pp.enlarge(src, out, pixels=2, progress=False),
    "enlarge-face": lambda src, out: pp.enlarge(src, out, face_fraction=0.1, scale=1.2, progress=False),
    "stats": lambda src, out: pp.stats(src, out, band="0.1-0.3", progress=False),
    "split": lambda src, out: pp.split(src, out, group_regex=r"^(person\d)_", progress=False),
    "split-manifest": lambda src, out: pp.split(src, out, manifest_only=True, progress=False),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_input_folder_unchanged(dataset: Path, tmp_path: Path, command: str) -> None:
    # an extra unmatched photo so `pair` has something to leave behind
    write_image(dataset / "images" / "stray.jpg", np.zeros((32, 40, 3), np.uint8))
    src = dataset
    if command != "pair":
        src = tmp_path / "paired"
        pp.pair(dataset, src, progress=False)
    before = tree_hash(src), tree_hash(dataset)
    summary = COMMANDS[command](src, tmp_path / "out")
    assert (tree_hash(src), tree_hash(dataset)) == before
    assert ("wrote" in str(summary) or "measured" in str(summary)) and "\n" not in str(summary)


@pytest.mark.parametrize("step", ["convert", "resize", "pair", "enlarge", "stats", "split"])
def test_cli_input_unchanged_and_summary(dataset: Path, tmp_path: Path, step: str, capsys) -> None:
    extra = {"resize": ["--size", "16"], "enlarge": ["--pixels", "1"], "stats": ["--band", "20-40%"]}.get(step, [])
    before = tree_hash(dataset)
    rc = cli_main(["preprocess", step, str(dataset), str(tmp_path / "o"), "--workers", "1", "--quiet", *extra])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"{step}: " + ("measured 12 pairs" if step == "stats" else "wrote "))
    assert tree_hash(dataset) == before


# ---------------------------------------------------------------------------------------
# Output folder rules
# ---------------------------------------------------------------------------------------
def test_refuses_non_empty_output_unless_overwrite(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        pp.resize(dataset, out, size=16, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    pp.resize(dataset, out, size=16, overwrite=True, progress=False)
    assert keep.read_text() == "mine"  # overwrite replaces same-named files only
    pp.resize(dataset, out, size=20, overwrite=True, progress=False)
    assert read_image(out / "images" / "person0_0000.jpg").shape == (3, 20, 20)


@pytest.mark.parametrize("inside", ["out_in_input", "out_in_images", "input_in_out", "same"])
def test_refuses_output_inside_input(dataset: Path, inside: str) -> None:
    out = {"out_in_input": dataset / "derived", "out_in_images": dataset / "images" / "x",
           "input_in_out": dataset.parent, "same": dataset}[inside]  # fmt: skip
    before = tree_hash(dataset)
    with pytest.raises(BadInputError, match="inside") as exc:
        pp.convert(dataset, out, progress=False)
    assert str(dataset) in str(exc.value) or str(dataset.parent) in str(exc.value)
    assert tree_hash(dataset) == before


def test_empty_folder_is_refused_with_its_name(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    with pytest.raises(BadInputError, match="holds no photos") as exc:
        pp.resize(empty, tmp_path / "o", size=8, progress=False)
    assert "empty" in str(exc.value)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------------
# Bad input: every kind named, before any work
# ---------------------------------------------------------------------------------------
def _break(root: Path, kind: str) -> str:
    """Damage one file of the dataset; returns the file name the message must mention."""
    name = "person1_0001"
    if kind == "unreadable":
        (root / "images" / f"{name}.jpg").write_bytes(b"this is not a jpeg")
        return f"{name}.jpg"
    if kind == "truncated":
        p = root / "images" / f"{name}.jpg"
        p.write_bytes(p.read_bytes()[:200])
        return f"{name}.jpg"
    mask = root / "masks" / f"{name}.png"
    if kind == "size":
        write_mask(mask, np.zeros((10, 10), np.uint8), overwrite=True)
    elif kind == "non_binary":
        arr = ellipse_hole(32, 40, ratio=0.3)
        arr[arr == 255] = 128
        Image.fromarray(arr, "L").save(mask)
    elif kind == "inverted":
        write_mask(mask, 255 - ellipse_hole(32, 40, ratio=0.05), overwrite=True)
    elif kind == "rgb":
        rgb = np.zeros((32, 40, 3), np.uint8)
        rgb[..., 0] = ellipse_hole(32, 40)
        Image.fromarray(rgb, "RGB").save(mask)
    elif kind == "duplicate":
        write_image(root / "images" / f"{name}.png", np.zeros((32, 40, 3), np.uint8))
        return f"{name}.png"
    elif kind == "orphan_mask":
        write_mask(root / "masks" / "nobody.png", np.zeros((32, 40), np.uint8))
        return "nobody.png"
    elif kind == "orphan_photo":
        write_image(root / "images" / "alone.jpg", np.zeros((32, 40, 3), np.uint8))
        return "alone.jpg"
    return f"{name}.png"


BAD_KINDS = {
    "unreadable": "not an image",
    "truncated": "corrupt or truncated",
    "size": "must have exactly the size",
    "non_binary": "not a binary hole mask",
    "inverted": "looks inverted",
    "rgb": "colour",
    "duplicate": "duplicate",
    "orphan_mask": "has no photo",
    "orphan_photo": "has no mask",
}


@pytest.mark.parametrize("kind", sorted(BAD_KINDS))
def test_bad_input_named_before_work(dataset: Path, tmp_path: Path, kind: str) -> None:
    filename = _break(dataset, kind)
    out = tmp_path / "out"
    with pytest.raises(BadDatasetError) as exc:
        pp.resize(dataset, out, size=16, progress=False)
    msg = str(exc.value)
    assert filename in msg and BAD_KINDS[kind] in msg
    assert "nothing was processed" in msg
    assert len(exc.value.problems) == 1
    assert not out.exists()


@pytest.mark.parametrize("kind", ["non_binary", "size"])
def test_cli_bad_input_one_message_exit_2(dataset: Path, tmp_path: Path, kind: str, capsys) -> None:
    filename = _break(dataset, kind)
    rc = cli_main(["preprocess", "enlarge", str(dataset), str(tmp_path / "o"), "--pixels", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and filename in err and "Traceback" not in err


def test_skip_bad_processes_the_rest_and_counts(dataset: Path, tmp_path: Path) -> None:
    _break(dataset, "inverted")
    _break(dataset, "orphan_mask")
    summary = pp.resize(dataset, tmp_path / "o", size=16, skip_bad=True, progress=False)
    assert summary.written == 11 and sum(summary.skipped.values()) == 2
    assert "skipped 2" in str(summary) and "BadMaskError: 1" in str(summary)
    names = {r["name"] for r in read_rows(tmp_path / "o" / "manifest.csv")}
    assert "person1_0001" not in names and len(names) == 11


# ---------------------------------------------------------------------------------------
# What each command does
# ---------------------------------------------------------------------------------------
def test_convert_jpeg_quality_and_masks_stay_png(dataset: Path, tmp_path: Path) -> None:
    pp.convert(dataset, tmp_path / "q90", to="jpg", quality=90, progress=False)
    pp.convert(dataset, tmp_path / "q20", to="jpg", quality=20, progress=False)
    pp.convert(dataset, tmp_path / "png", to="png", progress=False)
    a, b = tmp_path / "q90/images/person0_0000.jpg", tmp_path / "q20/images/person0_0000.jpg"
    assert a.stat().st_size > b.stat().st_size
    png = tmp_path / "png/images/person0_0000.png"
    assert Image.open(png).format == "PNG"
    assert np.array_equal(read_image(png), read_image(dataset / "images/person0_0000.jpg"))
    for out in ("q20", "png"):
        mask = tmp_path / out / "masks/person0_0000.png"
        assert Image.open(mask).mode == "L"
        assert np.array_equal(read_mask(mask), read_mask(dataset / "masks/person0_0000.png"))
    rows = read_rows(tmp_path / "q20" / "manifest.csv")
    assert rows[0]["image"].endswith(".jpg") and rows[0]["source"].endswith("person0_0000.jpg")


def test_convert_makes_jpeg_masks_lossless(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write_image(src / "images" / "a.png", np.full((20, 20, 3), 90, np.uint8))
    (src / "masks").mkdir()
    Image.fromarray(ellipse_hole(20, 20, ratio=0.3), "L").save(src / "masks" / "a.jpg", quality=70)
    assert len(np.unique(np.asarray(Image.open(src / "masks" / "a.jpg")))) > 2  # JPEG noise at the edge
    pp.convert(src, tmp_path / "o", to="png", progress=False)
    m = np.asarray(Image.open(tmp_path / "o/masks/a.png"))
    assert set(np.unique(m)) <= {0, 255} and (m == 255).any()


def test_resize_pad_keeps_whole_photo_and_moves_meta(tmp_path: Path) -> None:
    src = make_demo_dataset(tmp_path / "in", 2, width=60, height=30, meta=True)
    pp.resize(src, tmp_path / "pad", size=30, fit="pad", progress=False)
    pp.resize(src, tmp_path / "crop", size=30, fit="crop", progress=False)
    for name in ("pad", "crop"):
        img = read_image(tmp_path / name / "images/person0_0000.jpg")
        mask = read_mask(tmp_path / name / "masks/person0_0000.png")
        assert img.shape == (3, 30, 30) and mask.shape == (1, 30, 30)
    pad_mask = read_mask(tmp_path / "pad/masks/person0_0000.png")[0]
    assert pad_mask[:7].sum() == 0 and pad_mask[-7:].sum() == 0  # padded rows are "keep"
    meta_in = json.loads((src / "meta/person0_0000.json").read_text())
    meta = json.loads((tmp_path / "pad/meta/person0_0000.json").read_text())
    assert meta["image_size"] == [30, 30] and meta["history"][-1]["command"] == "resize"
    x0, y0, x1, y1 = meta_in["faces"][0]["box"]
    assert meta["faces"][0]["box"] == [round(x0 / 2), round(y0 / 2 + 7.5), round(x1 / 2), round(y1 / 2 + 7.5)]
    rows = read_rows(tmp_path / "pad" / "manifest.csv")
    assert abs(float(rows[0]["hole_ratio"]) - float(read_mask(tmp_path / "pad/masks/person0_0000.png").mean())) < 1e-6


def test_resize_photos_only_folder(tmp_path: Path, sample_paths: list[Path]) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    for p in sample_paths[:2]:
        (src / p.name).write_bytes(p.read_bytes())
    s = pp.resize(src, tmp_path / "o", size=48, progress=False)
    assert s.written == 2
    assert all(read_image(p).shape == (3, 48, 48) for p in (tmp_path / "o/images").iterdir())
    assert not (tmp_path / "o" / "masks").exists()


def test_pair_lists_and_moves_unmatched_never_deletes(tmp_path: Path) -> None:
    root = make_demo_dataset(tmp_path / "in", 6, width=24)
    write_image(root / "images" / "stray.jpg", np.zeros((24, 24, 3), np.uint8))
    write_mask(root / "masks" / "ghost.png", np.zeros((24, 24), np.uint8))
    s = pp.pair(root, tmp_path / "out", progress=False)
    assert s.written == 6 and "1 photo(s) without mask, 1 mask(s) without photo" in str(s)
    unmatched = read_rows(tmp_path / "out" / "unmatched.csv")
    assert {Path(r["file"]).name for r in unmatched} == {"stray.jpg", "ghost.png"}
    assert (root / "images/stray.jpg").exists()  # listed, not moved
    # byte-for-byte copies
    assert (tmp_path / "out/images/person0_0000.jpg").read_bytes() == (root / "images/person0_0000.jpg").read_bytes()
    moved = tmp_path / "moved"
    s2 = pp.pair(root, tmp_path / "out2", move_unmatched=moved, progress=False)
    assert (moved / "images/stray.jpg").exists() and (moved / "masks/ghost.png").exists()
    assert not (root / "images/stray.jpg").exists() and "moved to" in str(s2)
    assert len(list((root / "images").iterdir())) == 6
    load_pairs(root)  # now a clean dataset


def test_pair_separate_folders_with_meta(tmp_path: Path) -> None:
    root = make_demo_dataset(tmp_path / "in", 4, width=24, meta=True)
    s = pp.pair(root / "images", tmp_path / "out", masks=root / "masks", meta=root / "meta", progress=False)
    assert s.written == 4 and len(read_manifest(tmp_path / "out" / "manifest.csv")) == 4
    assert len(list((tmp_path / "out" / "meta").iterdir())) == 4
    rc = cli_main(["preprocess", "pair", str(root / "images"), str(tmp_path / "o2"), "--masks", str(root / "masks"),
                   "--quiet", "--workers", "1"])  # fmt: skip
    assert rc == 0 and not (tmp_path / "o2" / "meta").exists()


def test_enlarge_face_fraction_uses_meta_or_says_it_did_not(tmp_path: Path) -> None:
    with_meta = make_demo_dataset(tmp_path / "m", 3, width=48, meta=True)
    without = make_demo_dataset(tmp_path / "n", 3, width=48, meta=False)
    s1 = pp.enlarge(with_meta, tmp_path / "o1", face_fraction=0.1, progress=False)
    s2 = pp.enlarge(without, tmp_path / "o2", face_fraction=0.1, progress=False)
    assert "bounding box" not in str(s1)
    assert "3 hole region(s) in 3 pair(s) had no face box (3 pair(s) without meta)" in str(s2)
    a = read_mask(tmp_path / "o1/masks/person0_0000.png")
    b = read_mask(tmp_path / "o2/masks/person0_0000.png")
    orig = read_mask(with_meta / "masks/person0_0000.png")
    assert a.sum() > orig.sum() and b.sum() > orig.sum() and a.sum() != b.sum()
    meta = json.loads((tmp_path / "o1/meta/person0_0000.json").read_text())
    assert meta["hole_ratio"] == pytest.approx(float(a.mean()), abs=1e-5)
    assert (tmp_path / "o1/images/person0_0000.jpg").read_bytes() == (with_meta / "images/person0_0000.jpg").read_bytes()


def test_enlarge_needs_one_mode(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--pixels"):
        pp.enlarge(dataset, tmp_path / "o", progress=False)
    with pytest.raises(BadInputError, match="scale must be >= 1"):
        pp.enlarge(dataset, tmp_path / "o", scale=0.5, progress=False)
    assert not (tmp_path / "o").exists()


def test_stats_files_and_band(dataset: Path, tmp_path: Path) -> None:
    result = pp.stats(dataset, tmp_path / "s", band="0.2-0.3", progress=False)
    ratios = {r["name"]: float(r["hole_ratio"]) for r in read_rows(tmp_path / "s" / "ratios.csv")}
    for name, r in ratios.items():
        assert r == pytest.approx(float(read_mask(dataset / "masks" / f"{name}.png").mean()), abs=1e-6)
    bands = read_rows(tmp_path / "s" / "bands.csv")
    assert sum(int(b["count"]) for b in bands) == len(ratios) == 12
    assert Image.open(result.histogram).format == "PNG"
    expected = sorted(n for n, r in ratios.items() if 0.2 <= r < 0.3)
    assert result.selected == expected
    assert sorted(p.stem for p in (tmp_path / "s" / "images").iterdir()) == expected
    assert len(expected) > 0


def test_stats_band_with_skipped_files_lists_them_once(dataset: Path, tmp_path: Path) -> None:
    _break(dataset, "inverted")  # skipped: the band copy and the stats both used to write skipped.csv
    result = pp.stats(dataset, tmp_path / "s", band="0-1", skip_bad=True, progress=False)
    skipped = read_rows(tmp_path / "s" / "skipped.csv")
    assert [r["kind"] for r in skipped] == ["BadMaskError"] and len(result.selected) == 11
    assert len(read_rows(tmp_path / "s" / "manifest.csv")) == 11


def test_split_grouped_into_manifest_and_dataset_reads_it(dataset: Path, tmp_path: Path) -> None:
    pp.split(dataset, tmp_path / "sp", val=0.2, test=0.2, seed=3, group_regex=r"^(person\d)_", progress=False)
    rows = read_rows(tmp_path / "sp" / "manifest.csv")
    by_group: dict[str, set[str]] = {}
    for r in rows:
        by_group.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_group.values())  # a person never spans two splits
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    # chained command keeps the split column
    pp.resize(tmp_path / "sp", tmp_path / "r", size=16, progress=False)
    assert [r["split"] for r in read_rows(tmp_path / "r" / "manifest.csv")] == [r["split"] for r in rows]
    # group by manifest column
    pp.split(tmp_path / "r", tmp_path / "sp2", group_column="group", seed=1, progress=False)
    rows2 = read_rows(tmp_path / "sp2" / "manifest.csv")
    assert all(len({r["split"] for r in rows2 if r["group"] == g}) == 1 for g in by_group)


def test_split_manifest_only_points_at_input(dataset: Path, tmp_path: Path) -> None:
    pp.split(dataset, tmp_path / "m", manifest_only=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["manifest.csv"]
    pairs = read_manifest(tmp_path / "m" / "manifest.csv")
    assert all(p.image.resolve().parent == (dataset / "images").resolve() for p in pairs)
    assert all(p.image.exists() and p.mask.exists() for p in pairs)


def test_two_workers_give_identical_output(dataset: Path, tmp_path: Path) -> None:
    pp.resize(dataset, tmp_path / "w1", size=20, workers=1, progress=False)
    pp.resize(dataset, tmp_path / "w2", size=20, workers=2, progress=False)
    for sub in ("images", "masks", "meta"):
        for p in (tmp_path / "w1" / sub).iterdir():
            assert p.read_bytes() == (tmp_path / "w2" / sub / p.name).read_bytes()
    assert (tmp_path / "w1/manifest.csv").read_text() == (tmp_path / "w2/manifest.csv").read_text()


def test_resize_face_crop_keeps_the_face_of_a_tall_portrait(tmp_path: Path) -> None:
    """A full-length portrait (face at the top): centre-crop loses the hole, face-crop keeps all of it."""
    src = tmp_path / "in"
    hole = np.zeros((120, 40), np.uint8)
    hole[12:24, 10:30] = 255  # the "mask" on a face near the top
    write_image(src / "images" / "tall.png", np.full((120, 40, 3), 128, np.uint8))
    write_mask(src / "masks" / "tall.png", hole)
    meta = {"image_size": [40, 120], "faces": [{"box": [8, 2, 32, 26], "landmarks": [[20.0, 14.0]] * 68}]}
    (src / "meta").mkdir()
    (src / "meta" / "tall.json").write_text(json.dumps(meta))
    pp.resize(src, tmp_path / "centre", size=20, fit="crop", progress=False)
    s = pp.resize(src, tmp_path / "face", size=20, fit="face", progress=False)
    assert read_mask(tmp_path / "centre/masks/tall.png").sum() == 0
    face = read_mask(tmp_path / "face/masks/tall.png")
    assert face.sum() == pytest.approx(hole.astype(bool).sum() / 4, rel=0.1)  # 40 -> 20 px: all of it
    out_meta = json.loads((tmp_path / "face/meta/tall.json").read_text())
    assert out_meta["faces"][0]["box"] == [4, 1, 16, 13]  # the square starts at y = 0 (clamped)
    assert "no face box" not in str(s)
    (src / "meta" / "tall.json").unlink()
    s2 = pp.resize(src, tmp_path / "hole", size=20, fit="face", progress=False)
    assert "centred on the hole (1)" in str(s2)
    assert read_mask(tmp_path / "hole/masks/tall.png").sum() == face.sum()


def test_skip_bad_files_are_listed_and_jpeg_masks_copied_as_png(tmp_path: Path) -> None:
    src = make_demo_dataset(tmp_path / "in", 6, width=24)
    jpeg_mask = src / "masks" / "person2_0002.jpg"
    Image.fromarray(ellipse_hole(24, 24, ratio=0.3), "L").save(jpeg_mask, quality=80)
    (src / "masks" / "person2_0002.png").unlink()
    (src / "images" / "person3_0003.jpg").write_bytes(b"garbage")
    s = pp.split(src, tmp_path / "sp", skip_bad=True, progress=False)
    assert s.written == 5 and "listed in skipped.csv" in str(s)
    skipped = read_rows(tmp_path / "sp" / "skipped.csv")
    assert [Path(r["file"]).name for r in skipped] == ["person3_0003.jpg"]
    assert skipped[0]["kind"] == "UnreadableImageError"
    out_mask = tmp_path / "sp" / "masks" / "person2_0002.png"
    assert Image.open(out_mask).format == "PNG" and set(np.unique(np.asarray(Image.open(out_mask)))) <= {0, 255}
