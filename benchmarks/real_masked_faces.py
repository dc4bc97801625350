"""Face detection on a folder of real photos of people wearing masks, new front end vs dlib HOG.

    python benchmarks/real_masked_faces.py FOLDER [--no-face FOLDER] [--threads 2] [--quiet]

Every photo is read as the library reads it (EXIF orientation applied, own size) and given to
``detect_faces`` twice: ``detector="auto"`` (YuNet + dlib HOG, the default) and ``detector="hog"``
(dlib HOG alone, the detector before masked faces were supported). One line per photo (faces
found by each, milliseconds, or the error), then per detector: photos with a face found, false
faces on the face-free folder, median and 90th-percentile milliseconds per photo. A photo that
cannot be read or crashes the detector is listed and counted as missed, never stops the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DETECTORS = ("auto", "hog")


def run_folder(folder: Path, threads: int, quiet: bool) -> dict[str, list[tuple[str, int, float]]]:
    """{detector: [(photo name, faces found (-1 = error), ms)]} for every photo under ``folder``."""
    from triple_dots.images import list_images, read_image_uint8
    from triple_dots.masks import detect_faces

    out: dict[str, list[tuple[str, int, float]]] = {d: [] for d in DETECTORS}
    for path in list_images(folder):
        name = str(path.relative_to(folder))
        try:
            rgb = read_image_uint8(path)
        except Exception as exc:  # noqa: BLE001 - a benchmark reports every photo
            for d in DETECTORS:
                out[d].append((name, -1, float("nan")))
            print(f"{name}: unreadable ({exc})")
            continue
        cells = []
        for d in DETECTORS:
            t = time.perf_counter()
            try:
                n = len(detect_faces(rgb, detector=d))
            except Exception as exc:  # noqa: BLE001
                n = -1
                cells.append(f"{d}: ERROR {type(exc).__name__}: {exc}")
            ms = (time.perf_counter() - t) * 1000
            out[d].append((name, n, ms))
            if n >= 0:
                cells.append(f"{d}: {n} face(s) {ms:.0f} ms")
        if not quiet:
            print(f"{name} ({rgb.shape[1]}x{rgb.shape[0]}): " + "; ".join(cells))
    return out


def summary(label: str, masked: dict, no_face: dict | None) -> None:
    print(f"\n{label}")
    print(f"{'detector':10s} {'masked: face found':>22s} {'false faces (photos)':>22s} {'median ms':>10s} {'p90 ms':>8s}")
    for d in DETECTORS:
        rows = masked[d]
        found = sum(1 for _, n, _ in rows if n > 0)
        ms = [m for _, n, m in rows if n >= 0]
        false = "-"
        if no_face is not None:
            nf = no_face[d]
            ms += [m for _, n, m in nf if n >= 0]
            false = f"{sum(n for _, n, _ in nf if n > 0)} ({sum(1 for _, n, _ in nf if n > 0)}/{len(nf)})"
        med = statistics.median(ms) if ms else float("nan")
        p90 = float(np.percentile(ms, 90)) if ms else float("nan")
        rate = f"{found}/{len(rows)} ({100 * found / max(len(rows), 1):.1f} %)"
        print(f"{d:10s} {rate:>22s} {false:>22s} {med:>10.1f} {p90:>8.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="photos of people wearing masks (searched recursively)")
    ap.add_argument("--no-face", type=Path, help="photos without any face: every face found there is false")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for OpenCV and dlib (default 2)")
    ap.add_argument("--quiet", action="store_true", help="only the summary")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's triple_dots, not an installed one
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2

    cv2.setNumThreads(args.threads)
    masked = run_folder(args.folder, args.threads, args.quiet)
    if not masked["auto"]:
        print(f"no photos found in {args.folder}", file=sys.stderr)
        return 2
    no_face = run_folder(args.no_face, args.threads, args.quiet) if args.no_face else None
    if no_face is not None:
        for d in DETECTORS:
            false = [f"{name} ({n})" for name, n, _ in no_face[d] if n > 0]
            print(f"false faces, {d}: {', '.join(false) if false else 'none'}")
    summary(f"{args.folder}: {len(masked['auto'])} masked photos"
            + (f", {args.no_face}: {len(no_face['auto'])} face-free photos" if no_face else "")
            + f", {args.threads} threads", masked, no_face)
    return 0


if __name__ == "__main__":
    sys.exit(main())
