"""``triple-dots inpaint``: regenerate the hole of every photo with TFill (both stages)."""

from __future__ import annotations

import argparse
from pathlib import Path

from triple_dots.cli import values
from triple_dots.devices import check_device
from triple_dots.errors import BadInputError, OutputExistsError, SizeMismatchError, TripleDotsError, where

HELP = "fill the holes of photos with TFill (pairs photo and hole mask by file stem)"
DESCRIPTION = (
    "Run TFill's coarse and refine stages on every photo of --images with the hole mask of the same file "
    "stem in --masks (single-channel PNG, 255 = hole) and write OUT/NAME.png at the photo's resolution "
    "(known pixels unchanged) plus OUT/inpaint_grid.png (photo | hole | result). Weights: --weights DIR "
    "with latest_net_{E,T,G,G_Ref}.pth, or the registry folder of --preset (see `triple-dots weights`). "
    "Every pair is checked (readable, binary mask, same size, output free) before the model runs."
)

GRID_NAME = "inpaint_grid.png"
GRID_ROWS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, metavar="DIR_OR_FILE", help="a photo or a folder of photos")
    parser.add_argument("--masks", required=True, metavar="DIR_OR_FILE",
                        help="a hole mask or a folder of masks named like the photos (255 = hole)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--weights", default=None, metavar="DIR",
                        help="folder with latest_net_{E,T,G,G_Ref}.pth (default: the registry folder of --preset)")
    parser.add_argument("--preset", default="ffhq", choices=["ffhq", "celeba", "places2", "imagenet"],
                        help="which released model (default: ffhq)")
    parser.add_argument("--model", default="tfill", choices=["tfill", "mat"],
                        help="tfill (default) or mat (MAT, CVPR 2022: --weights is then a .pkl/.pth file)")
    parser.add_argument("--mat-preset", default="celeba-hq-512",
                        choices=["celeba-hq-512", "celeba-hq-256", "ffhq-512", "places-512"],
                        help="which released MAT model when --model mat has no --weights (default: celeba-hq-512)")
    parser.add_argument("--seed", type=values.seed, default=None, metavar="N", help="make the noise reproducible")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def pair_files(images: str, masks: str) -> list[tuple[Path, Path]]:
    """(photo, mask) pairs by file stem for folders, or the two given files. Raises :class:`BadInputError` for
    empty folders, and one naming every duplicate stem and every photo without a mask."""
    from triple_dots.dataset_folder import BadDatasetError, Problem, by_stem
    from triple_dots.images import list_images

    img_paths, mask_paths = list_images(images), list_images(masks)
    if not img_paths:
        raise BadInputError(f"{where(images)} contains no photos (.jpg, .jpeg, .png, .webp, ...)")
    if not mask_paths:
        raise BadInputError(f"{where(masks)} contains no mask images")
    if Path(images).is_file() and Path(masks).is_file():
        return [(img_paths[0], mask_paths[0])]
    photos, problems = by_stem(img_paths, "photo")
    by_mask, mask_problems = by_stem(mask_paths, "mask")
    problems += mask_problems
    dup = {m.path.stem for m in mask_problems}  # reported already
    for stem, p in photos.items():
        if stem not in by_mask and stem not in dup:
            problems.append(Problem(p, BadInputError(f"photo {where(p)} has no mask with the same stem in {where(masks)}")))
    if problems:
        raise BadDatasetError(problems, images)
    return [(p, by_mask[stem]) for stem, p in photos.items()]


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from triple_dots.files import check_apart, output_lock
    from triple_dots.images import image_size, read_image, read_mask, write_image
    from triple_dots.tfill import TFill
    from triple_dots.tfill.model import model_size
    from triple_dots.viz import image_grid, overlay_mask, save_grid

    pairs = pair_files(args.images, args.masks)
    out_dir = Path(args.out)
    # apart from the inputs: else --overwrite could replace them, and a nested --out is read as input next time
    inputs = [Path(x) if Path(x).is_dir() else Path(x).parent for x in (args.images, args.masks)]
    check_apart(out_dir, inputs, what="output folder (--out)")
    grid_clash = [img for img, _ in pairs if f"{img.stem}.png".casefold() == GRID_NAME.casefold()]
    if grid_clash:
        raise BadInputError(
            f"photo {where(grid_clash[0])} would be written as {GRID_NAME}, the name of the preview grid; "
            "rename the photo"
        )
    outputs = [out_dir / f"{img.stem}.png" for img, _ in pairs]
    if not args.overwrite:
        taken = [p for p in outputs + [out_dir / GRID_NAME] if p.exists()]
        if taken:
            raise OutputExistsError(f"{where(taken[0])} already exists ({len(taken)} outputs); pass --overwrite")
    # every pair is checked in full first, so nothing is written when one pair is bad
    problems = []
    for img_path, mask_path in tqdm(pairs, desc="checking pairs", unit="pair", disable=len(pairs) < 20):
        try:
            size = image_size(img_path)
            model_size(size[1], size[0])
            mask = read_mask(mask_path)
            if (mask.shape[-1], mask.shape[-2]) != size:
                raise SizeMismatchError(
                    f"{where(mask_path)} is {mask.shape[-1]}x{mask.shape[-2]} but {where(img_path)} is "
                    f"{size[0]}x{size[1]} (after EXIF orientation)"
                )
        except BadInputError as exc:
            raise BadInputError(f"{where(img_path)}: {exc}") from None
        except TripleDotsError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise BadInputError(f"{len(problems)} bad pair(s); nothing was written: " + "; ".join(problems[:5]) + more)
    device = check_device(args.device)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    label = "TFill"
    if getattr(args, "model", "tfill") == "mat":
        from triple_dots.mat import MAT

        # --weights: a MAT .pkl/.pth/.safetensors file (read without executing it); else the registry file
        model, label = MAT.from_official(args.weights, key=f"mat-{args.mat_preset}", device=device), "MAT"
    else:
        # with --weights the widths are read from the files; --preset picks the registry folder otherwise
        preset = None if args.weights else args.preset
        model = TFill.from_official(args.weights, preset=preset, device=device).use_channels_last()
    rows = []
    with output_lock(out_dir, command="inpaint"):
        for (img_path, mask_path), out_path in tqdm(list(zip(pairs, outputs)), desc="inpainting", unit="photo"):
            image = read_image(img_path)
            hole = read_mask(mask_path)
            result = model.inpaint(image, hole, seed=args.seed)
            write_image(out_path, result, overwrite=args.overwrite)
            if len(rows) < GRID_ROWS:
                rows.append([image, overlay_mask(image, hole), result])
        grid = image_grid(rows, col_labels=["photo", "hole", label], row_labels=[p.stem for p, _ in pairs[:GRID_ROWS]])
        save_grid(out_dir / GRID_NAME, grid, overwrite=args.overwrite)
        print(f"inpaint: {len(pairs)} photo(s) -> {out_dir} (grid: {out_dir / GRID_NAME})")
    return 0
