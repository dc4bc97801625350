"""``resize``: every pair to one square size by centre-crop, face-centred crop or pad
(:class:`~triple_dots.square_fit.SquareFit`: photos area/Lanczos; masks by :func:`~triple_dots.images.resize_hole`,
a pixel is hole when any hole pixel lies under it, exactly {0, 255})."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from triple_dots.dataset_folder import Meta, PairFacts, read_meta, write_meta
from triple_dots.errors import BadInputError
from triple_dots.images import hole_ratio, mask_to_uint8, read_image_uint8, read_mask, write_image, write_mask
from triple_dots.preprocess.folders import Command, PairTask, Summary, out_paths, output_row, writes_output
from triple_dots.square_fit import PadMode, SquareFit


def fit_meta(meta: Meta, fit: SquareFit) -> Meta:
    """Meta with ``image_size``, face boxes and landmarks moved into the fitted square."""
    faces = []
    for face in meta.faces:
        face = dict(face)
        if face.get("box") is not None:
            face["box"] = list(fit.apply_box(tuple(face["box"])))
        if face.get("landmarks") is not None:
            face["landmarks"] = [[round(x, 2), round(y, 2)] for x, y in fit.apply_coords(face["landmarks"]).tolist()]
        faces.append(face)
    return dataclasses.replace(meta, image_size=(fit.size, fit.size), faces=faces)


ResizeFit = Literal["crop", "face", "pad"]


def face_center(meta: Meta | None, hole: np.ndarray | None) -> tuple[tuple[float, float] | None, str]:
    """Centre (x, y) for a face-centred crop and what was used: the largest face box in ``meta``, else the
    bounding box of ``hole`` ((H, W), nonzero = hole), else None."""
    boxes = [f["box"] for f in (meta.faces if meta else []) if f.get("box") is not None]
    if boxes:
        x0, y0, x1, y1 = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        return ((x0 + x1) / 2, (y0 + y1) / 2), "face box"
    if hole is not None and hole.any():
        ys, xs = np.nonzero(hole)
        return ((xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2), "hole"
    return None, "centre"


def _resize_one(t: PairTask, *, size: int, fit: ResizeFit, pad_mode: PadMode, quality: int) -> dict[str, str]:
    pair = t.pair
    image = read_image_uint8(pair.image)
    h, w = image.shape[:2]
    mask = mask_to_uint8(read_mask(pair.mask)) if pair.mask is not None else None
    meta = read_meta(pair.meta) if pair.meta is not None else None
    center, used = face_center(meta, mask) if fit == "face" else (None, "centre")
    square = SquareFit(w, h, size, "pad" if fit == "pad" else "crop", pad_mode, center)
    paths = out_paths(t.out, pair)
    write_image(paths.image, square.apply_image(image), overwrite=t.overwrite, quality=quality)
    ratio = None
    if mask is not None and paths.mask is not None:
        mask = square.apply_mask(mask)
        ratio = hole_ratio(mask)
        write_mask(paths.mask, mask, overwrite=t.overwrite)
    if meta is not None and paths.meta is not None:
        meta = fit_meta(meta, square)
        if ratio is not None:
            meta.hole_ratio = ratio
        step = {"command": "resize", "from_size": [w, h], "size": size, "fit": fit, "offset": list(square.offset)}
        write_meta(paths.meta, meta, step, overwrite=t.overwrite)
    row = output_row(pair, paths, PairFacts(size, size, ratio), t.out)
    row["_centred_on"] = used
    return row


@writes_output
def resize(
    cmd: Command,
    *,
    size: int,
    fit: ResizeFit = "crop",
    pad_mode: PadMode = "constant",
    quality: int = 95,
) -> Summary:
    """Write every pair of ``src`` resized to ``size`` x ``size`` into the new dataset folder ``out``.

    ``fit="crop"`` cuts the centre square; ``"face"`` the largest square centred on the largest face box
    in ``meta/NAME.json`` (else on the hole); ``"pad"`` keeps the whole photo and fills the margins
    (``pad_mode``: black ``constant``, ``reflect``, ``edge``; masks padded with 0 = keep). ``quality``:
    JPEG/WebP quality. A photos-only folder is resized without masks.
    """
    if fit not in ("crop", "face", "pad"):
        raise BadInputError(f"resize: fit must be 'crop', 'face' or 'pad', got {fit!r}")
    SquareFit(1, 1, size, "crop", pad_mode)  # validates the arguments before any work
    rows = cmd.run(_resize_one, cmd.checked_pairs(), size=size, fit=fit, pad_mode=pad_mode, quality=quality)
    cmd.summary.notes.append(f"{size}x{size} by {fit}")
    used = [r.pop("_centred_on") for r in rows]
    if fit == "face":
        n_hole, n_none = used.count("hole"), used.count("centre")
        if n_hole or n_none:
            cmd.summary.notes.append(f"no face box for {n_hole + n_none} pair(s): centred on the hole ({n_hole}) "
                                     f"or the picture centre ({n_none})")  # fmt: skip
    return cmd.finish(rows)
