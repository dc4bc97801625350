"""End-to-end training runs on a tiny TFill: run folder, exact resume, bad data, NaN guard, overfitting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.training_support import make_dataset, make_vgg16_file, tiny_config
from triple_dots.dataset_folder import BadDatasetError
from triple_dots.errors import OutputExistsError
from triple_dots.training import TrainingDivergedError, train
from triple_dots.training import run_folder as ckpt
from triple_dots.training.run_folder import read_log

LOSS_KEYS = ("loss_g", "loss_rec", "loss_lp", "loss_g_adv", "loss_d", "loss_d_real", "loss_d_fake")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train_assets")
    return make_dataset(root / "data", n=6), make_vgg16_file(root / "vgg16.pth")


def _losses(run: Path) -> list[tuple]:
    return [(r["iteration"], r["stage"], *(r.get(k) for k in LOSS_KEYS))
            for r in read_log(run) if r.get("split") != "val" and "loss_g" in r]


@pytest.mark.slow
def test_run_folder_has_config_log_checkpoints_and_best(assets, tmp_path: Path) -> None:
    data, vgg = assets
    run = tmp_path / "run"
    result = train(tiny_config(data, run, vgg, stage="both", iterations=2, val_every=1, ckpt_every=1, keep_last=1))
    assert result.iteration == 4
    config = json.loads((run / "config.json").read_text())
    assert config["stage"] == "both" and config["ngf"] == 4 and config["lr_g"] == 1e-4 and config["lr_d"] == 4e-4
    lines = read_log(run)
    train_lines = [r for r in lines if r.get("split") != "val"]
    val_lines = [r for r in lines if r.get("split") == "val"]
    assert [r["iteration"] for r in train_lines] == [1, 2, 3, 4]
    assert [r["stage"] for r in train_lines] == ["coarse", "coarse", "refine", "refine"]
    assert [r["images_seen"] for r in train_lines] == [2, 4, 6, 8]
    for r in train_lines:
        assert all(isinstance(r[k], float) for k in LOSS_KEYS + ("lr_g", "lr_d", "sec_per_step"))
    assert [r["iteration"] for r in val_lines] == [1, 2, 3, 4]
    assert all({"val_loss", "val_lpips", "val_l1_hole", "val_psnr"} <= set(r) for r in val_lines)
    best = json.loads((run / "best.json").read_text())
    refine_vals = {r["iteration"]: r["val_loss"] for r in val_lines if r["stage"] == "refine"}
    assert best["metric"] == "val_loss" and best["iteration"] == min(refine_vals, key=refine_vals.get)
    assert best["value"] == pytest.approx(min(refine_vals.values()))
    kept = [it for it, _ in ckpt.list_checkpoints(run)]
    assert 4 in kept and best["iteration"] in kept and len(kept) <= 4  # last 1 + best of each stage

    # every checkpoint folder loads with the TFill loader (official layout), and matches the nets trained
    from triple_dots.tfill import TFill

    model = TFill.from_official(run / best["checkpoint"], discriminators=True, ndf=4, fixed_size=32, fine_size=64)
    state = ckpt.load_state(run / best["checkpoint"])
    assert state["iteration"] == best["iteration"]
    out = model.inpaint(torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64), seed=0)
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()

    with pytest.raises(OutputExistsError, match="--resume"):
        train(tiny_config(data, run, vgg))


@pytest.mark.slow
def test_exact_resume_matches_an_uninterrupted_run_bitwise(assets, tmp_path: Path) -> None:
    data, vgg = assets
    kw = dict(stage="both", iterations=2, ckpt_every=0, seed=3)
    full, parts = tmp_path / "full", tmp_path / "parts"
    train(tiny_config(data, full, vgg, **kw))
    # stop inside the coarse stage, resume and stop inside the refine stage, resume to the end
    train(tiny_config(data, parts, vgg, stop_after=1, **kw))
    assert [it for it, _ in ckpt.list_checkpoints(parts)] == [1]
    train(tiny_config(data, parts, vgg, resume=True, stop_after=3, **kw))
    train(tiny_config(data, parts, vgg, resume=True, **kw))
    assert _losses(parts) == _losses(full)
    assert len(_losses(full)) == 4
    a = ckpt.list_checkpoints(full)[-1][1]
    b = ckpt.list_checkpoints(parts)[-1][1]
    for name in ("E", "T", "G", "G_Ref", "D", "D_Ref"):
        sa, sb = ckpt.load_network_state(a, name), ckpt.load_network_state(b, name)
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name


def test_two_runs_in_one_process_compute_the_same_losses(assets, tmp_path: Path) -> None:
    """Training numerics do not depend on what ran earlier in the process (caches, lazily built losses)."""
    from triple_dots.training import losses

    data, vgg = assets
    losses._build_lpips.cache_clear()  # the first run builds every cached piece, the second reuses them
    kw = dict(stage="coarse", iterations=2, seed=5)
    train(tiny_config(data, tmp_path / "a", vgg, **kw))
    train(tiny_config(data, tmp_path / "b", vgg, **kw))
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")


@pytest.mark.slow
def test_resume_without_checkpoint_starts_fresh_and_log_is_truncated_to_the_checkpoint(assets, tmp_path: Path) -> None:
    data, vgg = assets
    run = tmp_path / "run"
    train(tiny_config(data, run, vgg, stage="coarse", iterations=3, ckpt_every=2, keep_last=5))
    shutil.rmtree(run / "checkpoints" / "iter_00000003")  # as if killed after logging step 3
    result = train(tiny_config(data, run, vgg, stage="coarse", iterations=3, ckpt_every=2, keep_last=5, resume=True))
    assert result.iteration == 3
    assert [r["iteration"] for r in read_log(run)] == [1, 2, 3]  # step 3 logged once, not twice

    fresh = tmp_path / "fresh"
    assert train(tiny_config(data, fresh, vgg, stage="coarse", iterations=1, resume=True)).iteration == 1


@pytest.mark.parametrize("problem", ["unpaired", "corrupt", "size"])
def test_bad_data_is_reported_by_file_name_before_training(assets, tmp_path: Path, problem: str) -> None:
    data, vgg = assets
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    if problem == "unpaired":
        shutil.copy(bad / "images" / "img0.png", bad / "images" / "lonely.png")
        name = "lonely.png"
    elif problem == "corrupt":
        (bad / "images" / "img2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        name = "img2.png"
    else:
        from triple_dots.images import write_mask

        write_mask(bad / "masks" / "img3.png", torch.zeros(1, 32, 32), overwrite=True)
        name = "img3.png"
    run = tmp_path / "run"
    with pytest.raises(BadDatasetError, match=name):
        train(tiny_config(data=bad, out=run, vgg=vgg))
    assert not (run / "log.jsonl").exists() and not (run / "checkpoints").exists()


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triple_dots.training import loop

    data, vgg = assets
    calls = {"n": 0}
    real = loop.reconstruction_loss

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        value = real(*args, **kwargs)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(loop, "reconstruction_loss", poisoned)
    run = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"iteration 3 .*loss_g=nan.*iter_00000002.*--resume"):
        train(tiny_config(data, run, vgg, stage="coarse", iterations=5, ckpt_every=2))
    assert [it for it, _ in ckpt.list_checkpoints(run)] == [2]
    good = ckpt.latest_checkpoint(run, required=("E", "T", "G"))
    assert ckpt.load_state(good)["iteration"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt.load_network_state(good, "G").values())
    assert read_log(run)[-1]["event"] == "diverged"


@pytest.mark.slow
def test_tiny_model_overfits_a_handful_of_images(assets, tmp_path: Path) -> None:
    data, vgg = assets
    run = tmp_path / "run"
    two = tmp_path / "two"
    for sub in ("images", "masks"):
        (two / sub).mkdir(parents=True)
        for name in ("img0.png", "img1.png"):
            shutil.copy(data / sub / name, two / sub / name)
    # reconstruction + perceptual only (lambda_g = 0 also skips D): the quantity that must fall is the L1
    train(tiny_config(two, run, vgg, stage="coarse", iterations=150, lr_g=2e-3, lambda_g=0.0, flip=False))
    rec = [r["loss_rec"] for r in read_log(run) if "loss_rec" in r]
    start, end = sum(rec[:10]) / 10, sum(rec[-10:]) / 10
    assert end < start / 2.5, (start, end)


@pytest.mark.parametrize("cpu_amp", [False, True])
def test_cpu_bf16_autocast_is_opt_in_and_freed_memory_is_kept(
    assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_amp: bool
) -> None:
    import triple_dots.training.loop as loop

    data, vgg = assets
    kept: list[bool] = []
    monkeypatch.setattr(loop, "keep_freed_memory", lambda: kept.append(True) or True)
    dtypes: set[torch.dtype] = set()

    def record(module: torch.nn.Module, args: tuple, out: object) -> None:
        if isinstance(out, torch.Tensor):
            dtypes.add(out.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        train(tiny_config(data, tmp_path / "run", vgg, stage="coarse", iterations=1, cpu_amp=cpu_amp))
    finally:
        handle.remove()
    assert kept == [True]  # CPU run: glibc told to keep freed memory (keep_cpu_memory defaults to True)
    assert (torch.bfloat16 in dtypes) is cpu_amp
    losses = [r for r in read_log(tmp_path / "run") if "loss_g" in r]
    assert losses and all(torch.isfinite(torch.tensor(r["loss_g"])) for r in losses)


def test_keep_freed_memory_applies_on_linux_glibc() -> None:
    import platform

    from triple_dots.cpu_memory import keep_freed_memory

    applied = keep_freed_memory()
    assert applied is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    assert keep_freed_memory() is applied  # idempotent
