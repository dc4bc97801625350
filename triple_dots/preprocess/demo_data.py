"""Generated photo/mask pairs for tests, benchmarks and the notebook's smoke mode: noisy colour gradients
with elliptic holes over the lower half (no faces: use :mod:`triple_dots.masks` for masked faces)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from triple_dots.dataset_folder import IMAGES_DIR, MASKS_DIR, META_DIR, Meta, write_meta
from triple_dots.images import hole_ratio, write_image, write_mask


def ellipse_hole(height: int, width: int, *, ratio: float = 0.25, center: tuple[float, float] = (0.5, 0.68),
                 aspect: float = 1.4) -> np.ndarray:  # fmt: skip
    """(H, W) uint8 hole mask {0, 255}: one filled ellipse covering about ``ratio`` of the picture, centred at
    ``center`` ((x, y) as fractions of (width, height)); ``aspect`` = horizontal / vertical semi-axis."""
    area = ratio * height * width
    b = float(np.sqrt(area / (np.pi * aspect)))
    a = aspect * b
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (round(center[0] * width), round(center[1] * height)), (round(a), round(b)), 0, 0, 360, 255, -1)
    return mask


def make_demo_dataset(
    root: str | Path,
    n: int,
    *,
    width: int = 64,
    height: int | None = None,
    seed: int = 0,
    suffix: str = ".jpg",
    meta: bool = False,
    ratios: tuple[float, float] = (0.05, 0.45),
    overwrite: bool = False,
) -> Path:
    """Write ``n`` generated pairs named ``person{k}_{i:04d}`` (five people) into ``root`` in the dataset layout,
    with ``meta`` also ``meta/NAME.json`` with a face box around the hole; returns ``root``. Existing files are
    refused unless ``overwrite``."""
    root = Path(root)
    height = height or width
    rng = np.random.default_rng(seed)
    for i in range(n):
        name = f"person{i % 5}_{i:04d}"
        ratio = float(rng.uniform(*ratios))
        corners = rng.uniform(0, 255, size=(2, 2, 3)).astype(np.float32)
        photo = cv2.resize(corners, (width, height), interpolation=cv2.INTER_LINEAR)
        photo = np.clip(photo + rng.normal(0, 6, size=photo.shape).astype(np.float32), 0, 255).astype(np.uint8)
        hole = ellipse_hole(height, width, ratio=ratio)
        write_image(root / IMAGES_DIR / f"{name}{suffix}", photo, overwrite=overwrite)
        write_mask(root / MASKS_DIR / f"{name}.png", hole, overwrite=overwrite)
        if meta:
            ys, xs = np.nonzero(hole)
            box = [int(xs.min()) - width // 8, int(ys.min()) - height // 3, int(xs.max()) + width // 8, int(ys.max())]
            face = {"box": box, "landmarks": [[float(xs.mean()), float(ys.mean())]] * 68, "yaw_deg": 0.0,
                    "variant": "frontal"}  # fmt: skip
            data = Meta(source=f"generated:{seed}:{i}", mask_type="ellipse", seed=seed, hole_ratio=hole_ratio(hole),
                        image_size=(width, height), faces=[face])
            write_meta(root / META_DIR / f"{name}.json", data, overwrite=overwrite)
    return root
