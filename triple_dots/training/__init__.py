"""Training TFill: both stages, from scratch, from a pretrained checkpoint, or personalised.

``train(TrainConfig(data=..., out=..., stage="both", mode="scratch"))`` runs (or, with
``resume=True``, continues) a run; see :mod:`triple_dots.training.loop` for the recipe,
:mod:`triple_dots.training.run_folder` for the run-folder layout (config, log, checkpoints,
best.json) and :mod:`triple_dots.training.config` for every option. Loss curves:
:func:`triple_dots.evaluation.curves.plot_loss_curves`.
"""

from triple_dots.training.config import TrainConfig
from triple_dots.training.loop import TrainingDivergedError, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "TrainingDivergedError", "train"]
