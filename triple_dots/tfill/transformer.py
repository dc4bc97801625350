"""T: TFill's transformer over the 16x16 token grid (official ``Transformer``, encoder only).

Key tokens are weighted by visibility: layer ``i`` uses ``max(token_mask, 0.01) ** (0.5 ** i)`` with the
soft-logit rule of :func:`triple_dots.tfill.layers.soft_key_logits`. Learned row/column position embeddings
are added to queries and keys of every layer.
"""

from __future__ import annotations

import torch
from torch import nn

from triple_dots.tfill.config import TFillConfig
from triple_dots.tfill.layers import PartialConv2d, PixelwiseNorm, TransformerEncoderLayer


class PositionEmbeddingLearned(nn.Module):
    """``pos[i, j] = row_embed[i] + col_embed[j]`` for grids up to 32x32; keys ``row_embed``, ``col_embed``."""

    def __init__(self, dim: int, max_size: int = 32) -> None:
        super().__init__()
        self.row_embed = nn.Embedding(max_size, dim)
        self.col_embed = nn.Embedding(max_size, dim)
        nn.init.uniform_(self.row_embed.weight)
        nn.init.uniform_(self.col_embed.weight)

    def forward(self, height: int, width: int) -> torch.Tensor:
        """Row-major token positions, (1, height*width, dim)."""
        pos = self.row_embed.weight[:height, None, :] + self.col_embed.weight[None, :width, :]
        return pos.reshape(1, height * width, -1)


class Transformer(nn.Module):
    """Keys: ``token_embed``, ``pos_embed.{row,col}_embed``, ``encoder_trans.layers.{i}``, ``to_token.{0,2}``."""

    def __init__(self, config: TFillConfig) -> None:
        super().__init__()
        dim = config.token_dim
        self.token_embed = PartialConv2d(dim, config.embed_dim, 1, return_mask=True)
        self.pos_embed = PositionEmbeddingLearned(config.embed_dim)
        self.encoder_trans = nn.Module()
        self.encoder_trans.layers = nn.ModuleList(
            TransformerEncoderLayer(config.embed_dim, config.num_heads, config.dim_conv, config.kernel_T)
            for _ in range(config.n_encoders)
        )
        self.to_token = nn.Sequential(PixelwiseNorm(config.embed_dim), nn.GELU(), nn.Conv2d(config.embed_dim, dim, 1))

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        """tokens (B, C, h, w), token_mask (B, 1, h, w) soft visible fraction -> (B, C, h, w)."""
        x, mask = self.token_embed.forward_masked(tokens, token_mask)
        h, w = x.shape[-2:]
        pos = self.pos_embed(h, w)
        weight = torch.clamp(mask, min=1e-2).flatten(1)  # (B, h*w)
        for layer in self.encoder_trans.layers:
            x = layer(x, pos=pos, key_weight=weight)
            weight = weight**0.5
        return self.to_token(x)
