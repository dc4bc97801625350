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


def _depthwise(f: torch.Tensor, channels: int, gain: float, x: torch.Tensor) -> torch.Tensor:
    """(C, 1, K, K) depthwise weight that convolves (not correlates) with ``f * gain``."""
    w = f.flip([0, 1]).to(dtype=x.dtype, device=x.device)
    if gain != 1:
        w = w * gain
    return w[None, None].expand(channels, 1, *f.shape).contiguous()


def fir(x: torch.Tensor, f: torch.Tensor, padding: int, *, gain: float = 1.0,
        bias: torch.Tensor | None = None) -> torch.Tensor:
    """Filter every channel of ``x`` (B, C, H, W) with the 2-D FIR ``f`` (K, K) after zero padding ``padding``.

    Output (B, C, H + 2p - K + 1, W + 2p - K + 1); ``gain`` scales the filter, ``bias`` (C,) is added.
    """
    c = x.shape[1]
    return F.conv2d(x, _depthwise(f, c, gain, x), bias, padding=padding, groups=c)


def conv_down2(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """3x3 (or KxK, K odd) convolution with down-sampling by 2: (B, I, H, W) -> (B, O, H/2, W/2).

    FIR with the resampling filter first (padding ``(K_f - 2 + 1)//2 + K//2``), then a stride-2 conv.
    """
    kf, k = f.shape[-1], w.shape[-1]
    if k == 1:  # 1x1: down-sample, then convolve
        y = fir(x, f, (kf - 1) // 2)[:, :, ::2, ::2]
        return F.conv2d(y, w, bias)
    pad = k // 2 + (kf - 1) // 2
    return F.conv2d(fir(x, f, pad), w, bias, stride=2)


def conv_up2(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, bias: torch.Tensor | None = None,
             groups: int = 1) -> torch.Tensor:
    """KxK convolution with up-sampling by 2: (B, I, H, W) -> (B, O, 2H, 2W). ``w`` is (O, I/groups, K, K).

    A stride-2 transposed convolution with the flipped kernel (output 2H + K - 2), then the FIR with
    gain 4 and padding ``(K_f + 1)//2 + K//2 - (K - 1)`` (1 for K = 3, K_f = 4); ``bias`` (O,) is added.
    """
    o, ipg, kh, kw = w.shape
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, o // groups, ipg, kh, kw).transpose(1, 2).reshape(groups * ipg, o // groups, kh, kw)
    y = F.conv_transpose2d(x, wt.flip([2, 3]), stride=2, groups=groups)
    kf = f.shape[-1]
    pad0 = kw // 2 + (kf + 1) // 2 - (kw - 1)
    pad1 = kw // 2 + (kf - 2) // 2 - (kw - 2)
    if pad0 != pad1:  # not reached for K = 3, K_f = 4
        y = F.pad(y, [pad0, pad1, pad0, pad1])
        return fir(y, f, 0, gain=4.0, bias=bias)
    return fir(y, f, pad0, gain=4.0, bias=bias)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Up-sample (B, C, H, W) -> (B, C, 2H, 2W): zero insertion, padding (2, 1), FIR with gain 4."""
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, h, 2, w, 2)
    z[:, :, :, 0, :, 0] = x
    z = z.reshape(b, c, 2 * h, 2 * w)
    kf = f.shape[-1]
    p0, p1 = (kf + 1) // 2, (kf - 2) // 2
    z = F.pad(z, [p0, p1, p0, p1])
    return fir(z, f, 0, gain=4.0)


def lrelu_(x: torch.Tensor) -> torch.Tensor:
    """In-place leaky ReLU (slope 0.2) of an already gain-scaled input."""
    return F.leaky_relu_(x, LRELU_SLOPE)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x**2) + eps)`` along ``dim`` (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


__all__ = [
    "LRELU_GAIN", "LRELU_SLOPE", "conv_down2", "conv_up2", "fir", "lrelu_", "make_resample_filter",
    "normalize_2nd_moment", "upsample2d",
]
