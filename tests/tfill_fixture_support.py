"""The compact TFill equivalence fixture in ``tests/fixtures/``: its weights procedure and its loader.

The fixture stores the official code's outputs only. Its weights are not stored: they follow
:func:`procedural_state_dict`, key by key, so any clone can rebuild them (and the official code,
given the same procedure, made the outputs; see ``tests/fixtures/make_tfill_fixture.py``).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import torch

FIXTURE_FILE = Path(__file__).resolve().parent / "fixtures" / "tfill_official_tiny_256x320.pt"
NETS = ("E", "T", "G", "G_Ref")


def procedural_tensor(key: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """One tensor of the procedure: N(0, 1) seeded by crc32(key) + seed, scaled by the key's leaf name.

    ``weight`` (>= 2-d): / sqrt(fan_in); ``weight`` (1-d) and pixel-norm ``alpha``: 1 + 0.1 x; ``bias``:
    0.1 x; noise ``alpha``: 0 (so no random noise enters the outputs).
    """
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()) + seed)
    x = torch.randn(shape, generator=g, dtype=torch.float32)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "alpha" and ".noise." in f".{key}":
        return torch.zeros(shape)
    if leaf == "weight" and len(shape) >= 2:
        fan_in = 1
        for d in shape[1:]:
            fan_in *= d
        return x / fan_in**0.5
    if leaf in ("weight", "alpha"):
        return 1 + 0.1 * x
    return 0.1 * x


def procedural_state_dict(template: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """The procedure applied to every key of ``template`` (only its keys and shapes are used)."""
    return {k: procedural_tensor(k, tuple(v.shape), seed) for k, v in template.items()}


def load_fixture() -> dict:
    """The fixture's tensors and config (it holds only tensors, numbers and strings)."""
    return torch.load(FIXTURE_FILE, weights_only=True)


def fixture_model(ref: dict, **options):
    """Our TFill at the fixture's config with the procedural weights (strict load)."""
    from triple_dots.tfill import TFill

    model = TFill(**ref["config"], **options)
    for name in NETS:
        net = getattr(model, f"net_{name}")
        net.load_state_dict(procedural_state_dict(net.state_dict(), int(ref["weight_seed"])), strict=True)
    return model.eval()
