"""``triple-dots mask`` and the folder runner: dataset layout, skips, errors, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from triple_dots.cli import main
from triple_dots.cli.mask import TYPE_CHOICES as CLI_CHOICES
from triple_dots.images import read_image_uint8, read_mask
from triple_dots.masks import MASK_TYPES, TYPE_CHOICES, synthesize_folder
from triple_dots.masks.synthesize import output_names, photo_seed
from triple_dots.samples import sample_path

META_KEYS = {"source", "mask_type", "color", "pattern", "seed", "margin", "hole_ratio", "image_size", "faces"}


@pytest.fixture()
def photo_dir(tmp_path: Path) -> Path:
    """Two small face photos (one upper-case .JPG in a subfolder), a blank one and a corrupt one."""
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    shutil.copy(sample_path("grace_hopper"), d / "hopper.jpg")
    Image.open(sample_path("astronaut")).convert("RGB").save(d / "sub" / "Collins.JPG", quality=95)
    Image.open(sample_path("obama2")).convert("L").reduce(2).save(d / "sub" / "gray.png")  # 1-channel file
    Image.new("RGB", (200, 160), (90, 120, 150)).save(d / "wall.png")
    (d / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (d / "notes.txt").write_text("not a photo")
    return d


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_folder_run_layout_summary_and_exit_status(photo_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["mask", str(photo_dir), str(out), "--type", "kn95", "--margin", "3", "--seed", "4"])
    assert status == 1  # some photos were skipped
    line = capsys.readouterr().out
    assert "wrote 3" in line and "1 without a face: wall" in line and "1 unreadable: broken" in line
    for name, src in (("hopper", photo_dir / "hopper.jpg"), ("sub__Collins", photo_dir / "sub" / "Collins.JPG")):
        img = read_image_uint8(out / "images" / f"{name}.png")
        hole = read_mask(out / "masks" / f"{name}.png")[0].numpy() > 0
        assert Image.open(out / "masks" / f"{name}.png").mode == "L"
        before = read_image_uint8(src)
        changed = (img != before).any(2)
        assert changed.any() and not (changed & ~hole).any()  # coverage, checked on the files
        meta = json.loads((out / "meta" / f"{name}.json").read_text())
        assert set(meta) == META_KEYS
        assert meta["mask_type"] == "kn95" and meta["margin"] == 3 and meta["seed"] == photo_seed(4, name)
        assert meta["image_size"] == [before.shape[1], before.shape[0]]
        assert meta["color"].startswith("#") and len(meta["color"]) == 7
        assert abs(meta["hole_ratio"] - hole.mean()) < 1e-5
        (face,) = meta["faces"]
        assert len(face["landmarks"]) == 68 and len(face["box"]) == 4
        assert face["variant"] in ("frontal", "left", "right") and isinstance(face["yaw_deg"], float)
    gray = read_image_uint8(out / "images" / "sub__gray.png")  # a gray photo gets a gray mask
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert not (out / "images" / "wall.png").exists() and not (out / "images" / "broken.png").exists()
    from triple_dots.dataset_folder import scan_folder  # the preprocessing stage reads this layout

    scan = scan_folder(out)
    assert sorted(p.name for p in scan.pairs) == ["hopper", "sub__Collins", "sub__gray"] and not scan.problems
    assert all(p.mask is not None and p.meta is not None for p in scan.pairs)


def test_existing_outputs_are_kept_unless_overwrite(photo_dir, tmp_path, capsys):
    src = tmp_path / "one"
    src.mkdir()
    shutil.copy(photo_dir / "hopper.jpg", src / "hopper.jpg")
    out = tmp_path / "out"
    assert main(["mask", str(src), str(out)]) == 0
    (out / "images" / "hopper.png").write_bytes(b"user edit")
    before = _tree(out)
    assert main(["mask", str(src), str(out), "--type", "gas"]) == 0
    assert "skipped 1 existing" in capsys.readouterr().out
    assert _tree(out) == before  # nothing touched
    assert main(["mask", str(src), str(out), "--type", "gas", "--overwrite"]) == 0
    assert (out / "images" / "hopper.png").read_bytes() != b"user edit"
    assert json.loads((out / "meta" / "hopper.json").read_text())["mask_type"] == "gas"


def test_single_photo_errors_and_bad_arguments(photo_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["mask", str(photo_dir / "wall.png"), str(out)]) == 2
    assert "no face" in capsys.readouterr().err
    assert main(["mask", str(photo_dir / "broken.jpeg"), str(out)]) == 2
    assert "broken.jpeg" in capsys.readouterr().err
    assert main(["mask", str(photo_dir), str(photo_dir / "masked")]) == 2  # output inside input
    assert "inside the input folder" in capsys.readouterr().err
    assert not (photo_dir / "masked").exists()
    assert main(["mask", str(photo_dir / "hopper.jpg"), str(out), "--color", "blue"]) == 2
    assert main(["mask", str(photo_dir / "hopper.jpg"), str(out), "--pattern", str(tmp_path / "nope.png")]) == 2
    assert main(["mask", str(tmp_path / "missing"), str(out)]) == 2
    assert not out.exists() or not any(out.rglob("*.png"))


def test_single_photo_all_types_and_pattern(tmp_path):
    rng = np.random.default_rng(0)
    pattern = tmp_path / "check.png"
    tile = (np.indices((64, 64)).sum(0) // 8 % 2 * 200 + 30).astype(np.uint8)
    Image.fromarray(np.stack([tile, 255 - tile, rng.integers(0, 255, (64, 64), dtype=np.uint8)], 2)).save(pattern)
    out = tmp_path / "out"
    rep = synthesize_folder(sample_path("grace_hopper"), out, mask_type="all", progress=False)
    assert sorted(rep.written) == sorted(f"grace_hopper_{t}" for t in MASK_TYPES)
    rep = synthesize_folder(sample_path("grace_hopper"), tmp_path / "pat", mask_type="cloth", pattern=pattern,
                            pattern_weight=0.8, color="#ff0000", progress=False)
    meta = json.loads((tmp_path / "pat" / "meta" / "grace_hopper.json").read_text())
    assert meta["pattern"] == str(pattern) and meta["color"] == "#ff0000"
    plain = read_image_uint8(out / "images" / "grace_hopper_cloth.png")
    patterned = read_image_uint8(tmp_path / "pat" / "images" / "grace_hopper.png")
    assert (plain != patterned).any(2).sum() > 1000


def test_output_names_and_choices(tmp_path):
    files = [tmp_path / "a.jpg", tmp_path / "a.PNG", tmp_path / "s" / "b.webp", tmp_path / "c.JPG",
             tmp_path / "c.jpg"]
    assert output_names(files, tmp_path) == ["a_jpg", "a_png", "s__b", "c_jpg_1", "c_jpg_2"]
    assert CLI_CHOICES == TYPE_CHOICES
    assert photo_seed(None, "x") is None and photo_seed(1, "x") == photo_seed(1, "x") != photo_seed(1, "y")


@pytest.mark.slow
def test_two_workers_give_the_same_files(photo_dir, tmp_path):
    a, b = tmp_path / "w1", tmp_path / "w2"
    r1 = synthesize_folder(photo_dir, a, mask_type="random", seed=9, workers=1, progress=False)
    r2 = synthesize_folder(photo_dir, b, mask_type="random", seed=9, workers=2, progress=False)
    assert sorted(r1.written) == sorted(r2.written) == ["hopper", "sub__Collins", "sub__gray"]
    assert r1.no_face == r2.no_face == ["wall"] and r1.unreadable == r2.unreadable == ["broken"]
    assert _tree(a) == _tree(b)
