"""Landmarks drawn on a photo, and the hole-coverage check.

Photos (3, H, W) float in [0, 1] or (H, W, 3) uint8; hole masks (1, H, W) in {0, 1}, 1 = hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from triple_dots.images import _is_tensor, as_rgb_uint8
from triple_dots.masks.landmarks import Face

if TYPE_CHECKING:
    import torch

#: Colours (RGB) of the landmark groups: jaw, brows, nose, eyes, mouth.
GROUP_COLORS: dict[str, tuple[tuple[int, int], tuple[int, int, int]]] = {
    "jaw": ((0, 17), (255, 210, 0)),
    "brows": ((17, 27), (255, 120, 0)),
    "nose": ((27, 36), (0, 220, 255)),
    "eyes": ((36, 48), (60, 255, 60)),
    "mouth": ((48, 68), (255, 60, 160)),
}


def draw_landmarks(image: np.ndarray | torch.Tensor, faces: Sequence[Face], *, numbers: bool = False) -> np.ndarray:
    """The photo with each face's box and 68 landmarks drawn, coloured by group; (H, W, 3) uint8."""
    out = as_rgb_uint8(image).copy()
    for face in faces:
        x0, y0, x1, y1 = face.box
        size = max(x1 - x0, 1)
        r = max(1, round(size / 90))
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), max(1, r // 2), cv2.LINE_AA)
        for (a, b), color in GROUP_COLORS.values():
            for i in range(a, b):
                x, y = face.landmarks[i]
                cv2.circle(out, (int(round(x)), int(round(y))), r, color, -1, cv2.LINE_AA)
                if numbers:
                    cv2.putText(out, str(i), (int(x) + r, int(y) - r), cv2.FONT_HERSHEY_SIMPLEX,
                                max(0.25, size / 800), color, 1, cv2.LINE_AA)
    return out


@dataclass(frozen=True)
class Coverage:
    """How well a hole mask covers what a drawing changed, in pixels."""

    changed: int  # pixels whose 8-bit value differs between the photos
    hole: int
    uncovered: int  # changed pixels outside the hole (must be 0)
    fringe: int  # changed by at most ``fringe_level`` in every channel: the faint anti-aliased edge

    @property
    def complete(self) -> bool:
        """True when every changed pixel is inside the hole."""
        return self.uncovered == 0

    @property
    def fraction(self) -> float:
        """Covered share of the changed pixels (1.0 = all)."""
        return 1.0 if self.changed == 0 else 1.0 - self.uncovered / self.changed


def _compare(original, masked, hole_mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(masked photo (H, W, 3) uint8, hole (H, W) bool, per-pixel max 8-bit channel difference (H, W))."""
    a, b = as_rgb_uint8(original), as_rgb_uint8(masked)
    hole = (hole_mask.detach().cpu().numpy() if _is_tensor(hole_mask) else np.asarray(hole_mask))
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(2)
    return b, hole.reshape(a.shape[:2]) > 0, diff


def check_coverage(original: np.ndarray | torch.Tensor, masked: np.ndarray | torch.Tensor,
                   hole_mask: np.ndarray | torch.Tensor, *, fringe_level: int = 8) -> Coverage:
    """Compare the photo before and after masking with the hole mask (1 = hole), at 8 bits."""
    _, hole, diff = _compare(original, masked, hole_mask)
    changed = diff > 0
    return Coverage(
        changed=int(changed.sum()),
        hole=int(hole.sum()),
        uncovered=int((changed & ~hole).sum()),
        fringe=int((changed & (diff <= fringe_level)).sum()),
    )


def coverage_picture(original: np.ndarray | torch.Tensor, masked: np.ndarray | torch.Tensor,
                     hole_mask: np.ndarray | torch.Tensor) -> np.ndarray:
    """Gray photo, hole in green, changed pixels outside the hole in red; (H, W, 3) uint8.

    Faint changes (<= 8 levels) inside the hole are yellow: the fringe a threshold on the drawn colour would miss.
    """
    b, hole, diff = _compare(original, masked, hole_mask)
    gray = cv2.cvtColor(cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = (gray * 0.6).astype(np.uint8)
    out[hole] = (0.5 * out[hole] + 0.5 * np.array([40, 200, 80])).astype(np.uint8)
    out[hole & (diff > 0) & (diff <= 8)] = (255, 230, 0)
    out[(diff > 0) & ~hole] = (255, 0, 0)
    return out
