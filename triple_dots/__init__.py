"""triple_dots: face-mask removal with TFill, taught in notebooks.

Conventions used by every module: photos are float tensors in [0, 1] shaped (B, 3, H, W)
or (3, H, W); hole masks are (B, 1, H, W) or (1, H, W) in {0, 1} with 1 = hole (the pixels
to regenerate); on disk a hole mask is a single-channel PNG with 255 = hole.
"""

__version__ = "0.1.0"

from triple_dots.errors import TripleDotsError  # noqa: E402

__all__ = ["TripleDotsError", "__version__"]
