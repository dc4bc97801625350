"""``enlarge``: grow hole masks so the hole covers the whole medical mask; each way only *adds* hole pixels:
``pixels=N`` dilates by N pixels (:func:`triple_dots.images.grow_hole`), ``face_fraction=F`` by F x the face
box size from ``meta/NAME.json`` (:func:`dilate_by_face`), ``scale=S`` enlarges each hole S times (:func:`scale_holes`).
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
    _, labels, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    return [(labels == i, (int(x), int(y), int(x + w), int(y + h))) for i, (x, y, w, h, _) in enumerate(stats) if i]


def dilate_by_face(mask: np.ndarray, fraction: float, face_boxes: Sequence[Box] = ()) -> tuple[np.ndarray, int]:
    """Grow each hole region by ``fraction`` x (width + height) / 2 of the face box it overlaps most, or of its
    own bounding box when it touches none. Returns ((H, W) bool hole, number of regions that used their own box)."""
    if fraction < 0:
        raise BadInputError(f"enlarge: face fraction must be >= 0, got {fraction}")
    hole = as_hole(mask)
    out = hole.copy()
    fallbacks = 0
    for region, bbox in _components(hole):
        overlaps = [max(min(bbox[2], b[2]) - max(bbox[0], b[0]), 0) * max(min(bbox[3], b[3]) - max(bbox[1], b[1]), 0)
                    for b in face_boxes]
        if overlaps and max(overlaps) > 0:
            ref = face_boxes[int(np.argmax(overlaps))]
        else:
            ref, fallbacks = bbox, fallbacks + 1
        pixels = fraction * ((ref[2] - ref[0]) + (ref[3] - ref[1])) / 2
        out |= grow_hole(region, pixels)
    return out, fallbacks


def scale_holes(mask: np.ndarray, factor: float) -> np.ndarray:
    """Each hole region's bounding box enlarged ``factor`` times about its centre (the one hole resize rule,
    :func:`triple_dots.images.resize_hole`) and pasted over the original hole. Returns (H, W) bool."""
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
        bx, by = int(round((x0 + x1) / 2 - nw / 2)), int(round((y0 + y1) / 2 - nh / 2))
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
    # finite and bounded (NaN emptied every hole, inf filled it); the bounds are the CLI's
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


def _enlarge_one(t: PairTask, **how: float | None) -> dict[str, str]:
    pair = t.pair
    paths = out_paths(t.out, pair)
    meta = read_meta(pair.meta) if pair.meta is not None else None
    boxes = [tuple(f["box"]) for f in (meta.faces if meta else []) if f.get("box") is not None]
    assert pair.mask is not None and paths.mask is not None
    hole, fallbacks = enlarge_mask(mask_to_uint8(read_mask(pair.mask)), face_boxes=boxes, **how)
    ratio = hole_ratio(hole)
    copy_file(pair.image, paths.image, overwrite=t.overwrite)
    write_mask(paths.mask, hole.astype(np.uint8), overwrite=t.overwrite)
    if meta is not None and paths.meta is not None:
        step = {"command": "enlarge", **how, "hole_ratio_before": round(t.facts.hole_ratio or 0.0, 6)}
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
    """Write every pair of ``src`` with its hole grown (see :func:`enlarge_mask`) into the new dataset folder
    ``out``; photos are copied byte for byte, meta gets the new ``hole_ratio``."""
    how = {"pixels": pixels, "face_fraction": face_fraction, "scale": scale}
    enlarge_mask(np.zeros((1, 1), bool), **how)  # checks args
    rows = cmd.run(_enlarge_one, cmd.checked_pairs(require_masks=True), **how)
    grown = (("scale x{:g}", scale), ("+{:g} px", pixels), ("+{:g} x face box", face_fraction))
    cmd.summary.notes.append("holes grown by " + ", ".join(f.format(v) for f, v in grown if v is not None))
    fallbacks = [int(r.pop("_fallbacks")) for r in rows]
    no_meta = sum(1 for r in rows if r.pop("_no_meta"))
    if face_fraction is not None and sum(fallbacks):
        cmd.summary.notes.append(
            f"{sum(fallbacks)} hole region(s) in {sum(1 for n in fallbacks if n)} pair(s) had no face box "
            f"({no_meta} pair(s) without meta) and used the hole's own bounding box"
        )
    return cmd.finish(rows)
