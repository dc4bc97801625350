"""Dataset folders, their manifest, checks that run before any work, and :class:`PairedFaceDataset`.

One layout is used by every stage (mask synthesis writes it, preprocessing reads and writes
it, training and evaluation read it)::

    ROOT/images/NAME.<ext>     photos (.jpg, .png, ...)
    ROOT/masks/NAME.png        hole masks: single-channel PNG, 255 = hole (regenerate), 0 = keep
    ROOT/meta/NAME.json        optional: how the mask was made (mask type, seed, face boxes, landmarks)
    ROOT/manifest.csv          optional: one row per pair (size, hole ratio, split, source, group, ...)

A photo and its mask are paired by file name without extension (the *stem*). A plain folder
of photos (no ``images/`` sub-folder) is read as a dataset without masks.

Every check here reports *all* bad files by name before anything is processed, so a long job
never stops half-way on file 9,000. In memory photos are (3, H, W) float32 in [0, 1] and hole
masks (1, H, W) float32 in {0, 1}, 1 = hole.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from triple_dots.errors import (
    BadInputError,
    BadMaskError,
    NoFaceError,
    SizeMismatchError,
    TripleDotsError,
    where,
)
from triple_dots.geometry import FitMode, SquareFit
from triple_dots.files import atomic_write_text
from triple_dots.images import (
    _open,
    is_image_file,
    list_images,
    read_image,
    read_image_uint8,
    read_mask,
)

IMAGES_DIR = "images"
MASKS_DIR = "masks"
META_DIR = "meta"
MANIFEST_NAME = "manifest.csv"

#: Manifest columns, in file order; other columns found in a manifest are kept after these.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "name", "image", "mask", "meta", "width", "height", "hole_ratio", "split", "source", "group",
)  # fmt: skip
#: Manifest columns that describe a file's content and are recomputed when a command rewrites it.
_FACT_COLUMNS = {"name", "image", "mask", "meta", "width", "height", "hole_ratio"}

#: A "hole" larger than this fraction of the picture almost always means an inverted mask.
MAX_HOLE_RATIO = 0.9


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------
@dataclass
class Pair:
    """One photo with its hole mask (``mask`` is None in a photos-only dataset).

    ``fields`` holds the pair's other manifest columns as strings (``split``, ``source``,
    ``group`` and any extra column), carried along by every preprocessing command.
    """

    name: str
    image: Path
    mask: Path | None = None
    meta: Path | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> str | None:
        """The pair's split (``train``/``val``/``test``) from the manifest, or None."""
        return self.fields.get("split") or None


@dataclass(frozen=True)
class PairFacts:
    """What a check learned about a pair: photo size in pixels and hole fraction in [0, 1]."""

    width: int
    height: int
    hole_ratio: float | None  # hole pixels / all pixels; None without a mask


@dataclass
class Problem:
    """A bad file found by a check: the file and the error that describes it."""

    path: Path
    error: TripleDotsError

    @property
    def kind(self) -> str:
        """The error's class name, e.g. ``'BadMaskError'``."""
        return type(self.error).__name__

    def __str__(self) -> str:
        return str(self.error)


class BadDatasetError(BadInputError):
    """One or more files of a dataset are bad; ``.problems`` lists each with its own message."""

    def __init__(
        self, problems: Sequence[Problem], where_: str | Path, *, hint: str = "", before_work: bool = True
    ) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lead = f"{n} bad file{'s' if n != 1 else ''} in {where(where_)}"
        lines = [lead + ("; nothing was processed:" if before_work else ":")]
        lines += [f"  - {p}" for p in self.problems[:20]]
        if n > 20:
            lines.append(f"  ... and {n - 20} more")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))

    def __reduce__(self):  # picklable across worker processes
        return (_rebuild_bad_dataset, (self.problems, str(self)))


def _rebuild_bad_dataset(problems: list[Problem], message: str) -> BadDatasetError:
    err = BadDatasetError.__new__(BadDatasetError)
    Exception.__init__(err, message)
    err.problems = problems
    return err


# --------------------------------------------------------------------------------------
# Scanning a folder
# --------------------------------------------------------------------------------------
@dataclass
class FolderScan:
    """The files of a dataset folder, matched by stem (nothing is read yet)."""

    root: Path
    image_dir: Path
    mask_dir: Path | None
    pairs: list[Pair]
    images_only: list[Path]  # photos without a mask (only when a mask folder exists)
    masks_only: list[Path]  # masks without a photo
    problems: list[Problem]  # duplicate stems


def dataset_dirs(root: str | Path) -> tuple[Path, Path | None, Path | None]:
    """(image folder, mask folder or None, meta folder or None) of a dataset ROOT.

    A ROOT with an ``images/`` sub-folder uses the layout; any other folder is read as a plain
    folder of photos without masks.
    """
    root = Path(root)
    if not root.exists():
        raise BadInputError(f"{where(root)} does not exist")
    if not root.is_dir():
        raise BadInputError(f"{where(root)} is not a folder")
    if (root / IMAGES_DIR).is_dir():
        masks = root / MASKS_DIR
        meta = root / META_DIR
        return root / IMAGES_DIR, (masks if masks.is_dir() else None), (meta if meta.is_dir() else None)
    return root, None, None


def list_mask_files(folder: str | Path) -> list[Path]:
    """Sorted image files directly in ``folder`` (masks are matched by stem; sub-folders are not read)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"mask folder {where(folder)} does not exist or is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def _by_stem(files: Sequence[Path], what: str) -> tuple[dict[str, Path], list[Problem]]:
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(f.stem, []).append(f)
    unique = {stem: fs[0] for stem, fs in groups.items() if len(fs) == 1}
    problems = [
        Problem(
            fs[0],
            BadInputError(
                f"duplicate {what} stem {stem!r}: {' and '.join(repr(str(f)) for f in fs)}; photos and masks are "
                "paired by file name without extension, so keep only one of them"
            ),
        )
        for stem, fs in sorted(groups.items())
        if len(fs) > 1
    ]
    return unique, problems


def scan_folder(
    root: str | Path, *, mask_dir: str | Path | None = None, meta_dir: str | Path | None = None
) -> FolderScan:
    """Match the photos of ``root`` with their masks by stem (see the module docstring for the layout).

    ``mask_dir`` and ``meta_dir`` override the mask and meta folders (e.g. original photos in one
    folder, masks and meta written by mask synthesis in another).
    Duplicate stems (``a.jpg`` and ``a.png``) are reported in ``problems`` and left unpaired.
    """
    root = Path(root)
    image_dir, found_masks, found_meta = dataset_dirs(root)
    mdir = Path(mask_dir) if mask_dir is not None else found_masks
    if meta_dir is not None and not Path(meta_dir).is_dir():
        raise BadInputError(f"meta folder {where(meta_dir)} does not exist or is not a folder")
    meta_dir = Path(meta_dir) if meta_dir is not None else found_meta
    images, problems = _by_stem(list_images(image_dir, recursive=False), "photo")
    masks: dict[str, Path] = {}
    if mdir is not None:
        masks, mask_problems = _by_stem(list_mask_files(mdir), "mask")
        problems += mask_problems
    dup = {p.path.stem for p in problems}
    pairs = []
    for stem in sorted(images):
        if mdir is not None and stem not in masks:
            continue
        meta = meta_dir / f"{stem}.json" if meta_dir is not None else None
        pairs.append(Pair(stem, images[stem], masks.get(stem), meta if meta and meta.is_file() else None))
    images_only = [p for s, p in sorted(images.items()) if mdir is not None and s not in masks]
    masks_only = [p for s, p in sorted(masks.items()) if s not in images and s not in dup]
    return FolderScan(root, image_dir, mdir, pairs, images_only, masks_only, problems)


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------
def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def read_manifest(path: str | Path) -> list[Pair]:
    """Read a ``manifest.csv``: one :class:`Pair` per row; paths are relative to the manifest's folder.

    Required columns: ``name`` and ``image``; ``mask`` and ``meta`` may be empty. Every other
    column is kept in :attr:`Pair.fields`.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"manifest {where(path)} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"manifest {where(path)} cannot be read as UTF-8 text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [c for c in ("name", "image") if c not in columns]
    if missing:
        raise BadInputError(f"manifest {where(path)} lacks the column(s) {missing}; found {columns}")
    pairs, seen = [], set()
    for line, row in enumerate(reader, start=2):
        name, image = (row.get("name") or "").strip(), (row.get("image") or "").strip()
        if not name or not image:
            raise BadInputError(f"manifest {where(path)} line {line}: empty 'name' or 'image'")
        if name in seen:
            raise BadInputError(f"manifest {where(path)} line {line}: name {name!r} appears twice")
        seen.add(name)
        mask, meta = (row.get("mask") or "").strip(), (row.get("meta") or "").strip()
        fields = {k: (v or "") for k, v in row.items() if k not in _FACT_COLUMNS and k is not None}
        pairs.append(
            Pair(
                name,
                _resolve(path.parent, image),
                _resolve(path.parent, mask) if mask else None,
                _resolve(path.parent, meta) if meta else None,
                fields,
            )
        )
    return pairs


def manifest_row(pair: Pair, facts: PairFacts | None, root: str | Path) -> dict[str, str]:
    """A manifest row for ``pair`` with paths relative to ``root`` (the manifest's folder)."""
    root = Path(root)

    def rel(p: Path | None) -> str:
        return "" if p is None else Path(os.path.relpath(Path(p).absolute(), root.absolute())).as_posix()

    row = {"name": pair.name, "image": rel(pair.image), "mask": rel(pair.mask), "meta": rel(pair.meta)}
    if facts is not None:
        row["width"], row["height"] = str(facts.width), str(facts.height)
        row["hole_ratio"] = "" if facts.hole_ratio is None else f"{facts.hole_ratio:.6f}"
    row.update(pair.fields)
    return row


def write_manifest(path: str | Path, rows: Sequence[Mapping[str, Any]], *, overwrite: bool = False) -> Path:
    """Write rows as a CSV manifest atomically: :data:`MANIFEST_COLUMNS` first, then extra columns."""
    columns = list(MANIFEST_COLUMNS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return atomic_write_text(path, buf.getvalue(), overwrite=overwrite)


# --------------------------------------------------------------------------------------
# Loading and checking pairs
# --------------------------------------------------------------------------------------
def load_pairs(
    root_or_manifest: str | Path,
    *,
    split: str | None = None,
    require_masks: bool | None = True,
    mask_dir: str | Path | None = None,
    problems_out: list[Problem] | None = None,
) -> list[Pair]:
    """The pairs of a dataset folder or ``manifest.csv``, sorted by name (files are not read yet).

    From a folder, duplicate stems, masks without a photo and (with ``require_masks``) photos
    without a mask raise :class:`BadDatasetError` naming every such file; a ``ROOT/manifest.csv``
    adds its ``split``/``source``/``group``/extra columns to the matching pairs. ``split``
    keeps only the pairs of that split. Raises :class:`BadInputError` for an empty dataset.
    ``require_masks=None`` requires masks only when the dataset has some (a mask folder, or a
    manifest with a mask column filled in). With a list as ``problems_out`` the bad files are appended to it and skipped instead.
    """
    src = Path(root_or_manifest)
    if src.is_file() and src.suffix.lower() == ".csv":
        pairs = read_manifest(src)
        if require_masks is None:
            require_masks = any(p.mask is not None for p in pairs)
        if require_masks:
            no_mask = [Problem(p.image, BadInputError(f"{where(p.image)} has no mask in manifest {where(src)}"))
                       for p in pairs if p.mask is None]  # fmt: skip
            if no_mask and problems_out is None:
                raise BadDatasetError(no_mask, src)
            if no_mask:
                problems_out += no_mask
                pairs = [p for p in pairs if p.mask is not None]
    else:
        scan = scan_folder(src, mask_dir=mask_dir)
        if not (scan.pairs or scan.images_only or scan.problems):
            raise BadInputError(
                f"{where(scan.image_dir)} holds no photos (looked for {', '.join(_suffixes())} files)"
            )
        if require_masks is None:
            require_masks = scan.mask_dir is not None
        if require_masks and scan.mask_dir is None:
            raise BadInputError(
                f"{where(src)} has no masks: expected hole masks in {where(src / MASKS_DIR)} "
                f"(photos in {where(src / IMAGES_DIR)}, masks as NAME.png with 255 = hole)"
            )
        problems = list(scan.problems)
        problems += [
            Problem(m, BadInputError(f"mask {where(m)} has no photo with the same stem in {where(scan.image_dir)}"))
            for m in scan.masks_only
        ]
        if require_masks:
            problems += [
                Problem(i, BadInputError(f"photo {where(i)} has no mask with the same stem in {where(scan.mask_dir)}"))
                for i in scan.images_only
            ]
        if problems and problems_out is not None:
            problems_out += problems
        elif problems:
            hint = ""
            if scan.masks_only or (require_masks and scan.images_only):
                hint = "Run `triple-dots preprocess pair` to keep only matched pairs (it never deletes files)."
            raise BadDatasetError(problems, src, hint=hint)
        pairs = scan.pairs + ([Pair(i.stem, i) for i in scan.images_only] if not require_masks else [])
        pairs.sort(key=lambda p: p.name)
        manifest = src / MANIFEST_NAME
        if manifest.is_file():
            extra = {p.name: p.fields for p in read_manifest(manifest)}
            for p in pairs:
                p.fields = dict(extra.get(p.name, {}))
    if not pairs:
        raise BadInputError(f"{where(src)} holds no photos (looked for {', '.join(_suffixes())} files)")
    if split is not None:
        chosen = [p for p in pairs if p.split == split]
        if not chosen:
            present = sorted({p.split or "<none>" for p in pairs})
            raise BadInputError(f"{where(src)} has no pairs in split {split!r}; splits present: {present}")
        pairs = chosen
    return pairs


def _suffixes() -> list[str]:
    from triple_dots.images import IMAGE_SUFFIXES

    return list(IMAGE_SUFFIXES)


def hole_ratio(mask: torch.Tensor | np.ndarray) -> float:
    """Fraction of hole pixels in [0, 1]: hole pixels / all pixels.

    ``mask`` is a (1, H, W) / (H, W) hole mask in {0, 1} (1 = hole) or a uint8 {0, 255} array.
    """
    arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if arr.size == 0:
        raise BadInputError("hole_ratio: empty mask")
    return float(np.count_nonzero(arr) / arr.size)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a photo after EXIF orientation; decodes it fully so corrupt files fail here."""
    img = _open(path)
    return img.size


def read_rgb_uint8(path: str | Path) -> np.ndarray:
    """Read a photo as (H, W, 3) uint8 RGB, exactly like :func:`triple_dots.images.read_image_uint8`
    (EXIF orientation applied, alpha dropped) but without the float round trip for 8-bit files."""
    img = _open(path)
    if img.mode in ("RGB", "L", "RGBA", "LA", "CMYK", "YCbCr", "1") or (
        img.mode == "P" and "transparency" not in img.info
    ):
        return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    return read_image_uint8(path)  # 16-bit, float, palette with transparency: the general path


def check_pair(pair: Pair, *, max_hole_ratio: float = MAX_HOLE_RATIO) -> PairFacts:
    """Read a pair once and check it; raises a :class:`TripleDotsError` naming the bad file.

    Checks: the photo decodes; the mask decodes, is single-channel (or gray), binary {0, 255}
    (JPEG masks are thresholded), has the photo's size, and its hole covers at most
    ``max_hole_ratio`` of the picture (more usually means black and white were swapped).
    """
    width, height = image_size(pair.image)
    if pair.mask is None:
        return PairFacts(width, height, None)
    mask = read_mask(pair.mask)
    mh, mw = mask.shape[-2:]
    if (mw, mh) != (width, height):
        raise SizeMismatchError(
            f"mask {where(pair.mask)} is {mw}x{mh} but its photo {where(pair.image)} is {width}x{height}; "
            "a mask must have exactly the size of its photo"
        )
    ratio = hole_ratio(mask)
    if ratio > max_hole_ratio:
        raise BadMaskError(
            f"mask {where(pair.mask)} looks inverted: its hole (255) covers {ratio:.0%} of the picture "
            f"(limit {max_hole_ratio:.0%}); masks use 255 = hole to regenerate, 0 = keep"
        )
    return PairFacts(width, height, ratio)


def _check_task(args: tuple[Pair, float]) -> PairFacts | Problem:
    pair, max_hole = args
    try:
        return check_pair(pair, max_hole_ratio=max_hole)
    except TripleDotsError as exc:
        bad = pair.mask if pair.mask is not None and str(pair.mask) in str(exc) else pair.image
        return Problem(bad, exc)


def validate_pairs(
    pairs: Sequence[Pair],
    *,
    workers: int | None = 1,
    max_hole_ratio: float = MAX_HOLE_RATIO,
    progress: bool = True,
) -> tuple[list[PairFacts | None], list[Problem]]:
    """Check every pair (see :func:`check_pair`); returns (facts per pair or None when bad, problems)."""
    from triple_dots.parallel import map_files

    results = map_files(
        _check_task, [(p, max_hole_ratio) for p in pairs], workers=workers, desc="checking", progress=progress
    )
    facts = [r if isinstance(r, PairFacts) else None for r in results]
    problems = [r for r in results if isinstance(r, Problem)]
    return facts, problems


def check_dataset(
    root_or_manifest: str | Path,
    *,
    split: str | None = None,
    require_masks: bool | None = True,
    workers: int | None = 1,
    max_hole_ratio: float = MAX_HOLE_RATIO,
    progress: bool = True,
) -> list[tuple[Pair, PairFacts]]:
    """Load and check a whole dataset before any work starts.

    Raises :class:`BadDatasetError` listing every bad file by name (unreadable photo, mask of
    another size, non-binary / colour / inverted-looking mask, duplicate stems, unmatched
    files), or :class:`BadInputError` for an empty folder. Returns (pair, facts) for each pair.
    """
    pairs = load_pairs(root_or_manifest, split=split, require_masks=require_masks)
    facts, problems = validate_pairs(pairs, workers=workers, max_hole_ratio=max_hole_ratio, progress=progress)
    if problems:
        raise BadDatasetError(problems, root_or_manifest)
    return [(p, f) for p, f in zip(pairs, facts, strict=True) if f is not None]


# --------------------------------------------------------------------------------------
# Torch dataset
# --------------------------------------------------------------------------------------
MaskFn = Callable[..., Any]
"""``mask_fn(image (3, H, W) float [0, 1], mask_type: str, *, seed: int) -> obj`` with
``obj.hole_mask`` (1, H, W) in {0, 1}; the default is :func:`triple_dots.masks.apply_mask`."""


def _default_mask_fn() -> MaskFn:
    try:
        from triple_dots.masks import apply_mask
    except ImportError as exc:
        raise BadInputError(
            f"synthetic_masks=True needs the mask-synthesis stage (triple_dots.masks), which failed to import: {exc}"
        ) from None
    return apply_mask


def _augment(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Light augmentation: the same small zoom/rotation/shift on photo and mask, mild colour on the photo.

    ``img`` (H, W, 3) float32 [0, 1]; ``mask`` (H, W) uint8 {0, 1}.
    """
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
        root_or_manifest: dataset ROOT (see module docstring) or a ``manifest.csv``.
        split: keep only pairs of this split (``"train"``, ``"val"``, ``"test"``) from the manifest.
        size: if given, every item is centre-cropped (``fit="crop"``) or padded (``"pad"``) to a
            square and resized to ``size`` x ``size`` (see :class:`~triple_dots.geometry.SquareFit`).
        flip: random horizontal flip (p = 0.5), the same for photo and mask.
        augment: light augmentation: the same small zoom (1-1.1x), rotation (+-5 deg) and shift
            (+-3 %) on photo and mask, and mild brightness/contrast/saturation (+-10 %) on the photo.
        synthetic_masks: draw a fresh synthetic mask per sample with ``mask_fn`` (type picked from
            ``mask_types``) instead of reading the stored mask; a photos-only folder is then enough.
        mask_types: mask types to draw from with ``synthetic_masks``.
        seed: base seed. Randomness of item ``i`` depends only on (seed, epoch, i), so results do
            not depend on ``num_workers`` or on which rank of a DistributedSampler reads it.
        mask_fn: mask synthesiser (see :data:`MaskFn`); default ``triple_dots.masks.apply_mask``,
            imported on first use.
        no_face: with ``synthetic_masks``, what to do when ``mask_fn`` finds no face: ``"raise"``
            (default) or ``"stored"`` (use the stored mask and warn with the file name).
        validate: check every pair before use (:func:`check_dataset`): bad files raise at once.
        workers: processes used by that check.
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
            self._mask_fn = _default_mask_fn()
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
