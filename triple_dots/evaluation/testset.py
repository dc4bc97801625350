"""A test set for evaluation: ground-truth photos and hole masks matched by stem, checked up front."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from triple_dots.dataset_folder import IMAGES_DIR, MASKS_DIR, Problem, load_pairs
from triple_dots.errors import BadInputError, SizeMismatchError, TripleDotsError, where
from triple_dots.evaluation.pairs import Sample, match_by_stem
from triple_dots.images import read_image, read_mask


@dataclass
class TestSet:
    """Ground truths (role ``"real"``) and hole masks (role ``"mask"``, 255 = hole on disk), checked when built."""

    samples: list[Sample]
    source: str

    @classmethod
    def from_folders(cls, real_dir: str | Path, mask_dir: str | Path, *, names: Sequence[str] | None = None,
                     max_images: int | None = None) -> TestSet:
        """Pair ``real_dir`` photos with ``mask_dir`` masks by stem (optionally only ``names``)."""
        rep = match_by_stem({"real": real_dir, "mask": mask_dir})
        if names is not None:
            keep = set(names)
            rep.samples = [s for s in rep.samples if s.name in keep]
            rep.problems = [p for p in rep.problems if p.path.stem in keep]
        for smp in rep.samples:  # masks must be binary (255 = hole): checked before any work
            try:
                read_mask(smp["mask"])
            except TripleDotsError as exc:
                rep.problems.append(Problem(smp["mask"], BadInputError(f"mask/{smp['mask'].name}: {exc}")))
        rep.raise_if_problems()
        samples = rep.samples[:max_images] if max_images else rep.samples
        if not samples:
            raise BadInputError(f"no test pairs in {where(real_dir)} / {where(mask_dir)}")
        return cls(samples, f"{real_dir} + {mask_dir}")

    @classmethod
    def from_dataset(cls, root: str | Path, *, split: str | None = None, max_images: int | None = None) -> TestSet:
        """A dataset folder ``ROOT/images`` + ``ROOT/masks``; ``split`` keeps that manifest split."""
        root = Path(root)
        if not (root / IMAGES_DIR).is_dir() or not (root / MASKS_DIR).is_dir():
            raise BadInputError(f"{where(root)} must contain images/ and masks/ (the dataset layout)")
        names = None if split is None else [p.name for p in load_pairs(root, split=split)]
        ts = cls.from_folders(root / IMAGES_DIR, root / MASKS_DIR, names=names, max_images=max_images)
        ts.source = f"{root}" + (f" (split {split})" if split else "")
        return ts

    @classmethod
    def open(cls, data: str | Path | TestSet, *, masks: str | Path | None = None, split: str | None = None,
             max_images: int | None = None) -> TestSet:
        """``data`` as a test set: a :class:`TestSet` as is, photos + ``masks`` folders, or a dataset folder."""
        if isinstance(data, TestSet):
            return data
        if masks is not None:
            return cls.from_folders(data, masks, max_images=max_images)
        return cls.from_dataset(data, split=split, max_images=max_images)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.samples]

    def load(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(image (3, H, W) [0, 1], hole mask (1, H, W) {0, 1}, 1 = hole) of sample ``i``."""
        s = self.samples[i]
        img, hole = read_image(s["real"]), read_mask(s["mask"])
        if img.shape[-2:] != hole.shape[-2:]:
            raise SizeMismatchError(f"{where(s['mask'])} is {tuple(hole.shape[-2:])}, photo {tuple(img.shape[-2:])}")
        return img, hole
