"""Seconds per 512x512 image for TFill inference: ours vs the official code, side by side in one run.

Usage::

    python benchmarks/tfill_inference.py                      # ours only, CPU, 2 threads, released width
    python benchmarks/tfill_inference.py --official ~/src/TFill   # + the official code on the same weights/input
    python benchmarks/tfill_inference.py --weights ~/.cache/triple_dots/tfill/ffhq --device cuda

Both implementations get the same state dicts (the released checkpoints with ``--weights``, or
one random initialisation at the released width) and the same photo + hole mask. The official
networks are imported from a checkout of lyndonzheng/TFill; its two compiled CUDA ops (used only
by the discriminators) are replaced in ``sys.modules`` by plain-PyTorch equivalents so the module
imports on CPU; it needs ``einops`` (``pip install einops`` or ``--pythonpath DIR``). The
official path timed is its ``TC.test`` procedure (``torch.no_grad``, batch 1). Outputs are
compared with the noise gains set to 0 (the two use different random streams).

Each implementation is timed in its **own fresh process** (as a user runs either tool), the
processes alternating over ``--rounds`` rounds so that load changes hit all of them alike; the
weights are the same in every process (same seed, or the same ``--weights``). Both tools allocate
many large tensors, and glibc's default allocator hands those back to the kernel and page-faults
them in again on every call (the official attention-aware layer's four 128 MiB maps per call make
this a large part of its time). ``--allocator both`` (default) therefore also times every
implementation with glibc told to keep freed memory (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``): the fairest comparison of the code itself. ``--allocator default``
skips those rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from official_stubs import stub_stylegan_ops  # benchmarks/official_stubs.py (script dir)

from triple_dots.tfill import TFill
from triple_dots.tfill.model import from_model_space, to_model_space


def build_official(root: Path, model: TFill) -> dict[str, torch.nn.Module]:
    """The official E, T, G, G_Ref with our model's options and weights (strict load)."""
    sys.path.insert(0, str(root))
    stub_stylegan_ops(root)
    import model.base_function as bf  # noqa: PLC0415  (official code)
    import model.networks as networks  # noqa: PLC0415
    from model.transformer_ops import transformer_function as tf  # noqa: PLC0415

    c = model.config
    nets = {
        "E": bf.DiffEncoder(3, c.ngf, c.kernel_E, c.embed_dim, c.n_layers_G, c.num_res_blocks,
                            activation=c.activation, norm=c.norm, use_attn=False),
        "T": tf.Transformer(c.token_dim, c.embed_dim, c.token_dim, kernel=c.kernel_T, n_encoders=c.n_encoders,
                            n_decoders=0, embed_type=c.embed_type),
        "G": bf.DiffDecoder(3, c.ngf, c.kernel_G, c.embed_dim, c.n_layers_G, c.num_res_blocks, word_size=16,
                            activation=c.activation, norm=c.norm, add_noise=c.add_noise, use_attn=c.attn_G,
                            use_pos=False),
        "G_Ref": networks.RefinedGenerator(3, c.ngf, c.embed_dim, c.down_layers, c.mid_layers, c.num_res_blocks,
                                           activation=c.activation, norm=c.norm),
    }
    for name, net in nets.items():
        net.load_state_dict(getattr(model, f"net_{name}").state_dict(), strict=True)
        net.eval()
    return nets


@torch.no_grad()
def official_test(nets: dict, img: torch.Tensor, valid: torch.Tensor, fixed: int) -> torch.Tensor:
    """The official ``TC.test`` (one sample) on model-space tensors; returns the final composite in [-1, 1]."""
    img_m = valid * img
    fixed_img = F.interpolate(img_m, size=[fixed, fixed], mode="bicubic", align_corners=True).clamp(-1, 1)
    fixed_mask = F.interpolate(valid, size=[fixed, fixed], mode="bicubic", align_corners=True)
    fixed_mask = (fixed_mask > 0.9).type_as(fixed_img)
    out, mask = nets["E"](fixed_img, mask=fixed_mask, return_mask=True)
    out = nets["T"](out, mask, bool_mask=False)
    img_g = nets["G"](out, mask=valid)
    img_g_org = F.interpolate(img_g, size=img.size()[2:], mode="bicubic", align_corners=True).clamp(-1, 1)
    img_out = valid * img + (1 - valid) * img_g_org
    img_ref = nets["G_Ref"](img_out, mask=valid)
    return valid * img + (1 - valid) * img_ref


def sample_input(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A sample photo resized to size x size and a face-mask-like hole (lower-middle ellipse)."""
    try:
        from triple_dots.images import read_image
        from triple_dots.samples import sample_path

        img = read_image(sample_path("grace_hopper"))[None]
        img = F.interpolate(img, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    except Exception:  # no checkout samples: a smooth synthetic picture
        g = torch.Generator().manual_seed(0)
        img = F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size, size), mode="bicubic").clamp(0, 1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    hole = ((xx / 0.55) ** 2 + ((yy - 0.35) / 0.4) ** 2 <= 1).float()[None, None]
    return img, hole


#: glibc settings that keep freed memory in the heap instead of returning it to the kernel
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_model(args: argparse.Namespace) -> TFill:
    torch.manual_seed(0)  # same random weights in every process
    model = TFill.from_official(args.weights, preset=args.preset) if args.weights else TFill(args.preset)
    return model.eval()


def runner_names(device: torch.device, official: bool) -> list[str]:
    names = (["official fp32 (TC.test)"] if official else []) + ["ours fp32", "ours fp32 channels_last"]
    if device.type == "cuda":
        names += [f"ours {d} autocast channels_last" for d in ("bfloat16", "float16")]
    return names


def make_runner(name: str, args: argparse.Namespace, device: torch.device):
    """A zero-argument callable that inpaints the benchmark photo once with implementation ``name``."""
    model = build_model(args)
    img, hole = (t.to(device) for t in sample_input(args.size))
    if name.startswith("official"):
        nets = {k: v.to(device) for k, v in build_official(args.official.expanduser(), model).items()}
        img_pm1, valid = to_model_space(img, hole)
        return lambda: official_test(nets, img_pm1, valid, model.config.fixed_size)
    ours = model.to(device)
    if "channels_last" in name:
        ours.use_channels_last()
    dtype = next((getattr(torch, d) for d in ("bfloat16", "float16") if d in name), None)
    if dtype is not None:
        return lambda: ours.inpaint(img, hole, seed=0, autocast_dtype=dtype)
    return lambda: ours.inpaint(img, hole, seed=0)


def worker(args: argparse.Namespace) -> int:
    """Time one implementation in this (fresh) process; print one JSON line."""
    device = pick_device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    fn = make_runner(args.worker, args, device)
    for _ in range(args.warmup):
        fn()
        sync()
    wall, cpu = [], []
    for _ in range(args.repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        sync()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(json.dumps({"wall": wall, "cpu": cpu}))
    return 0


def output_difference(args: argparse.Namespace, device: torch.device) -> float:
    """max |ours - official| on the final image ([0, 1] units), noise gains set to 0 in both."""
    model = build_model(args)
    nets = {k: v.to(device) for k, v in build_official(args.official.expanduser(), model).items()}
    ours = model.to(device).use_channels_last()
    for net in (nets["G"], ours.net_G):
        for name, prm in net.named_parameters():
            if ".noise." in name or name.startswith("noise"):
                prm.data.zero_()
    img, hole = (t.to(device) for t in sample_input(args.size))
    img_pm1, valid = to_model_space(img, hole)
    ref = from_model_space(official_test(nets, img_pm1, valid, model.config.fixed_size))
    return float((ref - ours.inpaint(img, hole, seed=0)).abs().max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", type=Path, help="checkout of lyndonzheng/TFill to time beside ours")
    p.add_argument("--pythonpath", type=Path, action="append", default=[], help="extra sys.path entry (e.g. einops)")
    p.add_argument("--weights", type=Path, help="folder with latest_net_*.pth (default: random init, released width)")
    p.add_argument("--preset", default="ffhq")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per process")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per process")
    p.add_argument("--rounds", type=int, default=2, help="fresh processes per implementation (alternating)")
    p.add_argument("--allocator", choices=["both", "default"], default="both",
                   help="also time every implementation with glibc keeping freed memory (default: both)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for extra in args.pythonpath:
        sys.path.insert(0, str(extra))
    torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)

    device = pick_device(args.device)
    print(f"TFill inference, {args.size}x{args.size}, batch 1, device {device}"
          + (f", {args.threads} CPU threads" if device.type == "cpu" else f" ({torch.cuda.get_device_name()})")
          + f", torch {torch.__version__}, weights: {args.weights or 'random init (released width)'}")
    forwarded = list(argv if argv is not None else sys.argv[1:])
    envs = {"default malloc": {}} | ({"malloc kept": TUNED_MALLOC} if args.allocator == "both" else {})
    names = runner_names(device, args.official is not None)
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for env_name, env in envs.items():
            for name in names:
                out = subprocess.run([sys.executable, __file__, *forwarded, "--worker", name],
                                     env=os.environ | env, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.stderr.write(out.stderr)
                    raise SystemExit(f"worker {name!r} failed (exit {out.returncode})")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                wall.setdefault((env_name, name), []).extend(res["wall"])
                cpu.setdefault((env_name, name), []).extend(res["cpu"])
                print(f"  round {r + 1}, {env_name}, {name}: " + " ".join(f"{t:.3f}" for t in res["wall"]), flush=True)

    print(f"\n{'implementation':42s} {'allocator':15s} {'s/image':>8s} {'min':>7s} {'CPU s':>7s}",
          f"{'speed-up (wall, CPU)':>21s}")
    for env_name in envs:
        base = (env_name, names[0]) if args.official else None
        for name in names:
            times = wall[env_name, name]
            med, lo, c = statistics.median(times), min(times), statistics.median(cpu[env_name, name])
            ratio = "-"
            if base:
                ratio = f"{statistics.median(wall[base]) / med:.2f}x, {statistics.median(cpu[base]) / c:.2f}x"
            print(f"{name:42s} {env_name:15s} {med:8.3f} {lo:7.3f} {c:7.3f} {ratio:>21s}")
    print(f"(medians of {args.rounds} fresh processes x {args.repeats} runs per implementation; "
          "CPU s = process CPU seconds per image)")
    if args.official:
        diff = output_difference(args, device)
        print(f"max |ours - official| on the output ([0, 1] units, noise gains 0): {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
