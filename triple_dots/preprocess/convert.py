"""``convert``: photos to JPEG or PNG (EXIF orientation applied, alpha dropped, 16-bit/CMYK/palette to
8-bit RGB); masks always lossless single-channel PNG.
"""

from __future__ import annotations

from typing import Literal

from triple_dots.dataset_folder import PairFacts
from triple_dots.errors import BadInputError
from triple_dots.files import copy_file
from triple_dots.images import hole_ratio, read_image_uint8, read_mask, write_image, write_mask
from triple_dots.preprocess.folders import Command, PairTask, Summary, out_paths, output_row, writes_output

ImageFormat = Literal["jpg", "png"]


def _convert_one(t: PairTask, *, suffix: str, quality: int) -> dict[str, str]:
    pair = t.pair
    paths = out_paths(t.out, pair, image_suffix=suffix)
    image = read_image_uint8(pair.image)
    write_image(paths.image, image, overwrite=t.overwrite, quality=quality)
    ratio = None
    if pair.mask is not None and paths.mask is not None:
        mask = read_mask(pair.mask)
        ratio = hole_ratio(mask)
        write_mask(paths.mask, mask, overwrite=t.overwrite)
    if pair.meta is not None and paths.meta is not None:
        copy_file(pair.meta, paths.meta, overwrite=t.overwrite)
    return output_row(pair, paths, PairFacts(image.shape[1], image.shape[0], ratio), t.out)


@writes_output
def convert(cmd: Command, *, to: ImageFormat = "jpg", quality: int = 95) -> Summary:
    """Write every pair of ``src`` with photos as ``to`` (``"jpg"`` at ``quality`` 1-100, or ``"png"``)
    and masks as single-channel PNG (255 = hole) into the new dataset folder ``out``."""
    to = to.lower().lstrip(".")  # type: ignore[assignment]
    if to == "jpeg":
        to = "jpg"
    if to not in ("jpg", "png"):
        raise BadInputError(f"convert: format must be 'jpg' or 'png', got {to!r}")
    if not 1 <= quality <= 100:
        raise BadInputError(f"convert: JPEG quality must be 1..100, got {quality}")
    rows = cmd.run(_convert_one, cmd.checked_pairs(), suffix=f".{to}", quality=quality)
    cmd.summary.notes.append(f"photos as {to}" + (f" (quality {quality})" if to == "jpg" else ""))
    return cmd.finish(rows)
