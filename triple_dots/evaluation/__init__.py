"""Evaluation: FID, KID, LPIPS / PSNR / SSIM (whole image and hole), identity, mask-ratio bands, reports.

Images are (3, H, W) float tensors in [0, 1]; hole masks (1, H, W) in {0, 1}, 1 = hole.
"""

from __future__ import annotations

from triple_dots.evaluation.bands import DEFAULT_BANDS, band_of, by_band
from triple_dots.evaluation.fid import FIDEncoder, fid_from_activations
from triple_dots.evaluation.kid import KIDResult, kid_from_activations
from triple_dots.evaluation.pairs import match_by_stem
from triple_dots.images import hole_ratio

__all__ = [
    "DEFAULT_BANDS",
    "FIDEncoder",
    "KIDResult",
    "band_of",
    "by_band",
    "fid_from_activations",
    "hole_ratio",
    "kid_from_activations",
    "match_by_stem",
]
