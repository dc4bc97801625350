"""Seconds per training step of TFill at the released width (coarse at 256 px, refine at 512 px).

Runs the real training loop (``triple_dots.training.train``: data loading, forward, one D step, one
G step with LPIPS-VGG) on a synthetic dataset made from the sample photos, and reads the seconds per
step from the run's ``log.jsonl`` (the first step, with its one-off set-up costs, is left out).
Random weights are used throughout (a random VGG16 stand-in for the perceptual loss): the timing
does not depend on the values.

    python benchmarks/train_step.py                       # CPU, batch 4, 3 steps per stage
    python benchmarks/train_step.py --device cuda --steps 20
    python benchmarks/train_step.py --stages coarse --batch-size 2

Prints one line per stage: s/step, images/s and (CUDA) peak memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def make_data(root: Path, size: int, n: int) -> Path:
    """``n`` sample photos at ``size`` px with a rectangular hole over the lower face."""
    from triple_dots.images import read_image, write_image, write_mask
    from triple_dots.samples import sample_paths

    paths = sample_paths()
    for i in range(n):
        img = read_image(paths[i % len(paths)])
        img = F.interpolate(img[None], size=(size, size), mode="bilinear", antialias=True)[0].clamp(0, 1)
        hole = torch.zeros(1, size, size)
        hole[:, size // 2 : size * 7 // 8, size // 4 : size * 3 // 4] = 1
        write_image(root / "images" / f"p{i}.png", img)
        write_mask(root / "masks" / f"p{i}.png", hole)
    return root


def bench_stage(stage: str, args: argparse.Namespace, work: Path, vgg: Path) -> dict:
    from triple_dots.training import TrainConfig, train

    size = 256 if stage == "coarse" else 512
    data = make_data(work / f"data{size}", size, max(8, args.batch_size * 2))
    weights = None
    if stage == "refine":  # refine trains G_Ref on frozen (here random) coarse networks
        from triple_dots.tfill import TFill

        weights = work / "random_tfill"
        TFill(discriminators=True).save(weights, overwrite=True)
    cfg = TrainConfig(
        data=str(data), out=str(work / f"run_{stage}"), stage=stage, mode="scratch",
        weights=str(weights) if weights else None, iterations=args.steps + 1, batch_size=args.batch_size,
        fine_size=size, fixed_size=256, vgg_weights=str(vgg), val_every=0, ckpt_every=0, log_every=1,
        device=args.device, amp=not args.no_amp, compile=args.compile, progress=False, val_fraction=0.0,
    )  # fmt: skip
    if torch.cuda.is_available() and args.device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - t0
    lines = [json.loads(x) for x in (work / f"run_{stage}" / "log.jsonl").read_text().splitlines()]
    secs = [r["sec_per_step"] for r in lines if "sec_per_step" in r][1:]
    out = {"stage": stage, "size": size, "batch": args.batch_size, "steps": len(secs),
           "s_per_step": statistics.median(secs), "images_per_s": args.batch_size / statistics.median(secs),
           "wall_s": wall}
    if torch.cuda.is_available() and args.device != "cpu":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="measured steps per stage (after one warm-up step)")
    parser.add_argument("--stages", default="coarse,refine")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from triple_dots.training.losses import save_random_vgg16

    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"released width (ngf 32, embed 512, 12 encoders), batch {args.batch_size}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vgg = save_random_vgg16(work / "vgg16.pth")
        for stage in args.stages.split(","):
            r = bench_stage(stage, args, work, vgg)
            mem = f", peak {r['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in r else ""
            print(f"{r['stage']:>6} @ {r['size']} px, batch {r['batch']}: {r['s_per_step']:.2f} s/step "
                  f"({r['images_per_s']:.2f} images/s) over {r['steps']} steps{mem}")


if __name__ == "__main__":
    main()
