"""Seconds per 512x512 image for the MAT generator: ours vs the official code, side by side.

Usage::

    python benchmarks/mat_inference.py --official ~/src/MAT          # CPU, 2 threads, reference weights
    python benchmarks/mat_inference.py --official ~/src/MAT --weights ~/.cache/triple_dots/mat/CelebA-HQ_512.pkl
    python benchmarks/mat_inference.py                                # ours only

Both implementations get the same generator weights (the reference procedure of
``shared/reference/mat_official/README.md`` with weight_seed 0, or ``--weights`` read by our safe
loader), the same synthetic photo + hole, the same z and the same two dropout maps (replayed into
the official code's ``F.dropout``), ``noise_mode="const"``, batch 1, ``torch.inference_mode`` /
``torch.no_grad``. Timed: one generator forward (mapping + both stages). The official generator is
imported from a checkout of fenglinglwb/MAT (``benchmarks/mat_official.py``; on CPU its custom ops use
their reference implementations, as they do for any CPU user of that code).

Each implementation runs in its **own fresh process**, the processes alternating over ``--rounds``
rounds; ``--allocator both`` (default) also times every implementation with glibc told to keep freed
memory (no page faults on every large tensor; see ``tfill_inference.py``). The outputs of both (first
round) are compared: max |ours - official| in MAT's [-1, 1] units (random weights reach about +-20
inside the hole, so relative error is printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from mat_official import build_official, replay_dropout  # benchmarks/mat_official.py (script dir)

from triple_dots.mat import MAT, load_state_file, reference_state_dict

TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}
NAMES = ("official", "ours")


def sample_input(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (1, 3, S, S) in [-1, 1], valid mask (1, 1, S, S), 1 = known): smooth colours, a large hole."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    img = torch.stack([0.6 * torch.sin(3 * xx + 1) * torch.cos(2 * yy), 0.5 * torch.cos(4 * xx * yy) - 0.2 * yy,
                       0.7 * xx * yy + 0.2 * torch.sin(6 * yy)])[None].clamp(-1, 1)
    hole = (xx / 0.55) ** 2 + ((yy - 0.1) / 0.45) ** 2 <= 1
    return img, (~hole).float()[None, None]


def random_draws(resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(1, 512, generator=gen)
    first = torch.bernoulli(torch.full((1, 256, 180), 0.5), generator=gen)
    second = torch.bernoulli(torch.full((1, 512, 16, 16), 0.5), generator=gen)
    return z, first, second


def generator_state(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    if args.weights:
        return load_state_file(args.weights)
    torch.manual_seed(0)
    return reference_state_dict(MAT(args.resolution), weight_seed=0)


def make_runner(name: str, args: argparse.Namespace):
    """A zero-argument callable running one generator forward with implementation ``name``; returns the output."""
    state = generator_state(args)
    img, valid = sample_input(args.resolution)
    z, first, second = random_draws(args.resolution)
    if name == "official":
        g = build_official(args.official, args.resolution, state)

        def run() -> torch.Tensor:
            with torch.no_grad(), replay_dropout([first, second]):
                return g(img, valid, z, None, truncation_psi=1.0, noise_mode="const")

        return run
    model = MAT.from_state_dict(state)
    return lambda: model.official_forward(img, valid, z, noise_mode="const", dropout_maps=(first, second))[0]


def worker(args: argparse.Namespace) -> int:
    """Time one implementation in this (fresh) process; print one JSON line."""
    fn = make_runner(args.worker, args)
    out = None
    for _ in range(args.warmup):
        out = fn()
    wall, cpu = [], []
    for _ in range(args.repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if args.save_output:
        torch.save(out, args.save_output)
    print(json.dumps({"wall": wall, "cpu": cpu}))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", type=Path, help="checkout of fenglinglwb/MAT to time beside ours")
    p.add_argument("--weights", type=Path, help="MAT generator file (.pkl/.pth); default: reference weights")
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per process")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per process")
    p.add_argument("--rounds", type=int, default=2, help="fresh processes per implementation (alternating)")
    p.add_argument("--allocator", choices=["both", "default"], default="both",
                   help="also time every implementation with glibc keeping freed memory (default: both)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--save-output", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)

    cpu_name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "?") if Path("/proc/cpuinfo").is_file() else "?"
    print(f"MAT generator forward, {args.resolution}x{args.resolution}, batch 1, CPU ({cpu_name}), "
          f"{args.threads} threads, torch {torch.__version__}, weights: {args.weights or 'reference (seed 0)'}")
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    envs = {"default malloc": {}} | ({"malloc kept": TUNED_MALLOC} if args.allocator == "both" else {})
    names = NAMES if args.official else NAMES[1:]
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="mat_bench_"))
    for r in range(args.rounds):
        for env_name, env in envs.items():
            for name in names:
                extra = ["--save-output", str(tmp / f"{name}.pt")] if r == 0 and env_name == "default malloc" else []
                out = subprocess.run([sys.executable, __file__, *forwarded, "--worker", name, *extra],
                                     env=os.environ | env, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    sys.stderr.write(out.stderr)
                    raise SystemExit(f"worker {name!r} failed (exit {out.returncode})")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                wall.setdefault((env_name, name), []).extend(res["wall"])
                cpu.setdefault((env_name, name), []).extend(res["cpu"])
                print(f"  round {r + 1}, {env_name}, {name}: " + " ".join(f"{t:.2f}" for t in res["wall"]), flush=True)

    print(f"\n{'implementation':12s} {'allocator':15s} {'s/image':>8s} {'min':>7s} {'CPU s':>7s} {'ours/official':>14s}")
    for env_name in envs:
        for name in names:
            times = wall[env_name, name]
            med, lo, c = statistics.median(times), min(times), statistics.median(cpu[env_name, name])
            ratio = "-"
            if args.official and name == "ours":
                ratio = f"{med / statistics.median(wall[env_name, 'official']):.2f}x"
            print(f"{name:12s} {env_name:15s} {med:8.2f} {lo:7.2f} {c:7.2f} {ratio:>14s}")
    print(f"(medians of {args.rounds} fresh processes x {args.repeats} runs per implementation)")
    if args.official:
        ours = torch.load(tmp / "ours.pt", weights_only=True)
        official = torch.load(tmp / "official.pt", weights_only=True)
        diff = float((ours - official).abs().max())
        scale = max(1.0, float(official.abs().max()))
        print(f"max |ours - official| on the output: {diff:.2e} ([-1, 1] units; max |official| {scale:.1f}, "
              f"relative {diff / scale:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
