"""D and D_Ref: StyleGAN2 discriminators (official ``StyleDiscriminator``) in plain PyTorch.

The official CUDA ops' arithmetic: equalised learning rate (weights scaled by ``1/sqrt(fan_in)`` at run
time), ``leaky_relu(x + b, 0.2) * sqrt(2)``, and a [1, 3, 3, 1] blur (the ``kernel`` buffer) before every
stride-2 conv. Input (B, 3, S, S) in [-1, 1]; output (B, 1) logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Blur(nn.Module):
    """Pad by ``pad`` (before, after) on both axes, then depthwise-convolve with ``kernel`` (normalised (k, k))."""

    def __init__(self, pad: tuple[int, int], taps: tuple[int, ...] = (1, 3, 3, 1)) -> None:
        super().__init__()
        k = torch.tensor(taps, dtype=torch.float32)
        k = k[None, :] * k[:, None]
        self.register_buffer("kernel", k / k.sum())
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        p0, p1 = self.pad
        x = F.pad(x, [p0, p1, p0, p1])
        weight = torch.flip(self.kernel, [0, 1]).to(x.dtype)[None, None].expand(c, 1, -1, -1)
        return F.conv2d(x, weight, groups=c)


class EqualConv2d(nn.Module):
    """Conv with weight ~ N(0, 1) scaled by ``1/sqrt(in*k*k)`` at run time; keys ``weight`` (+ ``bias``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = 1 / math.sqrt(cin * kernel**2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(nn.Module):
    """``leaky_relu(x + bias, 0.2) * sqrt(2)``; key ``bias`` (C,)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return F.leaky_relu(x + self.bias.view(shape), 0.2) * math.sqrt(2)


class EqualLinear(nn.Module):
    """Linear with run-time ``1/sqrt(in)`` weight scale, optionally followed by a fused leaky ReLU."""

    def __init__(self, cin: int, cout: int, activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1 / math.sqrt(cin)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return F.leaky_relu(F.linear(x, self.weight * self.scale) + self.bias, 0.2) * math.sqrt(2)
        return F.linear(x, self.weight * self.scale, self.bias)


def conv_layer(cin: int, cout: int, kernel: int, *, downsample: bool = False, activate: bool = True) -> nn.Sequential:
    """StyleGAN2 ``ConvLayer``: [Blur] + EqualConv2d (+ FusedLeakyReLU); bias lives in the activation."""
    if downsample:
        p = (4 - 2) + (kernel - 1)
        layers = [Blur(((p + 1) // 2, p // 2)), EqualConv2d(cin, cout, kernel, stride=2, padding=0, bias=False)]
    else:
        layers = [EqualConv2d(cin, cout, kernel, padding=kernel // 2, bias=False)]
    if activate:
        layers.append(FusedLeakyReLU(cout))
    return nn.Sequential(*layers)


class StyleBlock(nn.Module):
    """Residual down-sampling block: ``(conv2(conv1(x)) + skip(x)) / sqrt(2)``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = conv_layer(cin, cin, 3)
        self.conv2 = conv_layer(cin, cout, 3, downsample=True)
        self.skip = conv_layer(cin, cout, 1, downsample=True, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class StyleDiscriminator(nn.Module):
    """Keys: ``convs.{0..}``, ``final_conv.{0,1}``, ``final_linear.{0,1}``; ``img_size`` a power of two (>= 8)."""

    def __init__(self, img_size: int, ndf: int = 32) -> None:
        super().__init__()
        mult = ndf / 64
        channels = {4: 512, 8: 512, 16: 512, 32: int(512 * mult), 64: int(256 * mult), 128: int(128 * mult),
                    256: int(64 * mult), 512: int(32 * mult), 1024: int(16 * mult)}
        log_size = int(math.log2(img_size))
        if 2**log_size != img_size or img_size not in channels or img_size < 8:
            raise ValueError(f"StyleDiscriminator: img_size must be a power of two in 8..1024, got {img_size}")
        convs: list[nn.Module] = [conv_layer(3, channels[img_size], 1)]
        cin = channels[img_size]
        for i in range(log_size, 2, -1):
            cout = channels[2 ** (i - 1)]
            convs.append(StyleBlock(cin, cout))
            cin = cout
        self.convs = nn.Sequential(*convs)
        self.stddev_group = 4
        self.final_conv = conv_layer(cin + 1, channels[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 16, channels[4], activation=True), EqualLinear(channels[4], 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, S, S) in [-1, 1] -> (B, 1) logits (real > fake)."""
        out = self.convs(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        while b % group:  # the official code needs B divisible by the group; use the largest divisor
            group -= 1
        std = out.reshape(group, -1, 1, c, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8)
        std = std.mean([2, 3, 4], keepdim=True).squeeze(2)
        std = std.repeat(group, 1, h, w)
        out = self.final_conv(torch.cat([out, std], 1))
        return self.final_linear(out.reshape(b, -1))
