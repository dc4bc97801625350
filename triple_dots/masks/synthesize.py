"""Put masks on photos: ``apply_mask`` for one image, ``synthesize_folder`` for many.

A masked photo comes with a hole mask (1 = hole) built from the exact coverage the drawing
used: every pixel the drawing changed is in the hole, anti-aliased fringe included, and the
hole is then grown by ``margin`` pixels. Several faces get one mask each; the hole is the union.
"""

from __future__ import annotations

import sys
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from triple_dots.cpu_memory import keep_freed_memory
from triple_dots.dataset_folder import IMAGES_DIR, MASKS_DIR, META_DIR, Meta, write_meta
from triple_dots.errors import BadInputError, NoFaceError, OutputExistsError, UnreadableImageError, where
from triple_dots.files import atomic_write_bytes, output_lock
from triple_dots.images import as_rgb_uint8, from_uint8, grow_hole, list_images, read_image_uint8
from triple_dots.masks.detect import LARGE_FACE
from triple_dots.masks.landmarks import Face, HogInput, detect_faces, prepare_hog
from triple_dots.masks.outline import head_turn
from triple_dots.masks.render import draw_mask
from triple_dots.masks.shapes import MASK_TYPES, STYLES, TYPE_CHOICES, parse_hex

if TYPE_CHECKING:
    import torch

#: Photos smaller than this (shorter side, pixels) cannot hold a face dlib can find.
MIN_IMAGE_SIDE = 40


@dataclass
class MaskedFace:
    """A photo wearing synthetic masks and its hole mask.

    Attributes:
        image: (3, H, W) float32 RGB in [0, 1], the photo with the mask(s) drawn on.
        hole_mask: (1, H, W) float32 in {0, 1}, 1 = hole (covers every changed pixel + margin).
        faces: the faces that got a mask (boxes + (68, 2) landmarks), left to right.
        mask_type: the type drawn ("surgical", "n95", ...).
        color: the base colour used, '#rrggbb'.
        pattern: name of the texture image blended in, or None.
        seed: the seed, or None.
        margin: pixels the hole was grown by.
        turns: per face ``(yaw_deg, variant)``.
    """

    image: torch.Tensor
    hole_mask: torch.Tensor
    faces: list[Face]
    mask_type: str
    color: str
    pattern: str | None = None
    seed: int | None = None
    margin: int = 0
    turns: list[tuple[float, str]] = field(default_factory=list)

    @property
    def hole_ratio(self) -> float:
        """Fraction of the photo's pixels inside the hole."""
        return float(self.hole_mask.mean())

    def meta(self, source: str | Path | None = None) -> Meta:
        """The meta record (see contracts: source, mask_type, colour, faces, hole ratio...)."""
        h, w = self.image.shape[-2:]
        return build_meta(source=source, mask_type=self.mask_type, color=self.color, pattern=self.pattern,
                          seed=self.seed, margin=self.margin, hole_ratio=self.hole_ratio, image_size=(w, h),
                          faces=self.faces, turns=self.turns)


def build_meta(*, source: str | Path | None, mask_type: str, color: str, pattern: str | None, seed: int | None,
               margin: int, hole_ratio: float, image_size: tuple[int, int], faces: Sequence[Face],
               turns: Sequence[tuple[float, str]]) -> Meta:
    """The meta record written to ``meta/NAME.json``; ``image_size`` is (W, H) pixels."""
    return Meta(
        source=None if source is None else str(source), mask_type=mask_type, color=color, pattern=pattern, seed=seed,
        margin=margin, hole_ratio=hole_ratio, image_size=image_size,
        faces=[
            {
                "box": [int(v) for v in f.box],
                "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in f.landmarks],
                "yaw_deg": float(yaw),
                "variant": variant,
                "score": round(float(f.score), 4),
            }
            for f, (yaw, variant) in zip(faces, turns)
        ],
    )


@dataclass
class _Result:
    """The numpy form of a masked photo (what the folder runner writes)."""

    image: np.ndarray  # (H, W, 3) uint8
    hole: np.ndarray  # (H, W) bool
    faces: list[Face]
    mask_type: str
    color: str
    turns: list[tuple[float, str]]


#: Largest hole margin in pixels (a margin grows the hole by :func:`triple_dots.images.grow_hole`).
MAX_MARGIN = 1024
#: Largest seed (every random generator used accepts 0 .. 2**32 - 1).
MAX_SEED = 2**32 - 1


def _check_options(
    mask_type: str, color: str | None, pattern_weight: float, margin: int, seed: int | None = None
) -> None:
    if mask_type not in MASK_TYPES and mask_type != "random":
        raise BadInputError(f"unknown mask type {mask_type!r}; choose one of {', '.join(TYPE_CHOICES)}")
    if color is not None:
        try:
            parse_hex(color)
        except ValueError as exc:
            raise BadInputError(f"--color: {exc}") from None
    if not (isinstance(pattern_weight, (int, float)) and 0.0 <= pattern_weight <= 1.0):
        raise BadInputError(f"pattern weight must be in [0, 1], got {pattern_weight}")
    if not (isinstance(margin, (int, np.integer)) and 0 <= margin <= MAX_MARGIN):
        raise BadInputError(f"margin (--margin) must be a whole number of pixels in 0..{MAX_MARGIN}, got {margin!r}")
    if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed <= MAX_SEED):
        raise BadInputError(f"seed (--seed) must be None or a whole number in 0..{MAX_SEED}, got {seed!r}")


def encode_png(array: np.ndarray) -> bytes:
    """(H, W, 3) RGB or (H, W) gray uint8 -> PNG bytes.

    Lossless, tuned for speed: zlib level 1, the "up" filter and the run-length strategy.
    """
    arr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV >= 4.10: one fixed filter is ~2x faster than adaptive
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, buf = cv2.imencode(".png", arr, params)
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return buf.tobytes()


def load_pattern(path: str | Path) -> np.ndarray:
    """A texture image as (h, w, 3) float32 RGB in [0, 1] (raises UnreadableImageError naming it)."""
    return read_image_uint8(path).astype(np.float32) / 255.0


def resolve_type(mask_type: str, seed: int | None) -> str:
    """'random' -> one of :data:`MASK_TYPES` picked by ``seed`` (surgical when seed is None)."""
    if mask_type != "random":
        return mask_type
    if seed is None:
        return MASK_TYPES[0]
    return MASK_TYPES[int(np.random.default_rng([seed, 7]).integers(len(MASK_TYPES)))]


def _is_gray(rgb: np.ndarray) -> bool:
    """True when the three channels of an (H, W, 3) photo are equal (the middle row first: colour photos stop there)."""
    row = rgb[rgb.shape[0] // 2]
    if not (np.array_equal(row[:, 0], row[:, 1]) and np.array_equal(row[:, 1], row[:, 2])):
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _hole_ratio(hole: np.ndarray) -> float:
    """``float(hole.mean())`` of a bool hole (counted: the same number, without a float copy)."""
    return float(np.count_nonzero(hole) / hole.size) if hole.dtype == bool and hole.size else float(hole.mean())


def _mask_array(
    rgb: np.ndarray,
    mask_type: str,
    *,
    seed: int | None,
    margin: int,
    color: str | None,
    pattern: np.ndarray | None,
    pattern_weight: float,
    faces: Sequence[Face] | None,
    detect_kwargs: dict,
    source: str | Path | None,
) -> _Result:
    """Core of :func:`apply_mask` on a uint8 (H, W, 3) photo."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise NoFaceError(f"{where(source)} is only {w}x{h} pixels: too small to find a face "
                          f"(needs at least {MIN_IMAGE_SIDE} px on the shorter side)")
    if faces is None:
        faces = detect_faces(rgb, **detect_kwargs)
    if not faces:
        raise NoFaceError(f"{where(source)}: no face found (dlib finds frontal faces of about 40 px and up; "
                          "try a larger photo or a closer crop of the face)")
    mask_type = resolve_type(mask_type, seed)
    grayscale = _is_gray(rgb)
    type_index = MASK_TYPES.index(mask_type)
    rng = np.random.default_rng([seed, 1, type_index] if seed is not None else [0, 0, type_index])
    if color is None:
        style = STYLES[mask_type]
        color = style.palette[int(rng.integers(len(style.palette)))] if seed is not None else style.palette[0]
    photo = rgb.copy()
    hole = np.zeros((h, w), bool)
    turns = []
    rois = []
    for face in faces:
        drawn = draw_mask(photo, face.landmarks, mask_type, color=color, pattern=pattern,
                          pattern_weight=pattern_weight, rng=rng, jitter=seed is not None, grayscale=grayscale)
        x0, y0, x1, y1 = drawn.roi
        hole[y0:y1, x0:x1] |= drawn.alpha > 0
        rois.append(drawn.roi)
        t = head_turn(face.landmarks)
        turns.append((t.yaw_deg, t.variant))
    out = photo
    for x0, y0, x1, y1 in rois:  # belt and braces: a changed pixel is always a hole pixel
        diff = out[y0:y1, x0:x1] != rgb[y0:y1, x0:x1]
        hole[y0:y1, x0:x1] |= diff[..., 0] | diff[..., 1] | diff[..., 2]
    if margin > 0:
        hole = grow_hole(hole, margin)
    return _Result(image=out, hole=hole, faces=list(faces), mask_type=mask_type, color=color, turns=turns)


def apply_mask(
    image: torch.Tensor | np.ndarray,
    mask_type: str = "surgical",
    *,
    seed: int | None = None,
    margin: int = 0,
    color: str | None = None,
    pattern: str | Path | np.ndarray | None = None,
    pattern_weight: float = 0.5,
    faces: Sequence[Face] | None = None,
    predictor_path: str | Path | None = None,
    upsample: int | None = None,
    min_face: float | None = None,
    source: str | Path | None = None,
) -> MaskedFace:
    """Draw a synthetic mask on every face of ``image`` and return it with its hole mask.

    Args:
        image: (3, H, W) float tensor in [0, 1], or (H, W, 3) uint8 RGB array. Gray photos
            (equal channels) get gray masks. The photo is handled at 8 bits per channel (as
            stored in image files); pixels outside the hole keep their 8-bit values exactly.
        mask_type: one of ``surgical, n95, kn95, cloth, gas`` or ``random`` (picked by seed).
        seed: None draws the type's default look; an int varies colour, shape and fabric
            noise reproducibly.
        margin: grow the hole by this many pixels (:func:`triple_dots.images.grow_hole`).
        color: '#rrggbb' base colour (default: the type's, or a palette colour by seed).
        pattern: texture image (path or (h, w, 3) float array in [0, 1]) blended in with
            ``pattern_weight`` in [0, 1].
        faces: already detected faces (skips detection).
        predictor_path, upsample, min_face: passed to :func:`detect_faces`.
        source: file name used in error messages.

    Returns:
        :class:`MaskedFace`; ``.hole_mask`` covers every changed pixel plus ``margin``.

    Raises:
        NoFaceError: no plausible face (or an image under 40 px).
    """
    import torch

    _check_options(mask_type, color, pattern_weight, margin, seed)
    pattern_name = None
    if pattern is not None and not isinstance(pattern, np.ndarray):
        pattern_name = str(pattern)
        pattern = load_pattern(pattern)
    elif isinstance(pattern, np.ndarray):
        pattern_name = "<array>"
        pattern = np.asarray(pattern, np.float32)
        if pattern.ndim != 3 or pattern.shape[2] != 3:
            raise BadInputError(f"pattern must be an (h, w, 3) RGB array, got shape {pattern.shape}")
    rgb = as_rgb_uint8(image)
    res = _mask_array(rgb, mask_type, seed=seed, margin=margin, color=color, pattern=pattern,
                      pattern_weight=pattern_weight, faces=faces,
                      detect_kwargs={"predictor_path": predictor_path, "upsample": upsample, "min_face": min_face,
                                     "large_face": LARGE_FACE},
                      source=source)
    return MaskedFace(
        image=from_uint8(res.image),
        hole_mask=torch.from_numpy(res.hole.astype(np.float32))[None],
        faces=res.faces,
        mask_type=res.mask_type,
        color=res.color,
        pattern=pattern_name,
        seed=seed,
        margin=margin,
        turns=res.turns,
    )


# --------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------
@dataclass
class FolderReport:
    """What a folder run did. Names are output names (relative, without suffix)."""

    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)  # name -> error message for skipped photos

    @property
    def skipped_bad(self) -> list[str]:
        """Inputs that produced nothing because of a problem with the photo."""
        return self.no_face + self.unreadable

    def summary(self) -> str:
        """One line: counts, then the names of problem files."""
        parts = [f"wrote {len(self.written)}"]
        if self.existing:
            parts.append(f"skipped {len(self.existing)} existing (use --overwrite)")
        if self.no_face:
            parts.append(f"{len(self.no_face)} without a face: {', '.join(self.no_face)}")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable: {', '.join(self.unreadable)}")
        return "; ".join(parts)


def output_names(photos: Sequence[Path], root: Path) -> list[str]:
    """Output name per photo: its path relative to ``root`` without suffix, folders joined by ``__``.

    The dataset layout is flat (``images/NAME.png``), so ``sub/a.jpg`` becomes ``sub__a``.
    Names never collide, also ignoring case (a case-insensitive disk would merge them): photos
    whose plain name is unique keep it; photos that share one (``a.jpg`` and ``a.png``) keep their
    suffix (``a_jpg``, ``a_png``), and if that is still shared (``a.JPG`` and ``a.jpg``) or taken (by a
    photo named ``a_jpg.png``, say) the first free number is added (``a_jpg_1``, ``a_jpg_2``). The result depends only on the set of photo paths.
    """
    rel = [p.relative_to(root) if p != root else Path(p.name) for p in photos]
    stems = ["__".join(r.with_suffix("").parts) for r in rel]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s.casefold()] = counts.get(s.casefold(), 0) + 1
    names: list[str | None] = [s if counts[s.casefold()] == 1 else None for s in stems]
    used = {n.casefold() for n in names if n is not None}
    order = [i for i in sorted(range(len(rel)), key=lambda i: rel[i].as_posix()) if names[i] is None]
    base = {i: f"{stems[i]}_{rel[i].suffix.lower().lstrip('.')}" for i in order}
    shared: dict[str, int] = {}
    for i in order:
        shared[base[i].casefold()] = shared.get(base[i].casefold(), 0) + 1
    for i in order:
        name, k = base[i], 0
        if shared[name.casefold()] > 1 or name.casefold() in used:  # a.JPG and a.jpg: number them
            k = 1
            while f"{name}_{k}".casefold() in used:
                k += 1
            name = f"{name}_{k}"
        used.add(name.casefold())
        names[i] = name
    return [n for n in names if n is not None]


def photo_seed(seed: int | None, name: str) -> int | None:
    """A per-photo seed that depends only on ``seed`` and the photo's name (not on worker order)."""
    if seed is None:
        return None
    return int(zlib.crc32(f"{seed}:{name}".encode()) ^ (seed & 0xFFFFFFFF)) & 0x7FFFFFFF


def _outputs(out: Path, name: str) -> tuple[Path, Path, Path]:
    return out / IMAGES_DIR / f"{name}.png", out / MASKS_DIR / f"{name}.png", out / META_DIR / f"{name}.json"


@dataclass(frozen=True)
class _Job:
    path: str
    names: tuple[tuple[str, str], ...]  # (output name, mask type) pairs for this photo
    out: str
    seed: int | None
    margin: int
    color: str | None
    pattern: str | None
    pattern_weight: float
    overwrite: bool


def _todo(job: _Job) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]], set[str]]:
    """What is left of a photo: (results for names already done, (name, type) pairs to do, names to redo)."""
    out = Path(job.out)
    done, todo, redo = [], [], set()
    for name, mtype in job.names:
        present = [p.exists() for p in _outputs(out, name)]
        if not job.overwrite and all(present):
            done.append((name, "existing", ""))
        else:
            if any(present):  # an earlier run stopped half-way through this photo: redo it whole
                redo.add(name)
            todo.append((name, mtype))
    return done, todo, redo


def _read(job: _Job) -> np.ndarray | UnreadableImageError:
    """The photo, or the error that says why it cannot be read (raised later, in :func:`_compute`)."""
    try:
        return read_image_uint8(job.path)
    except UnreadableImageError as exc:
        return exc


def _read_prepared(job: _Job) -> tuple[np.ndarray | UnreadableImageError, HogInput | None]:
    """:func:`_read`, and the photo's HOG input (:func:`prepare_hog`: YuNet's look and dlib's pyramid), so that the
    thread that reads also does that part of the detection (None when it cannot be prepared: detection redoes it)."""
    rgb = _read(job)
    prepared = None
    if not isinstance(rgb, UnreadableImageError) and min(rgb.shape[:2]) >= MIN_IMAGE_SIDE:
        try:
            prepared = prepare_hog(rgb)
        except Exception:  # noqa: BLE001 - detect_faces prepares it again and raises the error where it belongs
            prepared = None
    return rgb, prepared


@dataclass
class _Output:
    """One masked photo ready to be written."""

    name: str
    image: np.ndarray
    hole: np.ndarray
    meta: Meta
    again: bool  # replace existing files


def _compute(job: _Job, todo: list[tuple[str, str]], redo: set[str], rgb: np.ndarray | UnreadableImageError,
             prepared: HogInput | None = None) -> tuple[list[tuple[str, str, str]], list[_Output]]:
    """Mask one photo for every (name, type) of ``todo``: (results of names that failed, outputs to write).
    ``prepared``: the photo's :func:`prepare_hog`, made while reading it."""
    outputs: list[_Output] = []
    try:
        if isinstance(rgb, UnreadableImageError):
            raise rgb
        pattern = load_pattern(job.pattern) if job.pattern else None
        faces = None
        h, w = rgb.shape[:2]
        detect_kwargs = {"large_face": LARGE_FACE, "prepared": prepared}
        for name, mtype in todo:
            seed = photo_seed(job.seed, name)
            res = _mask_array(rgb, mtype, seed=seed, margin=job.margin, color=job.color, pattern=pattern,
                              pattern_weight=job.pattern_weight, faces=faces, detect_kwargs=detect_kwargs,
                              source=job.path)
            faces = res.faces  # detect once per photo, even for several mask types
            meta = build_meta(source=job.path, mask_type=res.mask_type, color=res.color, pattern=job.pattern,
                              seed=seed, margin=job.margin, hole_ratio=_hole_ratio(res.hole), image_size=(w, h),
                              faces=res.faces, turns=res.turns)
            outputs.append(_Output(name, res.image, res.hole, meta, job.overwrite or name in redo))
    except (NoFaceError, UnreadableImageError) as exc:
        status = "no_face" if isinstance(exc, NoFaceError) else "unreadable"
        return [(name, status, str(exc)) for name, _ in todo], []
    return [], outputs


def _write(out: str, outputs: list[_Output]) -> list[tuple[str, str, str]]:
    """Write each output's image, hole mask and meta (atomically, meta last: it marks the photo done)."""
    results = []
    for o in outputs:
        img_p, mask_p, meta_p = _outputs(Path(out), o.name)
        try:
            atomic_write_bytes(img_p, encode_png(o.image), overwrite=o.again)
            atomic_write_bytes(mask_p, encode_png(o.hole.astype(np.uint8) * 255), overwrite=o.again)
            write_meta(meta_p, o.meta, overwrite=o.again)
            results.append((o.name, "written", ""))
        except OutputExistsError:  # another run wrote it meanwhile: never clobber
            results.append((o.name, "existing", ""))
    return results


#: Photos :func:`_run_serial` reads (and prepares) ahead of the one it masks.
READ_AHEAD = 3
#: Threads that encode and write the masked photos' files, and photos whose files may still be being written
#: while the next ones are masked: writing waits mostly on ``fsync`` (milliseconds per file, no CPU), so
#: several photos' files are written at once.
WRITERS = 3
WRITE_BEHIND = 4


def _run_serial(jobs: list[_Job]) -> Iterator[list[tuple[str, str, str]]]:
    """Mask each job's photo in this process, in order: per job its (name, status, detail) results, status
    written/existing/no_face/unreadable. The file work runs on helper threads.

    While a photo is masked, the next ones are read and prepared for detection (YuNet's look and dlib's
    pyramid, :func:`prepare_hog`) on one thread, and the last ones' files are encoded and written on others
    (decoding, YuNet, PNG encoding and ``fsync`` release the GIL); the HOG detector and the predictor are only
    used on this thread. Up to :data:`READ_AHEAD` photos are read ahead and
    :data:`WRITE_BEHIND` written behind, by :data:`WRITERS` threads.
    """
    with ThreadPoolExecutor(1) as io, ThreadPoolExecutor(WRITERS) as writers:
        def start(job: _Job):
            done, todo, redo = _todo(job)
            return job, done, todo, redo, io.submit(_read_prepared, job) if todo else None

        pending: deque[tuple[list[tuple[str, str, str]], Future | None]] = deque()
        ahead = deque(start(job) for job in jobs[:READ_AHEAD])
        for i in range(len(jobs)):
            job, done, todo, redo, reading = ahead.popleft()
            if i + READ_AHEAD < len(jobs):
                ahead.append(start(jobs[i + READ_AHEAD]))
            if reading is None:
                pending.append((done, None))
            else:
                failed, outputs = _compute(job, todo, redo, *reading.result())
                pending.append((done + failed, writers.submit(_write, job.out, outputs)))
            while len(pending) > (WRITE_BEHIND if i + 1 < len(jobs) else 0) or (pending and pending[0][1] is None):
                results, writing = pending.popleft()
                yield results + (writing.result() if writing is not None else [])


def _run_jobs(jobs: list[_Job]) -> list[list[tuple[str, str, str]]]:
    """:func:`_run_serial` as a list: what a worker process runs on its share of the jobs."""
    return list(_run_serial(jobs))


#: Mask runs keep freed memory below this size (bytes) for reuse: a photo makes dozens of arrays over 128 KB,
#: each otherwise a fresh ``mmap`` whose pages fault in one by one (about two thirds less system time).
MASK_RUN_MMAP_ABOVE = 32 << 20


def _init_worker() -> None:
    """Load the dlib models once per worker process."""
    from triple_dots.masks.landmarks import load_detector, load_predictor

    keep_freed_memory(MASK_RUN_MMAP_ABOVE)
    cv2.setNumThreads(1)
    if "torch" in sys.modules:  # the mask path itself never imports torch
        sys.modules["torch"].set_num_threads(1)
    load_predictor()
    load_detector()


def check_output_location(input_path: Path, out: Path) -> None:
    """Refuse an output folder inside (or equal to) the input folder, or an output that is a file."""
    src, dst = input_path.resolve(), out.resolve()
    if dst.exists() and not dst.is_dir():
        raise BadInputError(f"output {where(out)} exists and is not a folder")
    if src.is_dir() and (dst == src or src in dst.parents):
        raise BadInputError(
            f"output folder {where(out)} is inside the input folder {where(input_path)}: the outputs would be "
            "read as inputs next time; choose a folder outside it"
        )


def synthesize_folder(
    input_path: str | Path,
    out: str | Path,
    *,
    mask_type: str = "surgical",
    seed: int | None = None,
    margin: int = 0,
    color: str | None = None,
    pattern: str | Path | None = None,
    pattern_weight: float = 0.5,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> FolderReport:
    """Mask every photo of ``input_path`` (a photo or a folder, searched recursively).

    Writes ``out/images/NAME.png``, ``out/masks/NAME.png`` (255 = hole) and
    ``out/meta/NAME.json`` (flat: ``sub/a.jpg`` -> ``sub__a``, see :func:`output_names`); with
    ``mask_type="all"`` one set per type named ``NAME_<type>``.
    A photo whose three outputs all exist is skipped unless ``overwrite``; one with only some of
    them (a run killed half-way) is redone and its partial outputs replaced. The output folder is
    locked while the run writes (a second run into it is refused). In a folder, photos without a face and
    unreadable files are skipped and listed in the report; a single photo raises
    ``NoFaceError`` / ``UnreadableImageError`` instead. Results do not depend on ``workers``.
    """
    input_path, out = Path(input_path), Path(out)
    if not input_path.exists():
        raise BadInputError(f"input {where(input_path)} does not exist")
    _check_options("surgical" if mask_type == "all" else mask_type, color, pattern_weight, margin, seed)
    if workers < 1:
        raise BadInputError(f"workers must be >= 1, got {workers}")
    check_output_location(input_path, out)
    with output_lock(out, command="mask"):
        return _synthesize_folder(input_path, out, mask_type=mask_type, seed=seed, margin=margin, color=color,
                                  pattern=pattern, pattern_weight=pattern_weight, workers=workers,
                                  overwrite=overwrite, progress=progress)


def _synthesize_folder(input_path: Path, out: Path, *, mask_type: str, seed: int | None, margin: int,
                       color: str | None, pattern: str | Path | None, pattern_weight: float, workers: int,
                       overwrite: bool, progress: bool) -> FolderReport:
    if pattern is not None:
        load_pattern(pattern)  # fail early, naming the file
    photos = list_images(input_path)
    if not photos:
        raise BadInputError(f"no photos (.jpg .jpeg .png .webp ...) found in {where(input_path)}")
    root = input_path if input_path.is_dir() else input_path.parent
    names = output_names(photos, root)
    types = list(MASK_TYPES) if mask_type == "all" else [mask_type]
    jobs = [
        _Job(path=str(p), names=tuple((f"{n}_{t}" if mask_type == "all" else n, t) for t in types), out=str(out),
             seed=seed, margin=margin, color=color, pattern=str(pattern) if pattern else None,
             pattern_weight=pattern_weight, overwrite=overwrite)
        for p, n in zip(photos, names)
    ]
    if "IPython" in sys.modules:  # maybe a notebook: tqdm.auto picks its widget
        from tqdm.auto import tqdm
    else:  # what tqdm.auto gives outside notebooks, without importing asyncio (~20 ms)
        from tqdm.std import tqdm

    report = FolderReport()
    bar = tqdm(total=len(jobs), desc="masking", unit="photo", disable=not progress)
    if workers == 1 or len(jobs) == 1:
        _init_worker_light()
        results = _run_serial(jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn"),
                                   initializer=_init_worker)
        size = max(1, min(8, len(jobs) // (4 * workers)))
        parts = pool.map(_run_jobs, [jobs[i:i + size] for i in range(0, len(jobs), size)])
        results = (r for part in parts for r in part)
    try:
        for res in results:
            for name, status, detail in res:
                getattr(report, status).append(name)
                if detail:
                    report.details[name] = detail
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        else:
            results.close()  # waits for the helper thread's writes
    if input_path.is_file() and report.skipped_bad:
        name = report.skipped_bad[0]
        error = NoFaceError if report.no_face else UnreadableImageError
        raise error(report.details.get(name, f"{where(input_path)}: no output"))
    return report


def _init_worker_light() -> None:
    from triple_dots.masks.landmarks import load_predictor

    load_predictor()


