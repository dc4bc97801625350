"""``triple-dots inpaint`` end to end with a tiny random checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from inpaint_support import photo_mask_folders
from PIL import Image

from triple_dots.cli import main
from triple_dots.images import read_image, read_mask
from triple_dots.tfill import TFill


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt")
    TFill("tiny", fine_size=64, fixed_size=32).save(folder)
    return folder


@pytest.mark.slow
def test_inpaint_folder(tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture) -> None:
    imgs, masks = photo_mask_folders(tmp_path, {"a": (48, 64), "b": (40, 40)})
    out = tmp_path / "out"
    argv = ["inpaint", "--weights", str(ckpt), "--images", str(imgs), "--masks", str(masks), "--out", str(out),
            "--seed", "1", "--device", "cpu"]
    assert main(argv) == 0
    for name in ("a", "b"):
        src, res, hole = read_image(imgs / f"{name}.png"), read_image(out / f"{name}.png"), read_mask(masks / f"{name}.png")
        keep = (hole == 0).expand_as(src)
        assert torch.equal(res[keep], src[keep]) and not torch.equal(res[~keep], src[~keep])
    assert (out / "inpaint_grid.png").is_file()
    first = (out / "a.png").read_bytes()
    assert main(argv) == 2  # outputs exist
    assert "already exists" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0
    assert (out / "a.png").read_bytes() == first  # same seed, same result


def test_inpaint_single_file_pair(tmp_path: Path, ckpt: Path) -> None:
    imgs, masks = photo_mask_folders(tmp_path, {"a": (48, 64), "b": (40, 40)})
    out = tmp_path / "one"
    assert main(["inpaint", "--weights", str(ckpt), "--images", str(imgs / "b.png"), "--masks",
                 str(masks / "b.png"), "--out", str(out), "--device", "cpu"]) == 0
    assert (out / "b.png").is_file()


def test_inpaint_errors(tmp_path: Path, ckpt: Path, isolated_home: Path, capsys: pytest.CaptureFixture) -> None:
    imgs, masks = photo_mask_folders(tmp_path, {"a": (48, 64), "b": (40, 40)})
    (masks / "b.png").unlink()
    assert main(["inpaint", "--weights", str(ckpt), "--images", str(imgs), "--masks", str(masks),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no mask" in err and "b.png" in err
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(masks / "b.png")
    assert main(["inpaint", "--weights", str(ckpt), "--images", str(imgs), "--masks", str(masks),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "b.png" in err and "10x10" in err
    Image.fromarray(np.zeros((40, 40), np.uint8), mode="L").save(masks / "b.png")
    assert main(["inpaint", "--images", str(imgs), "--masks", str(masks), "--out", str(tmp_path / "o")]) == 2
    assert "missing weights 'tfill-ffhq'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
