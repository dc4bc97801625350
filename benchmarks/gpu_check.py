"""One GPU check for BENCHMARKS.md: TFill inference, training steps, personalisation, SAM and FID timings.

    python benchmarks/gpu_check.py                  # CUDA: released sizes, < 8 minutes in all
    python benchmarks/gpu_check.py --quick          # tiny sizes on the CPU (CI; well under a minute)
    python benchmarks/gpu_check.py --out gpu.md     # also write the table to a file

On a CUDA machine it measures, with random weights at the released shapes (stand-ins written by
:func:`triple_dots.stand_ins.write_stand_ins`; the timings do not depend on the values):

* TFill 512x512 inference images/s, fp32 and bf16 autocast (``TFill.inpaint``, batch 1);
* s/step and peak memory (``torch.cuda.max_memory_allocated``) of both training stages at batch 8
  (the real training loop, as ``benchmarks/train_step.py``: coarse @ 256 px, refine @ 512 px);
* the wall time of a personalisation run (``mode="personalise"``, 200 steps per stage, stage
  ``both``, 16 face photos made from ``data_samples``, from the stand-in checkpoint);
* SAM vit_b image-embedding time (random-init vit_b, 1024 px);
* FID Inception images/s (random-init pytorch-fid InceptionV3, 299 px).

Without CUDA (or with ``--quick``) everything runs at tiny sizes on the CPU (TFill ngf 4, embed 64,
1 encoder, 32-64 px, 2 steps; a 2-block SAM encoder at 64 px), so that CI runs it and it
cannot rot (``tests/test_gpu_check.py``). Every measurement has a time guard (its share of
``--budget-s``): a piece that runs out of time reports what it measured so far, or "timed out".
It prints a markdown table ready for BENCHMARKS.md; progress goes to stderr.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import json
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ (train_step, official_stubs)
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repository (triple_dots) when not installed
from train_step import make_data  # benchmarks/train_step.py

#: row id -> label (the table has every row, measured or not)
ROWS: dict[str, str] = {
    "tfill_fp32": "TFill inference, fp32",
    "tfill_bf16": "TFill inference, bf16 autocast",
    "coarse_step": "training step, coarse stage",
    "coarse_mem": "training peak memory, coarse stage",
    "refine_step": "training step, refine stage",
    "refine_mem": "training peak memory, refine stage",
    "personalise": "personalisation run, wall time",
    "sam": "SAM image embedding",
    "fid": "FID Inception",
}
#: each piece's share of the time budget (full run: 480 s in all)
SHARES = {"setup": 30, "tfill_fp32": 35, "tfill_bf16": 35, "coarse": 60, "refine": 75, "personalise": 165,
          "sam": 35, "fid": 30}


@dataclass
class Sizes:
    """Everything that differs between the GPU run and the CPU fallback."""

    device: str
    quick: bool
    tfill: dict[str, int]  # TFill options beyond the released defaults
    infer_px: int
    coarse_px: int
    refine_px: int
    train_batch: int
    train_steps: int
    personalise_px: int
    personalise_steps: int
    personalise_photos: int
    sam_px: int
    fid_batch: int
    repeats: int
    budget_s: float


def sizes_for(device: str, quick: bool, budget_s: float | None) -> Sizes:
    if quick:
        tiny = {"ngf": 4, "ndf": 4, "embed_dim": 64, "n_encoders": 1, "fixed_size": 32, "fine_size": 64}
        return Sizes(device, True, tiny, 64, 32, 64, 2, 2, 64, 2, 16, 64, 1, 3, budget_s or 50)
    return Sizes(device, False, {}, 512, 256, 512, 8, 10, 512, 200, 16, 1024, 64, 20, budget_s or 450)


# ------------------------------------------------------------------------------------------------
# time guards
# ------------------------------------------------------------------------------------------------
class TimeUp(BaseException):  # BaseException: no `except Exception` in the library swallows it
    """Raised in the main thread when a piece's time guard expires."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeUp` in the main thread after ``seconds`` (a timer thread interrupts it)."""
    active = {"on": True}

    def on_sigint(signum: int, frame: object) -> None:
        if active["on"]:
            raise TimeUp(f"time guard of {seconds:.0f} s")

    previous = signal.signal(signal.SIGINT, on_sigint)
    timer = threading.Timer(max(seconds, 0.01), lambda: active["on"] and _thread.interrupt_main(signal.SIGINT))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        active["on"] = False
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def repeat(fn: Callable[[], object], device: str, n: int, budget_s: float) -> list[float]:
    """Seconds of each call of ``fn`` after one warm-up, at most ``n`` calls, stopping when ``budget_s`` is spent."""
    start = time.perf_counter()
    times: list[float] = []
    with contextlib.suppress(TimeUp), time_limit(budget_s):
        fn()  # warm-up (cuDNN autotuning, allocator, lazy init)
        sync(device)
        for _ in range(n):
            t = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - t)
            if time.perf_counter() - start > budget_s * 0.8:
                break
    return times


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


# ------------------------------------------------------------------------------------------------
# pieces: each returns {row id: (value, unit, detail)}
# ------------------------------------------------------------------------------------------------
Result = dict[str, tuple[float | None, str, str]]


def bench_tfill(s: Sizes, checkpoint: Path, budget_s: float, dtype: torch.dtype | None) -> Result:
    from triple_dots.tfill import TFill

    cfg = {k: v for k, v in s.tfill.items() if k in ("fixed_size", "fine_size")}
    model = TFill.from_official(checkpoint, device=s.device, **cfg)
    px = s.infer_px
    img = torch.rand(1, 3, px, px, device=s.device)
    hole = torch.zeros(1, 1, px, px, device=s.device)
    hole[..., px // 2 : px * 7 // 8, px // 4 : px * 3 // 4] = 1
    times = repeat(lambda: model.inpaint(img, hole, seed=0, autocast_dtype=dtype), s.device, s.repeats, budget_s)
    row = "tfill_bf16" if dtype is not None else "tfill_fp32"
    detail = f"{px}x{px}, batch 1, median of {len(times)} after 1 warm-up" + _width(s)
    return {row: (1 / statistics.median(times) if times else None, "images/s", detail)}


def _width(s: Sizes) -> str:
    c = s.tfill
    return (f"; TINY TFill (ngf {c['ngf']}, embed {c['embed_dim']}, {c['n_encoders']} encoder)" if s.quick
            else "; released width (ngf 32, embed 512, 12 encoders), stand-in weights")


def _log_lines(run: Path) -> list[dict]:
    log = run / "log.jsonl"
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.is_file() else []


def bench_stage(s: Sizes, stage: str, work: Path, vgg: Path, checkpoint: Path, budget_s: float) -> Result:
    """s/step and peak memory of one training stage, the real loop (as ``train_step.bench_stage``)."""
    from triple_dots.training import TrainConfig, train

    px = s.coarse_px if stage == "coarse" else s.refine_px
    data = make_data(work / f"data_{stage}", px, max(8, 2 * s.train_batch))
    run = work / f"run_{stage}"
    cfg = TrainConfig(
        data=str(data), out=str(run), stage=stage, mode="scratch",
        weights=str(checkpoint) if stage == "refine" else None,  # refine trains G_Ref on frozen coarse nets
        iterations=s.train_steps + 1, batch_size=s.train_batch, fine_size=px,
        fixed_size=s.tfill.get("fixed_size", 256), vgg_weights=str(vgg), val_every=0, ckpt_every=0, log_every=1,
        device=s.device, progress=False, val_fraction=0.0,
        **{k: v for k, v in s.tfill.items() if k not in ("fixed_size", "fine_size")},
    )  # fmt: skip
    _reset_peak(s.device)
    note = ""
    with contextlib.suppress(TimeUp), time_limit(budget_s):
        try:
            train(cfg)
        except TimeUp:
            note = f"; stopped by the {budget_s:.0f} s time guard"
            raise
    secs = [r["sec_per_step"] for r in _log_lines(run) if "sec_per_step" in r][1:]  # first step: set-up costs
    amp = ", bf16 autocast" if s.device.startswith("cuda") else ", fp32"
    detail = f"{px} px, batch {s.train_batch}{amp}, median of {len(secs)} steps after 1{note}" + _width(s)
    peak = _peak_gib(s.device)
    return {f"{stage}_step": (statistics.median(secs) if secs else None, "s/step", detail),
            f"{stage}_mem": (peak, "GiB", f"torch.cuda.max_memory_allocated, {px} px, batch {s.train_batch}"
                             if peak is not None else "CPU run: no CUDA memory to report")}


def bench_personalise(s: Sizes, work: Path, vgg: Path, checkpoint: Path, budget_s: float) -> Result:
    """Wall time of ``train(mode="personalise")`` from the stand-in checkpoint on ~16 face photos."""
    from triple_dots.training import TrainConfig, train

    data = make_data(work / "person", s.personalise_px, s.personalise_photos)
    run = work / "run_personalise"
    cfg = TrainConfig(
        data=str(data), out=str(run), stage="both", mode="personalise", weights=str(checkpoint),
        iterations=s.personalise_steps, fine_size=s.personalise_px, fixed_size=s.tfill.get("fixed_size", 256),
        vgg_weights=str(vgg), log_every=1, device=s.device, progress=False,
        **{k: v for k, v in s.tfill.items() if k not in ("fixed_size", "fine_size")},
    )  # fmt: skip
    total = 2 * s.personalise_steps
    t0 = time.perf_counter()
    try:
        with time_limit(budget_s):
            train(cfg)
    except TimeUp:
        wall = time.perf_counter() - t0
        done = sum(1 for r in _log_lines(run) if "sec_per_step" in r)
        return {"personalise": (None, "s", f"timed out after {wall:.0f} s with {done} of {total} steps done"
                                + (f" (~{wall * total / done:.0f} s extrapolated)" if done else ""))}
    wall = time.perf_counter() - t0
    c = cfg.resolved()
    detail = (f"{s.personalise_steps} steps per stage (coarse + refine), batch {c.batch_size}, "
              f"{s.personalise_photos} photos at {s.personalise_px} px, validation + checkpoint every "
              f"{c.val_every} steps, incl. set-up" + _width(s))
    return {"personalise": (wall, "s", detail)}


def bench_sam(s: Sizes, budget_s: float) -> Result:
    if s.quick:
        from segment_anything.modeling import ImageEncoderViT

        encoder = ImageEncoderViT(img_size=s.sam_px, embed_dim=64, depth=2, num_heads=2, out_chans=32,
                                  window_size=4, global_attn_indexes=(1,), use_rel_pos=True)
        what = f"TINY 2-block ViT encoder (embed 64) at {s.sam_px} px (CPU fallback)"
    else:
        from segment_anything import sam_model_registry

        encoder = sam_model_registry["vit_b"](checkpoint=None).image_encoder
        what = f"vit_b, random init, {s.sam_px} px input, fp32"
    encoder = encoder.to(s.device).eval()
    x = torch.randn(1, 3, s.sam_px, s.sam_px, device=s.device)

    @torch.inference_mode()
    def embed() -> torch.Tensor:
        return encoder(x)

    times = repeat(embed, s.device, min(s.repeats, 10), budget_s)
    return {"sam": (statistics.median(times) if times else None, "s/image",
                    f"{what}, median of {len(times)} after 1 warm-up")}


def bench_fid(s: Sizes, work: Path, budget_s: float) -> Result:
    from triple_dots.evaluation.fid import build_inception, save_random_inception

    model = build_inception(2048, save_random_inception(work / "pt_inception-2015-12-05-6726825d.pth")).to(s.device)
    x = torch.rand(s.fid_batch, 3, 299, 299, device=s.device)

    @torch.inference_mode()
    def encode() -> object:
        return model(x)

    times = repeat(encode, s.device, min(s.repeats, 10), budget_s)
    detail = (f"pytorch-fid InceptionV3 (random init), 299 px, batch {s.fid_batch}, 2048-d pool features, "
              f"median of {len(times)} batches after 1 warm-up")
    return {"fid": (s.fid_batch / statistics.median(times) if times else None, "images/s", detail)}


# ------------------------------------------------------------------------------------------------
def environment(s: Sizes) -> str:
    if s.device.startswith("cuda"):
        p = torch.cuda.get_device_properties(torch.device(s.device))
        where = f"GPU **{p.name}** ({p.total_memory / 2**30:.0f} GiB)"
    else:
        where = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), TINY sizes"
    return (f"{where}; torch {torch.__version__} built with CUDA {torch.version.cuda or '-'}, "
            f"cuDNN {torch.backends.cudnn.version() or '-'}; Python {platform.python_version()}")


def table(s: Sizes, results: Result, wall: float) -> str:
    head = f"`benchmarks/gpu_check.py{' --quick' if s.quick else ''}`: {environment(s)}; {wall:.0f} s in all."
    lines = [head, "", "| measurement | value | unit | details |", "|---|---:|---|---|"]
    for row, label in ROWS.items():
        value, unit, detail = results.get(row, (None, "", "not run"))
        cell = "–" if value is None else (f"{value:.3g}" if value < 100 else f"{value:.0f}")
        lines.append(f"| {label} | {cell} | {unit} | {detail} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes on the CPU (also the fallback without CUDA)")
    parser.add_argument("--device", default=None, help="default: cuda when available (cpu with --quick)")
    parser.add_argument("--budget-s", type=float, default=None, help="time for everything (default 450; quick 50)")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.quick else "cpu")
    quick = args.quick or not device.startswith("cuda")
    s = sizes_for(device, quick, args.budget_s)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    t_start = time.perf_counter()
    deadline = t_start + s.budget_s
    results: Result = {}

    def share(piece: str, left: list[str]) -> float:
        """This piece's part of the remaining time, in proportion to the pieces still to run."""
        return max(1.0, (deadline - time.perf_counter()) * SHARES[piece] / sum(SHARES[p] for p in left))

    def run(piece: str, left: list[str], fn: Callable[[float], Result]) -> None:
        budget = share(piece, left)
        print(f"[gpu_check] {piece}: up to {budget:.0f} s", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            results.update(fn(budget))
        except (Exception, TimeUp) as exc:  # noqa: BLE001 - one broken piece must not hide the others
            traceback.print_exc(file=sys.stderr)
            for r in [r for r in ROWS if r.startswith(piece)]:
                results.setdefault(r, (None, "", f"failed: {type(exc).__name__}: {str(exc)[:120]}"))
        print(f"[gpu_check] {piece}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        left.remove(piece)

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = Path(tmp)
        left = list(SHARES)
        paths: dict[str, Path] = {}

        def setup(budget: float) -> Result:
            from triple_dots.training.losses import save_random_vgg16

            paths["vgg"] = save_random_vgg16(work / "vgg16-397923af.pth")
            if s.quick:
                from triple_dots.tfill import TFill

                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    TFill(discriminators=True, **s.tfill).save(work / "tfill" / "ffhq")
            else:
                from triple_dots.stand_ins import write_stand_ins

                write_stand_ins(work, ["tfill-ffhq"], log=lambda m: print(m, file=sys.stderr))
            paths["tfill"] = work / "tfill" / "ffhq"
            return {}

        run("setup", left, setup)
        if "tfill" not in paths:
            print("[gpu_check] set-up failed: nothing to measure", file=sys.stderr)
            return 1
        run("tfill_fp32", left, lambda b: bench_tfill(s, paths["tfill"], b, None))
        run("tfill_bf16", left, lambda b: bench_tfill(s, paths["tfill"], b, torch.bfloat16))
        run("coarse", left, lambda b: bench_stage(s, "coarse", work, paths["vgg"], paths["tfill"], b))
        run("refine", left, lambda b: bench_stage(s, "refine", work, paths["vgg"], paths["tfill"], b))
        run("personalise", left, lambda b: bench_personalise(s, work, paths["vgg"], paths["tfill"], b))
        run("sam", left, lambda b: bench_sam(s, b))
        run("fid", left, lambda b: bench_fid(s, work, b))
    md = table(s, results, time.perf_counter() - t_start)
    print(md)
    if args.out:
        args.out.write_text(md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
