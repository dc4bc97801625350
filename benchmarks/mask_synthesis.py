"""Mask synthesis speed: photos per second, ours (1 and 2 workers) and MaskTheFace side by side.

The sample photos are replicated to ``--n`` files (default 200) and each tool masks the whole
folder in a fresh process, so start-up and model loading count for both. Ours writes three
files per photo (masked PNG, hole-mask PNG, meta JSON); MaskTheFace writes the masked photo
only (JPEG for JPEG input, no hole mask).

    python benchmarks/mask_synthesis.py                                  # ours only
    python benchmarks/mask_synthesis.py --masktheface /path/to/MaskTheFace

MaskTheFace runs from a copy of the given checkout with its ``dlib_models/`` pointing at the
local 68-landmark file (so it downloads nothing). It needs ``imutils`` and ``dotmap`` in the
Python that runs it (``--masktheface-python``, default: this one; PYTHONPATH is passed on).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MTF_TYPES = {"surgical": "surgical", "n95": "N95", "kn95": "KN95", "cloth": "cloth", "gas": "gas"}


def replicate_samples(dst: Path, n: int) -> list[Path]:
    """Copy the sample photos round-robin into ``dst`` until there are ``n`` files."""
    from triple_dots.samples import sample_paths

    samples = sample_paths()
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = samples[i % len(samples)]
        p = dst / f"{i:04d}_{src.stem}{src.suffix.lower()}"
        shutil.copyfile(src, p)
        out.append(p)
    return out


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``cmd``; returns (wall seconds, CPU seconds of it and its children, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def run_ours(photos: Path, out: Path, mask_type: str, workers: int) -> tuple[float, float, int]:
    secs, cpu, proc = timed([sys.executable, "-m", "triple_dots", "mask", str(photos), str(out),
                        "--type", mask_type, "--workers", str(workers)])
    if proc.returncode != 0:
        raise SystemExit(f"triple-dots mask failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return secs, cpu, len(list((out / "masks").glob("*.png")))


def run_masktheface(checkout: Path, python: str, photos: Path, work: Path, mask_type: str) -> tuple[float, float, int]:
    from triple_dots import weights

    copy = work / "MaskTheFace"
    shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git"))
    (copy / "dlib_models").mkdir(exist_ok=True)
    link = copy / "dlib_models" / "shape_predictor_68_face_landmarks.dat"
    if not link.exists():
        link.symlink_to(weights.locate("dlib-landmarks68"))
    secs, cpu, proc = timed([python, "mask_the_face.py", "--path", str(photos), "--mask_type", MTF_TYPES[mask_type]],
                       cwd=copy)
    if proc.returncode != 0:
        raise SystemExit(f"MaskTheFace failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    written = Path(str(photos) + "_masked")
    return secs, cpu, len(list(written.glob("*"))) if written.is_dir() else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="number of photos (samples replicated), default 200")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for ours (default: 1 2)")
    ap.add_argument("--type", default="surgical", choices=sorted(MTF_TYPES), help="mask type (default surgical)")
    ap.add_argument("--masktheface", type=Path, default=None, help="path of a MaskTheFace checkout to compare")
    ap.add_argument("--masktheface-python", default=sys.executable, help="Python for MaskTheFace")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="td_mask_bench_"))
    try:
        photos = work / "photos"
        replicate_samples(photos, args.n)
        print(f"{args.n} photos (5 samples replicated), type {args.type}, {os.cpu_count()} CPUs, scratch {work}")
        rows = []
        for k in args.workers:
            secs, cpu, n_out = run_ours(photos, work / f"ours_w{k}", args.type, k)
            rows.append((f"triple_dots, {k} worker{'s' if k > 1 else ''}", secs, cpu, n_out))
        if args.masktheface is not None:
            secs, cpu, n_out = run_masktheface(args.masktheface, args.masktheface_python, photos, work, args.type)
            rows.append(("MaskTheFace (1 process)", secs, cpu, n_out))
        print(f"{'tool':32s} {'wall s':>8s} {'photos/s':>9s} {'CPU s/photo':>12s} {'outputs':>8s}")
        for name, secs, cpu, n_out in rows:
            print(f"{name:32s} {secs:8.1f} {args.n / secs:9.2f} {cpu / args.n:12.3f} {n_out:8d}")
        if args.masktheface is not None:
            _, m_secs, m_cpu, _ = rows[-1]
            for name, secs, cpu, _ in rows[:-1]:
                print(f"{name} vs MaskTheFace: {m_secs / secs:.2f}x photos/s, {m_cpu / cpu:.2f}x less CPU per photo")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
