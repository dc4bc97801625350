"""Training in real processes: SIGKILL during a checkpoint write, torchrun DDP with gloo on CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.training_support import TINY_MODEL, make_dataset, make_vgg16_file, tiny_config
from triple_dots.training import run_folder as ckpt
from triple_dots.training import train
from triple_dots.training.run_folder import read_log

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train_proc_assets")
    return make_dataset(root / "data", n=6), make_vgg16_file(root / "vgg16.pth")


def _cli_args(data: Path, out: Path, vgg: Path, *extra: str) -> list[str]:
    model = []
    for k, v in TINY_MODEL.items():
        model += [f"--{k.replace('_', '-')}", str(v)]
    return ["train", "--data", str(data), "--out", str(out), "--vgg-weights", str(vgg), "--device", "cpu",
            "--batch-size", "2", "--log-every", "1", "--val-every", "0", *model, *extra]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def _losses(run: Path) -> list[tuple]:
    keys = ("loss_g", "loss_rec", "loss_lp", "loss_g_adv", "loss_d")
    return [(r["iteration"], *(r[k] for k in keys)) for r in read_log(run) if "loss_g" in r]


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_resumes_from_the_previous_good_one(assets, tmp_path: Path) -> None:
    data, vgg = assets
    run = tmp_path / "run"
    args = _cli_args(data, run, vgg, "--stage", "coarse", "--iterations", "3", "--ckpt-every", "1", "--seed", "5")
    # the write of checkpoint 2 pauses after its first file: kill the process right there
    proc = subprocess.Popen([sys.executable, "-m", "triple_dots", *args], cwd=tmp_path,
                            env=_env(TRIPLE_DOTS_CHECKPOINT_WRITE_DELAY="2:120"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    partial: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        partial = list((run / "checkpoints").glob(".tmp-iter_00000002-*/latest_net_E.pth"))
        if partial:
            break
        time.sleep(0.2)
    assert partial, f"the checkpoint write never started: {proc.stderr.read().decode()[-2000:] if proc.poll() else ''}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert [it for it, _ in ckpt.list_checkpoints(run)] == [1]  # the half-written one is not a checkpoint

    done = subprocess.run([sys.executable, "-m", "triple_dots", *args, "--resume"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from" in done.stdout and "iter_00000001" in done.stdout
    assert [it for it, _ in ckpt.list_checkpoints(run)][-1] == 3
    assert not list((run / "checkpoints").glob(".tmp-*"))
    assert [r["iteration"] for r in read_log(run)] == [1, 2, 3]

    # and the losses equal those of a run that was never interrupted
    torch.set_num_threads(1)
    ref = tmp_path / "ref"
    train(tiny_config(data, ref, vgg, stage="coarse", iterations=3, ckpt_every=1, seed=5))
    assert _losses(run) == _losses(ref)


@pytest.mark.slow
def test_torchrun_ddp_on_cpu_with_gloo_two_processes(assets, tmp_path: Path) -> None:
    data, vgg = assets
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "triple_dots",
           *_cli_args(data, run, vgg, "--stage", "both", "--iterations", "2", "--ckpt-every", "2", "--val-every", "2")]
    done = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    lines = read_log(run)
    train_lines = [r for r in lines if r.get("split") != "val"]
    assert [r["iteration"] for r in train_lines] == [1, 2, 3, 4]  # rank 0 alone writes: one line per step
    assert [r["images_seen"] for r in train_lines] == [4, 8, 12, 16]  # 2 processes x batch 2
    assert len([r for r in lines if r.get("split") == "val"]) == 2
    state = ckpt.load_state(ckpt.list_checkpoints(run)[-1][1])
    assert state["world_size"] == 2 and len(state["rng"]) == 2  # every rank's RNG for an exact resume
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # seeds offset by rank
    assert (run / "best.json").is_file()
