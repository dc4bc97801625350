"""``triple-dots mask``: draw synthetic medical masks on faces and write image/mask/meta triples."""

from __future__ import annotations

import argparse

from triple_dots.cli import values

HELP = "put synthetic medical masks on the faces of a photo or folder (writes images/, masks/, meta/)"
DESCRIPTION = (
    "Detect faces (dlib, 68 landmarks), draw a mask on each and write OUT/images/NAME.png (the photo "
    "wearing the mask), OUT/masks/NAME.png (hole mask, 255 = hole, covering every changed pixel plus "
    "--margin) and OUT/meta/NAME.json. INPUT is a photo or a folder (searched recursively for .jpg, "
    ".jpeg, .png, .webp in any case). Existing outputs are skipped unless --overwrite. Exit status 1 "
    "when some photos of a folder were skipped (no face, unreadable); they are listed in the summary."
)


#: Same as ``triple_dots.masks.shapes.TYPE_CHOICES`` (kept here so ``--help`` imports nothing heavy).
TYPE_CHOICES = ("surgical", "n95", "kn95", "cloth", "gas", "random", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="a photo or a folder of photos")
    parser.add_argument("out", metavar="OUT", help="output dataset folder (must not be inside INPUT)")
    parser.add_argument("--type", dest="mask_type", default="surgical", choices=TYPE_CHOICES,
                        help="mask type; 'random' picks one per photo by seed, 'all' writes NAME_<type> for "
                        "every type (default: surgical)")
    parser.add_argument("--color", default=None, metavar="HEX",
                        help="base colour '#rrggbb' (default: the type's own, or a palette colour per seed)")
    parser.add_argument("--pattern", default=None, metavar="IMAGE", help="texture image blended into the mask")
    parser.add_argument("--pattern-weight", type=values.fraction, default=0.5, metavar="W",
                        help="texture weight in [0, 1] (default: 0.5)")
    parser.add_argument("--margin", type=values.margin, default=0, metavar="PX",
                        help=f"grow the hole mask by PX pixels beyond the drawn mask, 0..{values.MAX_MARGIN} (default: 0)")
    parser.add_argument("--seed", type=values.seed, default=None, metavar="S",
                        help="vary colour, shape and fabric per photo, reproducibly (default: the plain look)")
    parser.add_argument("--workers", type=values.workers, default=1, metavar="N", help="worker processes (default: 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # set before numpy loads: extra BLAS threads only spin here
    from triple_dots.cpu_memory import keep_freed_memory
    from triple_dots.masks.synthesize import MASK_RUN_MMAP_ABOVE, synthesize_folder

    keep_freed_memory(MASK_RUN_MMAP_ABOVE)
    report = synthesize_folder(
        args.input, args.out, mask_type=args.mask_type, seed=args.seed, margin=args.margin, color=args.color,
        pattern=args.pattern, pattern_weight=args.pattern_weight, workers=args.workers,
        overwrite=args.overwrite,
    )
    print(f"mask: {report.summary()} -> {Path(args.out)}")
    return 1 if report.skipped_bad else 0
