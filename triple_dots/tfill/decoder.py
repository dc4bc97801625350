"""G: TFill's coarse decoder (official ``DiffDecoder``): 16x16 tokens -> (B, 3, 256, 256) in (-1, 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots.tfill.config import TFillConfig
from triple_dots.tfill.layers import (
    NoiseInjection,
    PartialConv2d,
    ResnetBlock,
    ToRGB,
    TransformerEncoderLayer,
    UpSample,
)


class DiffDecoder(nn.Module):
    """Residual blocks, transformer layers (middle and first up-level), hole noise before every up-level block and
    an RGB skip chain; keys ``conv_in``, ``mid.{block1,attn,block2}``, ``up.{i}.{block,attn,noise,out,upsample}``."""

    def __init__(self, config: TFillConfig) -> None:
        super().__init__()
        k = config.kernel_G
        dim = config.token_dim
        self.add_noise = config.add_noise
        self.conv_in = PartialConv2d(config.embed_dim, dim, k, padding=(k - 1) // 2)
        self.mid = nn.Module()
        self.mid.block1 = ResnetBlock(dim, dim, k)
        if config.attn_G:
            self.mid.attn = TransformerEncoderLayer(dim, kernel=1)
        self.mid.block2 = ResnetBlock(dim, dim, k)
        self.up = nn.ModuleList()
        for i in range(config.n_layers_G):
            level = nn.Module()
            out_dim = dim // 2
            level.block = nn.ModuleList()
            level.attn = nn.ModuleList()
            level.noise = nn.ModuleList()
            for j in range(config.num_res_blocks):
                if config.add_noise:
                    level.noise.append(NoiseInjection())
                level.block.append(ResnetBlock(dim if j == 0 else out_dim, out_dim, k))
                if i == 0 and config.attn_G:
                    level.attn.append(TransformerEncoderLayer(out_dim, kernel=1))
            level.out = ToRGB(out_dim, config.img_nc, upsample=i != 0)
            level.upsample = UpSample(out_dim, 3)
            self.up.append(level)
            dim = out_dim
        self.decode = ToRGB(dim, config.img_nc, upsample=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """x (B, embed_dim, 16, 16); mask: visible mask at any size (noise goes only where it is 0;
        None: everywhere). Returns (B, 3, 16*2**n_layers_G, ...) in (-1, 1)."""
        x = self.conv_in(x)
        x, _ = self.mid.block1(x)
        if hasattr(self.mid, "attn"):
            x = self.mid.attn(x)
        x, _ = self.mid.block2(x)
        skip = None
        for level in self.up:
            m = mask
            if mask is not None and self.add_noise and mask.shape[-2:] != x.shape[-2:]:
                m = F.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=True)
            for j, block in enumerate(level.block):
                if self.add_noise:
                    x = level.noise[j](x, m, generator=generator)
                x, _ = block(x)
                if len(level.attn) > 0:
                    x = level.attn[j](x)
            skip = level.out(x, skip)
            x = level.upsample(x)
        return self.decode(x, skip)
