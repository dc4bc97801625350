"""Resampling and activation primitives of MAT's StyleGAN2-style layers (NCHW, any memory format).

Resampling uses the 4x4 FIR ``outer(a, a) / sum``, ``a = [1, 3, 3, 1]`` (the ``resample_filter`` buffer):
down x2 = FIR then stride-2 conv; up x2 = stride-2 transposed conv then FIR with gain 4. ``lrelu`` has
gain ``sqrt(2)``, folded into the preceding weights (``lrelu(x) * g == lrelu(g * x)`` for ``g > 0``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def make_resample_filter(taps: tuple[float, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The (K, K) float32 low-pass filter ``outer(taps, taps)`` normalised to sum 1 (the buffer's value)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def fir_weight(f: torch.Tensor, channels: int, gain: float = 1.0) -> torch.Tensor:
    """(C, 1, K, K) depthwise conv weight that *convolves* (not correlates) each channel with ``f * gain``."""
    w = f.flip([0, 1])
    if gain != 1:
        w = w * gain
    return w[None, None].expand(channels, 1, *f.shape).contiguous()


def fir(x: torch.Tensor, fw: torch.Tensor, padding: int, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Depthwise FIR of ``x`` (B, C, H, W) with ``fw`` (:func:`fir_weight`) after zero padding, plus ``bias`` (C,)."""
    return F.conv2d(x, fw.to(x.dtype), bias, padding=padding, groups=x.shape[1])


def conv_down2(x: torch.Tensor, w: torch.Tensor, fw: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """KxK conv (K odd) with down-sampling by 2: FIR (``fw`` over I channels), then stride 2;
    (B, I, H, W) -> (B, O, H/2, W/2)."""
    kf, k = fw.shape[-1], w.shape[-1]
    if k == 1:  # 1x1: down-sample, then convolve
        return F.conv2d(fir(x, fw, (kf - 1) // 2)[:, :, ::2, ::2], w, bias)
    return F.conv2d(fir(x, fw, k // 2 + (kf - 1) // 2), w, bias, stride=2)


def up_weight(w: torch.Tensor) -> torch.Tensor:
    """(O, I, K, K) conv weight -> the (I, O, K, K) flipped weight of the equivalent transposed convolution."""
    return w.transpose(0, 1).flip([2, 3])


def conv_up2(x: torch.Tensor, wt: torch.Tensor, fw: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """KxK conv with up-sampling by 2: stride-2 transposed conv, then FIR (``fw`` over O channels, gain 4);
    (B, I, H, W) -> (B, O, 2H, 2W); ``wt`` = :func:`up_weight` (I, O, K, K); ``bias`` (O,) is added."""
    k, kf = wt.shape[-1], fw.shape[-1]
    y = F.conv_transpose2d(x, wt.to(x.dtype), stride=2)
    return fir(y, fw, k // 2 + (kf + 1) // 2 - (k - 1), bias)  # symmetric padding: the filter has 4 taps


def upsample2d(x: torch.Tensor, fw: torch.Tensor) -> torch.Tensor:
    """Up-sample (B, C, H, W) -> (B, C, 2H, 2W): zero insertion, padding (2, 1), FIR (``fw`` with gain 4)."""
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, h, 2, w, 2)
    z[:, :, :, 0, :, 0] = x
    z = z.reshape(b, c, 2 * h, 2 * w)
    kf = fw.shape[-1]
    p0, p1 = (kf + 1) // 2, (kf - 2) // 2
    return fir(F.pad(z, [p0, p1, p0, p1]), fw, 0)


def cached(module: torch.nn.Module, name: str, sources: tuple[torch.Tensor | None, ...], make) -> Any:
    """``make()`` memoised on ``module`` while gradients are off and ``sources`` are unchanged (same storage,
    version counter, device and dtype: ``load_state_dict``, ``.to()`` and optimiser steps invalidate it)."""
    if torch.is_grad_enabled():
        return make()
    key = (torch.is_inference_mode_enabled(),) + tuple(
        None if t is None else (t.data_ptr(), t._version, t.device, t.dtype) for t in sources)
    store = module.__dict__.setdefault("_derived_cache", {})
    hit = store.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make()
    store[name] = (key, value)
    return value


Box = tuple[int, int, int, int]


def hole_box(masks: torch.Tensor, max_fraction: float = 0.85) -> Box | None:
    """(y0, y1, x0, x1) bounding every pixel with ``mask < 1`` (1 = known) over the batch; None when there
    is none or the box covers more than ``max_fraction`` of the picture. Outside it every pixel is known."""
    unknown = (masks < 1).flatten(0, 1).any(dim=0)  # (H, W)
    rows, cols = unknown.any(dim=1).nonzero(), unknown.any(dim=0).nonzero()
    if rows.numel() == 0:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (y1 - y0) * (x1 - x0) > max_fraction * unknown.numel():
        return None
    return y0, y1, x0, x1


def parent_box(box: Box, size: tuple[int, int]) -> Box:
    """The window of a half-resolution map (``size``) that an up x2 conv, a 3x3 conv and the up-sampled skip
    image need to be exact on ``box`` (3 px margins at the half resolution)."""
    y0, y1, x0, x1 = box
    h, w = size
    return max(0, (y0 - 6) // 2), min(h, (y1 + 4) // 2 + 1), max(0, (x0 - 6) // 2), min(w, (x1 + 4) // 2 + 1)


def crop_for_conv(x: torch.Tensor, box: Box, padding: int) -> torch.Tensor:
    """The input window a KxK conv (``padding`` = K//2, zero padding) needs to produce exactly ``box``:
    ``conv2d(crop_for_conv(x, box, p), w, padding=0) == conv2d(x, w, padding=p)[..., y0:y1, x0:x1]``."""
    y0, y1, x0, x1 = box
    h, w = x.shape[-2:]
    ys, ye, xs, xe = max(y0 - padding, 0), min(y1 + padding, h), max(x0 - padding, 0), min(x1 + padding, w)
    crop = x[:, :, ys:ye, xs:xe]
    pads = [xs - (x0 - padding), (x1 + padding) - xe, ys - (y0 - padding), (y1 + padding) - ye]
    return F.pad(crop, pads) if any(pads) else crop


def paste(crop: torch.Tensor, box: Box, size: tuple[int, int]) -> torch.Tensor:
    """A zero (B, C, H, W) canvas with ``crop`` at ``box``."""
    y0, y1, x0, x1 = box
    out = crop.new_zeros(crop.shape[0], crop.shape[1], *size)
    out[:, :, y0:y1, x0:x1] = crop
    return out


def inplace(x: torch.Tensor, op: str, other: torch.Tensor) -> torch.Tensor:
    """``x + other`` / ``x * other`` (``op`` "add" / "mul"), in place into ``x`` (a fresh intermediate) without grad."""
    if torch.is_grad_enabled():
        return x + other if op == "add" else x * other
    return x.add_(other) if op == "add" else x.mul_(other)


def lrelu_(x: torch.Tensor) -> torch.Tensor:
    """In-place leaky ReLU (slope 0.2) of an already gain-scaled input."""
    return F.leaky_relu_(x, LRELU_SLOPE)


__all__ = [
    "LRELU_GAIN", "LRELU_SLOPE", "Box", "cached", "conv_down2", "conv_up2", "crop_for_conv", "fir", "fir_weight",
    "hole_box", "inplace", "lrelu_", "make_resample_filter", "paste", "up_weight", "upsample2d",
]
