"""The dataset-folder layout every stage reads and writes, with pairing by stem, manifest, meta and checks::

    ROOT/images/NAME.<ext>     photos (.jpg, .png, ...)
    ROOT/masks/NAME.png        hole masks: single-channel PNG, 255 = hole (regenerate), 0 = keep
    ROOT/meta/NAME.json        optional: how the mask was made (mask type, seed, face boxes, landmarks)
    ROOT/manifest.csv          optional: one row per pair (size, hole ratio, split, source, group, ...)

A photo and its mask are paired by file name without extension (the *stem*). A plain folder
of photos (no ``images/`` sub-folder) is read as a dataset without masks. Every check reports
*all* bad files by name before anything is processed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from triple_dots.errors import BadInputError, BadMaskError, SizeMismatchError, TripleDotsError, where
from triple_dots.files import atomic_write_text
from triple_dots.images import IMAGE_SUFFIXES, hole_ratio, image_size, list_images, read_mask

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


@dataclass
class Pair:
    """One photo with its hole mask (None without masks); ``fields``: its other manifest columns, as strings."""

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


@dataclass
class Meta:
    """How a pair's mask was made (``meta/NAME.json``).

    ``image_size`` is (W, H) pixels; each face is a dict with ``box`` (x0, y0, x1, y1) and ``landmarks``
    (68 (x, y) points) and more; ``extra`` holds every other key (e.g. ``history``), written last.
    """

    source: str | None = None
    mask_type: str | None = None
    color: str | None = None
    pattern: str | None = None
    seed: int | None = None
    margin: int = 0
    hole_ratio: float | None = None
    image_size: tuple[int, int] | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to disk (``hole_ratio`` rounded to 6 digits)."""
        return {
            **{k: getattr(self, k) for k in _META_FIELDS},
            "source": None if self.source is None else str(self.source),
            "margin": int(self.margin),
            "hole_ratio": None if self.hole_ratio is None else round(float(self.hole_ratio), 6),
            "image_size": None if self.image_size is None else [int(v) for v in self.image_size],
            **self.extra,
        }


_META_FIELDS = tuple(f.name for f in fields(Meta) if f.name != "extra")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(v: Any, n: int) -> bool:
    """True for a list of ``n`` finite numbers."""
    return isinstance(v, list) and len(v) == n and all(_is_number(x) for x in v)


def _check_meta_shape(path: str | Path, known: dict[str, Any]) -> None:
    """Raise :class:`BadInputError` naming the file when a known meta field has the wrong shape."""

    def bad(what: str) -> BadInputError:
        return BadInputError(f"meta file {where(path)}: {what}")

    size = known.get("image_size")
    if size is not None and not _numbers(size, 2):
        raise bad(f"'image_size' must be [width, height], got {size!r}")
    for key in ("margin", "seed", "hole_ratio"):
        if key in known and not _is_number(known[key]):
            raise bad(f"{key!r} must be a number, got {known[key]!r}")
    faces = known.get("faces", [])
    if not isinstance(faces, list) or not all(isinstance(f, dict) for f in faces):
        raise bad("'faces' must be a list of objects (each with 'box' and 'landmarks')")
    for i, face in enumerate(faces):
        box = face.get("box")
        if box is not None and not _numbers(box, 4):
            raise bad(f"faces[{i}].box must be [x0, y0, x1, y1], got {box!r}")
        marks = face.get("landmarks")
        if marks is not None and not (isinstance(marks, list) and all(_numbers(m, 2) for m in marks)):
            raise bad(f"faces[{i}].landmarks must be a list of [x, y] points")


def read_meta(path: str | Path) -> Meta:
    """Load a ``meta/NAME.json`` file, or raise :class:`BadInputError` naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"meta file {where(path)} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInputError(f"meta file {where(path)} must hold a JSON object, got {type(data).__name__}")
    known = {k: data[k] for k in _META_FIELDS if data.get(k) is not None}
    _check_meta_shape(path, known)
    return Meta(**known, extra={k: v for k, v in data.items() if k not in _META_FIELDS})


def write_meta(path: str | Path, meta: Meta, step: dict[str, Any] | None = None, *, overwrite: bool = False) -> Path:
    """Write ``meta`` atomically as JSON, one top-level key per line; ``step`` (what a command did) is
    appended to its ``history``."""
    data = meta.to_json()
    if step is not None:
        data["history"] = [*data.get("history", []), step]
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
    return atomic_write_text(path, "{\n" + body + "\n}\n", overwrite=overwrite)


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


def _sub_folder(given: str | Path | None, found: Path | None, what: str) -> Path | None:
    """``given`` (which must be a folder), else ``found`` when it is a folder, else None."""
    if given is None:
        return found if found is not None and found.is_dir() else None
    if not Path(given).is_dir():
        raise BadInputError(f"{what} folder {where(given)} does not exist or is not a folder")
    return Path(given)


def by_stem(files: Sequence[Path], what: str) -> tuple[dict[str, Path], list[Problem]]:
    """Index ``files`` by stem (file name without extension): (stem -> file, a problem per duplicated stem)."""
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(f.stem, []).append(f)
    unique = {stem: fs[0] for stem, fs in groups.items() if len(fs) == 1}
    problems = [
        Problem(
            fs[0],
            BadInputError(
                f"duplicate {what} stem: files with the same name {stem!r} without extension: "
                f"{' and '.join(repr(str(f)) for f in fs)}; photos and masks are paired by that name, so keep only one"
            ),
        )
        for stem, fs in sorted(groups.items())
        if len(fs) > 1
    ]
    return unique, problems


def scan_folder(
    root: str | Path, *, mask_dir: str | Path | None = None, meta_dir: str | Path | None = None
) -> FolderScan:
    """Match the photos of ``root`` with their masks by stem; ``mask_dir`` and ``meta_dir`` override those folders.

    Duplicate stems (``a.jpg`` and ``a.png``) are reported in ``problems`` and left unpaired.
    """
    root = Path(root)
    if not root.exists():
        raise BadInputError(f"{where(root)} does not exist")
    if not root.is_dir():
        raise BadInputError(f"{where(root)} is not a folder")
    layout = (root / IMAGES_DIR).is_dir()  # else a plain folder of photos without masks
    image_dir = root / IMAGES_DIR if layout else root
    mdir = _sub_folder(mask_dir, root / MASKS_DIR if layout else None, "mask")
    meta_dir = _sub_folder(meta_dir, root / META_DIR if layout else None, "meta")
    images, problems = by_stem(list_images(image_dir, recursive=False), "photo")
    masks: dict[str, Path] = {}
    if mdir is not None:
        masks, mask_problems = by_stem(list_images(mdir, recursive=False), "mask")  # matched by stem, no sub-folders
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


def check_name(name: str, *, source: str | Path | None = None, line: int | None = None) -> str:
    """Return ``name`` if it is a plain file name (it becomes ``OUT/images/NAME.png``), else raise
    :class:`BadInputError`: not empty, not ``.`` or ``..``, no ``/`` or ``\\``, no control character, not
    starting with ``.``, at most 200 bytes."""
    bad = (
        not name
        or name in (".", "..")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or name.startswith(".")
        or len(name.encode("utf-8", "surrogateescape")) > 200
    )
    if bad:
        at = f"manifest {where(source)} line {line}: " if source is not None else ""
        raise BadInputError(
            f"{at}pair name {name!r} is not a plain file name (it must not be empty, contain '/', '\\' or "
            "control characters, start with '.', or exceed 200 bytes); names become output file names"
        )
    return name


def read_manifest(path: str | Path) -> list[Pair]:
    """Read a ``manifest.csv`` (columns ``name``, ``image``, optional ``mask``, ``meta``, others kept in
    :attr:`Pair.fields`): one :class:`Pair` per row; paths are relative to the manifest's folder."""
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
        name, image, mask, meta = ((row.get(k) or "").strip() for k in ("name", "image", "mask", "meta"))
        if not name or not image:
            raise BadInputError(f"manifest {where(path)} line {line}: empty 'name' or 'image'")
        check_name(name, source=path, line=line)
        if name in seen:
            raise BadInputError(f"manifest {where(path)} line {line}: name {name!r} appears twice")
        seen.add(name)
        fields = {k: (v or "") for k, v in row.items() if k not in _FACT_COLUMNS and k is not None}
        pairs.append(Pair(name, *(path.parent / v if v else None for v in (image, mask, meta)), fields))
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


def _no_photos(folder: Path) -> BadInputError:
    return BadInputError(f"{where(folder)} holds no photos (looked for {', '.join(IMAGE_SUFFIXES)} files)")


def load_pairs(
    root_or_manifest: str | Path,
    *,
    split: str | None = None,
    require_masks: bool | None = True,
    mask_dir: str | Path | None = None,
    problems_out: list[Problem] | None = None,
) -> list[Pair]:
    """The pairs of a dataset folder or ``manifest.csv``, sorted by name (files are not read yet).

    Duplicate stems, masks without a photo and (with ``require_masks``; None: when the dataset has
    masks) photos without a mask raise :class:`BadDatasetError` naming every such file, or are
    appended to ``problems_out`` and skipped. A folder's ``manifest.csv`` adds its columns to the
    pairs; ``split`` keeps one split. An empty dataset raises :class:`BadInputError`.
    """
    src = Path(root_or_manifest)
    from_manifest = src.is_file() and src.suffix.lower() == ".csv"
    hint = ""
    if from_manifest:
        pairs = read_manifest(src)
        if require_masks is None:
            require_masks = any(p.mask is not None for p in pairs)
        problems = [Problem(p.image, BadInputError(f"{where(p.image)} has no mask in manifest {where(src)}"))
                    for p in pairs if require_masks and p.mask is None]  # fmt: skip
        pairs = [p for p in pairs if p.mask is not None or not require_masks]
    else:
        scan = scan_folder(src, mask_dir=mask_dir)
        if not (scan.pairs or scan.images_only or scan.problems):
            raise _no_photos(scan.image_dir)
        if require_masks is None:
            require_masks = scan.mask_dir is not None
        if require_masks and scan.mask_dir is None:
            raise BadInputError(
                f"{where(src)} has no masks: expected hole masks in {where(src / MASKS_DIR)} "
                f"(photos in {where(src / IMAGES_DIR)}, masks as NAME.png with 255 = hole)"
            )
        unmatched = [(m, f"mask {where(m)} has no photo with the same stem in {where(scan.image_dir)}")
                     for m in scan.masks_only]
        if require_masks:
            unmatched += [(i, f"photo {where(i)} has no mask with the same stem in {where(scan.mask_dir)}")
                          for i in scan.images_only]
        problems = scan.problems + [Problem(f, BadInputError(message)) for f, message in unmatched]
        if unmatched:
            hint = "Run `triple-dots preprocess pair` to keep only matched pairs (it never deletes files)."
        pairs = sorted(scan.pairs + ([Pair(i.stem, i) for i in scan.images_only] if not require_masks else []),
                       key=lambda p: p.name)
    if problems and problems_out is None:
        raise BadDatasetError(problems, src, hint=hint)
    if problems:
        problems_out += problems
    if not from_manifest and (src / MANIFEST_NAME).is_file():
        extra = {p.name: p.fields for p in read_manifest(src / MANIFEST_NAME)}
        for p in pairs:
            p.fields = dict(extra.get(p.name, {}))
    if not pairs:
        raise _no_photos(src)
    if split is not None:
        chosen = [p for p in pairs if p.split == split]
        if not chosen:
            present = sorted({p.split or "<none>" for p in pairs})
            raise BadInputError(f"{where(src)} has no pairs in split {split!r}; splits present: {present}")
        pairs = chosen
    return pairs


def check_pair(pair: Pair, *, max_hole_ratio: float = MAX_HOLE_RATIO) -> PairFacts:
    """Read a pair once and check it (see :func:`read_mask`; same size; hole at most ``max_hole_ratio``
    of the picture); raises a :class:`TripleDotsError` naming the bad file."""
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
    """Load and check a whole dataset before any work starts: (pair, facts) for each pair, or
    :class:`BadDatasetError` listing every bad file by name (see :func:`load_pairs`, :func:`check_pair`)."""
    pairs = load_pairs(root_or_manifest, split=split, require_masks=require_masks)
    facts, problems = validate_pairs(pairs, workers=workers, max_hole_ratio=max_hole_ratio, progress=progress)
    if problems:
        raise BadDatasetError(problems, root_or_manifest)
    return [(p, f) for p, f in zip(pairs, facts, strict=True) if f is not None]
