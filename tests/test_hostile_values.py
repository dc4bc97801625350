"""Hostile CLI values (issue 17): nan / inf / negative / huge numbers, seeds, workers and devices are
refused where they enter, naming the option, with exit status 2 and the input untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.hostile_support import cli, tree_hash
from tests.training_support import make_dataset
from triple_dots.errors import BadInputError

HUGE = str(2**64)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("hostile_values") / "ds", n=2, size=64)


CASES = [
    (["preprocess", "enlarge", "{ds}", "{out}", "--pixels", "nan"], "--pixels"),
    (["preprocess", "enlarge", "{ds}", "{out}", "--pixels", "inf"], "--pixels"),
    (["preprocess", "enlarge", "{ds}", "{out}", "--pixels", "-1"], "--pixels"),
    (["preprocess", "enlarge", "{ds}", "{out}", "--face-fraction", "nan"], "--face-fraction"),
    (["preprocess", "enlarge", "{ds}", "{out}", "--scale", "nan"], "--scale"),
    (["preprocess", "enlarge", "{ds}", "{out}", "--scale", "inf"], "--scale"),
    (["preprocess", "enlarge", "{ds}", "{out}", "--scale", "0.5"], "--scale"),
    (["preprocess", "resize", "{ds}", "{out}", "--size", "100000"], "--size"),
    (["preprocess", "resize", "{ds}", "{out}", "--size", "0"], "--size"),
    (["preprocess", "resize", "{ds}", "{out}", "--size", "64", "--quality", "101"], "--quality"),
    (["preprocess", "stats", "{ds}", "{out}", "--bins", "0"], "--bins"),
    (["preprocess", "stats", "{ds}", "{out}", "--bins", "-3"], "--bins"),
    (["preprocess", "split", "{ds}", "{out}", "--val", "nan"], "--val"),
    (["preprocess", "split", "{ds}", "{out}", "--seed", HUGE], "--seed"),
    (["preprocess", "split", "{ds}", "{out}", "--seed", "-1"], "--seed"),
    (["preprocess", "convert", "{ds}", "{out}", "--workers", "-1"], "--workers"),
    (["mask", "{ds}/images", "{out}", "--margin", "100000"], "--margin"),
    (["mask", "{ds}/images", "{out}", "--margin", "-1"], "--margin"),
    (["mask", "{ds}/images", "{out}", "--seed", HUGE], "--seed"),
    (["mask", "{ds}/images", "{out}", "--workers", "-1"], "--workers"),
    (["mask", "{ds}/images", "{out}", "--pattern-weight", "nan"], "--pattern-weight"),
    (["inpaint", "--images", "{ds}/images", "--masks", "{ds}/masks", "--out", "{out}", "--seed", HUGE], "--seed"),
    (["evaluate", "--real", "{ds}/images", "--fake", "{ds}/images", "--max-images", "-1"], "--max-images"),
    (["evaluate", "--real", "{ds}/images", "--fake", "{ds}/images", "--device", "bogus"], "--device"),
    (["train", "--data", "{ds}", "--out", "{out}", "--device", "bogus"], "--device"),
    (["train", "--data", "{ds}", "--out", "{out}", "--seed", HUGE], "--seed"),
    (["train", "--data", "{ds}", "--out", "{out}", "--workers", "-1"], "--workers"),
    (["train", "--data", "{ds}", "--out", "{out}", "--lr", "nan"], "--lr"),
    (["train", "--data", "{ds}", "--out", "{out}", "--iterations", "0"], "--iterations"),
    (["train", "--data", "{ds}", "--out", "{out}", "--embed-dim", "200000"], "--embed-dim"),
    (["segment", "{ds}/images/img0.png", "--out", "{out}", "--margin", "100000"], "--margin"),
    (["demo", "--size", "100000", "--out", "{out}"], "--size"),
]


@pytest.mark.parametrize(("argv", "option"), CASES, ids=[" ".join(a[:1] + a[3:] if a[0] == "preprocess" else a[:1] + a[-2:])
                                                         for a, _ in CASES])
def test_bad_value_is_refused_naming_the_option(ds, tmp_path, capsys, argv, option) -> None:
    out = tmp_path / "out"
    before = tree_hash(ds)
    code, err = cli(capsys, *[a.format(ds=ds, out=out) for a in argv])
    assert code == 2, err
    assert option in err and "Traceback" not in err
    assert tree_hash(ds) == before and not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["train", "inpaint", "evaluate"])
def test_cuda_without_cuda_is_a_clear_error(ds, tmp_path, capsys, command) -> None:
    out = tmp_path / "out"
    argv = {
        "train": ["train", "--data", ds, "--out", out, "--device", "cuda", "--iterations", "1"],
        "inpaint": ["inpaint", "--images", ds / "images", "--masks", ds / "masks", "--out", out, "--device", "cuda"],
        "evaluate": ["evaluate", "--real", ds / "images", "--fake", ds / "images", "--device", "cuda"],
    }[command]
    before = tree_hash(ds)
    code, err = cli(capsys, *argv)
    assert code == 2 and "CUDA is not available" in err and "--device" in err
    assert tree_hash(ds) == before and not out.exists()


def test_python_apis_check_their_numbers_too(ds, tmp_path) -> None:
    import numpy as np

    from triple_dots import preprocess as pp
    from triple_dots.masks import apply_mask

    with pytest.raises(BadInputError, match="seed"):
        apply_mask(np.zeros((64, 64, 3), np.uint8), seed=-1)
    with pytest.raises(BadInputError, match="margin"):
        apply_mask(np.zeros((64, 64, 3), np.uint8), margin=100_000)
    for kw in ({"pixels": float("nan")}, {"pixels": float("inf")}, {"scale": float("nan")},
               {"face_fraction": float("nan")}):  # fmt: skip
        with pytest.raises(BadInputError, match=next(iter(kw))):
            pp.enlarge(ds, tmp_path / "o", progress=False, **kw)
    with pytest.raises(BadInputError, match="bins"):
        pp.stats(ds, tmp_path / "o", bins=0, progress=False)
    with pytest.raises(BadInputError, match="size"):
        pp.resize(ds, tmp_path / "o", size=100_000, progress=False)
    assert not (tmp_path / "o").exists()


def test_elongated_photo_is_refused_before_the_model_runs() -> None:
    from triple_dots.tfill.model import model_size

    with pytest.raises(BadInputError, match="4000x2"):
        model_size(2, 4000)
    assert model_size(512, 1024) == (512, 1024)
