"""What each mask type looks like: its shading (:data:`LOOKS`) and extra parts (:data:`EXTRAS`, a gas mask's filters).

Each look multiplies its own folds, rims, weave or dome into the common shading of the mask body; arrays are float32
(h, w) over the upright drawing canvas, extra parts are (kind, centre, radius) circles on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Surface:
    """The mask body on its canvas: coordinates and sizes every look is written in."""

    u: np.ndarray  # (h, w) across the mask, 0 (image left) .. 1
    v: np.ndarray  # (h, w) down the mask, 0 (top) .. 1
    dist: np.ndarray  # (h, w) distance to the outline, pixels (0 outside)
    xs: np.ndarray  # (1, w) canvas x
    ys: np.ndarray  # (h, 1) canvas y
    face_width: float  # jaw width, pixels
    turn: float  # head turn in [-1, 1] (yaw / 45 degrees)

    @property
    def shape(self) -> tuple[int, int]:
        return self.u.shape  # type: ignore[return-value]


def noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float, amount: float) -> np.ndarray:
    """1 + ``amount`` x unit-variance noise with a correlation length of ``sigma_px`` pixels."""
    h, w = shape
    if sigma_px > 4:  # draw coarse noise and enlarge it: cheap for wide folds
        f = sigma_px / 2.0
        n = rng.standard_normal((max(1, round(h / f)), max(1, round(w / f)))).astype(np.float32)
        n = cv2.resize(cv2.GaussianBlur(n, (0, 0), 2.0), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        n = rng.standard_normal(shape).astype(np.float32)
        if sigma_px > 0.3:
            n = cv2.GaussianBlur(n, (0, 0), sigma_px)
    n /= max(float(n.std()), 1e-6)
    return 1.0 + amount * n


def surgical(shade: np.ndarray, s: Surface, rng: np.random.Generator) -> np.ndarray:
    """Three pleats, a bound edge band and a nose-wire ridge; fine paper-like noise."""
    u, v = s.u, s.v
    for vk in (0.34, 0.53, 0.72):
        d = v - vk
        shade = shade * (1 - 0.24 * np.exp(-((d / 0.011) ** 2)) - 0.10 * np.exp(-(((d - 0.03) / 0.025) ** 2))
                         + 0.07 * np.exp(-(((d + 0.035) / 0.03) ** 2)))
    band = (v < 0.07) | (v > 0.93) | (u < 0.035) | (u > 0.965)
    shade = shade * np.where(band, 0.93, 1.0)
    shade = shade * (1 - 0.12 * np.exp(-(((v - 0.07) / 0.006) ** 2)) - 0.12 * np.exp(-(((v - 0.93) / 0.006) ** 2)))
    shade = shade * (1 + 0.08 * np.exp(-(((u - 0.5) / 0.12) ** 2)) * np.exp(-((v / 0.05) ** 2)))
    return shade * noise(rng, s.shape, 0.6, 0.02)


def n95(shade: np.ndarray, s: Surface, rng: np.random.Generator) -> np.ndarray:
    """A domed cup with a moulded rim."""
    r2 = (2 * s.u - 1) ** 2 + (2 * s.v - 1.1) ** 2
    shade = shade * (0.8 + 0.26 * np.sqrt(np.clip(1 - 0.8 * r2, 0, 1)))
    rim = 0.035 * s.face_width
    shade = shade * (1 - 0.10 * (s.dist < rim) - 0.18 * np.exp(-(((s.dist - rim) / 0.8) ** 2)))
    return shade * noise(rng, s.shape, 1.2, 0.018)


def kn95(shade: np.ndarray, s: Surface, rng: np.random.Generator) -> np.ndarray:
    """A centre fold (two panels lit differently) and a dotted welded seam along the edge."""
    u, fw, wc = s.u, s.face_width, s.shape[1]
    shade = shade * (1 - 0.32 * np.exp(-(((u - 0.5) * (wc / 8.0)) ** 2 / 2.0)) / 1.0)
    shade = shade * np.where(u < 0.5, 1.04 - 0.08 * s.turn, 0.96 - 0.08 * s.turn)
    p = max(2.5, 0.018 * fw)
    band = (s.dist > 0.012 * fw) & (s.dist < 0.045 * fw)
    dots = (np.sin(s.xs * 2 * np.pi / p) * np.sin(s.ys * 2 * np.pi / p)) > 0.55
    shade = shade * np.where(band & dots, 0.86, 1.0)
    shade = shade * (1 - 0.15 * np.exp(-(((s.dist - 0.048 * fw) / 0.7) ** 2)))
    return shade * noise(rng, s.shape, 0.6, 0.02)


def cloth(shade: np.ndarray, s: Surface, rng: np.random.Generator) -> np.ndarray:
    """A woven texture, soft folds and a centre seam."""
    fw, wc = s.face_width, s.shape[1]
    p = max(2.0, 0.012 * fw)
    weave = 1 + 0.05 * np.sin(s.xs * 2 * np.pi / p) * np.sin(s.ys * 2 * np.pi / p)
    folds = noise(rng, s.shape, 0.08 * fw, 0.06)
    seam = 1 - 0.28 * np.exp(-(((s.u - 0.5) * wc / 2.0) ** 2))
    shade = shade * weave * folds * seam * noise(rng, s.shape, 0.7, 0.04)
    return shade * (1 - 0.15 * np.exp(-(((s.dist - 0.03 * fw) / 0.7) ** 2)))


def gas(shade: np.ndarray, s: Surface, rng: np.random.Generator) -> np.ndarray:
    """A rubber half mask: a deep dome with a specular highlight."""
    r2 = (2 * s.u - 1) ** 2 + (2 * s.v - 1.0) ** 2
    shade = shade * (0.7 + 0.4 * np.sqrt(np.clip(1 - 0.7 * r2, 0, 1)))
    shade = shade * (1 + 0.45 * np.exp(-(((s.u - 0.38) / 0.08) ** 2 + ((s.v - 0.3) / 0.1) ** 2)))
    shade = shade * (1 - 0.2 * np.exp(-(((s.dist - 0.02 * s.face_width) / 0.9) ** 2)))
    return shade * noise(rng, s.shape, 1.0, 0.015)


def ear_loops(corner: np.ndarray, low: np.ndarray, ear: np.ndarray, sgn: int, fw: float, nose: float
              ) -> list[np.ndarray]:
    """Two loops from the mask's upper and lower corner to the ear (one side; ``sgn`` -1 left, 1 right)."""
    return [bezier(corner, (corner + ear) / 2 + np.array([sgn * 0.02 * fw, -0.04 * nose]), ear),
            bezier(low, (low + ear) / 2 + np.array([sgn * 0.05 * fw, 0.1 * nose]), ear)]


def head_straps(corner: np.ndarray, low: np.ndarray, ear: np.ndarray, sgn: int, fw: float, nose: float
                ) -> list[np.ndarray]:
    """Two straps that run past the ear round the head, disappearing behind it above and below."""
    end_hi = ear + np.array([sgn * 0.03 * fw, -0.2 * nose])
    end_lo = np.array([ear[0] + sgn * 0.01 * fw, low[1] + 0.25 * nose])
    return [bezier(corner, (corner + end_hi) / 2 + np.array([0, -0.1 * nose]), end_hi),
            bezier(low, (low + end_lo) / 2 + np.array([0, 0.1 * nose]), end_lo)]


def bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 24) -> np.ndarray:
    """Quadratic Bezier curve from p0 to p2 pulled towards p1, (n, 2) points."""
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


#: MaskStyle.straps -> the strap paths of one side ("none": no entry, no straps)
STRAPS = {"ear": ear_loops, "head": head_straps}

Look = Callable[[np.ndarray, Surface, np.random.Generator], np.ndarray]
LOOKS: dict[str, Look] = {"surgical": surgical, "n95": n95, "kn95": kn95, "cloth": cloth, "gas": gas}


@dataclass(frozen=True)
class Anchors:
    """Face points (upright canvas frame, pixels) that extra parts are placed by."""

    low_left: np.ndarray  # the outline's bottom edge at mouth height, image left
    low_right: np.ndarray
    mouth_y: float
    ridge_x: float  # nose ridge
    face_width: float
    nose: float  # nose length
    turn: float
    far_left: bool  # the image-left side is turned away
    far_right: bool


def gas_filters(a: Anchors) -> list[tuple[str, np.ndarray, float]]:
    """Two filter cartridges low on the cheeks and an exhalation valve at the chin."""
    fw, nose = a.face_width, a.nose
    cy = a.mouth_y + 0.15 * nose
    r = 0.17 * fw
    extras = []
    for sgn, pt, far in ((-1, a.low_left, a.far_left), (1, a.low_right, a.far_right)):
        cx = pt[0] + sgn * 0.02 * fw - sgn * (0.03 * fw if far else 0.0)
        extras.append(("cartridge", np.array([cx, cy]), r * (0.8 if far else 1.0)))
    extras.append(("valve", np.array([a.ridge_x + 0.15 * a.turn * fw, a.mouth_y + 0.1 * nose]), 0.12 * fw))
    return extras


#: mask type -> the extra parts it draws over its body (types not listed draw none)
EXTRAS: dict[str, Callable[[Anchors], list[tuple[str, np.ndarray, float]]]] = {"gas": gas_filters}
