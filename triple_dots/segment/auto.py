"""Automatic SAM prompts from face keypoints: a folder of masked photos segmented with no clicks.

Per face, positive points go between the nose bridge and the chin, negative points on both eyes and the forehead; SAM
segments each face and the holes are united. Photos without a face, or whose hole does not look like a worn mask, are
reported instead of written (the click UI is the fallback). Output: ``OUT/images/NAME.ext`` (a byte copy),
``OUT/masks/NAME.png`` (single channel, 255 = hole) and ``OUT/meta/NAME.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from triple_dots.dataset_folder import IMAGES_DIR, MASKS_DIR, META_DIR, Meta, by_stem, write_meta
from triple_dots.errors import (
    BadInputError,
    BadWeightsError,
    MissingWeightsError,
    NoFaceError,
    OutputExistsError,
    TripleDotsError,
    where,
)
from triple_dots.files import check_apart, copy_file
from triple_dots.images import as_rgb_uint8, grow_hole, hole_ratio, list_images, read_image, write_mask
from triple_dots.masks.detect import Keypoints
from triple_dots.masks.landmarks import BROWS, CHIN, LEFT_EYE, LOWER_LIP_BOTTOM, MOUTH, NOSE_TIP, RIGHT_EYE
from triple_dots.segment.clicks import ClickSegmenter

_FALLBACK = "click the mask instead (notebook 06, or triple-dots segment --point X,Y ...)"


def _prompts(pos, neg, size: tuple[int, int] | None) -> list[tuple[float, float, int]]:
    """[(x, y, 1) for ``pos``] + [(x, y, 0) for ``neg``], without the points outside ``size`` = (H, W)."""
    points = [(float(x), float(y), 1) for x, y in pos] + [(float(x), float(y), 0) for x, y in neg]
    if size is not None:
        points = [p for p in points if 0 <= p[0] < size[1] and 0 <= p[1] < size[0]]
    return points


def auto_points(landmarks: np.ndarray, size: tuple[int, int] | None = None) -> list[tuple[float, float, int]]:
    """Prompt points [(x, y, label), ...] for one face from its (68, 2) dlib landmarks in (x, y) pixels.

    Label 1: nose tip, mouth centre, halfway from the lower lip to the chin. Label 0: both eye centres, and the forehead
    0.3 x the brow-to-chin distance above the brows. Points outside ``size`` = (H, W) are dropped.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise BadInputError(f"expected (68, 2) dlib landmarks, got shape {lm.shape}")
    brow = lm[list(BROWS)].mean(axis=0)
    chin = lm[CHIN]
    pos = [lm[NOSE_TIP], lm[list(MOUTH)].mean(axis=0), (lm[LOWER_LIP_BOTTOM] + chin) / 2]
    neg = [lm[list(LEFT_EYE)].mean(axis=0), lm[list(RIGHT_EYE)].mean(axis=0), brow + 0.3 * (brow - chin)]
    return _prompts(pos, neg, size)


#: Positive prompts: fractions of the way from the nose bridge to the chin (nose, mouth, above the chin).
POSITIVE_FRACTIONS = (0.35, 0.6, 0.85)
#: Forehead prompt: this many eye distances above the eye line.
FOREHEAD_UP = 0.8


class ImplausibleHoleError(TripleDotsError):
    """SAM's hole for a found face does not look like a worn mask."""


def keypoint_points(keypoints: Keypoints, size: tuple[int, int] | None = None) -> list[tuple[float, float, int]]:
    """Prompt points [(x, y, label), ...] for one face from its :class:`Keypoints` (pixels).

    Label 1: :data:`POSITIVE_FRACTIONS` of the way from the nose bridge to the chin. Label 0: both eye centres, and the
    forehead :data:`FOREHEAD_UP` eye distances above the eye line. Points outside ``size`` = (H, W) are dropped.
    """
    bridge, chin = keypoints["nose_bridge"], keypoints["chin"]
    eye_l, eye_r = keypoints["eye_image_left"], keypoints["eye_image_right"]
    pos = [bridge + f * (chin - bridge) for f in POSITIVE_FRACTIONS]
    forehead = (eye_l + eye_r) / 2 - FOREHEAD_UP * keypoints.eye_distance * keypoints.down
    return _prompts(pos, (eye_l, eye_r, forehead), size)


def lower_face(keypoints: Keypoints, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: where a worn mask may lie (a little above the nose bridge to below the chin, jaw-wide + margin)."""
    ed, down = keypoints.eye_distance, keypoints.down
    side = np.array([-down[1], down[0]])
    top = keypoints["nose_bridge"] - 0.25 * ed * down
    bottom = keypoints["chin"] + 0.6 * ed * down
    half = 1.6 * ed
    quad = np.array([top - half * side, top + half * side, bottom + half * side, bottom - half * side])
    m = np.zeros(size, np.uint8)
    cv2.fillPoly(m, [np.round(quad).astype(np.int32)], 1)
    return m > 0


def hole_problems(hole: np.ndarray, keypoints: Keypoints) -> list[str]:
    """Why ``hole`` ((H, W) bool, True = hole, one face's SAM result) is not this face's mask (empty = plausible).

    The hole must be non-empty, miss both eye centres and the forehead point, cover the middle positive point, and lie
    at least 60 % inside :func:`lower_face`.
    """
    h, w = hole.shape
    problems = []

    def at(p) -> bool:
        x, y = int(round(float(p[0]))), int(round(float(p[1])))
        return 0 <= x < w and 0 <= y < h and bool(hole[y, x])

    area = int(hole.sum())
    if area == 0:
        return ["the hole is empty"]
    if at(keypoints["eye_image_left"]) or at(keypoints["eye_image_right"]):
        problems.append("the hole covers an eye")
    pts = keypoint_points(keypoints)  # positive points, then the eyes and the forehead (label 0)
    if at(pts[-1]):
        problems.append("the hole covers the forehead (the whole face or more)")
    if not at(pts[1]):
        problems.append("the hole misses the middle of the mask area")
    inside = float((hole & lower_face(keypoints, hole.shape)).sum()) / area
    if inside < 0.6:
        problems.append(f"only {100 * inside:.0f} % of the hole lies on the lower face")
    return problems


@dataclass
class AutoSegmentation:
    """Result of :func:`segment_photo`: ``hole_mask`` (1, H, W) in {0, 1}, 1 = hole; per face its points and score."""

    hole_mask: torch.Tensor
    faces: list = field(default_factory=list)
    points: list[list[tuple[float, float, int]]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


def segment_photo(segmenter: ClickSegmenter, image: torch.Tensor | np.ndarray, *, margin: int | None = None,
                  faces: Sequence | None = None, source: str | Path | None = None,
                  predictor_path: str | Path | None = None, upsample: int | None = None,
                  check: bool = True) -> AutoSegmentation:
    """Segment the worn mask(s) of ``image`` ((3, H, W) [0, 1] or (H, W, 3) uint8) with keypoint prompts.

    ``faces`` (from :func:`triple_dots.masks.landmarks.detect_faces`) are detected when not given; a face without
    keypoints is prompted from its 68 landmarks. Raises :class:`NoFaceError` naming ``source`` when there is no usable
    face, and with ``check`` :class:`ImplausibleHoleError` when a face's hole fails :func:`hole_problems`.
    """
    arr = as_rgb_uint8(image)
    if faces is None:
        from triple_dots.masks.landmarks import detect_faces

        faces = detect_faces(arr, predictor_path=predictor_path, upsample=upsample)
    if not faces:
        raise NoFaceError(f"no face found in {where(source)} (masked faces are missed in about 1 photo in 7); "
                          f"{_FALLBACK}")
    segmenter.set_image(arr)
    union = np.zeros(arr.shape[:2], dtype=bool)
    result = AutoSegmentation(hole_mask=torch.zeros(0))
    for face in faces:
        kp = getattr(face, "keypoints", None)
        pts = keypoint_points(kp, arr.shape[:2]) if kp is not None else auto_points(face.landmarks, arr.shape[:2])
        if not any(p[2] == 1 for p in pts):
            continue
        segmenter.segment(pts)
        raw = segmenter.raw_mask()
        if check:
            problems = hole_problems(raw, kp if kp is not None else Keypoints.from_landmarks(face.landmarks))
            if problems:
                raise ImplausibleHoleError(
                    f"the hole SAM found for the face at {tuple(int(v) for v in face.box)} in {where(source)} does not "
                    f"look like a worn mask ({'; '.join(problems)}); {_FALLBACK}"
                )
        union |= raw
        result.faces.append(face)
        result.points.append(pts)
        result.scores.append(float(segmenter.score))
    if not result.faces:
        raise NoFaceError(f"the faces found in {where(source)} have their mouth and nose outside the photo; "
                          f"{_FALLBACK}")
    m = grow_hole(union, segmenter.margin if margin is None else int(margin))
    result.hole_mask = torch.from_numpy(m.astype(np.float32))[None]
    return result


@dataclass
class AutoSegmentReport:
    """What :func:`segment_folder` did: written names and failures ``(path, reason)``."""

    written: list[str] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _plan(images: str | Path | Sequence[str | Path], out: Path, overwrite: bool) -> list[Path]:
    """List the inputs and check names and outputs before any work starts."""
    one_root = isinstance(images, (str, Path))
    paths = list_images(images) if one_root else [Path(p) for p in images]
    if not paths:
        raise BadInputError(f"no photos found in {where(images if one_root else None)}")
    check_apart(out, [images] if one_root else paths)
    _, duplicates = by_stem(paths, "photo")
    if duplicates:
        raise duplicates[0].error
    if not overwrite:
        clash = [q for p in paths for q in (out / IMAGES_DIR / p.name, out / MASKS_DIR / f"{p.stem}.png") if q.exists()]
        if clash:
            raise OutputExistsError(
                f"{len(clash)} output files already exist (e.g. {where(clash[0])}); pass overwrite=True / --overwrite"
            )
    return paths


def write_sample(out: str | Path, source: str | Path, hole_mask: torch.Tensor, meta: Meta, *,
                 overwrite: bool = False) -> None:
    """Write one photo (byte copy), its hole mask and meta JSON into the dataset layout under ``out``."""
    out, source = Path(out), Path(source)
    write_mask(out / MASKS_DIR / f"{source.stem}.png", hole_mask, overwrite=overwrite)
    copy_file(source, out / IMAGES_DIR / source.name, overwrite=overwrite)
    write_meta(out / META_DIR / f"{source.stem}.json", meta, overwrite=overwrite)


def sample_meta(source: Path, hole_mask: torch.Tensor, margin: int, segmenter: ClickSegmenter, faces=(),
                **extra) -> Meta:
    """The meta record of a real (SAM-segmented) mask; ``extra`` keys are stored after the fields."""
    h, w = hole_mask.shape[-2:]
    extra["sam_model_fingerprint"] = segmenter.model_fingerprint()
    return Meta(source=str(source), mask_type="real", margin=margin, hole_ratio=hole_ratio(hole_mask),
                image_size=(w, h), faces=list(faces), extra=extra)


def segment_folder(images: str | Path | Sequence[str | Path], out: str | Path, *,
                   segmenter: ClickSegmenter | None = None, margin: int | None = None, overwrite: bool = False,
                   predictor_path: str | Path | None = None, upsample: int | None = None, progress: bool = True,
                   check: bool = True) -> AutoSegmentReport:
    """Segment every photo of ``images`` (folder, file or list) with landmark prompts; write the dataset layout.

    ``segmenter`` default: SAM vit_b from the weights registry, 8 px margin. Inputs and outputs are checked first; a
    photo that cannot be read, has no face or (with ``check``) an implausible hole is reported in ``failed``.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    paths = _plan(images, out, overwrite)
    if segmenter is None:
        from triple_dots.segment.sam import load_sam

        segmenter = ClickSegmenter(load_sam("vit_b"), margin=8)
    margin = segmenter.margin if margin is None else int(margin)
    report = AutoSegmentReport()
    for path in tqdm(paths, desc="SAM auto-segment", unit="photo", disable=not progress):
        try:
            image = read_image(path)
            seg = segment_photo(segmenter, image, margin=margin, source=path,
                                predictor_path=predictor_path, upsample=upsample, check=check)
        except TripleDotsError as exc:
            if isinstance(exc, (OutputExistsError, MissingWeightsError, BadWeightsError)):
                raise  # a problem with the setup, not with this photo: stop
            report.failed.append((path, str(exc)))
            continue
        faces = [
            {**f.to_json(), "sam_points": [list(p) for p in pts], "sam_score": round(s, 4)}
            for f, pts, s in zip(seg.faces, seg.points, seg.scores)
        ]
        meta = sample_meta(path, seg.hole_mask, margin, segmenter, faces=faces)
        write_sample(out, path, seg.hole_mask, meta, overwrite=overwrite)
        report.written.append(path.stem)
    return report
