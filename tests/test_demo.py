"""``triple-dots demo``: the whole pipeline on the sample photos, honest composites and labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from triple_dots.cli import main
from triple_dots.demo import TELEA_LABEL, run_demo
from triple_dots.errors import MissingWeightsError, OutputExistsError
from triple_dots.images import read_image, read_mask
from triple_dots.samples import sample_path

CELL, PAD, LEFT, TOP, COLS = 256, 4, 120, 28, 4  # the grid layout of triple_dots.viz.image_grid


def _check_outputs(out: Path, n_expected: int) -> dict:
    grid = out / "grid.png"
    with Image.open(grid) as im:
        im.verify()
    with Image.open(grid) as im:
        assert im.format == "PNG"
        assert im.size == (LEFT + COLS * (CELL + PAD) + PAD, TOP + n_expected * (CELL + PAD) + PAD)
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["photos"]) == n_expected
    for row in metrics["photos"]:
        name = row["name"]
        masked = read_image(next((out / "3_masked_512" / "images").glob(f"{name}.*")))
        hole = read_mask(out / "3_masked_512" / "masks" / f"{name}.png")
        result = read_image(out / "4_results" / f"{name}.png")
        known = hole[0] == 0
        assert result.shape == masked.shape == (3, 512, 512)
        assert torch.equal(result[:, known], masked[:, known]), f"{name}: known pixels changed"
        assert not torch.equal(result[:, ~known], masked[:, ~known]), f"{name}: the hole was not filled"
        assert row["known_unchanged"] is True and 0.0 < row["hole_ratio"] < 0.5
        assert row["psnr"] > row["psnr_hole"]  # the known pixels are exact, so the whole picture scores higher
    assert "| **mean** |" in (out / "metrics.md").read_text()
    return metrics


@pytest.mark.slow
def test_demo_without_weights_shows_labelled_baseline(tmp_path: Path, isolated_home: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()[0]
    assert first.startswith("TFill weights not found") and TELEA_LABEL in first
    assert "tfill/ffhq" in first and "github.com/lyndonzheng/TFill" in first  # what to get and where to put it
    metrics = _check_outputs(out, n_expected=5)
    assert metrics["method"] == TELEA_LABEL and metrics["used_tfill"] is False
    # it ends by saying what it used and the exact next step, also in metrics.md
    tail = printed[printed.index("## What happened"):]
    for text in ("Telea", "latest_net_E.pth, latest_net_T.pth, latest_net_G.pth, latest_net_G_Ref.pth",
                 "github.com/lyndonzheng/TFill", str(isolated_home / "tfill" / "ffhq"), "triple-dots demo"):
        assert text in tail and text in (out / "metrics.md").read_text(), text

    # run again: the earlier demo's own files are replaced, a file of the user's is kept
    (out / "my_notes.txt").write_text("mine")
    few = tmp_path / "few"
    few.mkdir()
    for name in ("grace_hopper", "obama"):
        p = sample_path(name)
        (few / p.name).write_bytes(p.read_bytes())
    run_demo(images=few, out=out, progress=False)
    _check_outputs(out, n_expected=2)
    assert len(list((out / "4_results").iterdir())) == 2  # nothing left of the 5-photo run
    assert (out / "my_notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []

    # a folder of the user's that holds no demo is refused before any work
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "photo.jpg").write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="no earlier demo"):
        run_demo(out=theirs, progress=False)
    assert [p.name for p in theirs.iterdir()] == ["photo.jpg"]


@pytest.mark.slow
def test_demo_with_tfill_weights_uses_tfill(tmp_path: Path, sample_paths: list[Path]) -> None:
    from triple_dots.tfill import TFill

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_ckpt"
    TFill("tiny").save(ckpt)
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sample_paths[:2]:
        (photos / p.name).write_bytes(p.read_bytes())
    result = run_demo(images=photos, out=tmp_path / "demo", weights=ckpt, progress=False, device="cpu")
    assert result.used_tfill and result.method.startswith("TFill")
    metrics = _check_outputs(tmp_path / "demo", n_expected=2)
    assert metrics["used_tfill"] is True


def test_demo_with_named_but_missing_weights_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty_ckpt").mkdir()
    with pytest.raises(MissingWeightsError, match="latest_net_E.pth"):
        run_demo(out=tmp_path / "demo", weights=tmp_path / "empty_ckpt", progress=False)
