"""Helpers shared by the training tests: a tiny paired dataset, a random VGG16 file, a tiny config."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

TINY_MODEL = dict(ngf=4, ndf=4, embed_dim=64, n_encoders=1, fixed_size=32, fine_size=64)


def make_dataset(root: Path, n: int = 6, size: int = 64) -> Path:
    """``root/images/imgK.png`` + ``root/masks/imgK.png`` (rectangular holes) from the sample photos."""
    from triple_dots.images import read_image, write_image, write_mask
    from triple_dots.samples import sample_paths

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    paths = sample_paths()
    for i in range(n):
        img = read_image(paths[i % len(paths)])
        img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True)[0].clamp(0, 1)
        if i >= len(paths):
            img = img.flip(-1)
        m = torch.zeros(1, size, size)
        top = size // 4 + (i % 3)
        m[:, top : top + size // 3, size // 4 : size // 4 + size // 2] = 1
        write_image(root / "images" / f"img{i}.png", img)
        write_mask(root / "masks" / f"img{i}.png", m)
    return root


def make_vgg16_file(path: Path) -> Path:
    """A random-initialised torchvision VGG16 ``features`` state dict saved like the real download."""
    from triple_dots.training.losses import save_random_vgg16

    return save_random_vgg16(path)


def tiny_config(data: Path, out: Path, vgg: Path, **changes):
    from triple_dots.training import TrainConfig

    base = dict(data=str(data), out=str(out), vgg_weights=str(vgg), batch_size=2, iterations=2, val_every=0,
                ckpt_every=0, log_every=1, device="cpu", progress=False, keep_last=2, **TINY_MODEL)
    base.update(changes)
    return TrainConfig(**base)
