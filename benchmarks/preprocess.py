"""Throughput of the preprocessing commands: pair -> resize -> enlarge, with 1 and N worker processes.

Generates N photo/mask pairs (default 500 at 512x512, JPEG photos, PNG masks, plus a few
unmatched files for ``pair``), then runs ``pair``, ``resize --size 256`` and
``enlarge --pixels 8`` on them with each ``--workers`` value and prints images/s per step,
side by side, with the speed-up over the first value. Every step includes its up-front check
of all files. Usage::

    python benchmarks/preprocess.py                 # 500 pairs, workers 1 and 2
    python benchmarks/preprocess.py --n 200 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from triple_dots import preprocess as pp
from triple_dots.images import write_image, write_mask
from triple_dots.parallel import map_files
from triple_dots.preprocess.demo_data import make_demo_dataset


def run_pipeline(raw: Path, work: Path, workers: int, size: int) -> dict[str, float]:
    """Seconds per step for pair -> resize -> enlarge into fresh folders under ``work``."""
    times = {}
    t = time.perf_counter()
    pp.pair(raw, work / "paired", workers=workers, progress=False)
    times["pair"] = time.perf_counter() - t
    t = time.perf_counter()
    pp.resize(work / "paired", work / "resized", size=size, workers=workers, progress=False)
    times["resize"] = time.perf_counter() - t
    t = time.perf_counter()
    pp.enlarge(work / "resized", work / "enlarged", pixels=8, workers=workers, progress=False)
    times["enlarge"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="generated pairs (default 500)")
    ap.add_argument("--side", type=int, default=512, help="generated photo side in pixels (default 512)")
    ap.add_argument("--size", type=int, default=256, help="resize target (default 256)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare (default 1 2)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per worker count; the fastest is kept")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="td_bench_") as tmp:
        raw = Path(tmp) / "raw"
        t = time.perf_counter()
        make_demo_dataset(raw, args.n, width=args.side, seed=0)
        for i in range(5):  # unmatched files for `pair` to list
            write_image(raw / "images" / f"stray_{i}.jpg", np.zeros((args.side, args.side, 3), np.uint8))
            write_mask(raw / "masks" / f"ghost_{i}.png", np.zeros((args.side, args.side), np.uint8))
        print(f"generated {args.n} pairs of {args.side}x{args.side} in {time.perf_counter() - t:.1f} s "
              f"on {os.cpu_count()} cores; pipeline: pair -> resize {args.size} -> enlarge 8 px")  # fmt: skip
        map_files(abs, [1, 2], workers=max(args.workers))  # start the process server outside the timing

        results: dict[int, dict[str, float]] = {}
        for w in args.workers:
            best: dict[str, float] | None = None
            for r in range(args.repeat):
                work = Path(tmp) / f"w{w}_{r}"
                times = run_pipeline(raw, work, w, args.size)
                best = times if best is None or times["total"] < best["total"] else best
            results[w] = best  # type: ignore[assignment]

    base = args.workers[0]
    steps = ["pair", "resize", "enlarge", "total"]
    header = f"{'step':<10}" + "".join(f"{f'workers={w} img/s':>20}" for w in args.workers)
    header += "".join(f"{f'speed-up {w}/{base}':>16}" for w in args.workers[1:])
    print(header)
    for step in steps:
        ips = {w: (args.n / results[w][step]) for w in args.workers}
        line = f"{step:<10}" + "".join(f"{ips[w]:>20.1f}" for w in args.workers)
        line += "".join(f"{ips[w] / ips[base]:>15.2f}x" for w in args.workers[1:])
        print(line)
    print("(total = one image through all three steps; each step re-checks every file first)")


if __name__ == "__main__":
    main()
