"""TFill computes the same function as the official code.

The fixture ``shared/reference/tfill_tiny_official`` was made by the official networks (tiny
widths, random init): its checkpoints must load strictly, and every intermediate of the
official test path must be reproduced to <= 5e-4 max abs ([-1, 1] units).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from triple_dots.tfill import TFill, from_model_space, to_model_space

FIXTURE = Path(
    os.environ.get("TRIPLE_DOTS_TFILL_FIXTURE", Path(__file__).resolve().parents[2] / "shared/reference/tfill_tiny_official")
)
TOL = 5e-4
STAGES = ("tokens", "token_mask", "transformer_out", "coarse_raw", "coarse_composite", "refine_raw", "final_composite")

pytestmark = pytest.mark.skipif(not (FIXTURE / "reference_io.pt").is_file(), reason=f"fixture not found at {FIXTURE}")


@pytest.fixture(scope="module")
def ref() -> dict:
    # the fixture holds only tensors and a plain config dict (see its README)
    return torch.load(FIXTURE / "reference_io.pt", weights_only=False)


@pytest.fixture(scope="module")
def model(ref: dict) -> TFill:
    # contiguous layout: the same convolution kernels as the official code (bit-identical G_Ref)
    return TFill.from_official(FIXTURE, channels_last=False, **ref["config"])


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.float() - b.float()).abs().max())


def test_fixture_config_is_built(model: TFill, ref: dict) -> None:
    for key, value in ref["config"].items():
        assert getattr(model.config, key) == value
    # the same widths are read from the files when no config is given
    inferred = TFill.from_official(FIXTURE)
    assert (inferred.config.ngf, inferred.config.embed_dim, inferred.config.n_encoders) == (
        ref["config"]["ngf"], ref["config"]["embed_dim"], ref["config"]["n_encoders"])


@torch.inference_mode()
def test_each_network_on_fixture_inputs(model: TFill, ref: dict) -> None:
    """Every network, fed the official inputs of its stage, gives the official outputs."""
    stages = model.coarse_stage(ref["image"], ref["valid_mask"])
    assert _maxdiff(stages["tokens"], ref["tokens"]) <= 1e-4
    assert _maxdiff(stages["token_mask"], ref["token_mask"]) == 0.0
    assert _maxdiff(model.net_T(ref["tokens"], ref["token_mask"]), ref["transformer_out"]) <= 1e-4
    assert _maxdiff(model.net_G(ref["transformer_out"], ref["valid_mask"]), ref["coarse_raw"]) <= 1e-4
    assert _maxdiff(model.net_G_Ref(ref["coarse_composite"], ref["valid_mask"]), ref["refine_raw"]) <= 1e-4
    assert _maxdiff(model.net_E(stages["fixed_image"], stages["fixed_mask"])[0], ref["tokens"]) <= 1e-4


@torch.inference_mode()
def test_full_chain_matches_every_intermediate(model: TFill, ref: dict) -> None:
    out = model(ref["image"], ref["valid_mask"])
    diffs = {k: _maxdiff(out[k], ref[k]) for k in STAGES}
    assert all(d <= TOL for d in diffs.values()), diffs


def test_channels_last_chain_matches(ref: dict) -> None:
    model = TFill.from_official(FIXTURE, **ref["config"])  # channels_last is the default
    assert model.channels_last
    with torch.inference_mode():
        out = model(ref["image"], ref["valid_mask"])
    diffs = {k: _maxdiff(out[k], ref[k]) for k in STAGES}
    assert all(d <= TOL for d in diffs.values()), diffs


def test_public_inpaint_matches_fixture(model: TFill, ref: dict) -> None:
    """inpaint() in project conventions ([0, 1], 1 = hole) equals the official final composite."""
    images = from_model_space(ref["image"])
    holes = 1 - ref["valid_mask"]
    img_pm1, valid = to_model_space(images, holes)
    assert torch.equal(valid, ref["valid_mask"])
    assert _maxdiff(img_pm1, ref["image"]) <= 1e-6
    out = model.inpaint(images, holes, seed=0)
    expected = from_model_space(ref["final_composite"])
    assert _maxdiff(out, expected) <= TOL / 2  # [0, 1] units are half of [-1, 1] units
    known = holes == 0
    assert torch.equal(out.expand_as(images)[known.expand_as(images)], images[known.expand_as(images)])
