"""Plain-PyTorch stand-ins for the official TFill code's compiled CUDA ops, for side-by-side benchmarks.

The official ``model/networks.py`` imports ``model.stylegan_ops`` (StyleGAN2's ``fused_bias_act`` and
``upfirdn2d``), which JIT-compiles CUDA kernels on import. Only its discriminators use them. The
benchmarks that run the official code beside ours (``tfill_inference.py``, ``train_step.py``)
register these equivalents in ``sys.modules`` first, inside the benchmark process only.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F


def stub_stylegan_ops(root: Path) -> None:
    """Register ``model.stylegan_ops`` (official checkout at ``root``) as plain PyTorch ops."""
    stub = types.ModuleType("model.stylegan_ops")

    def fused_leaky_relu(x, bias, negative_slope=0.2, scale=2**0.5):
        return F.leaky_relu(x + bias.view(1, -1, *[1] * (x.ndim - 2)), negative_slope) * scale

    class FusedLeakyReLU(torch.nn.Module):
        def __init__(self, channel: int, negative_slope: float = 0.2, scale: float = 2**0.5) -> None:
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(channel))
            self.negative_slope, self.scale = negative_slope, scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)

    def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
        """Upsample by zero insertion, pad (negative: crop), FIR filter (depthwise), downsample."""
        n, c, h, w = x.shape
        if up > 1:
            z = x.new_zeros(n, c, h, up, w, up)
            z[:, :, :, 0, :, 0] = x
            x = z.reshape(n, c, h * up, w * up)
        x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
        k = torch.flip(kernel, [0, 1]).to(x.dtype)
        x = F.conv2d(x, k[None, None].expand(c, 1, -1, -1), groups=c)
        return x[:, :, ::down, ::down]

    stub.FusedLeakyReLU, stub.fused_leaky_relu, stub.upfirdn2d = FusedLeakyReLU, fused_leaky_relu, upfirdn2d
    stub.__path__ = [str(root / "model" / "stylegan_ops")]
    sys.modules["model.stylegan_ops"] = stub
