"""``convert``: photos to JPEG (with a quality setting) or PNG; masks always lossless single-channel PNG.

Photos are decoded with EXIF orientation applied (so the output stands upright without EXIF),
alpha is dropped, and 16-bit/CMYK/palette files become 8-bit RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from triple_dots.dataset_folder import Pair, PairFacts
from triple_dots.errors import BadInputError
from triple_dots.files import copy_file
from triple_dots.images import hole_ratio, read_image_uint8, read_mask, write_image, write_mask
from triple_dots.preprocess.folders import (
    Summary,
    check_output,
    checked_pairs,
    finish,
    input_folders,
    out_paths,
    output_row,
    run_tasks,
    writes_output,
)

ImageFormat = Literal["jpg", "png"]


@dataclass(frozen=True)
class _Task:
    pair: Pair
    out: Path
    suffix: str
    quality: int
    overwrite: bool


def _convert_one(t: _Task) -> dict[str, str]:
    pair = t.pair
    paths = out_paths(t.out, pair, image_suffix=t.suffix)
    image = read_image_uint8(pair.image)
    write_image(paths.image, image, overwrite=t.overwrite, quality=t.quality)
    ratio = None
    if pair.mask is not None and paths.mask is not None:
        mask = read_mask(pair.mask)
        ratio = hole_ratio(mask)
        write_mask(paths.mask, mask, overwrite=t.overwrite)
    if pair.meta is not None and paths.meta is not None:
        copy_file(pair.meta, paths.meta, overwrite=t.overwrite)
    return output_row(pair, paths, PairFacts(image.shape[1], image.shape[0], ratio), t.out)


@writes_output
def convert(
    src: str | Path,
    out: str | Path,
    *,
    to: ImageFormat = "jpg",
    quality: int = 95,
    overwrite: bool = False,
    skip_bad: bool = False,
    workers: int | None = 1,
    progress: bool = True,
) -> Summary:
    """Write every pair of ``src`` with photos as ``to`` (``"jpg"`` at ``quality`` 1-100, or ``"png"``)
    and masks as single-channel PNG (255 = hole) into the new dataset folder ``out``."""
    to = to.lower().lstrip(".")  # type: ignore[assignment]
    if to == "jpeg":
        to = "jpg"
    if to not in ("jpg", "png"):
        raise BadInputError(f"convert: format must be 'jpg' or 'png', got {to!r}")
    if not 1 <= quality <= 100:
        raise BadInputError(f"convert: JPEG quality must be 1..100, got {quality}")
    summary = Summary("convert", Path(out))
    check_output(out, [src], overwrite=overwrite)
    good = checked_pairs(src, summary, require_masks=None, skip_bad=skip_bad, workers=workers, progress=progress)
    check_output(out, input_folders(src, [p for p, _ in good]), overwrite=overwrite)
    tasks = [_Task(p, Path(out), f".{to}", quality, overwrite) for p, _ in good]
    rows = run_tasks(_convert_one, tasks, summary, skip_bad=skip_bad, workers=workers, desc="convert", progress=progress)
    summary.notes.append(f"photos as {to}" + (f" (quality {quality})" if to == "jpg" else ""))
    return finish(Path(out), rows, summary, overwrite=overwrite)
