"""Paired metrics between a generated image and its ground truth: PSNR, SSIM, LPIPS.

Each on the whole image and inside the hole only (hole mask 1 = regenerated pixels), since outside
the hole a model mostly copies the input. Images are (3, H, W) float tensors in [0, 1]; higher
PSNR/SSIM and lower LPIPS are better. Identical images have PSNR = inf, an empty hole gives NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from triple_dots.backbones import load_lpips, save_random_backbone  # noqa: F401 (re-exported: paired.load_lpips)
from triple_dots.errors import SizeMismatchError


def _check(a: torch.Tensor, b: torch.Tensor, hole: torch.Tensor | None) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[0] != 3:
        raise SizeMismatchError(
            f"images must both be (3, H, W) of equal size, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if hole is not None and tuple(hole.shape) != (1, *a.shape[1:]):
        raise SizeMismatchError(f"hole mask {tuple(hole.shape)} does not match image {tuple(a.shape)}")


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().double().permute(1, 2, 0).numpy()


def psnr(fake: torch.Tensor, real: torch.Tensor, hole_mask: torch.Tensor | None = None) -> float:
    """PSNR in dB (data range 1). With ``hole_mask`` (1, H, W) only hole pixels count. inf if identical."""
    from skimage.metrics import peak_signal_noise_ratio

    _check(fake, real, hole_mask)
    if hole_mask is None:
        with np.errstate(divide="ignore"):
            return float(peak_signal_noise_ratio(_hwc(real), _hwc(fake), data_range=1.0))
    m = hole_mask[0].bool().cpu().numpy()
    if not m.any():
        return float("nan")
    mse = float(((_hwc(real) - _hwc(fake)) ** 2)[m].mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


SSIM_WINDOW = 7  # scikit-image's default uniform window


def ssim(fake: torch.Tensor, real: torch.Tensor, hole_mask: torch.Tensor | None = None) -> float:
    """SSIM (scikit-image, RGB, uniform 7x7 window, data range 1); with ``hole_mask`` the SSIM map's mean there.

    Both leave out the 3-pixel border that scikit-image leaves out, so a 100 % hole gives the
    whole-image value; a hole entirely in the border is scored on the full map. NaN for an empty hole.
    """
    from skimage.metrics import structural_similarity

    _check(fake, real, hole_mask)
    mean, smap = structural_similarity(_hwc(real), _hwc(fake), channel_axis=2, data_range=1.0, full=True,
                                       win_size=SSIM_WINDOW)
    if hole_mask is None:
        return float(mean)
    m = hole_mask[0].bool().cpu().numpy()
    if not m.any():
        return float("nan")
    smap = smap.mean(axis=2)
    pad = (SSIM_WINDOW - 1) // 2
    inner, inner_m = smap[pad:-pad, pad:-pad], m[pad:-pad, pad:-pad]
    return float(inner[inner_m].mean()) if inner_m.any() else float(smap[m].mean())


@torch.inference_mode()
def lpips_distance(model: torch.nn.Module, fake: torch.Tensor, real: torch.Tensor,
                   hole_mask: torch.Tensor | None = None) -> float:
    """LPIPS between two (3, H, W) [0, 1] images; with ``hole_mask`` the spatial map's mean over the hole."""
    _check(fake, real, hole_mask)
    dev = next(model.parameters()).device
    a, b = fake[None].float().to(dev), real[None].float().to(dev)
    if hole_mask is None:
        model.spatial = False
        return float(model(a, b, normalize=True).reshape(-1)[0])
    m = hole_mask[0].bool().to(dev)
    if not bool(m.any()):
        return float("nan")
    model.spatial = True
    try:
        smap = model(a, b, normalize=True)[0, 0]
    finally:
        model.spatial = False
    return float(smap[m].mean())


@dataclass
class PairScores:
    """Paired scores of one generated image (whole image and hole only)."""

    psnr: float
    psnr_hole: float
    ssim: float
    ssim_hole: float
    lpips: float | None = None
    lpips_hole: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def scores(fake: torch.Tensor, real: torch.Tensor, hole_mask: torch.Tensor, *,
           groups: Sequence[str] = ("psnr", "ssim"), lpips_model: torch.nn.Module | None = None) -> dict[str, float]:
    """``name`` and ``name_hole`` for each of ``groups`` (``psnr``, ``ssim``) and, with a model, ``lpips``."""
    out: dict[str, float] = {}
    for name, fn in (("psnr", psnr), ("ssim", ssim)):
        if name in groups:
            out[name], out[f"{name}_hole"] = fn(fake, real), fn(fake, real, hole_mask)
    if lpips_model is not None:
        out["lpips"] = lpips_distance(lpips_model, fake, real)
        out["lpips_hole"] = lpips_distance(lpips_model, fake, real, hole_mask)
    return out


def pair_scores(fake: torch.Tensor, real: torch.Tensor, hole_mask: torch.Tensor,
                lpips_model: torch.nn.Module | None = None) -> PairScores:
    """All paired metrics for one (fake, real, hole) triple; LPIPS only when a model is given."""
    return PairScores(**scores(fake, real, hole_mask, lpips_model=lpips_model))
