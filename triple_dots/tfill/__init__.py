"""TFill (CVPR 2022) re-implemented: both stages, strict loading of the released checkpoints.

>>> model = TFill.from_official("~/.cache/triple_dots/tfill/ffhq")      # doctest: +SKIP
>>> out = model.inpaint(images, hole_masks, seed=0)                    # doctest: +SKIP

``images`` (B, 3, H, W) in [0, 1], ``hole_masks`` (B, 1, H, W) with 1 = hole; known pixels come back unchanged.
"""

from triple_dots.tfill.checkpoint_files import NET_FILES
from triple_dots.tfill.config import PRESETS, TINY, TFillConfig, make_config
from triple_dots.tfill.model import (
    ModelOutputs,
    TFill,
    TFillStages,
    check_inputs,
    from_model_space,
    model_size,
    to_model_space,
)

__all__ = [
    "ModelOutputs", "NET_FILES", "PRESETS", "TINY", "TFill", "TFillConfig", "TFillStages", "check_inputs",
    "from_model_space", "make_config", "model_size", "to_model_space",
]
