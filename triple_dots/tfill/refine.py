"""G_Ref: TFill's refine network (official ``RefinedGenerator``) and its attention-aware layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots.tfill.config import TFillConfig
from triple_dots.tfill.layers import DownSample, PartialConv2d, PixelwiseNorm, ResnetBlock, ToRGB, UpSample


class SoftMaskLogits(torch.autograd.Function):
    """``(minimum(S*f, S/d), max_j S*f)`` for logits S (.., rows, N), per-key f in [0, 1] and d = f + 1e-8: as
    ``f <= 1/d`` the first is exactly the official ``where(S > 0, S*f, S/d)``; the second is a gate (no gradient)."""

    @staticmethod
    def forward(ctx, s, positive, factor, divisor):  # noqa: D102
        scaled = s * factor
        gate = scaled.amax(dim=-1)
        logits = torch.minimum(scaled, s / divisor, out=scaled)
        ctx.save_for_backward(positive, factor, divisor)
        ctx.mark_non_differentiable(gate)
        return logits, gate

    @staticmethod
    def backward(ctx, grad_logits, grad_gate):  # noqa: D102
        positive, factor, divisor = ctx.saved_tensors
        recip = 1 / divisor
        return grad_logits * torch.addcmul(recip, positive, factor - recip), None, None, None


class AttnAware(nn.Module):
    """Attention-aware layer (2 heads) blending attention to visible encoder features and self-attention:
    with S = q kᵀ/sqrt(C/2) and m the visible mask, gates ``softmax_2(weight([max_j S*m, max_j S*(1-m)]))``;
    visible branch: logits ``S*m`` (S > 0) / ``S/(m+1e-8)``, values ``pre``; hole branch: the same with
    ``1-m``, values ``x``; out ``to_out(cat[g_vis*context + g_hole*self, x])``. Float32 always (``/1e-8``
    overflows in half precision), in chunks of query rows."""

    def __init__(self, channels: int, num_heads: int = 2, chunk_elems: int = 1 << 20) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.scale = self.head_dim**-0.5
        self.chunk_elems = chunk_elems  # logits per chunk of query rows (4 MiB in fp32)
        self.query_conv = nn.Sequential(PixelwiseNorm(channels), nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, 1))
        self.key_conv = nn.Sequential(PixelwiseNorm(channels), nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, 1))
        self.weight = nn.Conv2d(num_heads * 2, 2, 1)
        self.to_out = ResnetBlock(channels * 2, channels, 1)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, _, h, w = t.shape
        return t.reshape(b, self.num_heads, self.head_dim, h * w).transpose(-1, -2)  # (B, heads, N, d)

    def forward(self, x: torch.Tensor, pre: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x, pre (B, C, h, w); mask (B or 1, 1, h, w) visible in [0, 1] -> (B, C, h, w)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x, pre, mask = x.float(), pre.float(), mask.float()
            b, c, h, w = x.shape
            n = h * w
            q = self._split(self.query_conv(x))
            k = self._split(self.key_conv(x))
            v = self._split(x)
            pv = self._split(pre)
            m = mask.expand(b, 1, h, w).reshape(b, 1, 1, n)
            kt = k.transpose(-1, -2)
            rows = max(1, min(n, self.chunk_elems // max(1, b * self.num_heads * n)))
            branches = ((m, m + 1e-8, pv), (1 - m, (1 - m) + 1e-8, v))  # (factor, divisor, values)
            if torch.is_grad_enabled():
                gates, outs = self._attend_autograd(q, kt, branches, rows)
            else:
                gates, outs = self._attend_buffered(q, kt, branches, rows)
            g = torch.cat(gates, dim=1).view(b, 2 * self.num_heads, h, w)
            g = F.softmax(self.weight(g), dim=1)
            context, selfattn = (o.transpose(-1, -2).reshape(b, c, h, w) for o in outs)
            out = g[:, :1] * context + g[:, 1:] * selfattn
            return self.to_out(torch.cat([out, x], dim=1))[0]

    def _attend_autograd(self, q, kt, branches, rows):
        """Chunked attention for training (autograd records the graph)."""
        n = kt.shape[-1]
        gates: list[list[torch.Tensor]] = [[] for _ in branches]
        outs: list[list[torch.Tensor]] = [[] for _ in branches]
        for start in range(0, n, rows):
            s = torch.matmul(q[:, :, start:start + rows], kt) * self.scale
            positive = s.detach() > 0
            for i, (factor, divisor, values) in enumerate(branches):
                logits, gate = SoftMaskLogits.apply(s, positive, factor, divisor)
                gates[i].append(gate)
                outs[i].append(torch.matmul(logits.softmax(dim=-1), values))
        return [torch.cat(gs, -1) for gs in gates], [torch.cat(os_, 2) for os_ in outs]

    def _attend_buffered(self, q, kt, branches, rows):
        """The same numbers without autograd, with chunk buffers reused for every chunk."""
        b, heads, n, d = q.shape
        q = q * self.scale  # S = (q*scale) k^T: exact when scale is a power of two (head_dim 4**k), else 1 ulp
        kt = kt.contiguous()
        gates = [q.new_empty(b, heads, n) for _ in branches]
        outs = [q.new_empty(b, heads, n, d) for _ in branches]
        buffers: dict[int, tuple[torch.Tensor, ...]] = {}
        for start in range(0, n, rows):
            r = min(rows, n - start)
            if r not in buffers:
                buffers[r] = tuple(q.new_empty(b, heads, r, n) for _ in range(3)) + (q.new_empty(b, heads, r, d),)
            s, scaled, probs, out = buffers[r]
            torch.matmul(q[:, :, start:start + r], kt, out=s)
            for i, (factor, divisor, values) in enumerate(branches):
                torch.mul(s, factor, out=scaled)
                torch.amax(scaled, dim=-1, out=gates[i][:, :, start:start + r])
                torch.div(s, divisor, out=probs)
                torch.minimum(scaled, probs, out=scaled)
                torch.ops.aten._softmax.out(scaled, -1, False, out=probs)
                torch.matmul(probs, values, out=out)
                outs[i][:, :, start:start + r] = out
        return gates, outs


class RefinedGenerator(nn.Module):
    """Refine network; its attention-aware layer in ``up.{down_layers-3}`` attends to ``down.2.downsample``'s output."""

    def __init__(self, config: TFillConfig) -> None:
        super().__init__()
        ngf, cap = config.ngf, config.embed_dim
        self.attn_level = config.down_layers - 3
        self.encode = PartialConv2d(config.img_nc, ngf, 3, padding=1)
        self.down = nn.ModuleList()
        dims: list[int] = []
        dim = ngf
        for _ in range(config.down_layers):
            level = nn.Module()
            dims.append(dim)
            out_dim = min(dim * 2, cap)
            level.downsample = DownSample(dim, 3)
            level.block = nn.ModuleList(
                ResnetBlock(dim if j == 0 else out_dim, out_dim, 3) for j in range(config.num_res_blocks)
            )
            self.down.append(level)
            dim = out_dim
        self.mid = nn.ModuleList(ResnetBlock(dim, dim, 3) for _ in range(config.mid_layers))
        self.up = nn.ModuleList()
        for i in range(config.down_layers):
            level = nn.Module()
            out_dim = max(dims[-i - 1], ngf)
            level.block = nn.ModuleList(
                ResnetBlock(dim if j == 0 else out_dim, out_dim, 3) for j in range(config.num_res_blocks)
            )
            if i == self.attn_level:
                level.attn = AttnAware(out_dim)
            level.out = ToRGB(out_dim, config.img_nc, upsample=i != 0)
            level.upsample = UpSample(out_dim, 3)
            self.up.append(level)
            dim = out_dim
        self.decode = ToRGB(dim, config.img_nc, upsample=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) coarse composite in [-1, 1]; mask (B, 1, H, W) visible -> (B, 3, H, W) in (-1, 1)."""
        x = self.encode(x)
        pre = None
        for i, level in enumerate(self.down):
            x, _ = level.downsample(x)
            if i == 2:
                pre = x
            for block in level.block:
                x, _ = block(x)
        for block in self.mid:
            x, _ = block(x)
        skip = None
        for i, level in enumerate(self.up):
            for block in level.block:
                x, _ = block(x)
            if i == self.attn_level:
                m = F.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=True)
                x = level.attn(x, pre, m)
            skip = level.out(x, skip)
            x = level.upsample(x)
        return self.decode(x, skip)
