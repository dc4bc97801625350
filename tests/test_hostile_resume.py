"""Hostile resume cases (issue 17): ``--resume`` never discards a trained weight, falls back checkpoint by
checkpoint, refuses clearly when nothing valid is left, trains on when given more steps; a run folder
is never the data folder. Every case hashes the files that must not change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.hostile_support import Marker, cli, tree_hash
from tests.training_support import make_dataset, make_vgg16_file, tiny_config
from triple_dots.errors import BadInputError
from triple_dots.training import run_folder as rf
from triple_dots.training import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile_resume")
    return make_dataset(root / "data", n=4), make_vgg16_file(root / "vgg16.pth")


@pytest.fixture(scope="module")
def finished(assets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-step coarse run with checkpoints at steps 1 and 2."""
    data, vgg = assets
    run = tmp_path_factory.mktemp("finished") / "run"
    train(tiny_config(data, run, vgg, stage="coarse", iterations=2, ckpt_every=1, keep_last=5))
    assert [it for it, _ in rf.list_checkpoints(run)] == [1, 2]
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _weights(run: Path) -> dict[str, str]:
    return {k: v for k, v in tree_hash(run / "checkpoints").items() if k.endswith(".pth")}


@pytest.mark.parametrize("damage", ["corrupt", "no_config", "hostile_pickle"])
def test_resume_with_every_state_damaged_refuses_and_keeps_every_weight(assets, finished, tmp_path, damage) -> None:
    data, vgg = assets
    run = _copy(finished, tmp_path)
    marker = tmp_path / "pwned"
    for _, ckpt in rf.list_checkpoints(run):
        state = ckpt / rf.STATE_FILE
        if damage == "corrupt":
            state.write_bytes(state.read_bytes()[:100])
        elif damage == "no_config":
            torch.save({"iteration": 2}, state)
        else:
            torch.save({"iteration": 2, "config": {}, "x": Marker(marker)}, state)
    before = tree_hash(run)
    with pytest.raises(BadInputError, match=r"no usable checkpoint.*state\.pt") as exc:
        train(tiny_config(data, run, vgg, stage="coarse", iterations=2, ckpt_every=1, resume=True))
    assert "iter_00000002" in str(exc.value) and "nothing was changed" in str(exc.value)
    assert tree_hash(run) == before  # no weight replaced, no config or log rewritten
    assert not marker.exists()  # the pickle never ran


def test_corrupt_newest_generator_falls_back_to_the_previous_checkpoint(assets, finished, tmp_path) -> None:
    data, vgg = assets
    run = _copy(finished, tmp_path)
    newest = run / "checkpoints" / "iter_00000002"
    (newest / "latest_net_G.pth").write_bytes(b"not a torch file")
    kept = tree_hash(run / "checkpoints" / "iter_00000001")
    result = train(tiny_config(data, run, vgg, stage="coarse", iterations=2, ckpt_every=1, keep_last=5, resume=True))
    assert result.iteration == 2
    # resumed from iter 1 (the only valid one) and trained step 2 again into a fresh, valid iter 2
    assert rf.check_checkpoint(newest, ("E", "T", "G")) is None
    assert tree_hash(run / "checkpoints" / "iter_00000001") == kept


def test_resume_with_more_iterations_trains_on_after_a_finished_run(assets, finished, tmp_path) -> None:
    data, vgg = assets
    run = _copy(finished, tmp_path)
    old = _weights(run)
    result = train(tiny_config(data, run, vgg, stage="coarse", iterations=4, ckpt_every=1, keep_last=5, resume=True))
    assert result.iteration == 4
    assert [it for it, _ in rf.list_checkpoints(run)] == [1, 2, 3, 4]
    assert {k: v for k, v in _weights(run).items() if k in old} == old  # earlier checkpoints untouched
    assert [r["iteration"] for r in rf.read_log(run) if "loss_g" in r] == [1, 2, 3, 4]


def test_resume_of_a_finished_run_with_the_same_iterations_changes_no_weight(assets, finished, tmp_path) -> None:
    data, vgg = assets
    run = _copy(finished, tmp_path)
    old = _weights(run)
    assert train(tiny_config(data, run, vgg, stage="coarse", iterations=2, ckpt_every=1, keep_last=5,
                             resume=True)).iteration == 2  # fmt: skip
    assert _weights(run) == old


@pytest.mark.parametrize("where_", ["equal", "inside", "contains"])
def test_run_folder_apart_from_the_data_folder(assets, tmp_path, capsys, where_) -> None:
    data, vgg = assets
    ds = tmp_path / "ds"
    shutil.copytree(data, ds)
    (ds / "config.json").write_text('{"mine": true}\n')
    out = {"equal": ds, "inside": ds / "run", "contains": tmp_path}[where_]
    before = tree_hash(ds)
    code, err = cli(capsys, "train", "--data", ds, "--out", out, "--vgg-weights", vgg, "--iterations", "1",
                    "--device", "cpu")
    assert code == 2 and "--out" in err and str(ds) in err
    assert tree_hash(ds) == before


def test_resume_of_a_run_folder_without_checkpoints_still_starts_fresh(assets, tmp_path) -> None:
    data, vgg = assets
    assert train(tiny_config(data, tmp_path / "fresh", vgg, stage="coarse", iterations=1, resume=True)).iteration == 1
