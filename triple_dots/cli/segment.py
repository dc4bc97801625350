"""``triple-dots segment``: cut the real face mask out of photos with Segment Anything (``--auto`` or ``--point``)."""

from __future__ import annotations

import argparse
import sys

from triple_dots.cli import values

HELP = "segment the real face mask with Segment Anything (automatic from face keypoints, or from points)"
DESCRIPTION = (
    "Cut the real face mask out of photos with Segment Anything and write OUT/images, OUT/masks "
    "(255 = hole) and OUT/meta. --auto: prompts from face keypoints, no clicks (a folder or one photo). "
    "--point X,Y[,LABEL] (repeated): your own points on one photo, LABEL 1 = on the mask, 0 = keep."
)


def _point(text: str) -> tuple[float, float, int]:
    parts = text.split(",")
    try:
        if len(parts) == 2:
            return float(parts[0]), float(parts[1]), 1
        if len(parts) == 3 and parts[2].strip() in ("0", "1"):
            return float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"a point is X,Y or X,Y,LABEL with LABEL 1 (mask) or 0 (keep), got {text!r}")


def _box(text: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a box is X0,Y0,X1,Y1 in pixels, got {text!r}") from None
    return x0, y0, x1, y1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--auto", action="store_true",
                      help="prompts from face keypoints (nose bridge to chin / eyes, forehead)")
    mode.add_argument("--point", dest="points", action="append", type=_point, metavar="X,Y[,LABEL]",
                      help="a prompt point in photo pixels (repeat it); LABEL 1 = on the mask (default), 0 = keep")
    parser.add_argument("images", metavar="IMAGES", help="a photo, or (with --auto) a folder of photos")
    parser.add_argument("out", metavar="OUT", help="output dataset folder (images/, masks/, meta/)")
    parser.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="optional box prompt (points mode)")
    parser.add_argument("--model", choices=["vit_b", "vit_l", "vit_h"], default=None,
                        help="SAM model type (default: read from --checkpoint, else vit_b)")
    parser.add_argument("--checkpoint", metavar="PATH", help="SAM .pth file (default: the weights registry)")
    parser.add_argument("--margin", type=values.margin, default=8, metavar="PX", help="dilate the mask by PX pixels (default 8)")
    parser.add_argument("--device", type=values.device, default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="keep SAM image embeddings here to skip the encoder on re-runs")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--no-check", action="store_true",
                        help="--auto: write SAM's hole even when it does not look like a worn mask")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from triple_dots.errors import BadInputError, NoFaceError
    from triple_dots.images import list_images, read_image
    from triple_dots.segment import ClickSegmenter, load_sam
    from triple_dots.segment.auto import _plan, sample_meta, segment_folder, write_sample

    if args.box is not None and args.auto:
        raise BadInputError("--box goes with --points, not --auto")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(args.out)
    if args.auto:
        _plan(args.images, out, args.overwrite)  # check inputs/outputs before loading SAM
        seg = ClickSegmenter(load_sam(args.model, args.checkpoint, device=device), margin=args.margin,
                             cache_dir=args.cache_dir)
        report = segment_folder(args.images, out, segmenter=seg, overwrite=args.overwrite, check=not args.no_check)
        for path, reason in report.failed:
            print(f"triple-dots segment: skipped {path}: {reason}", file=sys.stderr)
        if not report.written:
            raise NoFaceError(f"no photo in '{args.images}' could be segmented automatically "
                              f"({len(report.failed)} skipped; reasons above)")
        print(f"wrote {len(report.written)} masks to {out / 'masks'}; skipped {len(report.failed)}")
        return 1 if report.failed else 0

    paths = list_images(args.images)
    if len(paths) != 1 or not Path(args.images).is_file():
        raise BadInputError(f"--point needs one photo file, got '{args.images}'")
    source = paths[0]
    _plan([source], out, args.overwrite)
    image = read_image(source)
    seg = ClickSegmenter(load_sam(args.model, args.checkpoint, device=device), margin=args.margin,
                         cache_dir=args.cache_dir)
    seg.set_image(image)
    mask = seg.segment(args.points, box=args.box)
    meta = sample_meta(source, mask, args.margin, seg,
                       sam_points=[list(p) for p in args.points], sam_box=list(args.box) if args.box else None,
                       sam_score=round(float(seg.score), 4))
    write_sample(out, source, mask, meta, overwrite=args.overwrite)
    print(f"wrote {out / 'masks' / (source.stem + '.png')} (hole {100 * float(mask.mean()):.1f} % of the photo)")
    return 0
