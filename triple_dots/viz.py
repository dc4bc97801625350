"""Labelled image grids and hole-mask overlays: photos (3, H, W) float in [0, 1], hole masks (1, H, W), 1 = hole."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from triple_dots.images import as_rgb_uint8, write_image


def overlay_mask(
    image: torch.Tensor,
    hole_mask: torch.Tensor,
    *,
    color: tuple[float, float, float] = (1.0, 0.1, 0.1),
    alpha: float = 0.45,
    outline: bool = True,
) -> torch.Tensor:
    """Tint the hole of ``hole_mask`` (1, H, W) on ``image`` (3, H, W), its border opaque with ``outline``;
    returns (3, H, W) in [0, 1]."""
    img = image.detach().float().cpu()
    m = hole_mask.detach().float().cpu()
    if m.shape[-2:] != img.shape[-2:]:
        raise ValueError(f"image {tuple(img.shape)} and mask {tuple(m.shape)} differ in size")
    col = torch.tensor(color, dtype=img.dtype).view(3, 1, 1)
    out = img * (1 - alpha * m) + col * (alpha * m)
    if outline:
        edge = (torch.nn.functional.max_pool2d(m[None], 3, 1, 1)[0] - m).clamp(0, 1)
        out = out * (1 - edge) + col * edge
    return out.clamp(0, 1)


def _fit(img: np.ndarray, cell: int) -> Image.Image:
    """Letterbox an (H, W, 3) uint8 image into a cell x cell tile."""
    pil = Image.fromarray(img)
    scale = cell / max(pil.size)
    size = (max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale)))
    pil = pil.resize(size, Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (cell, cell), (255, 255, 255))
    tile.paste(pil, ((cell - size[0]) // 2, (cell - size[1]) // 2))
    return tile


def image_grid(
    rows: Sequence[Sequence[torch.Tensor | np.ndarray | None]],
    *,
    col_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    cell: int = 256,
    pad: int = 4,
) -> Image.Image:
    """A labelled PIL RGB grid of ``rows[r][c]``, each letterboxed into a ``cell`` square: a (3, H, W) float
    tensor in [0, 1], a (1, H, W) mask, an (H, W, 3) uint8 array, or None (left blank)."""
    n_rows = len(rows)
    n_cols = max((len(r) for r in rows), default=0)
    top = 28 if col_labels else 0
    left = 120 if row_labels else 0
    width = left + n_cols * (cell + pad) + pad
    height = top + n_rows * (cell + pad) + pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=16)
    except TypeError:  # older Pillow
        font = ImageFont.load_default()
    for c, label in enumerate(col_labels or []):
        draw.text((left + pad + c * (cell + pad) + 4, 6), str(label), fill=(0, 0, 0), font=font)
    for r, row in enumerate(rows):
        y = top + pad + r * (cell + pad)
        if row_labels:
            draw.text((6, y + cell // 2 - 8), str(row_labels[r])[:14], fill=(0, 0, 0), font=font)
        for c, item in enumerate(row):
            if item is None:
                continue
            canvas.paste(_fit(as_rgb_uint8(item), cell), (left + pad + c * (cell + pad), y))
    return canvas


def save_grid(path: str | Path, grid: Image.Image, *, overwrite: bool = False) -> Path:
    """Write a grid made by :func:`image_grid` as PNG, atomically."""
    return write_image(path, grid, overwrite=overwrite)
