"""The images to evaluate, as ``OUT/<stem>.png``: from a TFill checkpoint, MAT weights or the OpenCV Telea baseline."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from triple_dots.evaluation.testset import TestSet
from triple_dots.images import from_uint8, mask_to_uint8, to_uint8, write_image
from triple_dots.tfill.checkpoint_files import has_networks


def telea(image: torch.Tensor, hole_mask: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """OpenCV's Telea inpainting (the classical baseline): (3, H, W) [0, 1], hole 1 -> (3, H, W) [0, 1]."""
    import cv2

    src = np.ascontiguousarray(to_uint8(image * (1 - hole_mask)))
    return from_uint8(cv2.inpaint(src, mask_to_uint8(hole_mask), radius, cv2.INPAINT_TELEA))


#: file suffixes of MAT weights (official pickle, or a state dict with the official keys)
MAT_SUFFIXES = (".pkl", ".pth", ".pt", ".safetensors")


def model_kind(path: str | Path) -> str:
    """``"tfill"`` (a checkpoint folder), ``"mat"`` (a MAT weights file) or ``"images"`` (generated images)."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in MAT_SUFFIXES:
        return "mat"
    return "tfill" if has_networks(p) else "images"


def load_model(path: str | Path, config: Mapping[str, Any] | None = None, device: str = "cpu") -> torch.nn.Module:
    """A MAT weights file or a TFill checkpoint folder (``TFill.from_official(path, **config)``)."""
    if model_kind(path) == "mat":
        from triple_dots.mat import MAT

        return MAT.from_official(path, device=device)
    from triple_dots.tfill import TFill

    return TFill.from_official(path, device=device, **dict(config or {}))


def tfill_outputs(model: torch.nn.Module, test_set: TestSet, *, seed: int = 0,
                  progress: bool = True) -> Iterator[torch.Tensor]:
    """Inpaint each test image (one at a time: sizes may differ); yields (3, H, W) [0, 1] on CPU."""
    for i in tqdm(range(len(test_set)), desc=f"{type(model).__name__} inpaint", unit="img", disable=not progress):
        img, hole = test_set.load(i)
        dev = next(model.parameters()).device
        out = model.inpaint(img[None].to(dev), hole[None].to(dev), seed=seed + i)[0]
        yield out.detach().cpu().clamp(0, 1)


def write_outputs(images: Iterator[torch.Tensor], test_set: TestSet, out_dir: str | Path, *,
                  overwrite: bool = False) -> Path:
    """Write generated images as ``out_dir/<stem>.png`` in test-set order."""
    out = Path(out_dir)
    for name, img in zip(test_set.names, images, strict=True):
        write_image(out / f"{name}.png", img, overwrite=overwrite)
    return out


def generate_telea(test_set: TestSet, out_dir: str | Path, *, radius: int = 3, overwrite: bool = False) -> Path:
    """Telea baseline for every test image into ``out_dir``."""
    return write_outputs((telea(*test_set.load(i), radius) for i in range(len(test_set))), test_set, out_dir,
                         overwrite=overwrite)


def generate_model(path: str | Path, test_set: TestSet, out_dir: str | Path, *,
                   config: Mapping[str, Any] | None = None, seed: int = 0, device: str = "cpu",
                   overwrite: bool = False, progress: bool = True) -> Path:
    """Inpaint the test set with a TFill checkpoint folder or MAT weights file into ``out_dir``."""
    model = load_model(path, config, device)
    return write_outputs(tfill_outputs(model, test_set, seed=seed, progress=progress), test_set, out_dir,
                         overwrite=overwrite)
