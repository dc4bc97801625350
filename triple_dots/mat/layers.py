"""MAT's StyleGAN2-style blocks: equalised-lr linear/conv layers, modulated convs, mapping network.

Parameter names are the official checkpoints'. Weights are stored N(0, 1) and scaled at run time by
``lr_multiplier / sqrt(fan_in)`` (equalised learning rate). Activations are NCHW (channels-last kept).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots.mat.ops import (
    LRELU_GAIN,
    Box,
    cached,
    conv_down2,
    conv_up2,
    crop_for_conv,
    fir_weight,
    lrelu_,
    make_resample_filter,
    up_weight,
    upsample2d,
)

ACTIVATIONS = ("linear", "lrelu")


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


class FullyConnectedLayer(nn.Module):
    """``act(x @ (w * gain).T + b * lr_multiplier)``; x (..., in_features) -> (..., out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        _check_activation(activation)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.activation = activation
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def effective(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight, bias) as applied, the lrelu gain folded in (cached when gradients are off)."""
        def make():
            gain = LRELU_GAIN if self.activation == "lrelu" else 1.0
            w = self.weight * (self.weight_gain * gain)
            b = None if self.bias is None else self.bias * (self.bias_gain * gain)
            return w, b

        return cached(self, "wb", (self.weight, self.bias), make)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.effective()
        out = F.linear(x, w, b)
        return lrelu_(out) if self.activation == "lrelu" else out


class Conv2dLayer(nn.Module):
    """Equalised-lr KxK conv (padding K//2), optional 2x up/down-sampling, bias and lrelu;
    x (B, in_channels, H, W) -> (B, out_channels, H * up / down, W * up / down)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1) -> None:
        super().__init__()
        _check_activation(activation)
        if up not in (1, 2) or down not in (1, 2) or (up > 1 and down > 1):
            raise ValueError(f"up/down must be 1 or 2 (not both), got up={up}, down={down}")
        self.activation = activation
        self.up, self.down = up, down
        self.register_buffer("resample_filter", make_resample_filter())
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = LRELU_GAIN if activation == "lrelu" else 1.0
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def _effective(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        def make():
            w = self.weight * (self.weight_gain * self.act_gain)
            b = None if self.bias is None else self.bias * self.act_gain
            if self.up > 1:
                return up_weight(w), b, fir_weight(self.resample_filter, w.shape[0], 4.0)
            if self.down > 1:
                return w, b, fir_weight(self.resample_filter, w.shape[1])
            return w, b, None

        return cached(self, "wbf", (self.weight, self.bias, self.resample_filter), make)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b, fw = self._effective()
        if self.up > 1:
            y = conv_up2(x, w, fw, b)
        elif self.down > 1:
            y = conv_down2(x, w, fw, b)
        else:
            y = F.conv2d(x, w, b, padding=self.padding)
        return lrelu_(y) if self.activation == "lrelu" else y


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated conv (weight scaled per input channel by ``affine(style)``, optionally demodulated);
    x (B, in_channels, H, W), style (B, style_dim) -> (B, out_channels, H * up, W * up)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, up: int = 1) -> None:
        super().__init__()
        if up not in (1, 2):
            raise ValueError(f"up must be 1 or 2, got {up}")
        self.demodulate = demodulate
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.out_channels = out_channels
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.up = up
        self.register_buffer("resample_filter", make_resample_filter())
        self.affine = FullyConnectedLayer(style_dim, in_channels, bias_init=1)

    def _base(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(scaled weight, squared norms (O, I), FIR weight); for ``up`` the weight is (I, O, K, K)."""
        def make():
            w = self.weight[0] * self.weight_gain  # (O, I, K, K)
            wsq = w.square().sum(dim=[2, 3])
            if self.up > 1:
                return up_weight(w), wsq, fir_weight(self.resample_filter, self.out_channels, 4.0)
            return w, wsq, None

        return cached(self, "base", (self.weight, self.resample_filter), make)

    def _conv(self, x: torch.Tensor, w: torch.Tensor, fw: torch.Tensor | None, bias: torch.Tensor | None,
              padding: int) -> torch.Tensor:
        if self.up > 1:
            return conv_up2(x, w, fw, bias)
        return F.conv2d(x, w, bias, padding=padding)

    def forward(self, x: torch.Tensor, style: torch.Tensor, *, gain: float = 1.0,
                bias: torch.Tensor | None = None, box: Box | None = None) -> torch.Tensor:
        """Modulated conv times ``gain`` plus ``bias`` (out_channels,); ``box``: only that output window."""
        padding = self.padding
        if box is not None:
            if self.up > 1:
                raise ValueError("box is not supported for up-sampling convs")
            x, padding = crop_for_conv(x, box, self.padding), 0
        batch = x.shape[0]
        s = self.affine(style)  # (B, I)
        w, wsq, fw = self._base()
        if self.demodulate:  # 1 / |modulated weight| per output channel, (B, O)
            scale = (s.square() @ wsq.T + 1e-8).rsqrt() * gain
        else:
            scale = torch.full((batch, self.out_channels), gain, dtype=s.dtype, device=s.device)
        in_dim, out_dim = (0, 1) if self.up > 1 else (1, 0)
        if batch == 1:  # modulate the weights: no extra pass over the activations
            shape_in, shape_out = [1, 1, 1, 1], [1, 1, 1, 1]
            shape_in[in_dim], shape_out[out_dim] = -1, -1
            wm = w * s.reshape(shape_in) * scale.reshape(shape_out)
            return self._conv(x, wm.to(x.dtype), fw, bias, padding)
        # batch > 1: modulate the activations, one batched conv with the shared weight
        y = self._conv(x * s.reshape(batch, -1, 1, 1).to(x.dtype), w.to(x.dtype), fw, None, padding)
        y = y * scale.reshape(batch, -1, 1, 1).to(y.dtype)
        if bias is not None:
            y = y + bias.reshape(1, -1, 1, 1).to(y.dtype)
        return y


class StyleConv(nn.Module):
    """Modulated conv (+ optional 2x up) + per-pixel noise + bias + lrelu; ``resolution``: the output side.
    x (B, in_channels, H, W), style (B, style_dim) -> (B, out_channels, H * up, W * up)."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu", demodulate: bool = True) -> None:
        super().__init__()
        _check_activation(activation)
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate, up=up)
        self.use_noise = use_noise
        self.resolution = resolution
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.activation = activation
        self.act_gain = LRELU_GAIN if activation == "lrelu" else 1.0

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str = "random",
                generator: torch.Generator | None = None, box: Box | None = None,
                offset: tuple[int, int] | None = None) -> torch.Tensor:
        """``noise_mode``: "random" (N(0, 1) from ``generator``; None: the global RNG), "const" (``noise_const``) or "none".
        ``box``: only that output window; ``offset``: where ``x``'s frame starts in the whole picture.
        Windowed or not, random noise is drawn for the whole picture (same draws)."""
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        g = self.act_gain
        y = self.conv(x, style, gain=g, bias=self.bias * g, box=box)
        if self.use_noise and noise_mode != "none":
            windowed = box is not None or offset is not None
            if noise_mode == "random":
                h, w = (self.resolution, self.resolution) if windowed else y.shape[-2:]
                noise = torch.randn([y.shape[0], 1, h, w], device=y.device, generator=generator)
                noise = noise * (self.noise_strength * g)
            else:
                noise = self.noise_const * (self.noise_strength * g)
            if windowed:
                oy, ox = offset or (0, 0)
                oy, ox = oy + (box[0] if box else 0), ox + (box[2] if box else 0)
                noise = noise[..., oy:oy + y.shape[-2], ox:ox + y.shape[-1]]
            y = y.add_(noise.to(y.dtype))
        return lrelu_(y) if self.activation == "lrelu" else y


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB + bias + the up-sampled previous RGB ``skip`` (B, 3, H/2, W/2) or None."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, kernel_size: int = 1,
                 demodulate: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", make_resample_filter())

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None,
                box: Box | None = None) -> torch.Tensor:
        """``box``: ``x`` is the (y0, y1, x0, x1) window of the picture; ``skip`` is the whole previous image."""
        out = self.conv(x, style, bias=self.bias)
        if skip is not None:
            if box is not None or skip.shape != out.shape:
                fw = cached(self, "fir", (self.resample_filter,),
                            lambda: fir_weight(self.resample_filter, skip.shape[1], 4.0))
                skip = upsample2d(skip, fw)
            if box is not None:
                skip = skip[..., box[0]:box[1], box[2]:box[3]]
            out = out + skip
        return out


class MappingNet(nn.Module):
    """z (B, z_dim) -> ws (B, num_ws, w_dim): 2nd-moment normalisation, 8 lrelu FC layers (lr x0.01),
    broadcast to ``num_ws`` and truncation ``w_avg + psi * (w - w_avg)``."""

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, num_ws: int | None = 12,
                 num_layers: int = 8, lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        if c_dim != 0:
            raise ValueError("class-conditional MAT (c_dim > 0) is not supported")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        features = [z_dim] + [w_dim] * num_layers
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        x = z.to(torch.float32)
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # 2nd-moment normalisation
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x = self.w_avg.lerp(x, truncation_psi)
        return x


__all__ = ["Conv2dLayer", "FullyConnectedLayer", "MappingNet", "ModulatedConv2d", "StyleConv", "ToRGB"]
