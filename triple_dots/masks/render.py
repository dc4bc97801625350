"""Drawing a mask onto one face: procedural shading, straps, brightness matching, soft edges.

The mask is drawn on an upright *canvas* (eye line horizontal, photo scale) with premultiplied colour, then warped
back into the photo. Photos (H, W, 3) uint8 RGB; alpha (h, w) float32 in [0, 1], > 0 on every pixel the drawing
changed (only those are rewritten), so the hole mask is built from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from triple_dots.masks.looks import EXTRAS, LOOKS, STRAPS, Anchors, Surface
from triple_dots.masks.outline import FaceFrame, FaceMeasures, build_outline
from triple_dots.masks.shapes import STYLES, MaskStyle, parse_hex

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


@dataclass
class DrawnMask:
    """One mask drawn on a photo: the pixel box it touches and the coverage it was composited with there."""

    roi: tuple[int, int, int, int]  # (x0, y0, x1, y1)
    alpha: np.ndarray  # (y1 - y0, x1 - x0) float32 in [0, 1]


def _raster(shape: tuple[int, int], polys: list[np.ndarray], origin: np.ndarray, width: float | None = None
            ) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of the filled polygons, or of the open lines ``width`` px wide."""
    layer = np.zeros(shape, np.uint8)
    pts = [np.round((np.asarray(p, float) - origin) * _ONE).astype(np.int32).reshape(-1, 1, 2) for p in polys]
    if width is None:
        cv2.fillPoly(layer, pts, 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    else:
        cv2.polylines(layer, pts, False, 255, thickness=max(1, int(round(width))), lineType=cv2.LINE_AA, shift=_SHIFT)
    return layer.astype(np.float32) / 255.0


def _ellipse(centre: np.ndarray, rx: float, ry: float, n: int = 48) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + rx * np.cos(a), centre[1] + ry * np.sin(a)], 1)


def _uv(inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel coordinates across (u) and down (v) the shape, each in [0, 1]."""
    h, w = inside.shape
    rows, cols = inside.any(1), inside.any(0)
    first_x = np.where(rows, inside.argmax(1), 0).astype(np.float32)
    last_x = np.where(rows, w - 1 - inside[:, ::-1].argmax(1), 1).astype(np.float32)
    first_y = np.where(cols, inside.argmax(0), 0).astype(np.float32)
    last_y = np.where(cols, h - 1 - inside[::-1].argmax(0), 1).astype(np.float32)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    u = (xs - first_x[:, None]) / np.maximum(last_x - first_x, 1)[:, None]
    v = (ys - first_y[None, :]) / np.maximum(last_y - first_y, 1)[None, :]
    return np.clip(u, 0, 1), np.clip(v, 0, 1)


def _smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide blurs run on a shrunken copy (same look, a fraction of the time)."""
    if sigma <= 4:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    f = sigma / 2.0
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _lighting(photo_c: np.ndarray, inside: np.ndarray, width: float) -> np.ndarray:
    """Brightness of the face under the mask: a global level times a smooth local shading.

    Global: the 90th percentile of the face's luminance against a bright reference (0.78),
    so a dim photo gets a dim mask. Local: the face's luminance blurred over ~1/5 of the
    face width, relative to its median, so a shadow across the face falls on the mask too.
    """
    y = photo_c @ _LUMA
    region = inside > 0.5
    if not region.any():
        return np.ones(inside.shape, np.float32)
    p90 = float(np.percentile(y[region], 90))
    level = float(np.clip((max(p90, 1e-3) / 0.78) ** 0.85, 0.22, 1.1))
    sigma = max(1.0, 0.18 * width)
    w = region.astype(np.float32)
    blur = _smooth(y * w, sigma) / np.maximum(_smooth(w, sigma), 1e-4)
    med = float(np.median(blur[region]))
    local = np.clip((blur / max(med, 1e-3)) ** 0.5, 0.65, 1.25)
    return (level * local).astype(np.float32)


def draw_mask(photo: np.ndarray, landmarks: np.ndarray, mask_type: str = "surgical", *, color: str | None = None,
              pattern: np.ndarray | None = None, pattern_weight: float = 0.5, rng: np.random.Generator | None = None,
              jitter: bool = False, grayscale: bool = False) -> DrawnMask:
    """Draw one mask on ``photo`` in place and return where and how strongly it was drawn.

    Args:
        photo: (H, W, 3) uint8 RGB, modified in place (only where the returned alpha > 0).
        landmarks: (68, 2) pixel landmarks of the face.
        mask_type: one of :data:`~triple_dots.masks.shapes.MASK_TYPES`.
        color: '#rrggbb' base colour; None: the type's default (a palette colour when ``jitter``).
        pattern: optional (h, w, 3) float32 texture in [0, 1], blended with weight ``pattern_weight`` in [0, 1].
        rng: random source for fabric noise, palette and small shape variations.
        jitter: vary colour and shape slightly (used when a seed is given).
        grayscale: draw in gray (for black-and-white photos).
    """
    style: MaskStyle = STYLES[mask_type]
    rng = rng if rng is not None else np.random.default_rng(0)
    H, W = photo.shape[:2]
    frame = FaceFrame.of(landmarks)
    m = FaceMeasures.of(landmarks)
    shape_jitter = rng.uniform(-1, 1, 4) if jitter else None
    outline = build_outline(m, style.outline, jitter=shape_jitter)
    if color is None:
        color = style.palette[int(rng.integers(len(style.palette)))] if jitter else style.palette[0]
    base = np.array(parse_hex(color), np.float32)
    fw, nose, u68 = m.width, m.nose, m.pts
    turn = float(np.clip(m.turn.yaw_deg / 45.0, -1, 1))

    # ---- extra geometry (upright frame): straps, cartridges, valve -------------------
    straps: list[np.ndarray] = []
    # A face turned towards the image's left shows its image-left side foreshortened and
    # hides that ear behind the head (and likewise to the right).
    far_left = m.turn.variant == "left"
    far_right = m.turn.variant == "right"
    bottom, half = outline.bottom, len(outline.bottom) // 2
    mouth_y = float(u68[48:68, 1].mean())
    low_l = bottom[int(np.argmin(np.abs(bottom[:half, 1] - mouth_y)))]
    low_r = bottom[half + int(np.argmin(np.abs(bottom[half:, 1] - mouth_y)))]
    ear_l = u68[0] + np.array([-0.05 * fw, 0.05 * nose])
    ear_r = u68[16] + np.array([0.05 * fw, 0.05 * nose])
    for far, corner, low, ear, sgn in ((far_left, outline.left_corner, low_l, ear_l, -1),
                                       (far_right, outline.right_corner, low_r, ear_r, 1)):
        if not far and style.straps in STRAPS:  # the far side's strap is hidden behind the head
            straps += STRAPS[style.straps](corner, low, ear, sgn, fw, nose)
    anchors = Anchors(low_l, low_r, mouth_y, m.ridge_x, fw, nose, turn, far_left, far_right)
    extras = EXTRAS[mask_type](anchors) if mask_type in EXTRAS else []  # (kind, centre, radius)

    # ---- canvas ------------------------------------------------------------------------
    sw = max(1.0, style.strap_width * fw)
    allpts = np.vstack([outline.polygon, *straps,
                        *(_ellipse(ce, rr, rr * 1.08) for k, ce, rr in extras if k == "cartridge")])
    pad = 3 + sw
    origin = np.floor(allpts.min(0) - pad)
    wc, hc = (int(v) for v in np.ceil(allpts.max(0) + pad - origin))
    rot = frame.rotation
    # photo -> canvas: q = R (p - centre) + centre - origin
    A = np.hstack([rot, (frame.centre - rot @ frame.centre - origin)[:, None]]).astype(np.float64)
    photo_c = cv2.warpAffine(photo, A, (wc, hc), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    photo_c = photo_c.astype(np.float32) / 255.0

    body = _raster((hc, wc), [outline.polygon], origin)
    inside = body > 0.5
    u, v = _uv(inside)
    light = _lighting(photo_c, body, fw)
    xs = np.arange(wc, dtype=np.float32)[None, :]
    ys = np.arange(hc, dtype=np.float32)[:, None]
    dist = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)

    # ---- albedo and shading of the body --------------------------------------------------
    albedo = np.broadcast_to(base, (hc, wc, 3))
    if pattern is not None and pattern_weight > 0:
        rows = np.nonzero(inside.any(1))[0]
        cols = np.nonzero(inside.any(0))[0]
        mw = float(cols[-1] - cols[0] + 1) if cols.size else 1.0
        mh = float(rows[-1] - rows[0] + 1) if rows.size else 1.0
        tile = 0.45 * fw
        ph, pw = pattern.shape[:2]  # tiled over the mask, tiles 0.45 face widths wide, square
        mx = (u * (mw / tile) * pw).astype(np.float32)
        my = (v * (mh / tile * pw / ph) * ph).astype(np.float32)
        pat = cv2.remap(pattern.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        albedo = (1 - pattern_weight) * albedo + pattern_weight * pat
    shade = (1 - 0.22 * np.abs(2 * u - 1) ** 3) * (1 - 0.16 * turn * (2 * u - 1))
    shade = LOOKS[mask_type](shade, Surface(u, v, dist, xs, ys, fw, turn), rng)
    rgb = np.clip(albedo * shade[..., None], 0, 1)

    # ---- straps (under the body) and extras (over it) -----------------------------------
    alpha = body.copy()
    color_acc = rgb * body[..., None]
    if straps:
        strap_a = _raster((hc, wc), straps, origin, sw) * (1 - body)
        sc = np.array(parse_hex(style.strap_color), np.float32) if style.strap_color else base
        color_acc += strap_a[..., None] * (sc * 0.92)
        alpha = alpha + strap_a
    for kind, ce, rr in extras:
        d2 = ((xs - (ce[0] - origin[0])) ** 2 + (ys - (ce[1] - origin[1])) ** 2) / rr**2
        if kind == "cartridge":
            layer = _raster((hc, wc), [_ellipse(ce, rr, rr * 1.08)], origin)
            ring = 1 - 0.35 * np.exp(-(((np.sqrt(d2) - 0.72) / 0.05) ** 2))
            cyl = (0.55 + 0.5 * np.clip(1 - d2, 0, 1)) * ring * (1 + 0.3 * np.exp(-((np.sqrt(d2) - 0.3) ** 2 / 0.02)))
            col = np.array(parse_hex("#4b4d45"), np.float32) * cyl[..., None]
        else:
            layer = _raster((hc, wc), [_ellipse(ce, rr, rr)], origin) * body
            grille = 1 - 0.4 * (np.sin((ys - (ce[1] - origin[1])) * 2 * np.pi / max(2.5, 0.15 * rr)) > 0.5) * (d2 < 0.5)
            col = (base * 0.7)[None, None, :] * (grille * (0.8 + 0.3 * np.clip(1 - d2, 0, 1)))[..., None]
        col = np.clip(col, 0, 1)
        color_acc = color_acc * (1 - layer[..., None]) + col * layer[..., None]
        alpha = alpha * (1 - layer) + layer
    alpha = np.clip(alpha, 0, 1)
    color_acc = color_acc * light[..., None]
    if grayscale:
        color_acc = np.repeat((color_acc @ _LUMA)[..., None], 3, axis=2)
    # Soft edge: a light blur of the coverage (premultiplied colour blurred alike).
    soft = max(0.5, 0.0025 * fw)
    alpha = cv2.GaussianBlur(alpha, (0, 0), soft)
    color_acc = cv2.GaussianBlur(color_acc, (0, 0), soft)

    # ---- back into the photo -------------------------------------------------------------
    ph = frame.to_photo(np.array([[0, 0], [wc, 0], [0, hc], [wc, hc]], float) + origin)
    x0, y0 = (int(np.floor(v_)) for v_ in ph.min(0))
    x1, y1 = (int(np.ceil(v_)) + 1 for v_ in ph.max(0))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if x1 <= x0 or y1 <= y0:
        return DrawnMask(roi=(0, 0, 0, 0), alpha=np.zeros((0, 0), np.float32))
    # dst (ROI pixel) -> src (canvas): q = A [p + roi_origin]
    B = A.copy()
    B[:, 2] += A[:, :2] @ np.array([x0, y0], float)
    a_roi, c_roi = (np.clip(cv2.warpAffine(img, B, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                           borderMode=cv2.BORDER_CONSTANT), 0, 1)
                    for img in (alpha, color_acc.astype(np.float32)))
    patch = photo[y0:y1, x0:x1]
    touched = (a_roi > 0) | (c_roi > 0).any(2)
    mixed = patch.astype(np.float32) * ((1 - a_roi) / 255.0)[..., None] + c_roi
    mixed = np.clip(np.round(mixed * 255.0, out=mixed), 0, 255, out=mixed)
    np.copyto(patch, mixed.astype(np.uint8), where=touched[..., None])  # untouched pixels keep their values
    a_roi = np.where(touched, np.maximum(a_roi, 1e-6), 0).astype(np.float32)
    return DrawnMask(roi=(x0, y0, x1, y1), alpha=a_roi)
