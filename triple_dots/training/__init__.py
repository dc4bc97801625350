"""Training TFill: ``train(TrainConfig(data=..., out=..., stage="both", mode="scratch"))``.

The names below are imported on first use, so ``triple_dots.training.config`` (what the command
line needs to build ``triple-dots train --help``) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainConfig": "triple_dots.training.config",
    "TrainResult": "triple_dots.training.loop",
    "TrainingDivergedError": "triple_dots.training.loop",
    "train": "triple_dots.training.loop",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'triple_dots.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = list(_EXPORTS)
