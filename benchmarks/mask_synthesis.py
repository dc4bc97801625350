"""Mask synthesis speed: photos per second, ours (1 and 2 workers) and MaskTheFace side by side, on two inputs.

Inputs (both made from the bundled sample photos):

* ``photos``: the sample photos replicated round-robin to ``--n`` files (default 100), as they are
  (512 px to 2204 px, JPEG and PNG);
* ``aligned``: ``--n-aligned`` (default 128) aligned 512 x 512 face crops, FFHQ/CelebA-HQ-like: each
  sample's face is found with :func:`triple_dots.masks.detect_faces`, a square of 2.2 x the face box
  around it is cut out and resized to 512 px, and copies are varied with horizontal flips and small
  shifts/zooms (PNG files); ``--faces-from FOLDER`` makes them instead from the first ``--n-aligned`` photos
  of FOLDER with one face each (different people, one crop each).

Each tool masks the whole folder in a fresh process, so start-up and model loading count for both.
Runs alternate (ours w1, ours w2, ``--before``, MaskTheFace, next input, ...) ``--runs`` times (default 3) and the
medians are reported. Ours writes three files per photo (masked PNG, hole-mask PNG, meta JSON);
MaskTheFace writes the masked photo only (same format as the input, no hole mask).

    python benchmarks/mask_synthesis.py                                  # ours only
    python benchmarks/mask_synthesis.py --masktheface /path/to/MaskTheFace
    python benchmarks/mask_synthesis.py --masktheface /path/to/MaskTheFace --before /path/to/old/checkout

MaskTheFace runs from a copy of the given checkout with its ``dlib_models/`` pointing at the
local 68-landmark file (so it downloads nothing). It needs ``imutils`` and ``dotmap`` in the
Python that runs it (``--masktheface-python``, default: this one; PYTHONPATH is passed on).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MTF_TYPES = {"surgical": "surgical", "n95": "N95", "kn95": "KN95", "cloth": "cloth", "gas": "gas"}
ALIGNED_SIZE = 512
#: Crop side as a multiple of the detector's face box (FFHQ's crops show the whole head and some neck).
CROP_FACTOR = 2.2


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


def aligned_crops(dst: Path, n: int, size: int = ALIGNED_SIZE, faces_from: Path | None = None) -> list[Path]:
    """``n`` aligned ``size`` px face crops (flips, small shifts and zooms), PNG: of the sample photos, or of the
    first ``n`` photos of the folder ``faces_from`` in which dlib's HOG finds exactly one face (different people)."""
    import cv2
    import numpy as np

    from triple_dots.images import list_images, read_image_uint8
    from triple_dots.masks import detect_faces
    from triple_dots.samples import sample_paths

    bases = []
    for p in sample_paths() if faces_from is None else list_images(faces_from):
        if faces_from is not None and len(bases) == n:
            break
        rgb = read_image_uint8(p)
        faces = detect_faces(rgb, detector="hog")
        for face in faces if faces_from is None or len(faces) == 1 else []:
            x0, y0, x1, y1 = face.box
            bases.append((p.stem, rgb, (x0 + x1) / 2, (y0 + y1) / 2, CROP_FACTOR * max(x1 - x0, y1 - y0)))
    if not bases:
        raise SystemExit(f"no face found in {faces_from or 'the sample photos'}")
    # variants: (flip, dx, dy, zoom) with shifts in output pixels; the unshifted crop first
    variants = [(f, dx, dy, z) for z in (1.0, 1.05, 0.95) for dx, dy in
                ((0, 0), (12, 0), (-12, 0), (0, 12), (0, -12), (10, 10), (-10, -10), (10, -10), (-10, 10))
                for f in (False, True)]
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        stem, rgb, cx, cy, side = bases[i % len(bases)]
        flip, dx, dy, zoom = variants[(i // len(bases)) % len(variants)]
        s = size / (side / zoom)
        m = np.array([[s, 0, size / 2 - s * cx + dx], [0, s, size / 2 - s * cy + dy]])
        crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT101)
        if flip:
            crop = crop[:, ::-1]
        p = dst / f"{i:04d}_{stem}.png"
        cv2.imwrite(str(p), np.ascontiguousarray(crop[..., ::-1]))
        out.append(p)
    return out


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``cmd``; returns (wall seconds, CPU seconds of it and its children, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def run_ours(photos: Path, out: Path, mask_type: str, workers: int,
             tree: Path | None = None) -> tuple[float, float, int]:
    """``triple-dots mask`` in a fresh process, from the source tree ``tree`` (default: this checkout)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "triple_dots", "mask", str(photos), str(out), "--type", mask_type, "--workers", str(workers)]
    secs, cpu, proc = timed(cmd, cwd=tree or Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise SystemExit(f"triple-dots mask failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    n_out = len(list((out / "masks").glob("*.png")))
    shutil.rmtree(out, ignore_errors=True)
    return secs, cpu, n_out


def prepare_masktheface(checkout: Path, work: Path) -> Path:
    """A copy of the checkout whose ``dlib_models/`` points at the local 68-landmark file."""
    from triple_dots import weights

    copy = work / "MaskTheFace"
    if not copy.exists():
        shutil.copytree(checkout, copy, ignore=shutil.ignore_patterns(".git"))
    (copy / "dlib_models").mkdir(exist_ok=True)
    link = copy / "dlib_models" / "shape_predictor_68_face_landmarks.dat"
    if not link.exists():
        link.symlink_to(weights.locate("dlib-landmarks68"))
    return copy


def run_masktheface(copy: Path, python: str, photos: Path, mask_type: str) -> tuple[float, float, int]:
    written = Path(str(photos) + "_masked")
    shutil.rmtree(written, ignore_errors=True)
    secs, cpu, proc = timed([python, "mask_the_face.py", "--path", str(photos), "--mask_type", MTF_TYPES[mask_type]],
                            cwd=copy)
    if proc.returncode != 0:
        raise SystemExit(f"MaskTheFace failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    n_out = len(list(written.glob("*"))) if written.is_dir() else 0
    shutil.rmtree(written, ignore_errors=True)
    return secs, cpu, n_out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="bundled photos, replicated (default 100)")
    ap.add_argument("--n-aligned", type=int, default=128, help="aligned 512 px face crops (default 128)")
    ap.add_argument("--faces-from", type=Path, default=None,
                    help="make the aligned crops from the photos of this folder (one face each) instead of the samples")
    ap.add_argument("--inputs", nargs="+", default=["aligned", "photos"], choices=["aligned", "photos"],
                    help="inputs to time (default: both)")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs per tool and input (default 3)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for ours (default: 1 2)")
    ap.add_argument("--type", default="surgical", choices=sorted(MTF_TYPES), help="mask type (default surgical)")
    ap.add_argument("--masktheface", type=Path, default=None, help="path of a MaskTheFace checkout to compare")
    ap.add_argument("--masktheface-python", default=sys.executable, help="Python for MaskTheFace")
    ap.add_argument("--before", type=Path, default=None,
                    help="also time `triple-dots mask` (1 worker) from this source tree, e.g. an earlier commit's")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="td_mask_bench_"))
    try:
        folders, counts = {}, {}
        if "photos" in args.inputs:
            folders["photos"], counts["photos"] = work / "photos", args.n
            replicate_samples(folders["photos"], args.n)
        if "aligned" in args.inputs:
            folders["aligned"], counts["aligned"] = work / "aligned", args.n_aligned
            aligned_crops(folders["aligned"], args.n_aligned, faces_from=args.faces_from)
        mtf = prepare_masktheface(args.masktheface, work) if args.masktheface is not None else None
        load = os.getloadavg()[0]
        print(f"inputs: {', '.join(f'{k} ({counts[k]} files)' for k in folders)}; type {args.type}; "
              f"{os.cpu_count()} CPUs; load {load:.1f}; {args.runs} alternating runs; scratch {work}")
        tools = [(f"triple_dots, {k} worker{'s' if k > 1 else ''}", k, None) for k in args.workers]
        if args.before is not None:
            tools.append(("before, 1 worker", 1, args.before.resolve()))
        if mtf is not None:
            tools.append(("MaskTheFace (1 process)", None, None))
        times: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        for r in range(args.runs):
            for inp, folder in folders.items():
                for name, k, tree in tools:
                    if k is None:
                        res = run_masktheface(mtf, args.masktheface_python, folder, args.type)
                    else:
                        res = run_ours(folder, work / f"ours_{inp}_w{k}", args.type, k, tree)
                    times.setdefault((inp, name), []).append(res)
                    print(f"  run {r + 1} {inp:8s} {name:28s} {res[0]:7.1f} s  {counts[inp] / res[0]:6.2f} photos/s",
                          flush=True)
        for inp in folders:
            n = counts[inp]
            print(f"\n{inp}: {n} files, median of {args.runs} runs")
            print(f"{'tool':32s} {'wall s':>8s} {'photos/s':>9s} {'CPU s/photo':>12s} {'outputs':>8s} {'ours/MTF':>9s}")
            med = {}
            for name, _, _ in tools:
                rows = times[(inp, name)]
                med[name] = (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows), rows[-1][2])
            mtf_secs = med["MaskTheFace (1 process)"][0] if mtf is not None else None
            for name, _, _ in tools:
                secs, cpu, n_out = med[name]
                ratio = f"{mtf_secs / secs:8.2f}x" if mtf_secs else f"{'-':>9s}"
                print(f"{name:32s} {secs:8.1f} {n / secs:9.2f} {cpu / n:12.3f} {n_out:8d} {ratio}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
