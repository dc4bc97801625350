"""MAT computes the same function as the official code (fenglinglwb/MAT, networks/mat.py Generator).

Two references made by the official code with the README's deterministic weights (weight_seed 0):
the in-repo ``tests/fixtures/mat_reference_256.pt`` (a synthetic photo, made by
``tests/fixtures/make_mat_reference.py``; always present) and, when the shared folder exists,
``shared/reference/mat_official/reference_io_256.pt`` (MAT's sample photo). Tolerance:
``max |ours - official| <= 1e-4 * max(1, max |official|)`` for ``stage1`` and ``output``.
"""

from __future__ import annotations

import pytest
import torch
from mat_support import IN_REPO_REFERENCE, SHARED_MAT, reference_model

from triple_dots.mat import MAT

# one intra-op thread: MAT runs many small ops, which oversubscribe a shared 2-core machine
pytestmark = pytest.mark.usefixtures("one_thread")

SHARED_REFERENCE = SHARED_MAT / "reference_io_256.pt"


@pytest.fixture(scope="module")
def model() -> MAT:
    return reference_model(256)


def _tolerance(official: torch.Tensor) -> float:
    return 1e-4 * max(1.0, float(official.abs().max()))


def _load(path) -> dict:
    ref = torch.load(path, weights_only=False)  # tensors and a plain config dict (ours)
    return {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in ref.items()}


def _check(model: MAT, ref: dict) -> dict[str, float]:
    assert ref["config"]["img_resolution"] == 256 and ref["config"]["weight_seed"] == 0
    ws = model.mapping(ref["z"], truncation_psi=ref["config"]["truncation_psi"])
    assert float((ws - ref["ws"]).abs().max()) <= 1e-5
    output, stage1 = model.official_forward(
        ref["image"], ref["valid_mask"], ref["z"], truncation_psi=ref["config"]["truncation_psi"],
        noise_mode=ref["config"]["noise_mode"], dropout_maps=(ref["dropout_first_stage"], ref["dropout_synthesis"]))
    errors = {}
    for name, ours in (("stage1", stage1), ("output", output)):
        official = ref[name]
        assert ours.shape == official.shape
        errors[name] = float((ours - official).abs().max())
        assert errors[name] <= _tolerance(official), (name, errors[name], _tolerance(official))
    known = ref["valid_mask"].expand_as(ref["image"]) > 0
    assert torch.equal(output[known], ref["image"][known])  # known pixels exactly from the input
    return errors


def test_equivalence_in_repo_reference(model: MAT) -> None:
    ref = _load(IN_REPO_REFERENCE)
    errors = _check(model, ref)
    print("in-repo reference max |diff|:", errors)


@pytest.mark.skipif(not SHARED_REFERENCE.is_file(), reason=f"shared reference not found at {SHARED_REFERENCE}")
def test_equivalence_shared_reference(model: MAT) -> None:
    errors = _check(model, _load(SHARED_REFERENCE))
    print("shared reference max |diff|:", errors)


def test_dropout_maps_matter(model: MAT) -> None:
    """The replayed maps are really used: other maps give another output."""
    ref = _load(IN_REPO_REFERENCE)
    flipped = (1 - ref["dropout_first_stage"], 1 - ref["dropout_synthesis"])
    output, _ = model.official_forward(ref["image"], ref["valid_mask"], ref["z"], dropout_maps=flipped)
    assert float((output - ref["output"]).abs().max()) > 100 * _tolerance(ref["output"])
