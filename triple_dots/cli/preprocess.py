"""``triple-dots preprocess``: convert, resize, pair, enlarge, stats and split dataset folders
(:mod:`triple_dots.preprocess`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from triple_dots.cli import values

HELP = "convert, resize, pair, enlarge masks, hole-ratio stats and splits (never changes the input)"
DESCRIPTION = (
    "Dataset folders: ROOT/images/NAME.ext, ROOT/masks/NAME.png (255 = hole), optional ROOT/meta/NAME.json "
    "and ROOT/manifest.csv. Every sub-command reads INPUT and writes a new folder OUT (refusing a non-empty "
    "one unless --overwrite), checks every file first and prints a one-line summary."
)


def _common(p: argparse.ArgumentParser, input_help: str = "input dataset folder (or manifest.csv); only read",
            skip_help: str = "skip bad files (listed in the summary) instead of stopping") -> None:  # fmt: skip
    p.add_argument("input", type=Path, metavar="INPUT", help=input_help)
    p.add_argument("out", type=Path, metavar="OUT", help="new output folder (must be empty or absent)")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty OUT; same-named files are replaced")
    p.add_argument("--workers", type=values.workers, default=None, help="worker processes (default: all cores, at most 8)")
    p.add_argument("--skip-bad", action="store_true", help=skip_help)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True)

    p = sub.add_parser("convert", help="photos to JPEG or PNG; masks always lossless single-channel PNG")
    _common(p)
    p.add_argument("--to", choices=["jpg", "png"], default="jpg", help="photo format (default jpg)")
    p.add_argument("--quality", type=values.quality, default=95, help="JPEG quality 1-100 (default 95)")

    p = sub.add_parser("resize", help="square SIZE x SIZE by centre-crop, face-centred crop or pad; masks stay exactly {0, 255}")
    _common(p)
    p.add_argument("--size", type=values.side, required=True, help="output side in pixels, e.g. 256 or 512")
    p.add_argument("--fit", choices=["crop", "face", "pad"], default="crop",
                   help="centre-crop (default), crop centred on the face box from meta (else the hole), or pad")  # fmt: skip
    p.add_argument("--pad-mode", choices=["constant", "reflect", "edge"], default="constant",
                   help="how --fit pad fills photo margins (masks: 0)")  # fmt: skip
    p.add_argument("--quality", type=values.quality, default=95, help="JPEG quality of .jpg photos (default 95)")

    p = sub.add_parser("pair", help="keep photos that have a mask with the same stem; list the rest")
    p.add_argument("--masks", type=Path, default=None, help="mask folder when INPUT is a folder of photos")
    p.add_argument("--meta", type=Path, default=None, help="folder of NAME.json meta files to carry along")
    p.add_argument("--move-unmatched", type=Path, default=None, metavar="DIR",
                   help="also MOVE unmatched files to DIR/images and DIR/masks (never deletes)")  # fmt: skip
    _common(p, "dataset folder, or the photo folder with --masks",
            "skip bad files (listed in unmatched.csv) instead of stopping")  # fmt: skip

    p = sub.add_parser("enlarge", help="grow hole masks by N pixels, a fraction of the face box, or a scale")
    _common(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pixels", type=values.float_in(0, values.MAX_MARGIN), default=None,
                   help=f"dilate holes by N pixels (0..{values.MAX_MARGIN})")
    g.add_argument("--face-fraction", type=values.float_in(0, 4), default=None,
                   help="dilate each hole by F x its face box size (meta/NAME.json; else the hole's own box)")  # fmt: skip
    p.add_argument("--scale", type=values.float_in(1, 16), default=None,
                   help="the seed's crop-and-enlarge: scale each hole about its centre by S >= 1")  # fmt: skip

    p = sub.add_parser("stats", help="hole-ratio histogram (PNG) and counts per band; --band copies one band")
    _common(p)
    p.add_argument("--band", default=None, help="copy only pairs with hole ratio in this band, e.g. 0.2-0.3 or 20-30%%")
    p.add_argument("--bins", type=values.int_in(1, 1000), default=20, help="histogram bins, 1..1000 (default 20)")

    p = sub.add_parser("split", help="deterministic train/val/test split into the manifest, optionally grouped")
    _common(p)
    p.add_argument("--val", type=values.float_in(0, 1, hi_open=True), default=0.1, help="validation fraction (default 0.1)")
    p.add_argument("--test", type=values.float_in(0, 1, hi_open=True), default=0.1, help="test fraction (default 0.1)")
    p.add_argument("--seed", type=values.seed, default=0, help="shuffle seed (default 0)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--group-regex", default=None, help=r"group key from the name, e.g. '^([a-z]+)_' (per person)")
    g.add_argument("--group-column", default=None, help="group key from this input manifest column, e.g. person")
    p.add_argument("--manifest-only", action="store_true", help="write only OUT/manifest.csv pointing at INPUT's files")


def run(args: argparse.Namespace) -> int:
    import inspect

    from triple_dots import preprocess as pp

    step = getattr(pp, args.step)
    # every option of a step (--pad-mode, --overwrite, ...) is the keyword of the same name (pad_mode, overwrite)
    params = inspect.signature(step).parameters
    options = {name: value for name, value in vars(args).items() if name in params and name not in ("src", "out")}
    print(step(args.input, args.out, progress=not args.quiet, **options))
    return 0
