"""MAT's second stage (conv encoder + style-modulated decoder with noise) and the whole generator.

MAT's conventions: images (B, 3, R, R) in [-1, 1]; masks (B, 1, R, R) with **1 = known**; z (B, z_dim);
ws (B, num_ws, w_dim) with ``num_ws = 2 * log2(R) - 6``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots.mat.layers import Conv2dLayer, FullyConnectedLayer, MappingNet, StyleConv, ToRGB
from triple_dots.mat.ops import inplace
from triple_dots.mat.transformer import DecStyleBlock, FirstStage, decoder_boxes, draw_dropout_map

CHANNELS = {512: 64, 256: 128, 128: 256, 64: 512, 32: 512, 16: 512, 8: 512, 4: 512}


def nf(stage: int, divisor: int = 1) -> int:
    """Channels at resolution ``2**stage`` (the released width divided by ``divisor``)."""
    return max(1, CHANNELS[2**stage] // divisor)


class EncFromRGB(nn.Module):
    """``conv0`` (``kernel_size``, down by ``down``) + 3x3 conv, both lrelu; by default 1x1 at the input resolution."""

    def __init__(self, in_channels: int, out_channels: int, activation: str, kernel_size: int = 1,
                 down: int = 1) -> None:
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, out_channels, kernel_size, activation=activation, down=down)
        self.conv1 = Conv2dLayer(out_channels, out_channels, 3, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv0(x))


class ConvBlockDown(EncFromRGB):
    """3x3 conv down x2 + 3x3 conv (both lrelu)."""

    def __init__(self, in_channels: int, out_channels: int, activation: str) -> None:
        super().__init__(in_channels, out_channels, activation, kernel_size=3, down=2)


class Encoder(nn.Module):
    """(B, 7, R, R) -> {log2(res): features} for res = R, R/2, ..., 16."""

    def __init__(self, res_log2: int, img_channels: int, activation: str, divisor: int = 1) -> None:
        super().__init__()
        self.resolution = []
        for i in range(res_log2, 3, -1):
            res = 2**i
            self.resolution.append(res)
            block = (EncFromRGB(img_channels * 2 + 1, nf(i, divisor), activation) if i == res_log2
                     else ConvBlockDown(nf(i + 1, divisor), nf(i, divisor), activation))
            setattr(self, f"EncConv_Block_{res}x{res}", block)

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        out = {}
        for res in self.resolution:
            x = getattr(self, f"EncConv_Block_{res}x{res}")(x)
            out[int(math.log2(res))] = x
        return out


class ToStyle(nn.Module):
    """Global style code: three 3x3 convs down x2, average pool, FC (lrelu); (B, C, 16, 16) -> (B, out)."""

    def __init__(self, in_channels: int, out_channels: int, activation: str) -> None:
        super().__init__()
        self.conv = nn.Sequential(*[Conv2dLayer(in_channels, in_channels, 3, activation=activation, down=2)
                                    for _ in range(3)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = FullyConnectedLayer(in_channels, out_channels, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(start_dim=1))


class DecBlockFirstV2(nn.Module):
    """16x16 decoder block: conv, + encoder features, StyleConv (style ws[:, 0]), ToRGB (ws[:, 1])."""

    def __init__(self, res: int, in_channels: int, out_channels: int, activation: str, style_dim: int,
                 use_noise: bool, demodulate: bool, img_channels: int) -> None:
        super().__init__()
        self.res = res
        self.conv0 = Conv2dLayer(in_channels, in_channels, 3, activation=activation)
        self.conv1 = StyleConv(in_channels, out_channels, style_dim, 2**res, 3, use_noise=use_noise,
                               activation=activation, demodulate=demodulate)
        self.toRGB = ToRGB(out_channels, img_channels, style_dim, kernel_size=1, demodulate=False)

    def forward(self, x, ws, gs, e_features, noise_mode="random", generator=None):
        x = inplace(self.conv0(x), "add", e_features[self.res])
        x = self.conv1(x, torch.cat([ws[:, 0], gs], dim=1), noise_mode=noise_mode, generator=generator)
        return x, self.toRGB(x, torch.cat([ws[:, 1], gs], dim=1), skip=None)


class DecBlock(DecStyleBlock):
    """:class:`DecStyleBlock` at 2**res with the encoder features as skip; styles ``ws[:, 2*res - 9 .. 2*res - 7]``
    each concatenated with the global code ``gs``."""

    def __init__(self, res: int, in_channels: int, out_channels: int, activation: str, style_dim: int,
                 use_noise: bool, demodulate: bool, img_channels: int) -> None:
        super().__init__(2**res, in_channels, out_channels, activation, style_dim, use_noise, demodulate, img_channels)
        self.res = res

    def forward(self, x, img, ws, gs, e_features, noise_mode="random", generator=None, box=None, in_box=None):
        r = self.res
        styles = [torch.cat([ws[:, r * 2 - i], gs], dim=1) for i in (9, 8, 7)]
        return self._run(styles, x, img, e_features[r], noise_mode, generator, box, in_box)


class Decoder(nn.Module):
    """16x16 features -> image (B, 3, R, R), StyleGAN2 skip-RGB architecture."""

    def __init__(self, res_log2: int, activation: str, style_dim: int, use_noise: bool, demodulate: bool,
                 img_channels: int, divisor: int = 1) -> None:
        super().__init__()
        c16 = nf(4, divisor)
        self.Dec_16x16 = DecBlockFirstV2(4, c16, c16, activation, style_dim, use_noise, demodulate, img_channels)
        for res in range(5, res_log2 + 1):
            setattr(self, f"Dec_{2**res}x{2**res}",
                    DecBlock(res, nf(res - 1, divisor), nf(res, divisor), activation, style_dim, use_noise, demodulate,
                             img_channels))
        self.res_log2 = res_log2

    def forward(self, x, ws, gs, e_features, noise_mode="random", generator=None, masks=None):
        """``masks`` (B, 1, R, R), 1 = known: the last two blocks run only on the hole's windows (image zero
        outside). None: everything."""
        x, img = self.Dec_16x16(x, ws, gs, e_features, noise_mode=noise_mode, generator=generator)
        blocks = self.res_log2 - 4
        boxes = decoder_boxes(masks, blocks, 2) if masks is not None else [None] * blocks
        for i, res in enumerate(range(5, self.res_log2 + 1)):
            block = getattr(self, f"Dec_{2**res}x{2**res}")
            x, img = block(x, img, ws, gs, e_features, noise_mode=noise_mode, generator=generator, box=boxes[i],
                           in_box=boxes[i - 1] if i else None)
        return img


class SynthesisNet(nn.Module):
    """Both stages: ``(images, masks, ws) -> (output, stage1)``, each (B, 3, R, R) composited with the
    known pixels (1 = known in ``masks``)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, activation: str = "lrelu",
                 use_noise: bool = True, demodulate: bool = True, dim: int = 180, channel_divisor: int = 1) -> None:
        super().__init__()
        res_log2 = int(math.log2(img_resolution))
        if img_resolution != 2**res_log2 or img_resolution < 64:
            raise ValueError(f"MAT resolution must be a power of two >= 64, got {img_resolution}")
        self.num_layers = res_log2 * 2 - 3 * 2
        if dim % FirstStage.NUM_HEADS:
            raise ValueError(f"dim must be a multiple of {FirstStage.NUM_HEADS} (attention heads), got {dim}")
        self.first_stage = FirstStage(img_channels, img_resolution=img_resolution, dim=dim, w_dim=w_dim,
                                      use_noise=False, demodulate=demodulate)
        div = channel_divisor
        self.enc = Encoder(res_log2, img_channels, activation, div)
        self.to_square = FullyConnectedLayer(w_dim, 16 * 16, activation=activation)
        self.to_style = ToStyle(nf(4, div), nf(2, div) * 2, activation)
        style_dim = w_dim + nf(2, div) * 2
        self.dec = Decoder(res_log2, activation, style_dim, use_noise, demodulate, img_channels, div)

    def forward(self, images_in: torch.Tensor, masks_in: torch.Tensor, ws: torch.Tensor, noise_mode: str = "random",
                dropout_maps: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``dropout_maps``: (first-stage map (B, 256, 180), second-stage map (B, 512, 16, 16)), {0, 1}."""
        first_map, second_map = dropout_maps if dropout_maps is not None else (None, None)
        out_stg1 = self.first_stage(images_in, masks_in, ws, noise_mode=noise_mode, dropout_map=first_map,
                                    generator=generator)
        known = images_in * masks_in
        x = known + out_stg1 * (1 - masks_in)
        x = torch.cat([masks_in - 0.5, x, known], dim=1).contiguous(memory_format=torch.channels_last)
        e_features = self.enc(x)
        fea_16 = e_features[4]
        mul_map = draw_dropout_map(fea_16, generator) if second_map is None else second_map.to(fea_16)
        add_n = self.to_square(ws[:, 0]).view(-1, 16, 16).unsqueeze(1)
        if tuple(add_n.shape[-2:]) != tuple(fea_16.shape[-2:]):
            add_n = F.interpolate(add_n, size=fea_16.shape[-2:], mode="bilinear", align_corners=False)
        fea_16 = fea_16 * mul_map + add_n * (1 - mul_map)
        e_features[4] = fea_16
        gs = self.to_style(fea_16)
        img = self.dec(fea_16, ws, gs, e_features, noise_mode=noise_mode, generator=generator, masks=masks_in)
        img = img * (1 - masks_in) + images_in * masks_in
        return img, out_stg1


class Generator(nn.Module):
    """MAT generator (official ``synthesis`` + ``mapping`` layout and keys): ``forward(images, masks, z)``
    -> (output, stage1), both (B, 3, R, R) in MAT's conventions."""

    def __init__(self, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512, img_resolution: int = 512,
                 img_channels: int = 3, dim: int = 180, channel_divisor: int = 1) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.dim, self.channel_divisor = dim, channel_divisor
        self.synthesis = SynthesisNet(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, dim=dim,
                                      channel_divisor=channel_divisor)
        self.mapping = MappingNet(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.synthesis.num_layers)

    def forward(self, images_in: torch.Tensor, masks_in: torch.Tensor, z: torch.Tensor, truncation_psi: float = 1.0,
                noise_mode: str = "random", dropout_maps: tuple | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.mapping(z, truncation_psi=truncation_psi)
        return self.synthesis(images_in, masks_in, ws, noise_mode=noise_mode, dropout_maps=dropout_maps,
                              generator=generator)


__all__ = ["CHANNELS", "Decoder", "Encoder", "Generator", "SynthesisNet", "ToStyle", "nf"]
