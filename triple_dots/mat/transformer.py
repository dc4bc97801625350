"""MAT's first (coarse) stage: partial-conv encoder, mask-aware Swin transformer, style-modulated decoder.

MAT's conventions: images (B, 3, R, R) in [-1, 1]; masks (B, 1, R, R) with **1 = known, 0 = hole**.
Tokens (B, H*W, C) are laid out like a channels-last NCHW map. Mask awareness: a partial conv output is
known when any input under its window is; a hole key gets -100 added to its attention logits, and after
attention a window becomes known when any of its tokens was.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots.mat.layers import Conv2dLayer, FullyConnectedLayer, StyleConv, ToRGB
from triple_dots.mat.ops import Box, cached, hole_box, inplace, lrelu_, parent_box, paste

Size = tuple[int, int]


def token2feature(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Tokens (B, H*W, C) -> feature map (B, C, H, W) (a channels-last view)."""
    b, _, c = x.shape
    return x.reshape(b, size[0], size[1], c).permute(0, 3, 1, 2)


def feature2token(x: torch.Tensor) -> torch.Tensor:
    """Feature map (B, C, H, W) -> tokens (B, H*W, C) (a view for channels-last maps)."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, ws * ws, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // ws, ws, w // ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """(B * nW, ws * ws, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.reshape(-1, h // ws, w // ws, ws, ws, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def shifted_window_mask(size: Size, window_size: int, shift_size: int) -> torch.Tensor:
    """Additive attention mask (nW, ws*ws, ws*ws) of shifted windows: 0 within a region, -100 across."""
    h, w = size
    img = torch.zeros((1, h, w, 1))
    slices = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
    cnt = 0
    for hs in slices:
        for wsl in slices:
            img[:, hs, wsl, :] = cnt
            cnt += 1
    mw = window_partition(img, window_size).reshape(-1, window_size * window_size)
    mask = mw.unsqueeze(1) - mw.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class Conv2dLayerPartial(nn.Module):
    """Partial conv ``conv(x) * K*K / known_count`` (0 where none known) -> (out, mask (B, 1, H', W') in {0, 1})."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1) -> None:
        super().__init__()
        self.conv = Conv2dLayer(in_channels, out_channels, kernel_size, bias, activation, up, down)
        self.kernel_size = kernel_size
        self.slide_winsize = kernel_size**2
        self.stride = down
        self.padding = kernel_size // 2 if kernel_size % 2 == 1 else 0

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if mask is None:
            return self.conv(x), None
        with torch.no_grad():
            # known pixels under each window (zero padding), rounded to exact integers
            update = F.avg_pool2d(mask, self.kernel_size, stride=self.stride, padding=self.padding,
                                  count_include_pad=True)
            update = (update * self.slide_winsize).round_()
            ratio = self.slide_winsize / (update + 1e-8)
            update = update.clamp_(0, 1)
            ratio = ratio * update
        return inplace(self.conv(x), "mul", ratio), update


class WindowAttention(nn.Module):
    """Multi-head window attention on L2-normalised queries/keys, with the key-mask bias. x (B*nW, N, C);
    mask_windows (B*nW, N, 1) in {0, 1} or None; shift_mask (nW, N, N) additive or None."""

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.dim, self.window_size, self.num_heads = dim, window_size, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = FullyConnectedLayer(dim, dim)
        self.k = FullyConnectedLayer(dim, dim)
        self.v = FullyConnectedLayer(dim, dim)
        self.proj = FullyConnectedLayer(dim, dim)

    def _qk(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The q and k projections stacked into one (2C, C) linear."""
        def make():
            (wq, bq), (wk, bk) = self.q.effective(), self.k.effective()
            return torch.cat([wq, wk]), torch.cat([bq, bk])

        srcs = (self.q.weight, self.q.bias, self.k.weight, self.k.bias)
        return cached(self, "qk", srcs, make)

    def forward(self, x: torch.Tensor, mask_windows: torch.Tensor | None = None,
                shift_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        b_, n, c = x.shape
        h = self.num_heads
        norm_x = F.normalize(x, p=2.0, dim=-1)
        wqk, bqk = self._qk()
        qk = F.linear(norm_x, wqk, bqk).reshape(b_, n, 2, h, c // h).permute(2, 0, 3, 1, 4)
        q, k = qk[0], qk[1]
        v = self.v(x).reshape(b_, n, h, c // h).transpose(1, 2)
        bias = None
        if shift_mask is not None:
            nw = shift_mask.shape[0]
            bias = shift_mask.to(x.dtype).unsqueeze(0).expand(b_ // nw, nw, n, n).reshape(b_, 1, n, n)
        if mask_windows is not None:
            m = mask_windows.squeeze(-1)[:, None, None, :]
            key_bias = m.masked_fill(m == 0, -100.0).masked_fill(m == 1, 0.0).to(x.dtype)
            bias = key_bias if bias is None else bias + key_bias
            mask_windows = mask_windows.sum(dim=1, keepdim=True).clamp(0, 1).expand(b_, n, 1)
        if bias is not None:
            bias = bias.expand(b_, 1, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        out = out.transpose(1, 2).reshape(b_, n, c)
        return self.proj(out), mask_windows


class Mlp(nn.Module):
    """fc1 (lrelu) -> fc2; (..., in) -> (..., out)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None) -> None:
        super().__init__()
        self.fc1 = FullyConnectedLayer(in_features, hidden_features, activation="lrelu")
        self.fc2 = FullyConnectedLayer(hidden_features, out_features or in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


class SwinTransformerBlock(nn.Module):
    """(Shifted-)window attention, then ``mlp(fuse(cat[input, attention]))`` (no residual add).
    x (B, H*W, C), mask (B, H*W, 1) or None -> (x, mask); ``attn_mask``: the shifted-window mask buffer."""

    def __init__(self, dim: int, input_resolution: Size, num_heads: int, window_size: int = 7, shift_size: int = 0,
                 mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.input_resolution = tuple(input_resolution)
        self.window_size = window_size
        self.shift_size = shift_size
        if min(self.input_resolution) <= self.window_size:  # one window covers everything: no shift
            self.shift_size = 0
            self.window_size = min(self.input_resolution)
        if not 0 <= self.shift_size < self.window_size:
            raise ValueError(f"shift_size {self.shift_size} must be in [0, window_size {self.window_size})")
        self.attn = WindowAttention(dim, self.window_size, num_heads)
        self.fuse = FullyConnectedLayer(dim * 2, dim, activation="lrelu")
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_mask(self.input_resolution, self.window_size, self.shift_size) if self.shift_size else None
        self.register_buffer("attn_mask", mask)

    def forward(self, x: torch.Tensor, x_size: Size, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, w_ = x_size
        b, n, c = x.shape
        if n != h * w_:
            raise ValueError(f"{n} tokens for a {h}x{w_} map")
        ws, shift = self.window_size, self.shift_size
        shortcut = x
        x = x.reshape(b, h, w_, c)
        if mask is not None:
            mask = mask.reshape(b, h, w_, 1)
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(-shift, -shift), dims=(1, 2))
        x_windows = window_partition(x, ws)
        mask_windows = window_partition(mask, ws) if mask is not None else None
        shift_mask = None
        if shift:
            shift_mask = self.attn_mask
            if shift_mask is None or tuple(x_size) != self.input_resolution:
                shift_mask = shifted_window_mask(x_size, ws, shift).to(x.device)
        attn, mask_windows = self.attn(x_windows, mask_windows, shift_mask)
        x = window_reverse(attn, ws, h, w_)
        if mask_windows is not None:
            mask = window_reverse(mask_windows, ws, h, w_)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(shift, shift), dims=(1, 2))
        x = x.reshape(b, h * w_, c)
        if mask is not None:
            mask = mask.reshape(b, h * w_, 1)
        # fuse(cat[shortcut, x]) as two matmuls into one buffer (no concatenated copy)
        w, bias = self.fuse.effective()
        out = F.linear(shortcut, w[:, :c], bias)
        out = out.view(-1, c).addmm_(x.reshape(-1, c), w[:, c:].T).view(b, h * w_, c)
        return self.mlp(lrelu_(out)), mask


class PatchMerging(nn.Module):
    """Partial conv with down-sampling by ``down``: tokens (B, H*W, C) -> (B, H*W/down**2, C_out)."""

    def __init__(self, in_channels: int, out_channels: int, down: int = 2) -> None:
        super().__init__()
        self.conv = Conv2dLayerPartial(in_channels, out_channels, 3, activation="lrelu", down=down)
        self.down = down

    def forward(self, x: torch.Tensor, x_size: Size, mask: torch.Tensor | None = None):
        x = token2feature(x, x_size)
        if mask is not None:
            mask = token2feature(mask, x_size)
        x, mask = self.conv(x, mask)
        x_size = (x_size[0] // self.down, x_size[1] // self.down)
        return feature2token(x), x_size, (feature2token(mask) if mask is not None else None)


class PatchUpsampling(nn.Module):
    """Conv with up-sampling by ``up`` (no mask): tokens (B, H*W, C) -> (B, H*W*up**2, C_out)."""

    def __init__(self, in_channels: int, out_channels: int, up: int = 2) -> None:
        super().__init__()
        self.conv = Conv2dLayerPartial(in_channels, out_channels, 3, activation="lrelu", up=up)
        self.up = up

    def forward(self, x: torch.Tensor, x_size: Size, mask: torch.Tensor | None = None):
        if mask is not None:
            raise ValueError("PatchUpsampling does not update masks (MAT passes None after the bottleneck)")
        x, _ = self.conv(token2feature(x, x_size))
        return feature2token(x), (x_size[0] * self.up, x_size[1] * self.up), None


class BasicLayer(nn.Module):
    """Optional resampling, ``depth`` Swin blocks (every second one shifted), a partial conv and a residual."""

    def __init__(self, dim: int, input_resolution: Size, depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float = 2.0, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList([
            SwinTransformerBlock(dim, input_resolution, num_heads, window_size=window_size,
                                 shift_size=0 if i % 2 == 0 else window_size // 2, mlp_ratio=mlp_ratio)
            for i in range(depth)
        ])
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation="lrelu")

    def forward(self, x: torch.Tensor, x_size: Size, mask: torch.Tensor | None = None):
        if self.downsample is not None:
            x, x_size, mask = self.downsample(x, x_size, mask)
        identity = x
        for blk in self.blocks:
            x, mask = blk(x, x_size, mask)
        fmask = token2feature(mask, x_size) if mask is not None else None
        x, fmask = self.conv(token2feature(x, x_size), fmask)
        x = feature2token(x) + identity
        return x, x_size, (feature2token(fmask) if fmask is not None else None)


class DecStyleBlock(nn.Module):
    """Decoder block: StyleConv up x2, + encoder skip, StyleConv, ToRGB (+ up-sampled image); ``res``: output side."""

    def __init__(self, res: int, in_channels: int, out_channels: int, activation: str, style_dim: int,
                 use_noise: bool, demodulate: bool, img_channels: int) -> None:
        super().__init__()
        self.conv0 = StyleConv(in_channels, out_channels, style_dim, res, 3, up=2, use_noise=use_noise,
                               activation=activation, demodulate=demodulate)
        self.conv1 = StyleConv(out_channels, out_channels, style_dim, res, 3, use_noise=use_noise,
                               activation=activation, demodulate=demodulate)
        self.toRGB = ToRGB(out_channels, img_channels, style_dim, kernel_size=1, demodulate=False)

    def forward(self, x, img, style, skip, noise_mode="random", generator=None, box=None, in_box=None):
        """``box``: only that output window matters (the rest is known): the last conv and ToRGB run on it
        alone; features come back for the box only, the image zero outside it. ``in_box``: ``x`` is only
        that window of the input (see :func:`decoder_boxes`)."""
        return self._run((style,) * 3, x, img, skip, noise_mode, generator, box, in_box)

    def _run(self, styles, x, img, skip, noise_mode, generator, box, in_box):
        """:meth:`forward` with one style each for ``conv0``, ``conv1`` and ``toRGB``."""
        noise = {"noise_mode": noise_mode, "generator": generator}
        if in_box is None:
            x = inplace(self.conv0(x, styles[0], **noise), "add", skip)
            x = self.conv1(x, styles[1], box=box, **noise)
        else:  # only the window 2 * in_box of conv0's output is computed
            y0, y1, x0, x1 = (2 * v for v in in_box)
            x = inplace(self.conv0(x, styles[0], offset=(y0, x0), **noise), "add", skip[..., y0:y1, x0:x1])
            rel = None if box is None else (box[0] - y0, box[1] - y0, box[2] - x0, box[3] - x0)
            x = self.conv1(x, styles[1], box=rel, offset=(y0, x0), **noise)
        img = self.toRGB(x, styles[2], skip=img, box=box)
        return x, (paste(img, box, skip.shape[-2:]) if box is not None else img)


def decoder_boxes(masks: torch.Tensor, blocks: int, boxed: int = 2) -> list[Box | None]:
    """Per decoder block (each doubling the resolution, the last at the mask's), the output window that
    matters: the hole's box for the last block, its :func:`parent_box` for the one before, ... for the last
    ``boxed`` blocks; None elsewhere (or everywhere when the hole's box is too large)."""
    boxes: list[Box | None] = [None] * blocks
    box = hole_box(masks)
    size = tuple(masks.shape[-2:])
    for i in range(blocks - 1, max(blocks - 1 - boxed, -1), -1):
        if box is None:
            break
        boxes[i] = box
        size = (size[0] // 2, size[1] // 2)
        box = parent_box(box, size)
    return boxes


def draw_dropout_map(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """MAT's test-time ``F.dropout(0.5 * ones, training=True)`` (exactly, without ``generator``): 0/1 like ``like``."""
    if generator is None:
        return F.dropout(torch.ones_like(like) * 0.5, training=True)
    half = torch.full(like.shape, 0.5, dtype=like.dtype, device=like.device)
    return torch.bernoulli(half, generator=generator)


class FirstStage(nn.Module):
    """Coarse stage: image (B, C, R, R) in [-1, 1], mask (B, 1, R, R) (1 = known), ws (B, num_ws, w_dim)
    -> composite (B, C, R, R)."""

    DEPTHS = (2, 3, 4, 3, 2)
    RATIOS = (1, 0.5, 0.5, 2, 2)
    WINDOW_SIZES = (8, 16, 16, 16, 8)
    NUM_HEADS = 6

    def __init__(self, img_channels: int, img_resolution: int = 256, dim: int = 180, w_dim: int = 512,
                 use_noise: bool = False, demodulate: bool = True, activation: str = "lrelu") -> None:
        super().__init__()
        res = 64
        self.conv_first = Conv2dLayerPartial(img_channels + 1, dim, 3, activation=activation)
        down_time = int(math.log2(img_resolution // res))
        self.enc_conv = nn.ModuleList(
            Conv2dLayerPartial(dim, dim, 3, down=2, activation=activation) for _ in range(down_time)
        )
        self.tran = nn.ModuleList()
        for depth, ratio, ws in zip(self.DEPTHS, self.RATIOS, self.WINDOW_SIZES, strict=True):
            res = int(res * ratio)
            merge: nn.Module | None = None
            if ratio < 1:
                merge = PatchMerging(dim, dim, down=int(1 / ratio))
            elif ratio > 1:
                merge = PatchUpsampling(dim, dim, up=int(ratio))
            self.tran.append(BasicLayer(dim, (res, res), depth, self.NUM_HEADS, ws, downsample=merge))
        self.down_conv = nn.Sequential(*[Conv2dLayer(dim, dim, 3, down=2, activation=activation) for _ in range(4)],
                                       nn.AdaptiveAvgPool2d((1, 1)))
        self.to_style = FullyConnectedLayer(dim, dim * 2, activation=activation)
        self.ws_style = FullyConnectedLayer(w_dim, dim, activation=activation)
        self.to_square = FullyConnectedLayer(dim, 16 * 16, activation=activation)
        self.dec_conv = nn.ModuleList(
            DecStyleBlock(res * 2 ** (i + 1), dim, dim, activation, dim * 3, use_noise, demodulate, img_channels)
            for i in range(down_time)
        )

    def forward(self, images_in: torch.Tensor, masks_in: torch.Tensor, ws: torch.Tensor, noise_mode: str = "random",
                dropout_map: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``dropout_map`` (B, 256, dim) in {0, 1}: the bottleneck's random keep map (None: drawn)."""
        x = torch.cat([masks_in - 0.5, images_in * masks_in], dim=1).contiguous(memory_format=torch.channels_last)
        x, mask = self.conv_first(x, masks_in)
        skips = [x]
        for i, block in enumerate(self.enc_conv):
            x, mask = block(x, mask)
            if i != len(self.enc_conv) - 1:
                skips.append(x)
        x_size = (x.shape[-2], x.shape[-1])
        x = feature2token(x)
        mask = feature2token(mask)
        mid = len(self.tran) // 2
        style = None
        for i, block in enumerate(self.tran):
            if i < mid:
                x, x_size, mask = block(x, x_size, mask)
                skips.append(x)
            elif i > mid:
                x, x_size, _ = block(x, x_size, None)
                x = x + skips[mid - i]
            else:
                x, x_size, _ = block(x, x_size, None)
                mul_map = draw_dropout_map(x, generator) if dropout_map is None else dropout_map.to(x)
                wsv = self.ws_style(ws[:, -1])
                add_n = self.to_square(wsv).unsqueeze(1)
                if add_n.shape[-1] != x.shape[1]:
                    add_n = F.interpolate(add_n, size=x.shape[1], mode="linear", align_corners=False)
                add_n = add_n.squeeze(1).unsqueeze(-1)
                x = x * mul_map + add_n * (1 - mul_map)
                gs = self.to_style(self.down_conv(token2feature(x, x_size)).flatten(start_dim=1))
                style = torch.cat([gs, wsv], dim=1)
        x = token2feature(x, x_size)
        img = None
        # outside the hole's box every pixel is known: the last two blocks run on (margin-grown) boxes only
        boxes = decoder_boxes(masks_in, len(self.dec_conv), 2)
        for i, block in enumerate(self.dec_conv):
            x, img = block(x, img, style, skips[len(self.dec_conv) - i - 1], noise_mode=noise_mode,
                           generator=generator, box=boxes[i], in_box=boxes[i - 1] if i else None)
        return img * (1 - masks_in) + images_in * masks_in


__all__ = [
    "BasicLayer", "Conv2dLayerPartial", "DecStyleBlock", "FirstStage", "PatchMerging", "PatchUpsampling",
    "SwinTransformerBlock", "WindowAttention", "decoder_boxes", "draw_dropout_map", "feature2token", "shifted_window_mask",
    "token2feature",
]
