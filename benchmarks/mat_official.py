"""Run the official MAT code (a checkout of fenglinglwb/MAT) beside ours, for benchmarks and fixtures.

Nothing of the official code is copied here: :func:`official_generator_class` imports
``networks.mat.Generator`` from the checkout given on the command line. Its only missing
dependency on a plain CPU install is ``timm`` (three helpers that the generator never calls at
inference: ``DropPath``, ``to_2tuple``, ``trunc_normal_``); when ``timm`` is not installed a minimal
stand-in module is registered in ``sys.modules`` of this process. Its custom CUDA ops fall back to
their reference PyTorch implementations on CPU by themselves.

:func:`replay_dropout` replaces ``torch.nn.functional.dropout`` while the official generator runs,
so that its two test-time dropout draws can be replayed (or recorded).
"""

from __future__ import annotations

import collections.abc
import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _stub_timm() -> None:
    if importlib.util.find_spec("timm") is not None or "timm" in sys.modules:
        return

    def to_2tuple(x):
        return tuple(x) if isinstance(x, collections.abc.Iterable) else (x, x)

    class DropPath(nn.Identity):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__()

    layers = types.ModuleType("timm.models.layers")
    layers.DropPath, layers.to_2tuple, layers.trunc_normal_ = DropPath, to_2tuple, nn.init.trunc_normal_
    models = types.ModuleType("timm.models")
    models.layers = layers
    timm = types.ModuleType("timm")
    timm.models = models
    sys.modules.update({"timm": timm, "timm.models": models, "timm.models.layers": layers})


def official_generator_class(root: Path) -> type:
    """``networks.mat.Generator`` of the official checkout at ``root`` (imported, not copied)."""
    root = Path(root).expanduser().resolve()
    if not (root / "networks" / "mat.py").is_file():
        raise SystemExit(f"{root} is not a checkout of fenglinglwb/MAT (no networks/mat.py)")
    _stub_timm()
    sys.path.insert(0, str(root))
    from networks.mat import Generator

    return Generator


def build_official(root: Path, resolution: int, state: dict[str, torch.Tensor]) -> nn.Module:
    """The official generator at ``resolution`` with ``state`` loaded strictly, in eval mode."""
    generator = official_generator_class(root)
    g = generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3)
    g.load_state_dict(state, strict=True)
    return g.eval().requires_grad_(False)


@contextlib.contextmanager
def replay_dropout(maps: list[torch.Tensor] | None = None, record: list[torch.Tensor] | None = None) -> Iterator[None]:
    """Inside the block, ``F.dropout`` returns the next of ``maps`` (when given) and appends results to ``record``."""
    original = F.dropout
    queue = list(maps) if maps is not None else None

    def dropout(x, p=0.5, training=True, inplace=False):
        out = queue.pop(0).clone().to(x) if queue is not None else original(x, p, training, inplace)
        if record is not None:
            record.append(out.clone())
        return out

    F.dropout = dropout
    try:
        yield
    finally:
        F.dropout = original
