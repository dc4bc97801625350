"""``triple-dots demo``: the main job on the bundled sample photos, no download needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from triple_dots.cli import values

HELP = "run the whole pipeline on the bundled sample photos and write a before/after grid"
DESCRIPTION = (
    "Draw surgical masks on the sample photos, cut face-centred squares, regenerate the faces with TFill "
    "(the released FFHQ checkpoint when present, else the labelled OpenCV Telea baseline) and write "
    "OUT/grid.png and OUT/metrics.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, default=None, help="photo or folder to use (default: data_samples/)")
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder (default: outputs/demo)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="TFill checkpoint folder (default: the registry's tfill-ffhq when present)")
    parser.add_argument("--size", type=values.side, default=512, help="side of the face-centred square, pixels (default 512)")
    parser.add_argument("--seed", type=values.seed, default=0, help="seed for mask colours and TFill noise (default 0)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where TFill runs")
    parser.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo run")


def run(args: argparse.Namespace) -> int:
    from triple_dots.demo import run_demo

    run_demo(images=args.images, out=args.out, weights=args.weights, overwrite=args.overwrite, size=args.size,
             seed=args.seed, device=args.device)
    return 0
