"""``pair``: keep only photos that have a mask with the same stem, and list (or move) the rest; nothing is deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

from triple_dots.dataset_folder import IMAGES_DIR, MASKS_DIR, scan_folder
from triple_dots.errors import BadInputError, OutputExistsError, where
from triple_dots.preprocess import folders

UNMATCHED_NAME = "unmatched.csv"


def _move(files: list[Path], dest: Path) -> None:
    for f in files:
        target = dest / f.name
        if target.exists():
            raise OutputExistsError(f"cannot move {where(f)}: {where(target)} already exists (nothing is replaced)")
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.move(str(f), str(dest / f.name))


@folders.writes_output
def pair(
    cmd: folders.Command,
    *,
    masks: str | Path | None = None,
    meta: str | Path | None = None,
    move_unmatched: str | Path | None = None,
) -> folders.Summary:
    """Copy the matched photo/mask pairs of ``src`` byte for byte into the new dataset folder ``out``.

    ``src`` is a dataset ROOT (``images/`` + ``masks/``) or, with ``masks``, a folder of photos
    (``meta``: a folder of ``NAME.json`` to carry along). Photos without a mask and masks without a
    photo are listed in ``OUT/unmatched.csv``; with ``move_unmatched`` they are also *moved* to
    ``move_unmatched/images`` and ``/masks`` (never replacing a file). Duplicate stems are bad files.
    """
    cmd.src = src = Path(cmd.src)
    folders.check_output(cmd.out, [src] + [Path(d) for d in (masks, meta) if d is not None], overwrite=cmd.overwrite)
    scan = scan_folder(src, mask_dir=masks, meta_dir=meta)
    if scan.mask_dir is None:
        raise BadInputError(f"pair: {where(src)} has no masks/ folder; pass the mask folder with --masks DIR")
    if not (scan.pairs or scan.images_only or scan.masks_only or scan.problems):
        raise BadInputError(f"pair: {where(scan.image_dir)} and {where(scan.mask_dir)} hold no images")
    dest = Path(move_unmatched) if move_unmatched is not None else None
    clash = [d for d in (scan.image_dir, scan.mask_dir, cmd.out) if dest and dest.resolve() == d.resolve()]
    if clash:
        raise BadInputError(f"pair: --move-unmatched {where(move_unmatched)} must differ from {where(clash[0])}")
    good = cmd.check(scan.pairs, scan.problems)
    inputs = folders.input_folders(src, [p for p, _ in good]) | {scan.image_dir, scan.mask_dir}
    folders.check_output(cmd.out, inputs, overwrite=cmd.overwrite)
    rows = cmd.run(folders.copy_task, good)
    unmatched = [(f, "photo without mask", IMAGES_DIR) for f in scan.images_only]
    unmatched += [(f, "mask without photo", MASKS_DIR) for f in scan.masks_only]
    listed = [[f.as_posix(), why, (dest / kind / f.name).as_posix() if dest else ""] for f, why, kind in unmatched]
    listed += [[p.path.as_posix(), f"bad: {p}", ""] for p in cmd.summary.problems]
    folders.write_csv(cmd.out / UNMATCHED_NAME, ["file", "reason", "moved_to"], listed, overwrite=cmd.overwrite)
    if dest is not None:
        _move(scan.images_only, dest / IMAGES_DIR)
        _move(scan.masks_only, dest / MASKS_DIR)
    n_img, n_mask = len(scan.images_only), len(scan.masks_only)
    verb = f"moved to {where(move_unmatched)}" if dest is not None else f"listed in {UNMATCHED_NAME}"
    cmd.summary.notes.append(f"unmatched: {n_img} photo(s) without mask, {n_mask} mask(s) without photo ({verb})")
    return cmd.finish(rows)
