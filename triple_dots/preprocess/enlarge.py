"""``enlarge``: grow hole masks so the hole covers the whole medical mask.

Three ways, each only ever *adds* hole pixels (the result contains the input hole):

* ``pixels=N``: dilate by N pixels (the one hole dilation, :func:`triple_dots.images.grow_hole`:
  Euclidean distance, rounded to whole pixels).
* ``face_fraction=F``: dilate each hole region by F x the size of its face box (from
  ``meta/NAME.json``: mean of box width and height). Without meta, or when no face box touches
  a region, that region's own bounding box is used instead, and the summary says how often.
* ``scale=S``: the seed's "crop and enlarge": cut each hole region's bounding box, enlarge it
  S times about its centre (the one hole resize rule, :func:`triple_dots.images.resize_hole`), and
  paste it back over the original hole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np

from triple_dots.dataset_folder import PairFacts, read_meta, write_meta
from triple_dots.errors import BadInputError
from triple_dots.files import copy_file
from triple_dots.images import as_hole, grow_hole, hole_ratio, mask_to_uint8, read_mask, resize_hole, write_mask
from triple_dots.preprocess.folders import Command, PairTask, Summary, out_paths, output_row, writes_output

Box = tuple[float, float, float, float]


def _components(hole: np.ndarray) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Connected hole regions (8-connected): (region mask, (x0, y0, x1, y1) pixel-edge bbox)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h = stats[i, :4]
        out.append((labels == i, (int(x), int(y), int(x + w), int(y + h))))
    return out


def _overlap(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def dilate_by_face(mask: np.ndarray, fraction: float, face_boxes: Sequence[Box] = ()) -> tuple[np.ndarray, int]:
    """Grow each hole region by ``fraction`` x its face box size ((width + height) / 2 of the box).

    A region uses the face box it overlaps most; a region touching no box uses its own bounding
    box. Returns ((H, W) bool hole, number of regions that fell back to their own box).
    """
    if fraction < 0:
        raise BadInputError(f"enlarge: face fraction must be >= 0, got {fraction}")
    hole = as_hole(mask)
    out = hole.copy()
    fallbacks = 0
    for region, bbox in _components(hole):
        overlaps = [_overlap(bbox, b) for b in face_boxes]
        if overlaps and max(overlaps) > 0:
            ref = face_boxes[int(np.argmax(overlaps))]
        else:
            ref, fallbacks = bbox, fallbacks + 1
        pixels = fraction * ((ref[2] - ref[0]) + (ref[3] - ref[1])) / 2
        out |= grow_hole(region, pixels)
    return out, fallbacks


def scale_holes(mask: np.ndarray, factor: float) -> np.ndarray:
    """The seed's crop-and-enlarge: each hole region's bounding box enlarged ``factor`` times about its
    centre and pasted over the original hole. Returns (H, W) bool; ``factor = 1`` is the identity."""
    if factor < 1:
        raise BadInputError(f"enlarge: scale must be >= 1 (it only grows holes), got {factor}")
    hole = as_hole(mask)
    out = hole.copy()
    if factor == 1:
        return out
    height, width = hole.shape
    for region, (x0, y0, x1, y1) in _components(hole):
        crop = region[y0:y1, x0:x1].astype(np.uint8)
        w, h = x1 - x0, y1 - y0
        nw, nh = max(w, round(w * factor)), max(h, round(h * factor))
        big = resize_hole(crop, (nh, nw)).astype(bool)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        bx, by = int(round(cx - nw / 2)), int(round(cy - nh / 2))
        sx0, sy0 = max(bx, 0), max(by, 0)
        sx1, sy1 = min(bx + nw, width), min(by + nh, height)
        out[sy0:sy1, sx0:sx1] |= big[sy0 - by : sy1 - by, sx0 - bx : sx1 - bx]
    return out


def enlarge_mask(
    mask: np.ndarray,
    *,
    pixels: float | None = None,
    face_fraction: float | None = None,
    scale: float | None = None,
    face_boxes: Sequence[Box] = (),
) -> tuple[np.ndarray, int]:
    """Apply ``scale`` (first, if given) then ``pixels`` or ``face_fraction`` dilation.

    Returns ((H, W) bool hole, regions that used their own box for ``face_fraction``).
    """
    if pixels is not None and face_fraction is not None:
        raise BadInputError("enlarge: give pixels or face_fraction, not both")
    if pixels is None and face_fraction is None and scale is None:
        raise BadInputError("enlarge: give pixels (--pixels), face_fraction (--face-fraction) or scale (--scale)")
    # NaN compares false with everything: without these checks --pixels nan emptied every hole
    # and --pixels inf made every mask all-hole. The bounds match the CLI's (triple_dots.cli.values).
    for name, value, lo, hi in (("pixels", pixels, 0.0, 1024.0), ("face_fraction", face_fraction, 0.0, 4.0),
                                ("scale", scale, 1.0, 16.0)):  # fmt: skip
        if value is not None and not (isinstance(value, (int, float)) and lo <= float(value) <= hi):
            raise BadInputError(f"enlarge: {name} must be >= {lo:g} and <= {hi:g} (a finite number; "
                                f"--{name.replace('_', '-')}), got {value!r}")  # fmt: skip
    hole = as_hole(mask)
    fallbacks = 0
    if scale is not None:
        hole = scale_holes(hole, scale)
    if pixels is not None:
        hole = grow_hole(hole, pixels)
    if face_fraction is not None:
        hole, fallbacks = dilate_by_face(hole, face_fraction, face_boxes)
    return hole, fallbacks


def _enlarge_one(
    t: PairTask, *, pixels: float | None, face_fraction: float | None, scale: float | None
) -> dict[str, str]:
    pair = t.pair
    paths = out_paths(t.out, pair)
    meta = read_meta(pair.meta) if pair.meta is not None else None
    boxes = [tuple(f["box"]) for f in (meta.faces if meta else []) if f.get("box") is not None]
    assert pair.mask is not None and paths.mask is not None
    hole, fallbacks = enlarge_mask(
        mask_to_uint8(read_mask(pair.mask)), pixels=pixels, face_fraction=face_fraction, scale=scale, face_boxes=boxes
    )
    ratio = hole_ratio(hole)
    copy_file(pair.image, paths.image, overwrite=t.overwrite)
    write_mask(paths.mask, hole.astype(np.uint8), overwrite=t.overwrite)
    if meta is not None and paths.meta is not None:
        step = {"command": "enlarge", "pixels": pixels, "face_fraction": face_fraction, "scale": scale,
                "hole_ratio_before": round(t.facts.hole_ratio or 0.0, 6)}  # fmt: skip
        write_meta(paths.meta, dataclasses.replace(meta, hole_ratio=ratio), step, overwrite=t.overwrite)
    row = output_row(pair, paths, PairFacts(t.facts.width, t.facts.height, ratio), t.out)
    row["_fallbacks"], row["_no_meta"] = str(fallbacks), "1" if meta is None else ""
    return row


@writes_output
def enlarge(
    cmd: Command,
    *,
    pixels: float | None = None,
    face_fraction: float | None = None,
    scale: float | None = None,
) -> Summary:
    """Write every pair of ``src`` with its hole grown (see the module docstring) into the new
    dataset folder ``out``; photos are copied byte for byte, meta gets the new ``hole_ratio``."""
    enlarge_mask(np.zeros((1, 1), bool), pixels=pixels, face_fraction=face_fraction, scale=scale)  # checks args
    good = cmd.checked_pairs(require_masks=True)
    rows = cmd.run(_enlarge_one, good, pixels=pixels, face_fraction=face_fraction, scale=scale)
    how = [f"scale x{scale:g}" if scale is not None else "", f"+{pixels:g} px" if pixels is not None else ""]
    how.append(f"+{face_fraction:g} x face box" if face_fraction is not None else "")
    cmd.summary.notes.append("holes grown by " + ", ".join(h for h in how if h))
    fallbacks = [int(r.pop("_fallbacks")) for r in rows]
    no_meta = sum(1 for r in rows if r.pop("_no_meta"))
    if face_fraction is not None and sum(fallbacks):
        cmd.summary.notes.append(
            f"{sum(fallbacks)} hole region(s) in {sum(1 for n in fallbacks if n)} pair(s) had no face box "
            f"({no_meta} pair(s) without meta) and used the hole's own bounding box"
        )
    return cmd.finish(rows)
