"""Training building blocks: config, losses, checkpoints, data order, stages (fast, no training loop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.training_support import TINY_MODEL, make_vgg16_file
from triple_dots.errors import BadInputError, BadWeightsError, MissingWeightsError
from triple_dots.training import TrainConfig
from triple_dots.training import run_folder as ckpt
from triple_dots.training.batches import ResumableBatches
from triple_dots.training.losses import (
    PerceptualLoss,
    discriminator_loss,
    generator_adversarial_loss,
    reconstruction_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_vgg16_file(tmp_path_factory.mktemp("vgg") / "vgg16-397923af.pth")


# ---------------------------------------------------------------------------------------------- config
def test_config_official_defaults_and_personalise_defaults() -> None:
    c = TrainConfig(data="d", out="o").resolved()
    assert (c.lr_g, c.lr_d, c.beta1, c.beta2) == (1e-4, 4e-4, 0.5, 0.9)
    assert (c.lambda_rec, c.hole_weight, c.lambda_lp, c.lambda_g) == (10.0, 3.0, 10.0, 1.0)
    assert c.early_stopping_patience is None
    p = TrainConfig(data="d", out="o", mode="personalise", weights="w").resolved()
    assert p.lr_g < c.lr_g and p.lr_d < c.lr_d
    assert p.val_every < c.val_every and p.early_stopping_patience == 5
    assert TrainConfig(data="d", out="o", stage="both", iterations=7).resolved().stage_plan() == [
        ("coarse", 7), ("refine", 7)]


@pytest.mark.parametrize(
    "changes, word",
    [
        (dict(stage="middle"), "stage"),
        (dict(mode="finetune"), "mode"),
        (dict(mode="pretrained"), "--weights"),
        (dict(stage="refine"), "coarse"),
        (dict(iterations=0), "iterations"),
        (dict(fine_size=50), "fine_size"),
        (dict(lr_g=-1.0), "lr_g"),
    ],
)
def test_config_rejects_bad_values(changes: dict, word: str) -> None:
    with pytest.raises(BadInputError, match=word):
        TrainConfig(data="d", out="o", **changes).resolved()


def test_config_json_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    c = TrainConfig(data="d", out="o", iterations=5, extra={"mid_layers": 2}).resolved()
    (tmp_path / "config.json").write_text(c.to_json())
    assert TrainConfig.load(tmp_path / "config.json") == c
    with pytest.raises(BadInputError, match="bogus"):
        TrainConfig.from_dict(c.to_dict() | {"bogus": 1})


# ---------------------------------------------------------------------------------------------- losses
def test_reconstruction_loss_weights_the_hole_three_times() -> None:
    gt = torch.zeros(1, 3, 4, 4)
    valid = torch.ones(1, 1, 4, 4)
    valid[..., :2, :] = 0  # top half is the hole
    out = torch.zeros_like(gt)
    out[..., :2, :] = 1.0  # error 1 in the hole only
    assert reconstruction_loss(out, gt, valid).item() == pytest.approx(3.0 * 0.5)
    out = torch.zeros_like(gt)
    out[..., 2:, :] = 1.0  # error 1 in the visible part only: the official coarse bug made this 0
    assert reconstruction_loss(out, gt, valid).item() == pytest.approx(0.5)
    assert reconstruction_loss(out, gt, valid, hole_weight=1.0).item() == pytest.approx(0.5)


def test_adversarial_losses_are_the_non_saturating_logistic_ones() -> None:
    logits = torch.tensor([[-2.0], [0.0], [3.0]])
    assert generator_adversarial_loss(logits).item() == pytest.approx(torch.log1p(torch.exp(-logits)).mean().item())
    real, fake = discriminator_loss(logits, -logits)
    assert real.item() == pytest.approx(torch.log1p(torch.exp(-logits)).mean().item())
    assert fake.item() == pytest.approx(torch.log1p(torch.exp(-logits)).mean().item())


def test_perceptual_loss_missing_vgg_raises_the_registry_error(isolated_home: Path) -> None:
    with pytest.raises(MissingWeightsError, match="vgg16"):
        PerceptualLoss()
    with pytest.raises(MissingWeightsError, match="vgg16"):
        PerceptualLoss(isolated_home / "nope.pth")


def test_perceptual_loss_rejects_a_wrong_file(tmp_path: Path) -> None:
    bad = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, bad)
    with pytest.raises(BadWeightsError, match="features.0.weight"):
        PerceptualLoss(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(BadWeightsError, match="junk.pth"):
        PerceptualLoss(junk)


def test_perceptual_loss_uses_the_given_backbone_and_no_dropout(vgg_file: Path) -> None:
    import torchvision

    loss = PerceptualLoss(vgg_file)
    feats = torchvision.models.vgg16().features.state_dict()
    saved = torch.load(vgg_file, weights_only=True)
    assert torch.equal(getattr(loss.lpips.net.slice1, "0").weight, saved["features.0.weight"])
    assert torch.equal(getattr(loss.lpips.net.slice5, "28").bias, saved["features.28.bias"])
    assert not torch.equal(getattr(loss.lpips.net.slice1, "0").weight, feats["0.weight"])  # not some other random init
    loss.train()  # stays in eval: the official loss kept Dropout(0.5) active, we do not
    assert not any(m.training for m in loss.modules())
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(a, a).item() == pytest.approx(0.0, abs=1e-7)
    v1, v2 = loss(a, b).item(), loss(a, b).item()
    assert v1 > 0 and v1 == v2
    assert all(float(lin.model[-1].weight.min()) >= 0 for lin in loss.lpips.lins)  # shipped lin weights loaded


def test_building_the_perceptual_loss_leaves_the_global_rng_alone(vgg_file: Path) -> None:
    """The cached LPIPS build must not draw from the global RNG: otherwise the first training run in a
    process (which builds it) has a different random stream from every later run (which reuses it)."""
    from triple_dots.training import losses

    losses._build_lpips.cache_clear()  # force the VGG16 build that used to consume the RNG
    torch.manual_seed(123)
    before = torch.get_rng_state()
    PerceptualLoss(vgg_file)
    assert torch.equal(torch.get_rng_state(), before)


# ---------------------------------------------------------------------------------------------- checkpoints
def _nets() -> dict[str, torch.nn.Module]:
    return {"E": torch.nn.Linear(2, 2), "T": torch.nn.Linear(3, 1)}


def test_checkpoint_layout_latest_prune_and_best(tmp_path: Path) -> None:
    for it in (5, 10, 15, 20):
        path = ckpt.save_checkpoint(tmp_path, it, _nets(), {"iteration": it})
        assert path.name == f"iter_{it:08d}"
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "iter_00000020").iterdir()) == [
        "latest_net_E.pth", "latest_net_T.pth", "state.pt"]
    ckpt.write_best(tmp_path, 10, "val_loss", 0.5)
    removed = ckpt.prune_checkpoints(tmp_path, keep_last=2, keep=(10,))
    assert [p.name for p in removed] == ["iter_00000005"]
    assert [it for it, _ in ckpt.list_checkpoints(tmp_path)] == [10, 15, 20]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best == {"iteration": 10, "checkpoint": "checkpoints/iter_00000010", "metric": "val_loss", "value": 0.5}
    assert ckpt.latest_checkpoint(tmp_path, required=("E", "T")).name == "iter_00000020"


def test_latest_checkpoint_skips_unfinished_and_corrupt_ones(tmp_path: Path) -> None:
    ckpt.save_checkpoint(tmp_path, 1, _nets(), {"iteration": 1})
    ckpt.save_checkpoint(tmp_path, 2, _nets(), {"iteration": 2})
    (tmp_path / "checkpoints" / "iter_00000002" / "state.pt").write_bytes(b"torn")  # disk corruption
    leftover = tmp_path / "checkpoints" / ".tmp-iter_00000003-deadbeef"  # a write killed half-way
    leftover.mkdir()
    (leftover / "latest_net_E.pth").write_bytes(b"")
    assert ckpt.latest_checkpoint(tmp_path, required=("E", "T")).name == "iter_00000001"
    assert not leftover.exists()
    state = ckpt.load_state(tmp_path / "checkpoints" / "iter_00000001")
    assert state == {"iteration": 1}


def test_checkpoint_state_dicts_have_no_wrapper_prefixes(tmp_path: Path) -> None:
    wrapped = torch.nn.Sequential()
    wrapped.add_module("module", torch.nn.Linear(2, 2))
    ckpt.save_checkpoint(tmp_path, 1, {"E": wrapped}, {})
    sd = ckpt.load_network_state(tmp_path / "checkpoints" / "iter_00000001", "E")
    assert set(sd) == {"weight", "bias"}


# ---------------------------------------------------------------------------------------------- data order
def test_batch_order_resumes_exactly_and_shards_by_rank() -> None:
    data = list(range(10))
    full = ResumableBatches(data, 3, seed=7)
    it = iter(full)
    first = [next(it) for _ in range(8)]  # 3 batches per epoch: crosses two epoch boundaries
    resumed = iter(ResumableBatches(data, 3, seed=7, consumed=5))
    assert [next(resumed) for _ in range(3)] == first[5:8]
    assert sorted(sum(first[:3], [])) != sorted(sum(first[3:6], [])) or first[:3] != first[3:6]  # reshuffled
    r0 = next(iter(ResumableBatches(data, 2, seed=7, rank=0, world_size=2)))
    r1 = next(iter(ResumableBatches(data, 2, seed=7, rank=1, world_size=2)))
    assert not set(r0) & set(r1)
    with pytest.raises(BadInputError, match="too few"):
        ResumableBatches(data[:2], 4, seed=0)


# ---------------------------------------------------------------------------------------------- stages
def test_training_stages_compute_what_the_tfill_model_computes() -> None:
    from triple_dots.tfill import TFill, make_config, to_model_space
    from triple_dots.training.stages import StageGenerator, coarse_target

    torch.manual_seed(0)
    model = TFill(make_config(**{k: v for k, v in TINY_MODEL.items()}))
    img = torch.rand(2, 3, 64, 64)
    hole = torch.zeros(2, 1, 64, 64)
    hole[..., 16:40, 20:44] = 1
    x, valid = to_model_space(img, hole)
    torch.manual_seed(1)
    ref = model(x, valid)
    torch.manual_seed(1)
    out_c, valid_c = StageGenerator(model, "coarse")(x, valid)
    out_r, valid_r = StageGenerator(model, "refine")(x, valid, ref.coarse_composite)
    assert [p for p in StageGenerator(model, "coarse").parameters()] == [
        *model.net_E.parameters(), *model.net_T.parameters(), *model.net_G.parameters()]
    torch.testing.assert_close(valid_c, ref.fixed_mask, rtol=0, atol=0)
    torch.testing.assert_close(out_c, ref.coarse_raw, rtol=0, atol=0)
    torch.testing.assert_close(out_r, ref.refine_raw, rtol=0, atol=0)
    torch.testing.assert_close(valid_r, valid, rtol=0, atol=0)
    target = coarse_target(x, TINY_MODEL["fixed_size"])
    torch.testing.assert_close(target, torch.nn.functional.interpolate(
        x, size=(TINY_MODEL["fixed_size"],) * 2, mode="bicubic", align_corners=True).clamp(-1, 1), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_arguments_become_the_training_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from triple_dots.cli import build_parser, main
    from triple_dots.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--mode", "personalise", "--weights", "w",
                                      "--lr", "2e-5", "--iterations", "7", "--ngf", "4", "--no-amp", "--resume"])
    c = config_from_args(args).resolved()
    assert (c.mode, c.weights, c.lr_g, c.lr_d, c.iterations, c.ngf, c.amp, c.resume) == (
        "personalise", "w", 2e-5, 8e-5, 7, 4, False, True)
    assert c.early_stopping_patience == 5
    assert (c.cpu_amp, c.keep_cpu_memory) == (False, True)
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--cpu-amp", "--no-keep-cpu-memory"])
    assert (config_from_args(args).cpu_amp, config_from_args(args).keep_cpu_memory) == (True, False)
    code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--mode", "pretrained"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--weights" in err and "Traceback" not in err
