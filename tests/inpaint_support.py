"""Shared helper of the inpainting CLI tests (TFill and MAT): a tiny folder of photos and hole masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def photo_mask_folders(root: Path, sizes: dict[str, tuple[int, int]]) -> tuple[Path, Path]:
    """Random photos ``root/img/NAME.png`` of (H, W) ``sizes[NAME]`` and masks ``root/mask/NAME.png``
    (255 = hole, rows 10-29 x columns 12-29). Returns (photo folder, mask folder)."""
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    (root / "mask").mkdir()
    for name, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "img" / f"{name}.png")
        m = np.zeros((h, w), np.uint8)
        m[10:30, 12:30] = 255
        Image.fromarray(m, mode="L").save(root / "mask" / f"{name}.png")
    return root / "img", root / "mask"
