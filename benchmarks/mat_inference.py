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

Each implementation runs in its **own fresh process**; both processes stay alive and are driven
**alternately, one forward at a time** (which one goes first alternates too), so that both see the same
machine load -- on a shared CPU the load changes faster than a process lifetime. Medians over
``--repeats`` forwards after ``--warmup``, plus the median of the per-pair ratios. ``--allocator both``
(default) also times both with glibc told to keep freed memory (no page faults on every large tensor;
see ``tfill_inference.py``). The outputs (default allocator) are compared: max |ours - official| in MAT's
[-1, 1] units (random weights reach about +-100 inside the hole, so the relative error is printed too).
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


def serve(args: argparse.Namespace) -> int:
    """Worker process: build implementation ``args.worker`` once, then answer commands on stdin.

    ``run``: one timed forward, answered by a JSON line ``{"wall": s, "cpu": s}``; ``save PATH``: write the
    last output; ``quit``: exit. Prints ``ready`` once built.
    """
    fn = make_runner(args.worker, args)
    out = None
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "run":
            t, c = time.perf_counter(), time.process_time()
            out = fn()
            print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c}), flush=True)
        elif cmd[0] == "save":
            torch.save(out, cmd[1])
            print("saved", flush=True)
    return 0


class Worker:
    """One implementation in its own fresh process, driven one forward at a time."""

    def __init__(self, name: str, forwarded: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, *forwarded, "--worker", name], env=os.environ | env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("ready")

    def _expect(self, prefix: str) -> str:
        line = self.proc.stdout.readline()
        if not line.startswith(prefix) and not (prefix == "{" and line.startswith("{")):
            raise SystemExit(f"worker {self.name!r} failed (got {line!r}, exit {self.proc.poll()})")
        return line

    def run(self) -> dict[str, float]:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return json.loads(self._expect("{"))

    def save(self, path: Path) -> None:
        self.proc.stdin.write(f"save {path}\n")
        self.proc.stdin.flush()
        self._expect("saved")

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", type=Path, help="checkout of fenglinglwb/MAT to time beside ours")
    p.add_argument("--weights", type=Path, help="MAT generator file (.pkl/.pth); default: reference weights")
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--repeats", type=int, default=6, help="timed forwards per implementation")
    p.add_argument("--warmup", type=int, default=1, help="untimed forwards per implementation")
    p.add_argument("--allocator", choices=["both", "default"], default="both",
                   help="also time every implementation with glibc keeping freed memory (default: both)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        return serve(args)

    cpu_name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "?") if Path("/proc/cpuinfo").is_file() else "?"
    print(f"MAT generator forward, {args.resolution}x{args.resolution}, batch 1, CPU ({cpu_name}), "
          f"{args.threads} threads, torch {torch.__version__}, weights: {args.weights or 'reference (seed 0)'}")
    forwarded = list(argv if argv is not None else sys.argv[1:])
    envs = {"default malloc": {}} | ({"malloc kept": TUNED_MALLOC} if args.allocator == "both" else {})
    names = NAMES if args.official else NAMES[1:]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="mat_bench_"))
    for env_name, env in envs.items():
        workers = [Worker(name, forwarded, env) for name in names]  # one fresh process each, both alive
        try:
            for i in range(args.warmup + args.repeats):
                order = workers if i % 2 == 0 else workers[::-1]  # alternate which one goes first
                for w in order:
                    res = w.run()
                    if i >= args.warmup:
                        runs.setdefault((env_name, w.name), []).append(res)
                print(f"  {env_name}, forward {i + 1}: " + ", ".join(
                    f"{w.name} {runs[env_name, w.name][-1]['wall']:.2f} s" for w in workers
                    if i >= args.warmup) if i >= args.warmup else f"  {env_name}, warm-up {i + 1}", flush=True)
            if env_name == "default malloc":
                for w in workers:
                    w.save(tmp / f"{w.name}.pt")
        finally:
            for w in workers:
                w.close()

    print(f"\n{'implementation':12s} {'allocator':15s} {'s/image':>8s} {'min':>7s} {'CPU s':>7s} "
          f"{'ours/official':>14s} {'paired':>7s}")
    for env_name in envs:
        for name in names:
            wall = [r["wall"] for r in runs[env_name, name]]
            cpu = [r["cpu"] for r in runs[env_name, name]]
            ratio = paired = "-"
            if args.official and name == "ours":
                off = [r["wall"] for r in runs[env_name, "official"]]
                ratio = f"{statistics.median(wall) / statistics.median(off):.2f}x"
                paired = f"{statistics.median(a / b for a, b in zip(wall, off, strict=True)):.2f}x"
            print(f"{name:12s} {env_name:15s} {statistics.median(wall):8.2f} {min(wall):7.2f} "
                  f"{statistics.median(cpu):7.2f} {ratio:>14s} {paired:>7s}")
    print(f"(medians of {args.repeats} forwards per implementation after {args.warmup} warm-up, the two processes "
          "alternating forward by forward; paired = median of per-pair ratios)")
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
