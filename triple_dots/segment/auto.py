"""Automatic SAM prompts from dlib's 68 face landmarks: a folder of masked photos segmented with no clicks.

Per face, positive points go where a medical mask sits (nose tip, mouth centre, chin) and
negative points where it never does (both eyes, the forehead). SAM then segments each face
separately and the holes are united. Landmarks are harder to find on masked faces (the mouth and
nose are hidden, so dlib may miss the face or misplace the lower points): photos without a usable
face are reported, and the click UI (notebook 06, ``triple-dots segment --points``) is the fallback.

Output: the dataset layout shared by every stage, ``OUT/images/NAME.ext`` (a byte copy of the
photo), ``OUT/masks/NAME.png`` (single channel, 255 = hole) and ``OUT/meta/NAME.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from triple_dots.dataset_folder import IMAGES_DIR, MASKS_DIR, META_DIR, Meta, write_meta
from triple_dots.errors import (
    BadInputError,
    BadWeightsError,
    MissingWeightsError,
    NoFaceError,
    OutputExistsError,
    TripleDotsError,
    where,
)
from triple_dots.files import copy_file
from triple_dots.images import as_rgb_uint8, hole_ratio, list_images, read_image, write_mask
from triple_dots.masks.landmarks import BROWS, CHIN, LEFT_EYE, LOWER_LIP_BOTTOM, MOUTH, NOSE_TIP, RIGHT_EYE
from triple_dots.segment.clicks import ClickSegmenter, dilate_mask

_FALLBACK = "click the mask instead (notebook 06, or triple-dots segment --point X,Y ...)"


def auto_points(landmarks: np.ndarray, size: tuple[int, int] | None = None) -> list[tuple[float, float, int]]:
    """Prompt points [(x, y, label), ...] for one face from its (68, 2) landmarks in (x, y) pixels.

    Label 1 (on the mask): nose tip, mouth centre, chin (halfway from the lower lip to the jaw
    point, so it stays on the mask). Label 0 (keep): centres of both eyes, and the forehead (above
    the brows by 0.3 x the brow-to-chin distance, along the face's own vertical). Points outside
    ``size`` = (H, W) are dropped.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise BadInputError(f"expected (68, 2) dlib landmarks, got shape {lm.shape}")
    brow = lm[list(BROWS)].mean(axis=0)
    chin = lm[CHIN]
    pos = [lm[NOSE_TIP], lm[list(MOUTH)].mean(axis=0), (lm[LOWER_LIP_BOTTOM] + chin) / 2]
    neg = [lm[list(LEFT_EYE)].mean(axis=0), lm[list(RIGHT_EYE)].mean(axis=0), brow + 0.3 * (brow - chin)]
    points = [(float(x), float(y), 1) for x, y in pos] + [(float(x), float(y), 0) for x, y in neg]
    if size is not None:
        h, w = size
        points = [p for p in points if 0 <= p[0] < w and 0 <= p[1] < h]
    return points


@dataclass
class AutoSegmentation:
    """Result of :func:`segment_photo`.

    ``hole_mask`` (1, H, W) in {0, 1} (1 = hole); per face: the face, its prompt points and SAM's score.
    """

    hole_mask: torch.Tensor
    faces: list = field(default_factory=list)
    points: list[list[tuple[float, float, int]]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


def segment_photo(
    segmenter: ClickSegmenter,
    image: torch.Tensor | np.ndarray,
    *,
    margin: int | None = None,
    faces: Sequence | None = None,
    source: str | Path | None = None,
    predictor_path: str | Path | None = None,
    upsample: int | None = None,
) -> AutoSegmentation:
    """Segment the worn mask(s) of ``image`` ((3, H, W) [0, 1] or (H, W, 3) uint8) with landmark prompts.

    ``faces`` (from :func:`triple_dots.masks.landmarks.detect_faces`) are detected when not given.
    Raises :class:`NoFaceError` naming ``source`` when there is no usable face.
    """
    arr = as_rgb_uint8(image)
    if faces is None:
        from triple_dots.masks.landmarks import detect_faces

        faces = detect_faces(arr, predictor_path=predictor_path, upsample=upsample)
    if not faces:
        raise NoFaceError(
            f"no face found in {where(source)}: automatic prompts need dlib's landmarks, which often fail "
            f"on masked faces; {_FALLBACK}"
        )
    segmenter.set_image(arr)
    union = np.zeros(arr.shape[:2], dtype=bool)
    result = AutoSegmentation(hole_mask=torch.zeros(0))
    for face in faces:
        pts = auto_points(face.landmarks, arr.shape[:2])
        if not any(p[2] == 1 for p in pts):
            continue
        segmenter.segment(pts)
        union |= segmenter.raw_mask()
        result.faces.append(face)
        result.points.append(pts)
        result.scores.append(float(segmenter.score))
    if not result.faces:
        raise NoFaceError(
            f"the faces found in {where(source)} have their mouth and nose outside the photo; {_FALLBACK}"
        )
    m = dilate_mask(union, segmenter.margin if margin is None else int(margin))
    result.hole_mask = torch.from_numpy(m.astype(np.float32))[None]
    return result


@dataclass
class AutoSegmentReport:
    """What :func:`segment_folder` did: written names and failures ``(path, reason)``."""

    written: list[str] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _plan(images: str | Path | Sequence[str | Path], out: Path, overwrite: bool) -> list[Path]:
    """List the inputs and check names and outputs before any work starts."""
    if isinstance(images, (str, Path)):
        root = Path(images)
        paths = list_images(root)
        if root.is_dir():
            try:
                out.resolve().relative_to(root.resolve())
                raise BadInputError(
                    f"output {where(out)} is inside the input folder {where(root)}; pick another folder"
                )
            except ValueError:
                pass
    else:
        paths = [Path(p) for p in images]
    if not paths:
        raise BadInputError(f"no photos found in {where(images if isinstance(images, (str, Path)) else None)}")
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen:
            raise BadInputError(f"two photos would get the same name {p.stem!r}: {where(seen[p.stem])} and {where(p)}")
        seen[p.stem] = p
    if not overwrite:
        clash = [q for p in paths for q in (out / "images" / p.name, out / "masks" / f"{p.stem}.png") if q.exists()]
        if clash:
            raise OutputExistsError(
                f"{len(clash)} output files already exist (e.g. {where(clash[0])}); pass overwrite=True / --overwrite"
            )
    return paths


def write_sample(
    out: str | Path, source: str | Path, hole_mask: torch.Tensor, meta: Meta, *, overwrite: bool = False
) -> None:
    """Write one photo (byte copy), its hole mask and meta JSON into the dataset layout under ``out``."""
    out, source = Path(out), Path(source)
    write_mask(out / MASKS_DIR / f"{source.stem}.png", hole_mask, overwrite=overwrite)
    copy_file(source, out / IMAGES_DIR / source.name, overwrite=overwrite)
    write_meta(out / META_DIR / f"{source.stem}.json", meta, overwrite=overwrite)


def sample_meta(
    source: Path, hole_mask: torch.Tensor, margin: int, segmenter: ClickSegmenter, faces=(), **extra
) -> Meta:
    """The meta record of a real (SAM-segmented) mask; ``extra`` keys are stored after the fields."""
    h, w = hole_mask.shape[-2:]
    extra["sam_model_fingerprint"] = segmenter.model_fingerprint()
    return Meta(source=str(source), mask_type="real", margin=margin, hole_ratio=hole_ratio(hole_mask),
                image_size=(w, h), faces=list(faces), extra=extra)


def segment_folder(
    images: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    segmenter: ClickSegmenter | None = None,
    margin: int | None = None,
    overwrite: bool = False,
    predictor_path: str | Path | None = None,
    upsample: int | None = None,
    progress: bool = True,
) -> AutoSegmentReport:
    """Segment every photo of ``images`` (folder, file or list) with landmark prompts; write the dataset layout.

    ``segmenter`` default: SAM vit_b from the weights registry with an 8 px margin. Inputs and
    outputs are checked before any work; a photo that cannot be read or has no face is reported
    in :attr:`AutoSegmentReport.failed` and the run goes on.
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
                                predictor_path=predictor_path, upsample=upsample)
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
