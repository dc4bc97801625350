"""Resampling and activation primitives of MAT's StyleGAN2-style layers, in plain PyTorch.

All functions take NCHW tensors in any memory format (channels-last is fastest on CPU and GPU).

* The **resampling filter** is the 4x4 low-pass FIR ``outer(a, a) / sum`` with ``a = [1, 3, 3, 1]``
  (:func:`make_resample_filter`), stored as the ``resample_filter`` buffer of every conv layer.
* **Down-sampling by 2** (``down=2`` convs): FIR the input (zero padding 2 on every side) and run the
  3x3 convolution with stride 2 (:func:`fir`, then ``conv2d``).
* **Up-sampling by 2** (``up=2`` convs): transposed 3x3 convolution with stride 2 (weights flipped),
  then FIR with padding 1 and gain 4 (:func:`conv_up2`); the skip image of a ToRGB layer is
  up-sampled by zero insertion + FIR (:func:`upsample2d`).
* **Leaky ReLU with gain** ``sqrt(2)`` (``lrelu``): ``lrelu(x) * g == lrelu(g * x)`` for ``g > 0``,
  so the gain is folded into the preceding weights and bias (:data:`LRELU_GAIN`), saving one pass.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

#: negative slope and output gain of MAT's ``lrelu`` activation
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
    """Filter every channel of ``x`` (B, C, H, W) with the depthwise weight ``fw`` (:func:`fir_weight`) after
    zero padding ``padding``: (B, C, H + 2p - K + 1, W + 2p - K + 1); ``bias`` (C,) is added."""
    return F.conv2d(x, fw.to(x.dtype), bias, padding=padding, groups=x.shape[1])


def conv_down2(x: torch.Tensor, w: torch.Tensor, fw: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """KxK convolution (K odd) with down-sampling by 2: (B, I, H, W) -> (B, O, H/2, W/2).

    FIR of the input with the resampling filter (``fw``: :func:`fir_weight` over I channels, zero padding
    ``K//2 + (K_f - 1)//2``, i.e. 2 for K = 3, K_f = 4), then a stride-2 convolution.
    """
    kf, k = fw.shape[-1], w.shape[-1]
    if k == 1:  # 1x1: down-sample, then convolve
        return F.conv2d(fir(x, fw, (kf - 1) // 2)[:, :, ::2, ::2], w, bias)
    return F.conv2d(fir(x, fw, k // 2 + (kf - 1) // 2), w, bias, stride=2)


def up_weight(w: torch.Tensor) -> torch.Tensor:
    """(O, I, K, K) conv weight -> the (I, O, K, K) flipped weight of the equivalent transposed convolution."""
    return w.transpose(0, 1).flip([2, 3])


def conv_up2(x: torch.Tensor, wt: torch.Tensor, fw: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """KxK convolution with up-sampling by 2: (B, I, H, W) -> (B, O, 2H, 2W); ``wt`` = :func:`up_weight` (I, O, K, K).

    A stride-2 transposed convolution (output 2H + K - 2), then the FIR (``fw`` over O channels, gain 4)
    with padding ``K//2 + (K_f + 1)//2 - (K - 1)`` (1 for K = 3, K_f = 4); ``bias`` (O,) is added.
    """
    k, kf = wt.shape[-1], fw.shape[-1]
    y = F.conv_transpose2d(x, wt.to(x.dtype), stride=2)
    pad0 = k // 2 + (kf + 1) // 2 - (k - 1)
    pad1 = k // 2 + (kf - 2) // 2 - (k - 2)
    if pad0 != pad1:  # not reached for K = 3, K_f = 4
        return fir(F.pad(y, [pad0, pad1, pad0, pad1]), fw, 0, bias)
    return fir(y, fw, pad0, bias)


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
    """``make()`` memoised on ``module`` while ``sources`` are unchanged and gradients are off.

    Inference re-uses the scaled / flipped / fused weights instead of recomputing them on every call
    (many small ops). The cache key is every source's storage pointer, version counter, device and
    dtype, so ``load_state_dict``, ``.to()`` and optimiser steps invalidate it; with gradients enabled
    nothing is cached. Costs one extra copy of the derived weights.
    """
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
    """(y0, y1, x0, x1) bounding every pixel with ``mask < 1`` (not fully known) over the batch, or None
    when there is none or the box covers more than ``max_fraction`` of the picture (then nothing is saved).

    Pixels outside the box are known in every sample: the generator's composite ``gen * (1 - m) + image * m``
    takes them from the input whatever ``gen`` is, so the last full-resolution layers need only the box.
    """
    unknown = (masks < 1).flatten(0, 1).any(dim=0)  # (H, W)
    rows, cols = unknown.any(dim=1).nonzero(), unknown.any(dim=0).nonzero()
    if rows.numel() == 0:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (y1 - y0) * (x1 - x0) > max_fraction * unknown.numel():
        return None
    return y0, y1, x0, x1


def parent_box(box: Box, size: tuple[int, int]) -> Box:
    """The window of a half-resolution map (``size``) that a 2x up-sampling conv (3x3 transposed + 4-tap
    FIR) followed by a 3x3 conv, and the 2x up-sampled skip image, need to be exact on ``box``
    (margins of 3 px at the half resolution, one more than needed)."""
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
    """``x + other`` / ``x * other`` (``op`` "add" / "mul"), in place into ``x`` when gradients are off.

    ``x`` must be a fresh intermediate that nothing else reads.
    """
    if torch.is_grad_enabled():
        return x + other if op == "add" else x * other
    return x.add_(other) if op == "add" else x.mul_(other)


def lrelu_(x: torch.Tensor) -> torch.Tensor:
    """In-place leaky ReLU (slope 0.2) of an already gain-scaled input."""
    return F.leaky_relu_(x, LRELU_SLOPE)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x**2) + eps)`` along ``dim`` (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


__all__ = [
    "LRELU_GAIN",
    "LRELU_SLOPE",
    "Box",
    "cached",
    "conv_down2",
    "conv_up2",
    "crop_for_conv",
    "fir",
    "fir_weight",
    "hole_box",
    "inplace",
    "lrelu_",
    "make_resample_filter",
    "normalize_2nd_moment",
    "paste",
    "up_weight",
    "upsample2d",
]
