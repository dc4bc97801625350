"""Shared fixtures for the evaluation tests: a tiny face test set, stand-in weights, tiny TFill runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from triple_dots.images import from_uint8, write_image, write_mask
from triple_dots.samples import SAMPLE_NAMES, sample_path

SIZE = 128
#: hole heights (rows) giving hole ratios in different bands (width is the full image width / 2)
_HOLE_ROWS = {"grace_hopper": 20, "astronaut": 40, "obama": 60, "obama2": 84, "biden": 110}
TINY_TFILL = {"ngf": 4, "embed_dim": 64, "n_encoders": 1, "fixed_size": 64, "fine_size": 64}


def face_image(name: str, size: int = SIZE) -> torch.Tensor:
    """A sample photo scaled to ``size`` wide and cropped square from the top (faces stay inside)."""
    im = Image.open(sample_path(name)).convert("RGB")
    im = im.resize((size, round(im.height * size / im.width)), Image.Resampling.LANCZOS).crop((0, 0, size, size))
    return from_uint8(np.asarray(im))


def make_dataset(root: Path, size: int = SIZE) -> Path:
    """``root/images`` + ``root/masks``: the 5 sample photos with holes of 5-43 % (different bands)."""
    for name in SAMPLE_NAMES:
        write_image(root / "images" / f"{name}.png", face_image(name, size))
        hole = torch.zeros(1, size, size)
        rows = _HOLE_ROWS[name] * size // SIZE
        hole[:, size - rows :, size // 4 : size // 4 + size // 2] = 1
        write_mask(root / "masks" / f"{name}.png", hole)
    return root


def make_weights(folder: Path) -> dict[str, Path]:
    """Random stand-in FID Inception and AlexNet files (Kaiming-initialised Inception)."""
    from triple_dots.evaluation.fid import save_random_inception
    from triple_dots.evaluation.paired import save_random_backbone

    return {
        "fid_weights": save_random_inception(folder / "pt_inception-2015-12-05-6726825d.pth", seed=0, overwrite=True),
        "lpips_backbone": save_random_backbone(folder / "alexnet-owt-7be5be79.pth", "alex", seed=0, overwrite=True),
    }


def fill_folder(dataset: Path, out: Path, how: str = "mean") -> Path:
    """A fake model's outputs: the hole filled with the image mean (``mean``) or noise (``noise``)."""
    from triple_dots.images import read_image, read_mask

    g = torch.Generator().manual_seed(0)
    for p in sorted((dataset / "images").glob("*.png")):
        img, hole = read_image(p), read_mask(dataset / "masks" / p.name)
        if how == "mean":
            fill = img.mean(dim=(1, 2), keepdim=True).expand_as(img)
        else:
            fill = torch.rand(img.shape, generator=g)
        write_image(out / p.name, img * (1 - hole) + fill * hole)
    return out


def make_tfill_checkpoint(folder: Path, seed: int = 0) -> Path:
    """A tiny random TFill saved in the official file layout."""
    from triple_dots.tfill import TFill

    torch.manual_seed(seed)
    TFill(**TINY_TFILL).save(folder)
    return folder


def make_run(run: Path, iterations: tuple[int, ...] = (100, 200, 300), n_log: int = 30) -> Path:
    """A fake run folder following contracts.md: config.json, log.jsonl, checkpoints/iter_N/latest_net_*.pth."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"data": "x", "out": str(run), **TINY_TFILL, "extra": {}}))
    rng = np.random.default_rng(0)
    lines = []
    for i in range(1, n_log + 1):
        it = i * 10
        lines.append({"iteration": it, "images_seen": it * 4, "stage": "coarse" if it <= 150 else "refine",
                      "loss_rec": float(2.0 / (1 + 0.05 * it) + 0.1 * rng.random()),
                      "loss_lp": float(1.0 / (1 + 0.02 * it) + 0.05 * rng.random()),
                      "loss_g": float(0.7 + 0.1 * rng.standard_normal()), "lr_g": 1e-4, "sec_per_step": 0.1})
        if it % 100 == 0:
            lines.append({"iteration": it, "split": "val", "val_loss": float(1.0 / (1 + 0.01 * it))})
    (run / "log.jsonl").write_text("".join(json.dumps(d) + "\n" for d in lines))
    for k, it in enumerate(iterations):
        make_tfill_checkpoint(run / "checkpoints" / f"iter_{it:08d}", seed=k)
    return run
