"""Landmark geometry for the mask outline, in the *upright frame*: landmarks rotated about their centroid so the eye
line is horizontal, in photo pixels.

The outline is built from horizontal lines at nose heights intersected with the jaw pushed slightly outwards; a line
that misses the jaw never crashes (the end segment is extended, else the nearest jaw point is used).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triple_dots.masks.landmarks import roll_degrees

#: Head turns beyond this many degrees use the left/right variant of a mask.
TURN_THRESHOLD_DEG = 15.0


@dataclass(frozen=True)
class FaceFrame:
    """Rotation between photo pixels and the upright frame (eye line horizontal, same scale)."""

    centre: np.ndarray  # (2,) pixel coordinates the rotation is about
    roll_deg: float  # eye-line angle in the photo

    @property
    def rotation(self) -> np.ndarray:
        """2x2 matrix R with upright = (p - centre) @ R.T + centre."""
        t = -np.radians(self.roll_deg)
        c, s = np.cos(t), np.sin(t)
        return np.array([[c, -s], [s, c]])

    def to_upright(self, pts: np.ndarray) -> np.ndarray:
        return (np.asarray(pts, float) - self.centre) @ self.rotation.T + self.centre

    def to_photo(self, pts: np.ndarray) -> np.ndarray:
        return (np.asarray(pts, float) - self.centre) @ self.rotation + self.centre

    @classmethod
    def of(cls, landmarks: np.ndarray) -> FaceFrame:
        return cls(centre=np.asarray(landmarks, float).mean(0), roll_deg=roll_degrees(landmarks))


def jaw_hit(jaw_half: np.ndarray, y: float) -> tuple[np.ndarray, int, bool]:
    """Where the horizontal line at ``y`` meets one half of the jaw (ordered from ear to chin).

    Returns ``(point, segment_index, exact)``; the segment index is -1 for a hit on the
    extension before the first point. When the line misses (too high, too low, or a
    degenerate jaw), the end segment is extended towards the line; if that is flat, the jaw
    point nearest in height is used, and ``exact`` is False. Never raises.
    """
    poly = np.asarray(jaw_half, float)
    for i, (p, q) in enumerate(zip(poly[:-1], poly[1:])):
        if (p[1] - y) * (q[1] - y) <= 0 and p[1] != q[1]:
            t = (y - p[1]) / (q[1] - p[1])
            return p + t * (q - p), i, True
    # Missed: extend the end segment nearest to the line.
    if abs(y - poly[0, 1]) <= abs(y - poly[-1, 1]):
        a, b, seg = poly[1], poly[0], -1
    else:
        a, b, seg = poly[-2], poly[-1], len(poly) - 2
    d = b - a
    if abs(d[1]) > 1e-6:
        t = (y - b[1]) / d[1]
        if 0 <= t <= 3:  # extend at most three segment lengths
            return b + t * d, seg, False
    k = int(np.argmin(np.abs(poly[:, 1] - y)))
    return np.array([poly[k, 0], y]), k - 1, False


def outward_normals(poly: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Unit normals of a polyline's vertices, each pointing away from ``centre``."""
    poly = np.asarray(poly, float)
    tang = np.gradient(poly, axis=0)
    n = np.stack([tang[:, 1], -tang[:, 0]], 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    flip = ((poly - centre) * n).sum(1) < 0
    n[flip] *= -1
    return n


@dataclass(frozen=True)
class HeadTurn:
    """Head-turn estimate from 2-D landmarks."""

    yaw_deg: float  # > 0: the face turns towards the image's right (the image-left cheek faces the camera)
    variant: str  # where the face points in the image: "left", "right" or "frontal" (|yaw| <= 15 degrees)


def _upright_jaw(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(68, 2) upright landmarks and the left and right jaw points at nose-tip height."""
    u = FaceFrame.of(landmarks).to_upright(landmarks)
    return u, jaw_hit(u[0:9], u[30, 1])[0], jaw_hit(u[16:7:-1], u[30, 1])[0]


def head_turn(landmarks: np.ndarray) -> HeadTurn:
    """Estimate yaw from where the nose tip sits between the jaw sides at nose height.

    A cylinder model of the head: the nose tip stands about 0.3 face half-widths in front of
    the cheeks, so its offset from the jaw centre is ``1.3 * sin(yaw)`` half-widths.
    """
    u, left, right = _upright_jaw(landmarks)
    half = max((right[0] - left[0]) / 2, 1e-6)
    off = (u[30, 0] - (left[0] + right[0]) / 2) / half
    yaw = float(np.degrees(np.arcsin(np.clip(off / 1.3, -1, 1))))
    variant = "frontal" if abs(yaw) <= TURN_THRESHOLD_DEG else ("right" if yaw > 0 else "left")
    return HeadTurn(yaw_deg=round(yaw, 2), variant=variant)


@dataclass
class FaceMeasures:
    """Sizes and key points of one face in the upright frame (pixels)."""

    pts: np.ndarray  # (68, 2) upright landmarks
    width: float  # jaw width at nose-tip height
    nose: float  # nose length, landmark 27 to 30
    ridge_x: float  # x of the nose ridge (mean of 27-30)
    turn: HeadTurn

    @classmethod
    def of(cls, landmarks: np.ndarray) -> FaceMeasures:
        u, left, right = _upright_jaw(landmarks)
        width = max(float(right[0] - left[0]), 1.0)
        nose = max(float(u[30, 1] - u[27, 1]), 0.15 * width)
        return cls(pts=u, width=width, nose=nose, ridge_x=float(u[27:31, 0].mean()), turn=head_turn(landmarks))


@dataclass(frozen=True)
class OutlineSpec:
    """Shape parameters of a mask outline, in units of the nose length N and jaw width W."""

    peak: float  # top edge height over the nose ridge (N below landmark 27)
    side: float  # top edge height where it meets the jaw (N below landmark 27)
    curve: float  # exponent of the top edge (1 = straight slopes, 2 = round)
    side_out: float  # how far the sides stand off the jaw (W), near side of a turned head
    far_out: float  # the same on the far side
    chin_drop: float  # extra reach under the chin (N)


@dataclass
class Outline:
    """A closed mask outline in the upright frame plus the points it was built from."""

    polygon: np.ndarray  # (K, 2) closed outline, clockwise from the upper-left corner
    bottom: np.ndarray  # (B, 2) lower edge along the pushed jaw, left to right
    left_corner: np.ndarray
    right_corner: np.ndarray
    exact: bool  # False when a construction line missed the jaw and the guard was used


def build_outline(m: FaceMeasures, spec: OutlineSpec, *, jitter: np.ndarray | None = None) -> Outline:
    """The outline of a mask on the face ``m`` for shape ``spec`` (upright frame, pixels).

    ``jitter`` (4 values, about +-1) perturbs peak, side, side_out and chin_drop slightly.
    """
    j = np.zeros(4) if jitter is None else np.asarray(jitter, float)
    u, W, N = m.pts, m.width, m.nose
    peak_y = u[27, 1] + (spec.peak + 0.05 * j[0]) * N
    side_y = max(u[27, 1] + (spec.side + 0.05 * j[1]) * N, peak_y + 0.05 * N)

    # Pushed jaw: near side stands off more than the far side of a turned head.
    jaw = u[0:17].copy()
    normals = outward_normals(jaw, np.array([m.ridge_x, u[30, 1]]))
    turn = np.clip(m.turn.yaw_deg / 45.0, -1, 1)
    base = spec.side_out * (1 + 0.1 * j[2])
    # yaw > 0: the image-left half (0..8) is the near side.
    left_out = base + (spec.far_out - base) * max(0.0, -turn)
    right_out = base + (spec.far_out - base) * max(0.0, turn)
    idx = np.arange(17)
    push = np.where(idx < 8, left_out, np.where(idx > 8, right_out, (left_out + right_out) / 2)) * W
    chin = (spec.chin_drop * (1 + 0.1 * j[3])) * N * np.exp(-(((idx - 8) / 2.5) ** 2))
    pushed = jaw + normals * (push + chin)[:, None]

    a, ia, ok_a = jaw_hit(pushed[0:9], side_y)
    c, ic, ok_c = jaw_hit(pushed[16:7:-1], side_y)
    # Lower edge: from the left hit down the pushed jaw to the chin and up to the right hit.
    bottom = _smooth_resample(np.vstack([a[None], pushed[ia + 1: 9], pushed[9: 16 - ic], c[None]]), 48)

    # Top edge: peak over the nose ridge, falling to the corners with exponent ``curve``.
    xs = np.r_[np.linspace(a[0], m.ridge_x, 16, endpoint=False), np.linspace(m.ridge_x, c[0], 17)]
    t = np.clip(np.where(xs < m.ridge_x, (m.ridge_x - xs) / max(m.ridge_x - a[0], 1e-6),
                         (xs - m.ridge_x) / max(c[0] - m.ridge_x, 1e-6)), 0, 1)
    ys = peak_y + (side_y - peak_y) * t**spec.curve
    # Never up into the eyes: stay a tenth of the nose length below the lower eyelids.
    ys = np.maximum(ys, float(u[[40, 41, 46, 47], 1].max()) + 0.1 * N)
    # Keep the corners exactly on the jaw hits.
    ys[0], ys[-1] = a[1], c[1]
    polygon = np.vstack([np.stack([xs, ys], 1), bottom[::-1][1:-1]])
    return Outline(polygon=polygon, bottom=bottom, left_corner=a, right_corner=c, exact=bool(ok_a and ok_c))


def _smooth_resample(poly: np.ndarray, n: int) -> np.ndarray:
    """Resample a polyline to ``n`` points evenly by arc length, lightly smoothed (ends fixed)."""
    poly = np.asarray(poly, float)
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.r_[0, np.cumsum(seg)]
    if s[-1] <= 1e-9:
        return np.repeat(poly[:1], n, axis=0)
    keep = np.r_[True, seg > 1e-9]
    poly, s = poly[keep], s[keep]
    q = np.linspace(0, s[-1], n)
    out = np.stack([np.interp(q, s, poly[:, 0]), np.interp(q, s, poly[:, 1])], 1)
    out[1:-1] = 0.25 * out[:-2] + 0.5 * out[1:-1] + 0.25 * out[2:]
    return out
