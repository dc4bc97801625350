"""``triple-dots inpaint --model mat`` end to end with a tiny random MAT file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from inpaint_support import photo_mask_folders
from mat_support import tiny_model

from triple_dots.cli import main
from triple_dots.images import read_image, read_mask

# one intra-op thread: MAT runs many small ops, which oversubscribe a shared 2-core machine
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mat_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(128).save(tmp_path_factory.mktemp("mat") / "tiny_mat.pth")


def test_inpaint_with_mat(tmp_path: Path, mat_file: Path) -> None:
    imgs, masks = photo_mask_folders(tmp_path, {"a": (48, 64), "b": (70, 50)})
    out = tmp_path / "out"
    argv = ["inpaint", "--model", "mat", "--weights", str(mat_file), "--images", str(imgs), "--masks", str(masks),
            "--out", str(out), "--seed", "1", "--device", "cpu"]
    assert main(argv) == 0
    for name in ("a", "b"):
        src, res, hole = read_image(imgs / f"{name}.png"), read_image(out / f"{name}.png"), read_mask(masks / f"{name}.png")
        assert res.shape == src.shape
        keep = (hole == 0).expand_as(src)
        assert torch.equal(res[keep], src[keep]) and not torch.equal(res[~keep], src[~keep])
    assert (out / "inpaint_grid.png").is_file()
    first = (out / "a.png").read_bytes()
    assert main(argv + ["--overwrite"]) == 0
    assert (out / "a.png").read_bytes() == first  # same seed, same result


def test_mat_missing_weights_message(tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture) -> None:
    imgs, masks = photo_mask_folders(tmp_path, {"a": (48, 64), "b": (70, 50)})
    argv = ["inpaint", "--model", "mat", "--mat-preset", "ffhq-512", "--images", str(imgs), "--masks", str(masks),
            "--out", str(tmp_path / "o"), "--device", "cpu"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "mat-ffhq-512" in err and "FFHQ_512.pkl" in err and str(isolated_home) in err


def test_mat_refuses_hostile_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    imgs, masks = photo_mask_folders(tmp_path, {"a": (48, 64), "b": (70, 50)})
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(Vtouch " + str(marker).encode() + b"\ntR.")
    argv = ["inpaint", "--model", "mat", "--weights", str(evil), "--images", str(imgs), "--masks", str(masks),
            "--out", str(tmp_path / "o"), "--device", "cpu"]
    assert main(argv) != 0
    assert "refused" in capsys.readouterr().err and not marker.exists()
