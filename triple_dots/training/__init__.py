"""Training TFill: both stages, from scratch, from a pretrained checkpoint, or personalised.

``train(TrainConfig(data=..., out=..., stage="both", mode="scratch"))`` runs (or, with
``resume=True``, continues) a run; see :mod:`triple_dots.training.loop` for the recipe and the
run-folder layout, :mod:`triple_dots.training.config` for every option.
"""

from triple_dots.training.config import TrainConfig
from triple_dots.training.loop import TrainingDivergedError, TrainResult, plot_losses, train

__all__ = ["TrainConfig", "TrainResult", "TrainingDivergedError", "plot_losses", "train"]
