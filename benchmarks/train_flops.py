"""Floating-point operations of one TFill training step at the released width, and what they mean in time.

Counts, with ``torch.utils.flop_counter.FlopCounterMode``, every matmul / convolution / attention
FLOP of one real step of our training loop (forward, one D step, one G step with LPIPS-VGG; random
weights, the sample photos) for each stage, at batch 1 (a step's FLOPs grow linearly with the
batch). Elementwise work is not counted, so this is a lower bound on the work. Then prints the
time a run of ``--iterations`` steps would take at an assumed *sustained* rate, e.g. 30 % of a GPU's
dense bf16 peak. These are estimates for planning; ``benchmarks/train_step.py --device cuda``
measures a card.

    python benchmarks/train_flops.py                               # coarse and refine, batch 1
    python benchmarks/train_flops.py --tflops 30 --batch-size 8 --iterations 47000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from train_step import make_data  # benchmarks/train_step.py (script dir)


def step_flops(stage: str, work: Path, vgg: Path) -> float:
    """FLOPs of one training step (batch 1) of ``stage``, counted on the real loop (second step only)."""
    from triple_dots.tfill import TFill
    from triple_dots.training import TrainConfig, train

    size = 256 if stage == "coarse" else 512
    data = make_data(work / f"data{size}", size, 4)
    weights = None
    if stage == "refine":
        weights = work / "random_tfill"
        TFill(discriminators=True).save(weights, overwrite=True)
    counts = []
    for iterations in (1, 2):  # the difference of two runs = one step without the set-up
        cfg = TrainConfig(data=str(data), out=str(work / f"run_{stage}_{iterations}"), stage=stage, mode="scratch",
                          weights=str(weights) if weights else None, iterations=iterations, batch_size=1,
                          fine_size=size, fixed_size=256, vgg_weights=str(vgg), val_every=0, ckpt_every=0,
                          device="cpu", progress=False, val_fraction=0.0)
        with FlopCounterMode(display=False) as counter:
            train(cfg)
        counts.append(counter.get_total_flops())
    return float(counts[1] - counts[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", default="coarse,refine")
    p.add_argument("--batch-size", type=int, default=8, help="batch of the runs to estimate (per GPU)")
    p.add_argument("--tflops", type=float, action="append", default=None,
                   help="assumed sustained TFLOP/s (repeatable; default 15, 30, 100)")
    args = p.parse_args()
    from triple_dots.training.losses import save_random_vgg16

    rates = args.tflops or [15.0, 30.0, 100.0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vgg = save_random_vgg16(work / "vgg16.pth")
        per_image = {s: step_flops(s, work, vgg) for s in args.stages.split(",")}
    print(json.dumps({f"{s}_tflop_per_image": round(f / 1e12, 3) for s, f in per_image.items()}))
    for s, f in per_image.items():
        step = f * args.batch_size
        times = ", ".join(f"{step / (r * 1e12):.2f} s/step at {r:g} TFLOP/s" for r in rates)
        print(f"{s:>6}: {f / 1e12:.3f} TFLOP per image, {step / 1e12:.2f} TFLOP per step of batch "
              f"{args.batch_size}: {times}")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
