"""Seconds per training step of TFill at the released width (coarse at 256 px, refine at 512 px).

Runs the real training loop (``triple_dots.training.train``: data loading, forward, one D step, one
G step with LPIPS-VGG) on a synthetic dataset made from the sample photos, and reads the seconds per
step from the run's ``log.jsonl`` (the first step, with its one-off set-up costs, is left out).
Random weights are used throughout (a random VGG16 stand-in for the perceptual loss): the timing
does not depend on the values.

    python benchmarks/train_step.py                       # CPU, batch 4, 3 steps per stage
    python benchmarks/train_step.py --device cuda --steps 20
    python benchmarks/train_step.py --stages coarse --batch-size 2
    python benchmarks/train_step.py --steps 2 --threads 2 --official ~/src/TFill --pythonpath /tmp/pydeps

Prints one line per stage: s/step, images/s and (CUDA) peak memory.

With ``--official PATH`` (a checkout of lyndonzheng/TFill) the official training step is timed too,
in the same process, at the same width, batch, sizes and device: its ``TC`` model (options built by
its own parser from an explicit argument list: ``--model tc --coarse_or_refine coarse|refine
--attn_G --add_noise``, ngf 32, embed_dim 512, 12 encoders, gpu_ids -1), fed random tensors through
``set_input`` and stepped with ``optimize_parameters`` (forward, one D step, one G step with its
LPIPS-VGG loss). Nothing in the checkout is changed on disk; inside this process only: its two
compiled CUDA ops (``model.stylegan_ops``: fused_bias_act, upfirdn2d) are replaced in
``sys.modules`` by plain-PyTorch equivalents, and torchvision's ``vgg16(pretrained=True)`` builds
random weights instead of downloading (its ``model/lpips/vgg.pth`` lin weights are loaded as usual).
It needs ``einops`` (``--pythonpath DIR`` adds DIR to ``sys.path``). A table then gives the
s/step of both and the ratio ours/official per stage.

Every row runs in its own fresh process (the allocator setting is process-wide, and one tool's
memory state must not help or hurt the other): ours fp32 (the training loop tells glibc to keep freed
memory, ``keep_cpu_memory``), ours with that off (``--no-keep-cpu-memory``: glibc's defaults), ours
with bf16 autocast on the CPU (``--cpu-amp``; CPU runs only), and the official step with glibc's
defaults and with glibc keeping freed memory (``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=64 GiB``,
the same setting ours makes in-process).
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
import torch.nn.functional as F
from official_stubs import stub_stylegan_ops  # benchmarks/official_stubs.py (script dir)


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


def bench_stage(stage: str, args: argparse.Namespace, work: Path, vgg: Path, *, cpu_amp: bool = False,
                keep_cpu_memory: bool = True) -> dict:
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
        cpu_amp=cpu_amp, keep_cpu_memory=keep_cpu_memory,
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


def build_official(root: Path, stage: str, args: argparse.Namespace):
    """The official ``TC`` training model for ``stage`` (options from its own parser, explicit argv)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if "model.stylegan_ops" not in sys.modules:
        stub_stylegan_ops(root)
    import model as official  # official code, from the checkout
    import torchvision
    from options.train_options import TrainOptions

    size = 256 if stage == "coarse" else 512
    argv = ["--name", "bench", "--model", "tc", "--coarse_or_refine", stage, "--gpu_ids", "-1",
            "--batch_size", str(args.batch_size), "--fine_size", str(size), "--load_size", str(size),
            "--fixed_size", "256", "--ngf", "32", "--embed_dim", "512", "--n_encoders", "12",
            "--attn_G", "--add_noise", "--lipip_path", str(root / "model" / "lpips" / "vgg.pth")]
    options = TrainOptions()
    parser = options.initialize(argparse.ArgumentParser())
    parser = official.get_option_setter("tc")(parser, True)
    opt = parser.parse_args(argv)
    opt.isTrain, opt.gpu_ids = True, []
    vgg16 = torchvision.models.vgg16
    torchvision.models.vgg16 = lambda *a, pretrained=False, **k: vgg16(weights=None)  # random: no download
    try:
        tc = official.find_model_using_name("tc")(opt)
    finally:
        torchvision.models.vgg16 = vgg16
    return tc, opt


def bench_official_stage(stage: str, args: argparse.Namespace) -> dict:
    """Median seconds of the official ``set_input`` + ``optimize_parameters`` on random tensors."""
    torch.manual_seed(0)
    tc, opt = build_official(args.official.expanduser(), stage, args)
    size, b = opt.fine_size, args.batch_size
    dev = torch.device(args.device)
    for name in tc.model_names:  # the official ``parallelize`` without DataParallel
        setattr(tc, "net" + name, getattr(tc, "net" + name).to(dev))
    tc.device = dev
    tc.LPIPSloss.to(dev)
    tc.GANloss.to(dev)
    tc.NormalVGG = type(tc.NormalVGG)(dev)  # holds plain mean/std tensors on its build device
    img_org = torch.rand(b, 3, size, size)
    mask = torch.ones(b, 1, size, size)
    mask[:, :, size // 2 : size * 7 // 8, size // 4 : size * 3 // 4] = 0  # 1 = valid, 0 = hole
    batch = {"img_org": img_org, "img": F.interpolate(img_org, size=(opt.fixed_size,) * 2, mode="bilinear",
             antialias=True).clamp(0, 1), "mask": mask, "img_path": [f"p{i}.png" for i in range(b)]}  # fmt: skip
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    secs = []
    for i in range(args.steps + 1):  # the first step (one-off costs) is left out
        t = time.perf_counter()
        tc.set_input(batch)
        tc.optimize_parameters()
        sync()
        if i:
            secs.append(time.perf_counter() - t)
    return {"stage": stage, "size": size, "steps": len(secs), "s_per_step": statistics.median(secs)}


#: rows: name -> (implementation, extra environment)
KEPT_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(64 << 30)}
ROWS = {
    "ours fp32": ("ours", {}),
    "ours fp32, glibc default": ("ours-default-malloc", {}),
    "ours bf16 autocast (CPU)": ("ours-cpu-amp", {}),
    "official fp32, glibc default": ("official", {}),
    "official fp32, memory kept": ("official", KEPT_MALLOC),
}


def worker(args: argparse.Namespace) -> dict:
    """One row, one stage, in this fresh process."""
    from triple_dots.training.losses import save_random_vgg16

    if args.worker == "official":
        return bench_official_stage(args.stages, args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vgg = save_random_vgg16(work / "vgg16.pth")
        return bench_stage(args.stages, args, work, vgg, cpu_amp=args.worker == "ours-cpu-amp",
                           keep_cpu_memory=args.worker != "ours-default-malloc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="measured steps per stage (after one warm-up step)")
    parser.add_argument("--stages", default="coarse,refine")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--official", type=Path, help="checkout of lyndonzheng/TFill: time its TC training step too")
    parser.add_argument("--pythonpath", type=Path, action="append", default=[], help="extra sys.path entry (einops)")
    parser.add_argument("--rows", default=None,
                        help="comma-separated subset of: " + "; ".join(ROWS) + " (default: all that apply)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for extra in args.pythonpath:
        sys.path.insert(0, str(extra))
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args)))
        return

    cuda = args.device.startswith("cuda")
    rows = [r.strip() for r in args.rows.split(",")] if args.rows else [
        r for r in ROWS if not (cuda and r in ("ours bf16 autocast (CPU)", "ours fp32, glibc default"))
        and (args.official or not ROWS[r][0].startswith("official"))]
    print(f"torch {torch.__version__}, device {args.device}, threads {args.threads or torch.get_num_threads()}, "
          f"released width (ngf 32, embed 512, 12 encoders), batch {args.batch_size}; every row in a fresh process")
    results: dict[tuple[str, str], dict] = {}
    for stage in args.stages.split(","):
        for row in rows:
            impl, env = ROWS[row]
            out = subprocess.run([sys.executable, __file__, *strip_option(sys.argv[1:], ("--stages", "--rows")),
                                  "--stages", stage, "--worker", impl], env=os.environ | env, capture_output=True,
                                 text=True)
            if out.returncode != 0:
                sys.stderr.write(out.stderr[-4000:])
                raise SystemExit(f"{row} ({stage}) failed with exit code {out.returncode}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[stage, row] = r
            mem = f", peak {r['peak_mem_gib']:.1f} GiB" if "peak_mem_gib" in r else ""
            print(f"{stage:>6} @ {r['size']} px  {row:32s} {r['s_per_step']:7.2f} s/step over {r['steps']} steps{mem}",
                  flush=True)
    ref = "official fp32, glibc default"
    print(f"\n{'stage':>8} {'row':32s} {'s/step':>8} {'vs official (glibc default)':>28} {'vs official (kept)':>19}")
    for stage in args.stages.split(","):
        for row in rows:
            t = results[stage, row]["s_per_step"]
            ratios = []
            for other in (ref, "official fp32, memory kept"):
                o = results.get((stage, other))
                ratios.append(f"{t / o['s_per_step']:.2f}x" if o else "-")
            print(f"{stage:>8} {row:32s} {t:8.2f} {ratios[0]:>28} {ratios[1]:>19}")
    print(f"(batch {args.batch_size}, device {args.device}, median of {args.steps} steps after 1 warm-up; "
          "goal: ours/official <= 0.70x)")


def strip_option(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` without the options ``names`` (``--x v`` and ``--x=v`` forms)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in names:
            skip = True
            continue
        if any(a.startswith(n + "=") for n in names):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    main()
