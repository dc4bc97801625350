"""The torch Dataset of a dataset folder (see :mod:`triple_dots.dataset_folder` for the layout)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from triple_dots.dataset_folder import MAX_HOLE_RATIO, Pair, check_dataset, load_pairs
from triple_dots.errors import BadInputError, NoFaceError, SizeMismatchError, where
from triple_dots.images import read_image, read_mask
from triple_dots.square_fit import FitMode, SquareFit

MaskFn = Callable[..., Any]
"""``mask_fn(image (3, H, W) float [0, 1], mask_type: str, *, seed: int) -> obj`` with
``obj.hole_mask`` (1, H, W) in {0, 1}; the default is :func:`triple_dots.masks.apply_mask`."""


def _augment(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``augment`` (see :class:`PairedFaceDataset`) of ``img`` (H, W, 3) float32 [0, 1] and ``mask`` (H, W) {0, 1}."""
    import cv2

    h, w = mask.shape
    angle = rng.uniform(-5.0, 5.0)  # degrees
    scale = rng.uniform(1.0, 1.1)  # zoom in only, so borders rarely show
    shift = rng.uniform(-0.03, 0.03, size=2) * (w, h)
    mat = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, scale)
    mat[:, 2] += shift
    img = cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = cv2.warpAffine(mask, mat, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    brightness, contrast, saturation = rng.uniform(0.9, 1.1, size=3)
    mean = img.mean()
    img = (img - mean) * contrast + mean
    gray = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    img = (img - gray[..., None]) * saturation + gray[..., None]
    img = np.clip(img * brightness, 0.0, 1.0).astype(np.float32)
    return img, (mask > 0).astype(np.uint8)


class PairedFaceDataset(torch.utils.data.Dataset):
    """Photos with hole masks from a dataset folder or manifest, as a torch Dataset.

    Item: ``{"image": (3, H, W) float32 [0, 1], "hole_mask": (1, H, W) float32 {0, 1} (1 = hole),
    "name": str}``.

    Args:
        root_or_manifest: dataset ROOT or a ``manifest.csv``.
        split: keep only pairs of this split (``"train"``, ``"val"``, ``"test"``) from the manifest.
        size: if given, every item is centre-cropped (``fit="crop"``) or padded (``"pad"``) to a
            ``size`` x ``size`` square (see :class:`~triple_dots.square_fit.SquareFit`).
        flip: random horizontal flip (p = 0.5), the same for photo and mask.
        augment: the same small zoom (1-1.1x), rotation (+-5 deg) and shift (+-3 %) on photo and
            mask, and mild brightness/contrast/saturation (+-10 %) on the photo.
        synthetic_masks: draw a fresh mask per sample with ``mask_fn`` (type from ``mask_types``)
            instead of reading the stored mask; a photos-only folder is then enough.
        seed: randomness of item ``i`` depends only on (seed, epoch, i), not on ``num_workers`` or rank.
        mask_fn: mask synthesiser (see :data:`MaskFn`); default ``triple_dots.masks.apply_mask``.
        no_face: with ``synthetic_masks``, when ``mask_fn`` finds no face: ``"raise"`` or ``"stored"``
            (use the stored mask and warn with the file name).
        validate: check every pair first (:func:`check_dataset`, with ``workers`` processes).
    """

    def __init__(
        self,
        root_or_manifest: str | Path,
        *,
        split: str | None = None,
        size: int | None = None,
        fit: FitMode = "crop",
        flip: bool = False,
        augment: bool = False,
        synthetic_masks: bool = False,
        mask_types: Sequence[str] = ("surgical",),
        seed: int = 0,
        mask_fn: MaskFn | None = None,
        no_face: Literal["raise", "stored"] = "raise",
        validate: bool = True,
        workers: int | None = 1,
        max_hole_ratio: float = MAX_HOLE_RATIO,
    ) -> None:
        if size is not None and size < 1:
            raise BadInputError(f"size must be a positive number of pixels, got {size}")
        if synthetic_masks and not mask_types:
            raise BadInputError("synthetic_masks=True needs at least one mask type in mask_types")
        if no_face not in ("raise", "stored"):
            raise BadInputError(f"no_face must be 'raise' or 'stored', got {no_face!r}")
        self.root = Path(root_or_manifest)
        self.split, self.size, self.fit = split, size, fit
        self.flip, self.augment = flip, augment
        self.synthetic_masks, self.mask_types = synthetic_masks, tuple(mask_types)
        self.seed, self.epoch = int(seed), 0
        self.no_face = no_face
        self._mask_fn = mask_fn
        if validate:
            checked = check_dataset(
                self.root,
                split=split,
                require_masks=not synthetic_masks,
                workers=workers,
                max_hole_ratio=max_hole_ratio,
                progress=False,
            )
            self.pairs = [p for p, _ in checked]
        else:
            self.pairs = load_pairs(self.root, split=split, require_masks=not synthetic_masks)

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws per epoch (call before creating the DataLoader iterator)."""
        self.epoch = int(epoch)

    def _synthetic_mask(self, image: torch.Tensor, pair: Pair, rng: np.random.Generator) -> torch.Tensor:
        if self._mask_fn is None:
            try:
                from triple_dots.masks import apply_mask
            except ImportError as exc:
                raise BadInputError(
                    "synthetic_masks=True needs the mask-synthesis stage (triple_dots.masks), which failed to import: "
                    f"{exc}"
                ) from None
            self._mask_fn = apply_mask
        mask_type = self.mask_types[int(rng.integers(len(self.mask_types)))]
        seed = int(rng.integers(2**31 - 1))
        try:
            result = self._mask_fn(image, mask_type, seed=seed)
        except NoFaceError as exc:
            if self.no_face == "stored" and pair.mask is not None:
                warnings.warn(f"no face found in {where(pair.image)}: using its stored mask", stacklevel=2)
                return read_mask(pair.mask)
            hint = " (or pass no_face='stored' to use its stored mask)" if pair.mask is not None else ""
            raise NoFaceError(f"{where(pair.image)}: synthetic mask failed: {exc}{hint}") from None
        hole = torch.as_tensor(result.hole_mask, dtype=torch.float32)
        return hole if hole.ndim == 3 else hole[None]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.pairs):
            raise IndexError(index)
        pair = self.pairs[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = read_image(pair.image)
        hole = self._synthetic_mask(image, pair, rng) if self.synthetic_masks else read_mask(pair.mask)  # type: ignore[arg-type]
        if hole.shape[-2:] != image.shape[-2:]:
            raise SizeMismatchError(
                f"mask {where(pair.mask)} is {tuple(hole.shape[-2:])} (H, W) but photo {where(pair.image)} is "
                f"{tuple(image.shape[-2:])}"
            )
        img = image.permute(1, 2, 0).numpy()
        mask = (hole[0].numpy() > 0.5).astype(np.uint8)
        if self.size is not None:
            fit = SquareFit(img.shape[1], img.shape[0], self.size, self.fit)
            img, mask = fit.apply_image(img), fit.apply_mask(mask)
        if self.augment:
            img, mask = _augment(img, mask, rng)
        if self.flip and rng.random() < 0.5:
            img, mask = img[:, ::-1], mask[:, ::-1]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1).contiguous(),
            "hole_mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None],
            "name": pair.name,
        }
