"""Fit a photo, its hole mask and its face coordinates into a square through one object, so they never drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from triple_dots.errors import BadInputError
from triple_dots.images import resize_hole

FitMode = Literal["crop", "pad"]
PadMode = Literal["constant", "reflect", "edge"]

_CV_BORDER = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101, "edge": cv2.BORDER_REPLICATE}


#: Largest output side: a 8192 x 8192 RGB float32 picture already takes 805 MB.
MAX_SIZE = 8192


@dataclass(frozen=True)
class SquareFit:
    """Centre-crop (``mode="crop"``) or pad (``mode="pad"``) a ``width`` x ``height`` picture to a
    square, then resize it to ``size`` x ``size`` pixels.

    ``pad`` keeps the whole picture and fills the margins (``pad_mode``: black ``constant``,
    ``reflect`` or ``edge``; hole masks are always padded with 0 = keep). With ``center`` (x, y in
    source pixels, e.g. a face box centre) the crop is centred there instead, kept inside the picture.
    """

    width: int
    height: int
    size: int
    mode: FitMode = "crop"
    pad_mode: PadMode = "constant"
    center: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_SIZE:
            raise BadInputError(f"size (--size) must be a whole number of pixels in 1..{MAX_SIZE}, got {self.size}")
        if self.width < 1 or self.height < 1:
            raise BadInputError(f"picture size must be positive, got {self.width}x{self.height}")
        if self.mode not in ("crop", "pad"):
            raise BadInputError(f"fit mode must be 'crop' or 'pad', got {self.mode!r}")
        if self.pad_mode not in _CV_BORDER:
            raise BadInputError(f"pad mode must be one of {sorted(_CV_BORDER)}, got {self.pad_mode!r}")

    @property
    def side(self) -> int:
        """Side of the square cut from (or padded around) the source, in source pixels."""
        return min(self.width, self.height) if self.mode == "crop" else max(self.width, self.height)

    @property
    def offset(self) -> tuple[int, int]:
        """(x0, y0): source position of the square's top-left corner (negative when padding)."""
        if self.mode == "crop" and self.center is not None:
            cx, cy = self.center
            x0 = min(max(int(round(cx - self.side / 2)), 0), self.width - self.side)
            y0 = min(max(int(round(cy - self.side / 2)), 0), self.height - self.side)
            return x0, y0
        return (self.width - self.side) // 2, (self.height - self.side) // 2

    @property
    def scale(self) -> float:
        """Output pixels per source pixel."""
        return self.size / self.side

    def _square(self, arr: np.ndarray, border: int, value: float | int) -> np.ndarray:
        x0, y0 = self.offset
        if self.mode == "crop":
            return arr[y0 : y0 + self.side, x0 : x0 + self.side]
        left, top = -x0, -y0
        right, bottom = self.side - self.width - left, self.side - self.height - top
        if not (left or top or right or bottom):
            return arr
        return cv2.copyMakeBorder(arr, top, bottom, left, right, border, value=value)  # value: constant border only

    def _check(self, arr: np.ndarray) -> None:
        if arr.shape[0] != self.height or arr.shape[1] != self.width:
            raise BadInputError(
                f"array of shape {arr.shape} does not match the {self.width}x{self.height} picture this fit was made "
                "for"
            )

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 or float32 photo -> (size, size, C), same dtype (``INTER_AREA`` / ``INTER_LANCZOS4``)."""
        self._check(image)
        sq = self._square(image, _CV_BORDER[self.pad_mode], (0, 0, 0, 0))
        if self.side == self.size:
            return np.ascontiguousarray(sq)
        interp = cv2.INTER_AREA if self.side > self.size else cv2.INTER_LANCZOS4
        out = cv2.resize(sq, (self.size, self.size), interpolation=interp)
        if out.ndim == 2 and image.ndim == 3:
            out = out[..., None]
        if image.dtype == np.float32:
            out = np.clip(out, 0.0, 1.0)
        return out

    def apply_mask(self, mask: np.ndarray) -> np.ndarray:
        """(H, W) two-valued mask ({0, 1} or {0, 255}, any dtype; binarised at half its maximum) -> (size, size),
        same two values, padding 0 (keep), resized by :func:`~triple_dots.images.resize_hole`."""
        self._check(mask)
        high = 255 if mask.dtype == np.uint8 and mask.max(initial=0) > 1 else 1
        m = (mask > high / 2).astype(np.uint8)
        sq = self._square(m, cv2.BORDER_CONSTANT, 0)
        if self.side != self.size:
            sq = resize_hole(sq, (self.size, self.size))
        return (sq > 0).astype(mask.dtype) * mask.dtype.type(high)

    def apply_coords(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) (x, y) pixel-centre coordinates in the source -> the same points in the output."""
        xy = np.asarray(xy, dtype=np.float64)
        x0, y0 = self.offset
        return (xy - np.array([x0, y0]) + 0.5) * self.scale - 0.5

    def apply_box(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) pixel-edge box -> output box, rounded and clipped to the square."""
        x0, y0 = self.offset
        vals = [(b - o) * self.scale for b, o in zip(box, (x0, y0, x0, y0), strict=True)]
        return tuple(int(round(min(max(v, 0), self.size))) for v in vals)  # type: ignore[return-value]
