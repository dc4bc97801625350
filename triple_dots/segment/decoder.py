"""SAM's mask decoder laid out for clicking on one photo: same modules, same weights, same maths.

``MaskDecoder.predict_masks`` copies the (1, 256, 64, 64) embedding and positional encoding per prompt and upscales all
four candidates. :class:`ClickDecoder` runs SAM's own submodules but keeps both as contiguous (1, h*w, C) tokens, keeps
the first layer's image-token projections per photo (they depend only on the photo when no previous mask is given),
uses ``scaled_dot_product_attention``, and builds only the candidate with the best predicted IoU. Results equal
``MaskDecoder`` to float rounding (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)


def _attend(
    attn: nn.Module, q: torch.Tensor | None, k: torch.Tensor | None, v: torch.Tensor | None,
    *, q_proj: torch.Tensor | None = None, k_proj: torch.Tensor | None = None, v_proj: torch.Tensor | None = None,
) -> torch.Tensor:
    """SAM's ``Attention.forward(q, k, v)``; already-projected inputs may be passed as ``*_proj``."""
    qp = attn.q_proj(q) if q_proj is None else q_proj
    kp = attn.k_proj(k) if k_proj is None else k_proj
    vp = attn.v_proj(v) if v_proj is None else v_proj
    h = attn.num_heads
    out = F.scaled_dot_product_attention(_heads(qp, h), _heads(kp, h), _heads(vp, h))
    b, _, n, _ = out.shape
    return attn.out_proj(out.transpose(1, 2).reshape(b, n, -1))


class ClickDecoder:
    """Best-of-three SAM mask for one photo's cached embedding and one set of prompts (any SAM model type)."""

    def __init__(self, sam: nn.Module) -> None:
        self.sam = sam
        self.decoder = sam.mask_decoder
        with torch.no_grad():
            pe = sam.prompt_encoder.get_dense_pe()  # (1, C, h, w): depends on the model only
        self.pe_tokens = pe.flatten(2).transpose(1, 2).contiguous()  # (1, h*w, C)
        self._photo: object = None
        self._tokens: torch.Tensor | None = None  # (1, h*w, C) image embedding
        self._first_layer: tuple[torch.Tensor, ...] | None = None  # projections for the no-mask case

    @torch.no_grad()
    def __call__(self, key: object, features: torch.Tensor, sparse: torch.Tensor,
                 dense: torch.Tensor | None) -> tuple[torch.Tensor, float]:
        """One photo's embedding ``features`` (1, C, h, w), named by ``key`` (anything hashable that
        changes with the photo); ``sparse`` (1, n, C) prompt embeddings; ``dense`` (1, C, h, w) from a
        previous mask, or None for SAM's "no mask" embedding. Returns SAM's best multimask candidate as
        low-resolution logits (1, 4h, 4w) and its predicted IoU."""
        dec, layers = self.decoder, self.decoder.transformer.layers
        if key != self._photo:
            self._photo = key
            self._tokens = features.flatten(2).transpose(1, 2).contiguous()
            self._first_layer = None
        b, c, h, w = features.shape
        if dense is None:
            no_mask = self.sam.prompt_encoder.no_mask_embed.weight.reshape(1, 1, -1)
            keys = self._tokens + no_mask
            if self._first_layer is None:
                first = layers[0]
                keys_pe = keys + self.pe_tokens
                self._first_layer = (first.cross_attn_token_to_image.k_proj(keys_pe),
                                     first.cross_attn_token_to_image.v_proj(keys),
                                     first.cross_attn_image_to_token.q_proj(keys_pe))
            cached = self._first_layer
        else:
            keys = self._tokens + dense.flatten(2).transpose(1, 2)
            cached = None

        output_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)[None]
        point_pe = torch.cat((output_tokens, sparse), dim=1)  # SAM's "point_embedding"
        queries, pe = point_pe, self.pe_tokens
        for i, layer in enumerate(layers):
            pre = cached if i == 0 else None
            if layer.skip_first_layer_pe:
                queries = _attend(layer.self_attn, queries, queries, queries)
            else:
                q = queries + point_pe
                queries = queries + _attend(layer.self_attn, q, q, queries)
            queries = layer.norm1(queries)
            q = queries + point_pe
            if pre is None:
                attn_out = _attend(layer.cross_attn_token_to_image, q, keys + pe, keys)
            else:
                attn_out = _attend(layer.cross_attn_token_to_image, q, None, None, k_proj=pre[0], v_proj=pre[1])
            queries = layer.norm2(queries + attn_out)
            queries = layer.norm3(queries + layer.mlp(queries))
            q = queries + point_pe
            if pre is None:
                attn_out = _attend(layer.cross_attn_image_to_token, keys + pe, q, queries)
            else:
                attn_out = _attend(layer.cross_attn_image_to_token, None, q, queries, q_proj=pre[2])
            keys = layer.norm4(keys + attn_out)
        t = dec.transformer
        queries = t.norm_final_attn(queries + _attend(t.final_attn_token_to_image, queries + point_pe, keys + pe, keys))

        iou = dec.iou_prediction_head(queries[:, 0])[0, 1:]  # multimask candidates are tokens 1..3
        best = int(iou.argmax()) + 1
        upscaled = dec.output_upscaling(keys.transpose(1, 2).view(b, c, h, w))
        hyper = dec.output_hypernetworks_mlps[best](queries[:, 1 + best])  # (1, C/8)
        logits = upscaled.permute(0, 2, 3, 1) @ hyper[0]  # (1, 4h, 4w): contiguous when channels-last
        return logits, float(iou[best - 1])
