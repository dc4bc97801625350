"""MAT (Mask-Aware Transformer, CVPR 2022) in plain PyTorch; reads the released checkpoints safely.

>>> model = MAT.from_official("~/.cache/triple_dots/mat/CelebA-HQ_512.pkl")   # doctest: +SKIP
>>> out = model.inpaint(images, hole_masks, seed=0)                            # doctest: +SKIP

``images`` (B, 3, H, W) in [0, 1], ``hole_masks`` (B, 1, H, W) with 1 = hole; known pixels come back unchanged.
"""

from triple_dots.mat.checkpoint import load_state_file, reference_state_dict
from triple_dots.mat.model import DEFAULT_WEIGHTS, MAT, from_model_space, square_padding, to_model_space
from triple_dots.mat.synthesis import Generator

__all__ = [
    "DEFAULT_WEIGHTS", "MAT", "Generator", "from_model_space", "load_state_file", "reference_state_dict",
    "square_padding", "to_model_space",
]
