"""E: TFill's "restrictive CNN" encoder (official ``DiffEncoder``).

Every layer is a 1x1 or 2x2/stride-2 partial convolution, so each output token sees exactly its own
2**n_layers_G pixel patch; the soft token mask is the fraction of visible pixels in each patch.
"""

from __future__ import annotations

import torch
from torch import nn

from triple_dots.tfill.config import TFillConfig
from triple_dots.tfill.layers import DownSample, PartialConv2d, ResnetBlock


class DiffEncoder(nn.Module):
    """Keys: ``encode``, ``down.{i}.downsample.conv``, ``down.{i}.block.{j}``, ``mid.block1/2``, ``conv_out``."""

    def __init__(self, config: TFillConfig) -> None:
        super().__init__()
        k = config.kernel_E
        ngf = config.ngf
        self.encode = PartialConv2d(config.img_nc, ngf, k, padding=(k - 1) // 2, return_mask=True)
        self.down = nn.ModuleList()
        dim = ngf
        for _ in range(config.n_layers_G):
            level = nn.Module()
            level.downsample = DownSample(dim, kernel=2)
            level.block = nn.ModuleList(
                ResnetBlock(dim if j == 0 else dim * 2, dim * 2, k) for j in range(config.num_res_blocks)
            )
            self.down.append(level)
            dim *= 2
        self.mid = nn.Module()
        self.mid.block1 = ResnetBlock(dim, dim, k)
        self.mid.block2 = ResnetBlock(dim, dim, k)
        self.conv_out = ResnetBlock(dim, config.embed_dim, k)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, S, S) in [-1, 1] (holes zeroed), mask (B, 1, S, S) 1 = visible
        -> (tokens (B, embed_dim, S/16, S/16), soft token mask (B, 1, S/16, S/16))."""
        x, mask = self.encode.forward_masked(x, mask)
        for level in self.down:
            x, mask = level.downsample(x, mask)
            for block in level.block:
                x, mask = block(x, mask)
        x, mask = self.mid.block1(x, mask)
        x, mask = self.mid.block2(x, mask)
        x, mask = self.conv_out(x, mask)
        return x, mask
