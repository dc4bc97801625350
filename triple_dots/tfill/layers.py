"""TFill's building blocks, computing exactly what the official ``model/base_function.py`` layers compute.

Feature maps (B, C, H, W); masks (B or 1, 1, H, W) floats in [0, 1], **1 = visible / known, 0 = hole**
(soft values: the fraction of visible pixels under a window). Partial convs rescale image borders even
without a mask, and conv1's border mask makes a ResnetBlock's conv2 masked: these shape-only maps are cached.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

#: (kh, kw, stride_h, stride_w, pad_h, pad_w) of a partial convolution.
Geometry = tuple[int, int, int, int, int, int]

_STATIC_CACHE: dict[tuple, StaticMaps] = {}
_STATIC_CACHE_MAX = 256


def _ring(m: torch.Tensor) -> int | None:
    """Width of the border ring of ``m`` (1, 1, h, w) outside which every value is exactly 1 (None: no such ring)."""
    h, w = m.shape[-2:]
    r = 0
    while 2 * r < h and 2 * r < w:
        if bool((m[..., r:h - r, r:w - r] == 1).all()):
            return r
        r += 1
    return None


def _ring_slices(h: int, w: int, r: int) -> list[tuple[slice, slice]]:
    """The four strips (rows top/bottom, columns left/right) of a ring of width r."""
    return [(slice(0, r), slice(None)), (slice(h - r, h), slice(None)),
            (slice(r, h - r), slice(0, r)), (slice(r, h - r), slice(w - r, w))]


def _window_sum(mask: torch.Tensor, g: Geometry) -> torch.Tensor:
    """Sum of ``mask`` (N, 1, H, W) over every conv window of geometry ``g``."""
    kh, kw, sh, sw, ph, pw = g
    if kh == kw == sh == sw == 1 and ph == pw == 0:
        return mask
    ones = torch.ones(1, 1, kh, kw, device=mask.device, dtype=mask.dtype)
    return F.conv2d(mask, ones, stride=(sh, sw), padding=(ph, pw))


def _ratio_maps(window_sum: torch.Tensor, g: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Partial-conv rescaling ``k*k/(U+1e-8) * clamp(U, 0, 1)`` and the output gate ``clamp(U, 0, 1)``."""
    kk = g[0] * g[1]
    gate = window_sum.clamp(0, 1)
    return kk / (window_sum + 1e-8) * gate, gate


class StaticMaps(NamedTuple):
    """Shape-only maps of a partial conv (:func:`static_maps`), (1, 1, h, w)."""

    in_mask: torch.Tensor | None
    ratio: torch.Tensor
    gate: torch.Tensor
    out_mask: torch.Tensor
    gate_is_one: bool
    ratio_is_one: bool
    in_ring: int | None  # border width where in_mask != 1 (None: everywhere)
    out_ring: int | None  # border width where ratio or gate != 1 (None: everywhere)


def static_maps(prior: tuple[Geometry, ...], g: Geometry, height: int, width: int, device: torch.device,
                dtype: torch.dtype) -> StaticMaps:
    """The shape-only maps of a partial conv whose mask comes from an all-ones (1, 1, H, W) mask through the
    stride-1 ``prior`` convs (empty: no mask). Cached per shape, device, dtype and inference mode."""
    key = (prior, g, height, width, device, dtype, torch.is_inference_mode_enabled())
    hit = _STATIC_CACHE.get(key)
    if hit is not None:
        return hit
    with torch.no_grad():
        mask = torch.ones(1, 1, height, width, device=device, dtype=dtype)
        for pg in prior:
            if pg[2] != 1 or pg[3] != 1:
                raise ValueError("static_maps: prior convolutions must have stride 1")
            mask = _window_sum(mask, pg) / (pg[0] * pg[1])
        u = _window_sum(mask, g)
        ratio, gate = _ratio_maps(u, g)
        out_mask = u / (g[0] * g[1])
        gate_is_one = bool((gate == 1).all())
        ratio_is_one = bool((ratio == 1).all()) and gate_is_one
        in_ring = _ring(mask) if prior else 0
        out_ring = _ring(ratio * gate) if gate_is_one else None
    value = StaticMaps(mask if prior else None, ratio, gate, out_mask, gate_is_one, ratio_is_one, in_ring, out_ring)
    if len(_STATIC_CACHE) >= _STATIC_CACHE_MAX:
        _STATIC_CACHE.clear()
    _STATIC_CACHE[key] = value
    return value


class PartialConv2d(nn.Conv2d):
    """Partial conv with a mask (B or 1, 1, H, W), 1 = visible (none: all ones, ``x`` not multiplied):
    ``(conv_nobias(x*mask) * k*k/(U+1e-8)*clamp(U,0,1) + bias) * clamp(U,0,1)``, ``U`` the mask's window sum.
    ``return_mask``: also return ``U/(k*k)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 *, return_mask: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=True)
        self.return_mask = return_mask
        kh, kw = self.kernel_size
        self.geometry: Geometry = (kh, kw, self.stride[0], self.stride[1], self.padding[0], self.padding[1])

    def _conv(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return F.conv2d(x, self.weight, bias, self.stride, self.padding)

    def _bias(self) -> torch.Tensor:
        return self.bias.view(1, -1, 1, 1)

    def forward_static(self, x: torch.Tensor, prior: tuple[Geometry, ...] = (), *,
                       inplace_input: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Partial conv whose mask is all-ones through the ``prior`` convs -> ``(out, mask (1, 1, h, w))``.
        Without autograd only the border ring where the maps differ from 1 is changed, in place
        (``inplace_input``: the input too, for callers that own it)."""
        maps = static_maps(
            prior, self.geometry, x.shape[-2], x.shape[-1], x.device,
            torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype,
        )
        fast = not torch.is_grad_enabled()  # no autograd graph: in-place shortcuts are safe
        if maps.in_mask is not None:
            r = maps.in_ring
            if fast and inplace_input and r is not None:
                h, w = x.shape[-2:]
                for ys, xs in _ring_slices(h, w, r) if r else ():
                    x[..., ys, xs].mul_(maps.in_mask[..., ys, xs])
            else:
                x = x * maps.in_mask
        if maps.ratio_is_one:
            return self._conv(x, self.bias), maps.out_mask
        if fast and maps.out_ring is not None:
            out = self._conv(x, self.bias)
            h, w = out.shape[-2:]
            bias = self._bias()
            for ys, xs in _ring_slices(h, w, maps.out_ring):
                out[..., ys, xs].sub_(bias).mul_(maps.ratio[..., ys, xs]).add_(bias)
            return out, maps.out_mask
        raw = self._conv(x, None)
        out = torch.addcmul(self._bias(), raw, maps.ratio)
        return (out if maps.gate_is_one else out * maps.gate), maps.out_mask

    def forward_masked(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Partial conv with an explicit mask (B or 1, 1, H, W); returns ``(out, U/(k*k))``."""
        u = _window_sum(mask, self.geometry)
        ratio, gate = _ratio_maps(u, self.geometry)
        bias = self._bias()
        # the official layer's operation order
        out = ((self._conv(x * mask, self.bias) - bias) * ratio + bias) * gate
        return out, u / (self.geometry[0] * self.geometry[1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):  # type: ignore[override]
        out, new_mask = self.forward_static(x) if mask is None else self.forward_masked(x, mask)
        return (out, new_mask) if self.return_mask else out


class PixelwiseNorm(nn.Module):
    """``alpha * x / sqrt(mean_c(x^2) + 1e-8)`` over channels; key ``alpha`` (1, C, 1, 1), init 1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the official formula, operation for operation (bit-identical results)
        scale = x.pow(2.0).mean(dim=1, keepdim=True).add_(1e-8).rsqrt_()
        return (x * scale).mul_(self.alpha) if not torch.is_grad_enabled() else self.alpha * (x * scale)


def norm_act(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``leaky_relu(norm(x), 0.2)`` (in place without autograd)."""
    y = norm(x)
    return F.leaky_relu_(y, 0.2) if not torch.is_grad_enabled() else F.leaky_relu(y, 0.2)


class ResnetBlock(nn.Module):
    """Pre-activation residual block ``(conv2(act(norm2(conv1(act(norm1(x)))))) + short(x)) / sqrt(2)``; conv1's
    mask feeds conv2; ``forward(x, mask=None) -> (y, conv2's soft mask)``; ``short`` only when Cin != Cout."""

    def __init__(self, in_channels: int, out_channels: int | None = None, kernel: int = 3) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        pad = (kernel - 1) // 2
        self.norm1 = PixelwiseNorm(in_channels)
        self.conv1 = PartialConv2d(in_channels, out_channels, kernel, padding=pad, return_mask=True)
        self.norm2 = PixelwiseNorm(out_channels)
        self.conv2 = PartialConv2d(out_channels, out_channels, kernel, padding=pad, return_mask=True)
        self.short = PartialConv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # a 1x1 partial conv without mask is a plain conv
        s = x if self.short is None else F.conv2d(x, self.short.weight, self.short.bias)
        if mask is None:
            h, _ = self.conv1.forward_static(norm_act(self.norm1, x))
            h, mask = self.conv2.forward_static(norm_act(self.norm2, h), prior=(self.conv1.geometry,),
                                                inplace_input=True)
        else:
            h, mask = self.conv1.forward_masked(norm_act(self.norm1, x), mask)
            h, mask = self.conv2.forward_masked(norm_act(self.norm2, h), mask)
        if not torch.is_grad_enabled():
            return h.add_(s).div_(math.sqrt(2)), mask
        return (h + s) / math.sqrt(2), mask


class NoiseInjection(nn.Module):
    """``x + alpha * n * (1 - mask)``, n ~ N(0, 1) (B, 1, h, w) from ``generator``; mask: visible, x's size
    (None: noise everywhere). Key ``alpha`` (1,), init 0."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        noise = torch.empty(b, 1, h, w, device=x.device, dtype=x.dtype).normal_(generator=generator)
        if mask is None:
            return x + self.alpha * noise
        return x + self.alpha * noise * (1 - mask)


class ToRGB(nn.Module):
    """StyleGAN2-style RGB head ``tanh(conv3x3(act(norm(cat[x, up2(skip)]))))``; ``skip``: the previous RGB
    (B, 3, h/2, w/2), bilinearly doubled (``upsample`` sizes the conv for it)."""

    def __init__(self, in_channels: int, out_channels: int = 3, upsample: bool = True) -> None:
        super().__init__()
        cin = in_channels + out_channels if upsample else in_channels
        self.conv = nn.Sequential(PixelwiseNorm(cin), nn.LeakyReLU(0.2), PartialConv2d(cin, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=True)
            x = torch.cat([x, skip], dim=1)
        out = self.conv[2](norm_act(self.conv[0], x))
        return torch.tanh_(out) if not torch.is_grad_enabled() else torch.tanh(out)


class UpSample(nn.Module):
    """Bilinear x2 (align_corners=True) then PartialConv2d 3x3 (no mask); key ``conv.*``."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = PartialConv2d(channels, channels, kernel, padding=(kernel - 1) // 2, return_mask=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.conv.forward_static(x)[0]


class DownSample(nn.Module):
    """Stride-2 PartialConv2d (kernel k, padding (k-1)//2); ``forward(x, mask=None) -> (y, mask_out)``."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = PartialConv2d(channels, channels, kernel, stride=2, padding=(kernel - 1) // 2, return_mask=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv(x, mask)


def soft_key_logits(logits: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """TFill's soft key mask: ``S*w`` where ``S > 0``, ``S/(w+eps)`` elsewhere (w broadcast over keys)."""
    return torch.where(logits > 0, logits * weight, logits / (weight + eps))


class MultiheadAttention(nn.Module):
    """Multi-head attention on token sequences (B, N, C); ``key_weight`` (B, N) in (0, 1]: the soft-logit rule
    (:func:`soft_key_logits`, eps 1e-5) per key; without it :func:`F.scaled_dot_product_attention`."""

    def __init__(self, embed_dim: int, num_heads: int = 8) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scale = self.head_dim**-0.5
        self.to_q = nn.Linear(embed_dim, embed_dim)
        self.to_k = nn.Linear(embed_dim, embed_dim)
        self.to_v = nn.Linear(embed_dim, embed_dim)
        self.to_out = nn.Linear(embed_dim, embed_dim)
        for lin in (self.to_q, self.to_k, self.to_v):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_weight: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = q.shape
        q, k, v = self._heads(self.to_q(q)), self._heads(self.to_k(k)), self._heads(self.to_v(v))
        if key_weight is None:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            dots = torch.matmul(q, k.transpose(-1, -2)) * self.scale
            dots = soft_key_logits(dots, key_weight[:, None, None, :].to(dots.dtype), 1e-5)
            out = torch.matmul(dots.softmax(dim=-1), v)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.to_out(out)


class TransformerEncoderLayer(nn.Module):
    """Pre-norm transformer layer on a (B, C, H, W) map: ``h = norm1(x)`` as row-major tokens, ``q = k = h + pos``,
    ``v = h``; ``x += attn``; ``x += conv2(gelu(conv1(norm2(x))))`` (partial convs, exact GELU)."""

    def __init__(self, embed_dim: int, num_heads: int = 8, dim_conv: int = 2048, kernel: int = 1) -> None:
        super().__init__()
        self.attn = MultiheadAttention(embed_dim, num_heads)
        self.conv1 = PartialConv2d(embed_dim, dim_conv, kernel, padding=(kernel - 1) // 2)
        self.conv2 = PartialConv2d(dim_conv, embed_dim, 1)
        self.norm1 = PixelwiseNorm(embed_dim)
        self.norm2 = PixelwiseNorm(embed_dim)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None,
                key_weight: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.norm1(x).flatten(2).transpose(1, 2)  # (B, N, C)
        qk = t if pos is None else t + pos
        a = self.attn(qk, qk, t, key_weight)
        x = x + a.transpose(1, 2).reshape(b, c, h, w)
        f = self.conv2(self.activation(self.conv1(self.norm2(x))))
        return x + f
