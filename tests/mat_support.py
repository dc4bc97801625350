"""Shared helpers of the MAT tests: fixture paths and reference-weight models."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from triple_dots.mat import MAT, reference_state_dict

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: the shared official reference folder (``../shared/reference/mat_official`` next to the repo, as in CI)
SHARED_MAT = Path(os.environ.get("TRIPLE_DOTS_MAT_FIXTURE",
                                 Path(__file__).resolve().parents[2] / "shared/reference/mat_official"))
IN_REPO_REFERENCE = FIXTURES / "mat_reference_256.pt"


def reference_model(resolution: int, weight_seed: int = 0) -> MAT:
    """A MAT with the reference fixtures' deterministic weights, in eval mode."""
    torch.manual_seed(0)
    return MAT.from_state_dict(reference_state_dict(MAT(resolution), weight_seed))


#: widths of the tiny MAT used by behaviour tests (same architecture, much narrower)
TINY = {"z_dim": 32, "w_dim": 32, "dim": 12, "channel_divisor": 16}


def tiny_model(resolution: int = 128, seed: int = 0) -> MAT:
    """A tiny random MAT (about 1.3 M numbers) in eval mode."""
    torch.manual_seed(seed)
    return MAT(resolution, **TINY).eval()


def key_list(resolution: int) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of the official state dict at ``resolution`` (in-repo copy of the shared list)."""
    rows = []
    for line in (FIXTURES / f"mat_state_dict_keys_{resolution}.txt").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        assert dtype == "float32"
        rows.append((key, tuple(int(v) for v in shape.strip("()").split(",") if v.strip())))
    return rows
