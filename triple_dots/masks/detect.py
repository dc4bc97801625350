"""Face front end for real photos of people wearing masks: YuNet boxes + robust keypoints, dlib for the 68 points.

dlib's HOG detector (the mask-synthesis detector) needs the mouth and nose, so it finds a face on
only about a quarter of real masked photos. This module adds OpenCV's YuNet (``cv2.FaceDetectorYN``,
the 230 KB ONNX file bundled in ``triple_dots/masks/models``, MIT licence), which finds masked faces
in a few milliseconds, and combines the two:

1. YuNet runs on the photo shrunk to 640 and to 320 px (longest side): the small copy finds faces
   that fill a tight crop, the larger one small faces in groups; a third pass sees the 320 px copy
   inside a black border (:data:`BORDER_PAD`), so that a close-up whose forehead or chin is cut by
   the photo's edge becomes a whole face (only its detections that reach past the edge are used).
   Boxes are mapped back to the photo's own pixels and merged (non-maximum suppression).
2. A YuNet detection counts as a face when its score is at least :data:`SURE_SCORE`, or when it is
   at least :data:`MIN_SCORE` and YuNet finds it again, with a score of at least
   :data:`RECHECK_SCORE`, on a crop around it and on the crop's mirror image (:func:`recheck_score`).
   Most false faces (animals, objects) score lower there. A face cut by the photo's edge, whose crop
   is half empty, needs :data:`EDGE_SCORE` instead. Every YuNet face must then pass the face check
   (:func:`face_check_logit`, a small CNN trained on YuNet's detections of people, masked or not, and
   of pets, monkeys and other animals): YuNet scores dogs and monkeys that look into the camera as
   high as masked faces.
3. dlib's HOG detector still runs on the whole photo (same scale rule, same landmark checks), so the
   faces mask synthesis found before keep the same box and landmarks; when a cheap YuNet look sees only
   large faces, HOG skips the pyramid levels that only find far smaller faces
   (``landmarks._hog_pyramid_skip``: same faces, scores and boxes). HOG faces with no YuNet detection on
   them are dropped (on 2,258 photos of people every HOG face had one; dlib's false faces, toys and
   bottles, do not), and so are weak ones (score < 0.5) whose YuNet detection fails the face check.
4. A YuNet face without a HOG face gets its 68 landmarks from dlib's predictor fitted on a box
   derived from the YuNet box; under a mask the mouth and jaw points are guesses, so the robust
   :class:`Keypoints` (eyes from YuNet, nose bridge and chin from the eye geometry and the box) are
   what automatic SAM prompts use.

Coordinates are ``(x, y)`` pixels of the input image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from triple_dots.errors import MissingWeightsError, where

#: The bundled YuNet file (opencv_zoo ``face_detection_yunet_2023mar.onnx``).
YUNET_PATH = Path(__file__).with_name("models") / "face_detection_yunet_2023mar.onnx"
#: The bundled face check: a small CNN (ONNX, run by ``cv2.dnn``) that tells a human face, masked or not,
#: from animal and object faces on a :data:`CHECK_PX` crop :data:`CHECK_CROP` times the YuNet box's side.
FACE_CHECK_PATH = Path(__file__).with_name("models") / "face_check.onnx"
CHECK_CROP = 2.0
CHECK_PX = 64
#: Logit of the face check at or above which a YuNet face is a human face.
CHECK_LOGIT = -2.0
#: Longest image side (pixels) of the copies YuNet sees; photos smaller than a size are not enlarged.
YUNET_SIZES = (640, 320)
#: A sure face at least this fraction of the shorter image side tall, found on the smallest copy, makes
#: the larger copies unnecessary (they find small faces): one YuNet pass for portraits and face crops
#: (used by mask synthesis, see :func:`yunet_faces`).
LARGE_FACE = 0.25
#: YuNet detections below this are ignored.
MIN_SCORE = 0.6
#: YuNet detections at or above this are accepted without a second look.
SURE_SCORE = 0.87
#: Score a weaker detection needs on :func:`recheck_score`'s crop and on its mirror image.
RECHECK_SCORE = 0.8
#: Black border added on every side (fraction of the longest side) for the pass that finds faces cut
#: by the photo's edge; that pass uses the smallest of the sizes.
BORDER_PAD = 0.15
#: A detection reaching this fraction of its size past the photo's edge is a face cut by the border: the
#: bordered pass's other detections are dropped (the plain passes see them).
BORDER_CUT = 0.03
#: A face cut by the border is kept from this score without the crop check (half of its crop is empty).
EDGE_SCORE = 0.75
#: Overlap (intersection over union) at which a HOG face and a YuNet face are the same face.
SAME_FACE_IOU = 0.3

#: Names of the rows of :attr:`Keypoints.points`.
KEYPOINT_NAMES = ("eye_image_left", "eye_image_right", "nose_bridge", "chin", "jaw_image_left", "jaw_image_right")

# Placement of the nose bridge and chin from the eyes (fractions of the eye distance along the
# face's downward axis), fitted on the sample photos' dlib landmarks (see BENCHMARKS.md).
_BRIDGE_DOWN = 0.15
_CHIN_DOWN = 1.8
_JAW_HALF_WIDTH = 0.95  # jaw sides at mouth height: half the jaw width in eye distances
_JAW_DOWN = 0.9


@dataclass
class Keypoints:
    """Face keypoints that hold under a mask.

    ``points``: (6, 2) float ``(x, y)`` pixels in :data:`KEYPOINT_NAMES` order: both eye centres (the
    one on the image's left first), the nose bridge (between the eyes, above the mask's top edge),
    the chin and the two jaw sides at mouth height (estimates: under a mask they are not seen).
    """

    points: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        return self.points[KEYPOINT_NAMES.index(name)]

    @property
    def eye_distance(self) -> float:
        """Distance between the eye centres (pixels)."""
        return float(np.hypot(*(self["eye_image_right"] - self["eye_image_left"])))

    @property
    def down(self) -> np.ndarray:
        """Unit vector from the eye line towards the chin (the face's own vertical)."""
        return _down(self["eye_image_left"], self["eye_image_right"])

    @staticmethod
    def from_eyes(eye_l: np.ndarray, eye_r: np.ndarray, box_bottom: float | None = None) -> Keypoints:
        """Keypoints from two eye centres; ``box_bottom`` (detector box bottom y) refines the chin when given."""
        eye_l, eye_r = np.asarray(eye_l, np.float64), np.asarray(eye_r, np.float64)
        if eye_l[0] > eye_r[0]:
            eye_l, eye_r = eye_r, eye_l
        mid, ed = (eye_l + eye_r) / 2, float(np.hypot(*(eye_r - eye_l)))
        down = _down(eye_l, eye_r)
        side = np.array([-down[1], down[0]])  # towards the image's right for an upright face
        chin = mid + _CHIN_DOWN * ed * down
        if box_bottom is not None and down[1] > 0.9:
            # YuNet's box ends close to the chin; the eye rule fails on turned heads (short eye distance).
            chin = mid + max(_CHIN_DOWN * ed, 0.5 * (_CHIN_DOWN * ed + (box_bottom - mid[1]))) * down
        jaw_c = mid + _JAW_DOWN * ed * down
        pts = np.stack([eye_l, eye_r, mid + _BRIDGE_DOWN * ed * down, chin,
                        jaw_c + _JAW_HALF_WIDTH * ed * side * -1, jaw_c + _JAW_HALF_WIDTH * ed * side])
        return Keypoints(points=pts)

    @staticmethod
    def from_landmarks(landmarks: np.ndarray) -> Keypoints:
        """Keypoints read off dlib's 68 points (eyes 36-47, bridge 28, chin 8, jaw 3 and 13)."""
        lm = np.asarray(landmarks, np.float64)
        return Keypoints(points=np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[28], lm[8], lm[3], lm[13]]))


def _down(eye_l: np.ndarray, eye_r: np.ndarray) -> np.ndarray:
    v = np.asarray(eye_r, np.float64) - np.asarray(eye_l, np.float64)
    n = float(np.hypot(*v))
    if n < 1e-6:
        return np.array([0.0, 1.0])
    return np.array([-v[1], v[0]]) / n  # eye line turned 90 degrees clockwise on screen: downwards


@dataclass
class YunetFace:
    """One YuNet detection in image pixels: box ``(x0, y0, x1, y1)`` floats, 5 points, score in [0, 1].

    ``points`` (5, 2): eye on the image's left, eye on the image's right, nose tip, mouth corners
    (image-left, image-right). Under a mask only the eyes are seen; the rest are the net's guesses.
    """

    box: np.ndarray
    points: np.ndarray
    score: float

    def keypoints(self) -> Keypoints:
        return Keypoints.from_eyes(self.points[0], self.points[1], float(self.box[3]))


# --------------------------------------------------------------------------------------
# YuNet
# --------------------------------------------------------------------------------------
_lock = threading.Lock()
_models: dict[tuple[str, str], object] = {}


def _bundled_model(path: str | Path | None, default: Path, what: str, create):
    """``create(file)`` for ``path`` (None: the bundled ``default``), once per process and file; a missing file
    raises :class:`MissingWeightsError` naming it."""
    p = Path(path) if path is not None else default
    if not p.is_file():
        raise MissingWeightsError(f"{what} not found at {where(p)}; it ships inside the triple_dots package "
                                  "(triple_dots/masks/models): reinstall the package")
    key = (what, str(p.resolve()))
    with _lock:
        if key not in _models:
            _models[key] = create(key[1])
        return _models[key]


def _create_yunet(file: str):
    log = getattr(getattr(cv2, "utils", None), "logging", None)  # OpenCV 5 warns about targets here
    level = log.getLogLevel() if log else None
    if log:
        log.setLogLevel(2)  # errors only, while creating: the warning is noise for users
    try:
        return cv2.FaceDetectorYN.create(file, "", (320, 320), MIN_SCORE, 0.3, 5000)
    finally:
        if log:
            log.setLogLevel(level)


def load_yunet(path: str | Path | None = None):
    """``cv2.FaceDetectorYN`` for the bundled (or given) YuNet ONNX file, created once per process and path."""
    return _bundled_model(path, YUNET_PATH, "YuNet face detector", _create_yunet)


def _yunet_rows(det, rgb: np.ndarray, size: int, min_score: float) -> np.ndarray | None:
    """YuNet's (N, 15) rows (box x, y, w, h, 5 points, score) on ``rgb`` shrunk to ``size`` px, in ``rgb`` pixels."""
    h, w = rgb.shape[:2]
    s = min(1.0, size / float(max(h, w)))
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    small = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # YuNet's order; converted after shrinking: the same pixels
    with _lock:  # one FaceDetectorYN object: not safe to share between threads
        det.setInputSize((sw, sh))
        det.setScoreThreshold(float(min_score))
        _, found = det.detect(small)
    if found is None:
        return None
    found = np.asarray(found, np.float64).copy()
    found[:, 0:14] *= np.array([w / sw, h / sh] * 7)
    return found


def _plain_pass(det, rgb: np.ndarray, size: int, min_score: float, passes: dict | None) -> np.ndarray | None:
    """:func:`_yunet_rows`, or the rows an earlier call kept in ``passes`` for this ``size`` (scored >= ``min_score``)."""
    if passes is not None and size in passes and passes[size][0] <= min_score:
        found = passes[size][1]
        found = None if found is None else found[found[:, 14] >= min_score]
        return found if found is not None and len(found) else None
    found = _yunet_rows(det, rgb, size, min_score)
    if passes is not None:
        passes[size] = (min_score, found)
    return found


def yunet_faces(rgb: np.ndarray, *, sizes: tuple[int, ...] = YUNET_SIZES, min_score: float = MIN_SCORE,
                model_path: str | Path | None = None, large_face: float | None = None,
                border_pad: float = BORDER_PAD, passes: dict | None = None) -> list[YunetFace]:
    """YuNet on ``rgb`` ((H, W, 3) uint8 RGB) shrunk to each of ``sizes`` (longest side), merged; image pixels.

    The smallest copy runs first. With ``large_face`` (e.g. :data:`LARGE_FACE`, as mask synthesis
    does), when it finds a sure face (score >= :data:`SURE_SCORE`) at least ``large_face`` times the
    photo's shorter side tall (a portrait or an aligned crop), the other passes, which only add
    small or border-cut faces, are skipped; the faces' eyes then come from the small copy (a few
    pixels less exact). ``None`` (default): every size runs. ``border_pad`` > 0: one more pass at the
    smallest size with that much black border (see :data:`BORDER_PAD`); 0 turns it off. ``passes``: a
    dict shared by calls on the same ``rgb`` that keeps each plain pass's detections, so that a later
    call with the same or a higher ``min_score`` reuses them instead of running YuNet again.
    """
    det = load_yunet(model_path)
    h, w = rgb.shape[:2]
    found_at: dict[int, np.ndarray] = {}
    done: set[int] = set()
    for size in sorted(sizes):
        s = min(1.0, size / float(max(h, w)))
        if round(max(h, w) * s) in done or min(h, w) * s < 8:
            continue
        done.add(round(max(h, w) * s))
        found = _plain_pass(det, rgb, size, min_score, passes)
        if found is None:
            continue
        found_at[size] = found
        if large_face is not None and np.any((found[:, 14] >= SURE_SCORE) & (found[:, 3] >= large_face * min(h, w))):
            border_pad = 0.0
            break  # a portrait or face crop: the larger copies would only add small faces
    rows = [found_at[size] for size in sizes if size in found_at]  # merged in the order of ``sizes``
    if border_pad > 0 and done:  # shrunk first, so that the bordered copy is at most the smallest size
        s = min(1.0, min(sizes) / (max(h, w) * (1 + 2 * border_pad)))
        small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
        pad = round(border_pad * max(small.shape[:2]))
        found = _yunet_rows(det, cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT), min(sizes), min_score)
        if found is not None:
            found[:, [0, 1]] -= pad
            found[:, 4:14] -= pad
            found[:, 0:14] *= np.array([w / small.shape[1], h / small.shape[0]] * 7)
            x, y, bw, bh = found[:, :4].T
            rows.append(found[past_edge((x, y, x + bw, y + bh), h, w) > BORDER_CUT])
    if not rows:
        return []
    allf = np.concatenate(rows)
    keep = cv2.dnn.NMSBoxes([list(map(float, r[:4])) for r in allf], [float(r[14]) for r in allf], min_score, 0.3)
    out = []
    for i in np.asarray(keep, dtype=int).reshape(-1):
        x, y, bw, bh = allf[i, :4]
        pts = allf[i, 4:14].reshape(5, 2)
        out.append(YunetFace(box=np.array([x, y, x + bw, y + bh]), points=pts, score=float(allf[i, 14])))
    return out


# --------------------------------------------------------------------------------------
# Confirmation and box conversion
# --------------------------------------------------------------------------------------
def iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def past_edge(box, h: int, w: int):
    """How far the ``(x0, y0, x1, y1)`` box (or arrays of them) reaches past an (h, w) photo's edge, in box sizes."""
    x0, y0, x1, y1 = box
    return np.maximum.reduce([-x0, -y0, x1 - w, y1 - h]) / np.maximum(np.maximum(x1 - x0, y1 - y0), 1.0)


def square_crop(rgb: np.ndarray, box, factor: float, crop_px: int) -> tuple[np.ndarray, float]:
    """A ``crop_px`` square crop of ``rgb`` centred on ``box``, ``factor`` times its longer side (black
    outside the photo), and the scale from image pixels to crop pixels."""
    x0, y0, x1, y1 = map(float, box)
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, factor * max(x1 - x0, y1 - y0, 1.0)
    s = crop_px / side
    m = np.array([[s, 0, crop_px / 2 - s * cx], [0, s, crop_px / 2 - s * cy]])
    return cv2.warpAffine(rgb, m, (crop_px, crop_px), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR), s


def recheck_score(rgb: np.ndarray, box, *, mirror: bool = False, crop_px: int = 160) -> float:
    """YuNet's best score for a face on ``box`` in a ``crop_px`` square crop twice the box's longer side (0: none).

    The face fills half the crop, as it would in a tight portrait; ``mirror`` flips the crop left to
    right. Real faces, masked ones too, keep their score there; most false faces lose it.
    """
    x0, y0, x1, y1 = map(float, box)
    crop, s = square_crop(rgb, box, 2.0, crop_px)
    crop = np.ascontiguousarray(crop[:, ::-1] if mirror else crop)
    found = _yunet_rows(load_yunet(), crop, crop_px, 0.05)
    half_w, half_h = s * (x1 - x0) / 2, s * (y1 - y0) / 2
    fb = (crop_px / 2 - half_w, crop_px / 2 - half_h, crop_px / 2 + half_w, crop_px / 2 + half_h)
    rows = found if found is not None else []
    return max((float(r[14]) for r in rows if iou(fb, (r[0], r[1], r[0] + r[2], r[1] + r[3])) > 0.3), default=0.0)


def face_check_logit(rgb: np.ndarray, box, *, model_path: str | Path | None = None) -> float:
    """The face check's logit for the YuNet ``box`` ``(x0, y0, x1, y1)`` on ``rgb`` ((H, W, 3) uint8 RGB).

    >= :data:`CHECK_LOGIT`: a human face (masked or not); lower: an animal, a toy or a pattern.
    """
    net = _bundled_model(model_path, FACE_CHECK_PATH, "face check model", cv2.dnn.readNetFromONNX)
    crop, _ = square_crop(rgb, box, CHECK_CROP, CHECK_PX)
    blob = crop.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    with _lock:  # one cv2.dnn net per file, not safe to share between threads
        net.setInput(blob)
        return float(np.asarray(net.forward()).reshape(-1)[0])


def human_face(rgb: np.ndarray, box) -> bool:
    """True when the face check (:func:`face_check_logit`) takes the YuNet ``box`` for a human face."""
    return face_check_logit(rgb, box) >= CHECK_LOGIT


def confirmed(rgb: np.ndarray, face: YunetFace) -> bool:
    """True when the face check passes ``face`` (:func:`face_check_logit`) and it is sure (score >=
    :data:`SURE_SCORE`), a face cut by the photo's edge scoring at least :data:`EDGE_SCORE`, or a detection
    YuNet finds again on a crop and its mirror (:func:`recheck_score`)."""
    if face.score < MIN_SCORE:
        return False
    if not (face.score >= SURE_SCORE or (face.score >= EDGE_SCORE and past_edge(face.box, *rgb.shape[:2]) > BORDER_CUT)
            or all(recheck_score(rgb, face.box, mirror=m) >= RECHECK_SCORE for m in (False, True))):
        return False
    return human_face(rgb, face.box)


def dlib_box(face: YunetFace) -> tuple[float, float, float, float]:
    """The square box dlib's HOG would draw on this face (1.1 x YuNet's width, a little lower), ``(x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = face.box
    side = 1.1 * (x1 - x0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * (y1 - y0)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
