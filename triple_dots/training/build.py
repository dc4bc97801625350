"""What a training run is built from: the datasets, the pretrained weights and the TFill model."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Subset

from triple_dots import weights as weights_registry
from triple_dots.data import PairedFaceDataset
from triple_dots.errors import BadInputError, where
from triple_dots.tfill import TFill, make_config
from triple_dots.training.config import TrainConfig, architecture_options


def build_datasets(cfg: TrainConfig) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset | None]:
    """Training and held-out datasets at ``fine_size``; every pair is checked first (bad files raise).

    Held-out: ``cfg.val_data``, else the manifest's ``"val"`` split, else a seeded ``val_fraction``
    of the pairs. Pairs in a ``"test"`` split are never used for training.
    """
    common = {"size": cfg.fine_size, "synthetic_masks": cfg.synthetic_masks, "seed": cfg.seed}
    train_full = PairedFaceDataset(cfg.data, flip=cfg.flip, **common)
    train_idx = [i for i, p in enumerate(train_full.pairs) if p.split not in ("val", "test")]
    if cfg.val_data:
        val_full = PairedFaceDataset(cfg.val_data, **common)
        val_idx = list(range(len(val_full)))
    else:
        val_full = PairedFaceDataset(cfg.data, validate=False, **common)
        val_idx = [i for i, p in enumerate(train_full.pairs) if p.split == "val"]
        if not val_idx and cfg.val_every and cfg.val_fraction > 0:
            g = torch.Generator().manual_seed(cfg.seed)
            perm = torch.randperm(len(train_idx), generator=g).tolist()
            n_val = max(1, round(len(train_idx) * cfg.val_fraction))
            if len(train_idx) - n_val < 1:
                raise BadInputError(f"{where(cfg.data)} has {len(train_idx)} image(s): too few to hold out a "
                                    "validation split; add images or pass --val-every 0")
            held = sorted(perm[:n_val])
            val_idx = [train_idx[i] for i in held]
            train_idx = [train_idx[i] for i in sorted(perm[n_val:])]
    if not train_idx:
        raise BadInputError(f"{where(cfg.data)} has no training images (all pairs are in 'val'/'test' splits)")
    val_set = Subset(val_full, val_idx[: cfg.val_max_images]) if val_idx else None
    return Subset(train_full, train_idx), val_set


def resolve_weights(spec: str) -> Path:
    """A checkpoint folder from a path or a weights-registry key (``tfill-ffhq``); missing -> MissingWeightsError."""
    if spec in weights_registry.REGISTRY:
        return weights_registry.locate(spec)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise BadInputError(f"--weights {where(path)} is neither a checkpoint folder nor a weights registry key")
    return path


def build_model(cfg: TrainConfig, resume_dir: Path | None) -> TFill:
    """TFill with all six networks (E, T, G, G_Ref, D, D_Ref): random, pretrained, or from a checkpoint."""
    options = architecture_options(vars(cfg))
    if resume_dir is not None:
        # channels_last=False: a resumed run must use exactly the kernels of the uninterrupted one
        model = TFill.from_official(resume_dir, discriminators=True, channels_last=False, **options)
    elif cfg.mode == "scratch" and cfg.weights is None:
        model = TFill(make_config(**options), discriminators=True)
    else:
        src = resolve_weights(cfg.weights)  # type: ignore[arg-type]
        has_d = all((src / f"latest_net_{n}.pth").is_file() for n in ("D", "D_Ref"))
        model = TFill.from_official(src, discriminators=has_d, channels_last=False, **options)
        if not has_d:
            print(f"note: {src} has no latest_net_D.pth / latest_net_D_Ref.pth; the discriminators start from "
                  "random weights (the generators are pretrained)")
            fresh = TFill(make_config(**options), discriminators=True)
            model.net_D, model.net_D_Ref = fresh.net_D, fresh.net_D_Ref
    return model
