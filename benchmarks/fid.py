"""FID speed: triple_dots vs ``python -m pytorch_fid`` on the same folders and the same weights.

Runs, side by side in one go (each as a fresh subprocess, start-up included):
  1. ``python -m pytorch_fid REAL FAKE`` with its weights in a private torch hub cache (TORCH_HOME);
  2. ``triple-dots evaluate --real REAL --fake FAKE`` with an empty activation cache (first run);
  3. the same again (both folders cached);
  4. a "new checkpoint": FAKE regenerated, REAL cached (only the generated images are encoded).
Prints wall time, images/s and the FID of each, and the ratios against pytorch-fid.

    python benchmarks/fid.py --n 100 --size 256            # CPU, stand-in weights if none installed
    python benchmarks/fid.py --n 2000 --device cuda        # GPU

Weights: the registry's "fid-inception" file when installed, else a random Kaiming-initialised
stand-in (same network and cost; the FID value itself is then meaningless).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

FID_FILE = "pt_inception-2015-12-05-6726825d.pth"


def make_folder(folder: Path, n: int, size: int, seed: int) -> None:
    """n smooth random colour images (PNG) of size x size."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        a, b, c = rng.random((3, 3, 1, 1))
        img = (a * xx + b * yy + c * np.sin(6 * xx * yy + i)).transpose(1, 2, 0) % 1.0
        img = img + 0.05 * rng.standard_normal(img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"img_{i:05d}.png")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    m = re.search(r"FID:\s*([-\d.eE+]+)", proc.stdout) or re.search(r"\bfid:\s*([-\d.eE+]+)", proc.stdout)
    return wall, float(m.group(1)) if m else float("nan"), proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="images per folder")
    ap.add_argument("--size", type=int, default=256, help="image side, pixels")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--workdir", help="keep the folders here (default: a temporary folder)")
    args = ap.parse_args()

    from triple_dots import weights
    from triple_dots.evaluation.fid import save_random_inception

    work = Path(args.workdir or tempfile.mkdtemp(prefix="fid_bench_"))
    real, fake, fake2 = work / "real", work / "fake", work / "fake_new_ckpt"
    for folder, seed in ((real, 0), (fake, 1), (fake2, 2)):
        if not folder.is_dir():
            make_folder(folder, args.n, args.size, seed)
    hub = work / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    found = weights.find("fid-inception")
    if found is not None:
        w_note = f"official weights from {found}"
        if not (hub / FID_FILE).exists():
            os.symlink(found, hub / FID_FILE)
    else:
        w_note = "random stand-in weights (no FID Inception file installed): timings valid, FID values not"
        if not (hub / FID_FILE).exists():
            save_random_inception(hub / FID_FILE, seed=0)
    env = dict(os.environ, TORCH_HOME=str(work / "torch_home"))
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    py = sys.executable
    ours = [py, "-m", "triple_dots", "evaluate", "--metrics", "fid", "--device", args.device,
            "--fid-weights", str(hub / FID_FILE), "--cache-dir", str(cache)]
    n_img = 2 * args.n
    print(f"{args.n} + {args.n} images at {args.size} px, device {args.device}, {w_note}")
    print(f"torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}, cpus: {os.cpu_count()}\n")
    runs = []
    t, f, _ = timed([py, "-m", "pytorch_fid", str(real), str(fake), "--device", args.device, "--dims", "2048",
                     "--batch-size", str(args.batch_size)], env)
    runs.append(("pytorch-fid (python -m pytorch_fid)", t, f, n_img))
    t, f, _ = timed(ours + ["--real", str(real), "--fake", str(fake)], env)
    runs.append(("triple_dots, first run (empty cache)", t, f, n_img))
    t, f, _ = timed(ours + ["--real", str(real), "--fake", str(fake)], env)
    runs.append(("triple_dots, re-run (both folders cached)", t, f, n_img))
    t, f, _ = timed(ours + ["--real", str(real), "--fake", str(fake2)], env)
    runs.append(("triple_dots, new checkpoint (real cached)", t, f, n_img))
    t, f, _ = timed(ours + ["--real", str(real), "--fake", str(fake2), "--fid-method", "pytorch-fid", "--no-cache"],
                    env)
    runs.append(("triple_dots, no cache, pytorch-fid sqrtm", t, f, n_img))
    base = runs[0][1]
    print(f"{'run':<44} {'wall s':>8} {'images/s':>9} {'vs pytorch-fid':>15} {'FID':>12}")
    for name, t, f, n in runs:
        print(f"{name:<44} {t:8.1f} {n / t:9.1f} {base / t:14.2f}x {f:12.4f}")
    print(f"\nFID difference ours vs pytorch-fid on the same folders: {abs(runs[1][2] - runs[0][2]):.2e}")
    print(f"folders: {work}")


if __name__ == "__main__":
    main()
