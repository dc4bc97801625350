"""``triple-dots evaluate``: FID/KID between folders, a multi-model report, or a checkpoint sweep.

Three modes:

* ``--real DIR --fake DIR``: FID and KID between two folders (pytorch-fid's Inception; any
  number of images each). With ``--masks DIR`` the folders are also matched by stem and
  scored with PSNR / SSIM / LPIPS (whole image and hole) and identity similarity.
* ``--data ROOT --models name=PATH ... --out REPORT_DIR``: report for several models (folders
  of generated images, TFill checkpoint folders, MAT weights files) + the OpenCV Telea baseline,
  e.g. ``--models tfill=~/.cache/triple_dots/tfill/ffhq mat=~/.cache/triple_dots/mat/CelebA-HQ_512.pkl``.
* ``--run RUN_DIR --data ROOT``: score every checkpoint of a training run, plot, write best.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from triple_dots.cli import values
from triple_dots.devices import check_device
from triple_dots.errors import BadInputError, OutputExistsError, where

HELP = "FID/KID/LPIPS/PSNR/SSIM/identity: compare folders, report several models, or sweep a run's checkpoints"
DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    mode = parser.add_argument_group("what to evaluate (one mode)")
    mode.add_argument("--real", help="folder of real / ground-truth photos (pair mode)")
    mode.add_argument("--fake", help="folder of generated photos (pair mode)")
    mode.add_argument("--models", nargs="+", metavar="NAME=PATH",
                      help="report mode: models as name=path (a folder of generated images, a TFill checkpoint "
                      "folder, or a MAT .pkl/.pth/.safetensors file)")
    mode.add_argument("--run", metavar="RUN_DIR", help="sweep mode: a training run folder with checkpoints/")
    data = parser.add_argument_group("test set")
    data.add_argument("--data", metavar="ROOT", help="dataset folder with images/ and masks/ (report and sweep)")
    data.add_argument("--masks", metavar="DIR", help="hole masks (255 = hole) matching --real / --data photos by stem")
    data.add_argument("--split", help="only this split of the dataset's manifest.csv (e.g. val, test)")
    data.add_argument("--max-images", type=values.positive, help="use at most this many test images")
    opts = parser.add_argument_group("metrics")
    opts.add_argument("--metrics", default=None,
                      help="comma list of fid,kid,psnr,ssim,lpips,identity (default: fid,kid in pair mode "
                           "without masks, all otherwise)")
    opts.add_argument("--metric", default="lpips_hole",
                      help="sweep mode: metric that picks the best checkpoint (fid, kid, psnr[_hole], "
                           "ssim[_hole], lpips[_hole], identity; default lpips_hole)")
    opts.add_argument("--dims", type=int, default=2048, choices=(64, 192, 768, 2048), help="FID feature size")
    opts.add_argument("--fid-weights", help="FID Inception .pth (default: the registry / torch hub cache)")
    opts.add_argument("--lpips-net", default="alex", choices=("alex", "vgg"), help="LPIPS backbone")
    opts.add_argument("--lpips-backbone", help="torchvision alexnet/vgg16 .pth (default: the registry)")
    opts.add_argument("--cache-dir", help="FID activation cache (default $TRIPLE_DOTS_HOME/cache/fid)")
    opts.add_argument("--no-cache", action="store_true", help="do not read or write the activation cache")
    opts.add_argument("--fid-method", default="exact", choices=("exact", "pytorch-fid"),
                      help="Fréchet distance: exact from activations (fast) or pytorch-fid's sqrtm")
    out = parser.add_argument_group("output")
    out.add_argument("--out", help="report folder (report mode) or JSON file (pair mode)")
    out.add_argument("--no-baseline", action="store_true", help="report mode: leave out the OpenCV Telea baseline")
    out.add_argument("--reference", help="report mode: model the others are compared with (default: the first)")
    out.add_argument("--overwrite", action="store_true", help="replace existing report / sweep / best.json files")
    out.add_argument("--device", type=values.device, default="cpu", help="torch device (cpu, cuda, cuda:1)")
    out.add_argument("--seed", type=values.seed, default=0)


def _parse_models(items: list[str]) -> dict[str, str]:
    models: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise BadInputError(f"--models expects name=folder, got {item!r}")
        if name in models:
            raise BadInputError(f"--models: the name {name!r} is given twice")
        models[name] = path
    return models


def run(args: argparse.Namespace) -> int:
    modes = [m for m, on in (("pair", args.real or args.fake), ("report", args.models), ("sweep", args.run)) if on]
    if len(modes) != 1:
        raise BadInputError("choose one mode: --real/--fake, --models (with --data), or --run (with --data)")
    metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
    ev_args = {"dims": args.dims, "fid_weights": args.fid_weights, "lpips_net": args.lpips_net,
               "lpips_backbone": args.lpips_backbone, "cache_dir": args.cache_dir}
    mode = modes[0]
    if args.device:
        check_device(args.device)
    if mode == "pair":
        return _pair(args, metrics, ev_args)
    if not args.data:
        raise BadInputError(f"--{'models' if mode == 'report' else 'run'} needs the test set: --data ROOT")
    ev_args |= {"masks": args.masks, "split": args.split, "max_images": args.max_images, "overwrite": args.overwrite,
                "seed": args.seed, "device": args.device}  # fmt: skip
    if mode == "report":
        from triple_dots.evaluation.metrics import METRIC_GROUPS
        from triple_dots.evaluation.report import evaluate_models

        if not args.out:
            raise BadInputError("--models needs --out REPORT_DIR")
        report = evaluate_models(args.data, _parse_models(args.models), args.out, metrics=metrics or METRIC_GROUPS,
                                 baseline=not args.no_baseline, reference=args.reference, **ev_args)
        print(Path(args.out, "report.md").read_text(encoding="utf-8"))
        print(f"wrote {args.out}/report.json, report.md, grid.png (N = {report['n']})")
        return 0
    from triple_dots.evaluation.sweep import sweep

    res = sweep(args.run, args.data, metric=args.metric, **ev_args)
    for it, v in zip(res.iterations, res.values, strict=True):
        mark = "  <- best" if it == res.best_iteration else ""
        print(f"iter {it:>8d}  {args.metric} = {'n/a' if v is None else f'{v:.5g}'}{mark}")
    print(f"best: iteration {res.best_iteration} ({args.metric} = {res.best_value:.5g}); "
          f"wrote {args.run}/best.json and {args.run}/eval/sweep_{args.metric}.png")
    print(json.dumps({"best_iteration": res.best_iteration, "value": res.best_value}))
    return 0


def _pair(args: argparse.Namespace, metrics: list[str] | None, ev_args: dict) -> int:
    from triple_dots.evaluation.report import small_set_note

    if not (args.real and args.fake):
        raise BadInputError("pair mode needs both --real DIR and --fake DIR")
    if args.out:  # checked before the (long) work, not after it
        out = Path(args.out)
        if out.is_dir():
            raise BadInputError(f"--out {where(out)} is a folder; pair mode writes one JSON file: give a file name")
        if out.exists() and not args.overwrite:
            raise OutputExistsError(f"--out {where(out)} already exists; pass --overwrite to replace it")
        for name in ("real", "fake", "masks"):
            folder = getattr(args, name, None)
            if folder and out.exists() and Path(folder).resolve() in out.resolve().parents:
                raise BadInputError(f"--out {where(out)} is a file inside --{name} {where(folder)}; it would be "
                                    "replaced: choose a path outside the inputs")
    result: dict = {"real": args.real, "fake": args.fake}
    if args.masks:
        from triple_dots.evaluation.metrics import METRIC_GROUPS, Evaluator
        from triple_dots.evaluation.testset import TestSet

        ts = TestSet.from_folders(args.real, args.masks, max_images=args.max_images)
        ev = Evaluator(ts, metrics=metrics or METRIC_GROUPS, device=args.device, seed=args.seed, **ev_args)
        res = ev.evaluate(Path(args.fake).name, args.fake)
        result.update(res.summary, bands=res.bands, settings=ev.notes)
    else:
        from triple_dots.evaluation.fid import FIDEncoder, fid_from_activations
        from triple_dots.evaluation.kid import kid_from_activations

        metrics = metrics or ["fid", "kid"]
        bad = sorted(set(metrics) - {"fid", "kid"})
        if bad:
            raise BadInputError(f"metrics {bad} compare images pairwise: give --masks DIR (matched by stem)")
        enc = FIDEncoder(dims=args.dims, weights_path=args.fid_weights, cache_dir=args.cache_dir,
                         use_cache=not args.no_cache, device=args.device)
        a, b = enc.encode_folder(args.real), enc.encode_folder(args.fake)
        result.update(n_real=len(a), n_fake=len(b))
        if "fid" in metrics:
            result["fid"] = fid_from_activations(a, b, method=args.fid_method)
        if "kid" in metrics:
            k = kid_from_activations(a, b, seed=args.seed)
            result.update(kid_mean=k.mean, kid_std=k.std, kid_subset_size=k.subset_size)
        result["n"] = min(len(a), len(b))
    for k in ("n_real", "n_fake", "n", "fid", "kid_mean", "kid_std", "lpips", "lpips_hole", "psnr", "psnr_hole",
              "ssim", "ssim_hole", "identity"):
        if result.get(k) is not None:
            v = result[k]
            print(f"{k:>12}: {v:.6g}" if isinstance(v, float) else f"{k:>12}: {v}")
    print(small_set_note(int(result.get("n", 0))))
    if args.out:
        from triple_dots.files import atomic_write_text

        atomic_write_text(args.out, json.dumps(result, indent=2, default=str) + "\n", overwrite=args.overwrite)
        print(f"wrote {args.out}")
    return 0
