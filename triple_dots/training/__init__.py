"""Training TFill: both stages, from scratch, from a pretrained checkpoint, or personalised.

``train(TrainConfig(data=..., out=..., stage="both", mode="scratch"))`` runs (or, with
``resume=True``, continues) a run; see :mod:`triple_dots.training.loop` for the recipe,
:mod:`triple_dots.training.run_folder` for the run-folder layout (config, log, checkpoints,
best.json) and :mod:`triple_dots.training.config` for every option. Loss curves:
:func:`triple_dots.evaluation.curves.plot_loss_curves`.

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
