"""``triple-dots demo``: the main job on the bundled sample photos, no download needed."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the whole pipeline on the bundled sample photos and write a before/after grid"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, default=None, help="photo or folder to use (default: data_samples/)")
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder (default: outputs/demo)")
    parser.add_argument("--weights", type=Path, default=None, help="TFill checkpoint folder (default: registry 'tfill-ffhq')")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier demo run")


def run(args: argparse.Namespace) -> int:
    from triple_dots.demo import run_demo

    run_demo(images=args.images, out=args.out, weights=args.weights, overwrite=args.overwrite)
    return 0
