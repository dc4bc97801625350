"""Example inputs for notebook 05: a sample test set, and a run whose numbers mean nothing.

The example run's checkpoints are tiny **random** TFill models and its loss curve is **synthetic**.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from triple_dots.errors import NoFaceError, OutputExistsError, where
from triple_dots.files import atomic_write_text
from triple_dots.images import from_uint8, read_image, write_image, write_mask
from triple_dots.samples import sample_paths
from triple_dots.training import run_folder

#: Widths of the tiny random TFill used in examples.
TINY_TFILL: dict[str, int] = {"ngf": 4, "embed_dim": 64, "n_encoders": 1, "fixed_size": 64, "fine_size": 64}


def make_sample_test_set(out_dir: str | Path, *, size: int = 192, mask_type: str = "surgical",
                         margins: tuple[int, ...] = (0, 6, 12), seed: int = 0, overwrite: bool = False) -> Path:
    """Write ``out_dir/images`` (ground truth), ``out_dir/masks`` (255 = hole) and ``out_dir/masked``.

    Sample photos are cropped square; mask margins cycle through ``margins`` (pixels) so hole ratios fall
    in different bands. Photos without a detectable face are skipped.
    """
    from triple_dots.masks import apply_mask

    out = Path(out_dir)
    for i, path in enumerate(sample_paths()):
        im = Image.open(path).convert("RGB")
        im = im.resize((size, round(im.height * size / im.width)), Image.Resampling.LANCZOS)
        img = from_uint8(np.asarray(im.crop((0, 0, size, size))))
        try:
            res = apply_mask(img, mask_type, seed=seed + i, margin=margins[i % len(margins)])
        except NoFaceError:
            continue
        write_image(out / "images" / f"{path.stem}.png", img, overwrite=overwrite)
        write_mask(out / "masks" / f"{path.stem}.png", res.hole_mask, overwrite=overwrite)
        write_image(out / "masked" / f"{path.stem}.png", res.image, overwrite=overwrite)
    return out


def make_example_run(run_dir: str | Path, *, iterations: tuple[int, ...] = (100, 200, 300), n_log: int = 60,
                     seed: int = 0, overwrite: bool = False) -> Path:
    """A run folder in the training layout: random tiny TFill checkpoints + a synthetic ``log.jsonl``."""
    from triple_dots.tfill import TFill

    run = Path(run_dir)
    log = run / run_folder.LOG_FILE
    if log.exists() and not overwrite:
        raise OutputExistsError(f"{where(log)} already exists; pass overwrite=True")
    rng = np.random.default_rng(seed)
    last = max(iterations) if iterations else 300
    lines = []
    for k in range(1, n_log + 1):
        it = round(k * last / n_log)
        lines.append({"iteration": it, "images_seen": 4 * it, "stage": "coarse" if it <= last // 2 else "refine",
                      "loss_rec": float(1.5 / (1 + 0.03 * it) + 0.15 * rng.random()),
                      "loss_lp": float(0.8 / (1 + 0.01 * it) + 0.08 * rng.random()),
                      "loss_g_adv": float(0.69 + 0.08 * rng.standard_normal()),
                      "lr_g": 1e-4, "sec_per_step": 0.1, "example": True})
        if it in iterations:
            lines.append({"iteration": it, "split": "val", "val_loss": float(1.2 / (1 + 0.005 * it)), "example": True})
    config = {"note": "example run: random tiny checkpoints, synthetic losses", **TINY_TFILL}
    run_folder.write_config(run, json.dumps(config, indent=2) + "\n")
    atomic_write_text(log, "".join(json.dumps(d) + "\n" for d in lines), overwrite=overwrite)
    for j, it in enumerate(iterations):
        torch.manual_seed(seed + j)
        run_folder.save_checkpoint(run, it, dict(TFill(**TINY_TFILL).networks()), {"iteration": it})
    return run


def masked_photos(test_root: str | Path) -> list[torch.Tensor]:
    """The masked photos written by :func:`make_sample_test_set`, sorted by name."""
    return [read_image(p) for p in sorted(Path(test_root, "masked").glob("*.png"))]
