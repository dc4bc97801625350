"""``pair``: keep only photos that have a mask with the same stem, and list the rest.

The seed's ``--compare_dir`` *deleted* every photo without a mask. Here the matched pairs are
copied (byte for byte) to a new dataset folder and the unmatched files are listed in
``OUT/unmatched.csv``; ``move_unmatched`` moves them to another folder on request. Nothing is
ever deleted.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

from triple_dots.dataset_folder import (
    IMAGES_DIR,
    MASKS_DIR,
    BadDatasetError,
    Pair,
    PairFacts,
    scan_folder,
    validate_pairs,
)
from triple_dots.errors import BadInputError, OutputExistsError, where
from triple_dots.files import atomic_write_text
from triple_dots.preprocess.folders import (
    SKIP_HINT,
    Summary,
    check_output,
    copy_pair,
    finish,
    input_folders,
    out_paths,
    output_row,
    run_tasks,
    writes_output,
)

UNMATCHED_NAME = "unmatched.csv"


@dataclass(frozen=True)
class _Task:
    pair: Pair
    facts: PairFacts
    out: Path
    overwrite: bool


def _pair_one(t: _Task) -> dict[str, str]:
    pair = t.pair
    paths = out_paths(t.out, pair)
    copy_pair(pair, paths, overwrite=t.overwrite)
    return output_row(pair, paths, t.facts, t.out)


def _move(files: list[Path], dest: Path) -> None:
    for f in files:
        target = dest / f.name
        if target.exists():
            raise OutputExistsError(f"cannot move {where(f)}: {where(target)} already exists (nothing is replaced)")
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.move(str(f), str(dest / f.name))


@writes_output
def pair(
    src: str | Path,
    out: str | Path,
    *,
    masks: str | Path | None = None,
    meta: str | Path | None = None,
    move_unmatched: str | Path | None = None,
    overwrite: bool = False,
    skip_bad: bool = False,
    workers: int | None = 1,
    progress: bool = True,
) -> Summary:
    """Copy the matched photo/mask pairs of ``src`` into the new dataset folder ``out``.

    ``src`` is a dataset ROOT (``images/`` + ``masks/``) or, with ``masks`` given, a folder of
    photos and ``masks`` the folder of masks (``meta``: a folder of ``NAME.json`` to carry along,
    e.g. the ``meta/`` written by mask synthesis). Photos without a mask and masks without a photo
    are listed in ``OUT/unmatched.csv``; with ``move_unmatched`` they are also *moved* to
    ``move_unmatched/images`` and ``move_unmatched/masks`` (never deleted, never replacing a
    file). Matched pairs are checked first (bad files stop the command unless ``skip_bad``);
    duplicate stems (``a.jpg`` + ``a.png``) are bad files too.
    """
    src = Path(src)
    summary = Summary("pair", Path(out))
    check_output(out, [src] + [Path(d) for d in (masks, meta) if d is not None], overwrite=overwrite)
    scan = scan_folder(src, mask_dir=masks, meta_dir=meta)
    if scan.mask_dir is None:
        raise BadInputError(f"pair: {where(src)} has no masks/ folder; pass the mask folder with --masks DIR")
    if not (scan.pairs or scan.images_only or scan.masks_only or scan.problems):
        raise BadInputError(f"pair: {where(scan.image_dir)} and {where(scan.mask_dir)} hold no images")
    if move_unmatched is not None:
        mv = Path(move_unmatched).resolve()
        for folder in (scan.image_dir, scan.mask_dir, Path(out)):
            if mv == folder.resolve():
                raise BadInputError(f"pair: --move-unmatched {where(move_unmatched)} must differ from {where(folder)}")
    facts, problems = validate_pairs(scan.pairs, workers=workers, progress=progress)
    problems = list(scan.problems) + problems
    if problems and not skip_bad:
        raise BadDatasetError(problems, src, hint=SKIP_HINT)
    for p in problems:
        summary.skip(p)
    good = [(p, f) for p, f in zip(scan.pairs, facts, strict=True) if f is not None]
    check_output(out, input_folders(src, [p for p, _ in good]) | {scan.image_dir, scan.mask_dir}, overwrite=overwrite)

    unmatched = [(f, "photo without mask") for f in scan.images_only] + [(f, "mask without photo") for f in scan.masks_only]
    Path(out).mkdir(parents=True, exist_ok=True)
    tasks = [_Task(p, f, Path(out), overwrite) for p, f in good]
    rows = run_tasks(_pair_one, tasks, summary, skip_bad=skip_bad, workers=workers, desc="pair", progress=progress)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "reason", "moved_to"])
    for f, why in unmatched:
        kind = IMAGES_DIR if why.startswith("photo") else MASKS_DIR
        moved = (Path(move_unmatched) / kind / f.name).as_posix() if move_unmatched is not None else ""
        w.writerow([f.as_posix(), why, moved])
    for p in summary.problems:
        w.writerow([p.path.as_posix(), f"bad: {p}", ""])
    atomic_write_text(Path(out) / UNMATCHED_NAME, buf.getvalue(), overwrite=overwrite)
    if move_unmatched is not None:
        _move([f for f, why in unmatched if why.startswith("photo")], Path(move_unmatched) / IMAGES_DIR)
        _move([f for f, why in unmatched if why.startswith("mask")], Path(move_unmatched) / MASKS_DIR)
    n_img, n_mask = len(scan.images_only), len(scan.masks_only)
    verb = f"moved to {where(move_unmatched)}" if move_unmatched is not None else f"listed in {UNMATCHED_NAME}"
    summary.notes.append(f"unmatched: {n_img} photo(s) without mask, {n_mask} mask(s) without photo ({verb})")
    return finish(Path(out), rows, summary, overwrite=overwrite)
