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
"""

from __future__ import annotations

import argparse
import copy
import statistics
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
    fixed_mask = (F.interpolate(valid, size=[fixed, fixed], mode="bicubic", align_corners=True) > 0.9).type_as(fixed_img)
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


def timeit(fn, repeats: int, warmup: int, sync) -> list[float]:
    for _ in range(warmup):
        fn()
        sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--official", type=Path, help="checkout of lyndonzheng/TFill to time beside ours")
    p.add_argument("--pythonpath", type=Path, action="append", default=[], help="extra sys.path entry (e.g. einops)")
    p.add_argument("--weights", type=Path, help="folder with latest_net_*.pth (default: random init, released width)")
    p.add_argument("--preset", default="ffhq")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args(argv)
    for extra in args.pythonpath:
        sys.path.insert(0, str(extra))
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)

    torch.manual_seed(0)
    if args.weights:
        model = TFill.from_official(args.weights, preset=args.preset)
    else:
        model = TFill(args.preset)
    model.eval()
    img, hole = sample_input(args.size)
    print(f"TFill inference, {args.size}x{args.size}, batch 1, device {device}"
          + (f", {args.threads} CPU threads" if device.type == "cpu" else f" ({torch.cuda.get_device_name()})")
          + f", torch {torch.__version__}, weights: {args.weights or 'random init (released width)'}")

    runners: dict[str, object] = {}
    ours = copy.deepcopy(model).to(device)
    ours_cl = copy.deepcopy(model).to(device).use_channels_last()
    img_d, hole_d = img.to(device), hole.to(device)
    nets = None
    if args.official:
        nets = {k: v.to(device) for k, v in build_official(args.official.expanduser(), model).items()}
        img_pm1, valid = to_model_space(img_d, hole_d)
        runners["official fp32 (TC.test)"] = lambda: official_test(nets, img_pm1, valid, model.config.fixed_size)
    runners["ours fp32"] = lambda: ours.inpaint(img_d, hole_d, seed=0)
    runners["ours fp32 channels_last"] = lambda: ours_cl.inpaint(img_d, hole_d, seed=0)
    if device.type == "cuda":
        for dtype in (torch.bfloat16, torch.float16):
            runners[f"ours {str(dtype).split('.')[-1]} autocast channels_last"] = (
                lambda dtype=dtype: ours_cl.inpaint(img_d, hole_d, seed=0, autocast_dtype=dtype))
    # interleaved: every repeat runs each implementation once, so load changes hit all of them alike
    times: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.warmup):
        for fn in runners.values():
            fn()
            sync()
    for _ in range(args.repeats):
        for name, fn in runners.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            sync()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    rows = [(name, statistics.median(ts), statistics.median(cpu[name])) for name, ts in times.items()]
    official_s = rows[0][1:] if nets is not None else None

    diff = None
    if nets is not None:
        # same output? (noise gains set to 0 in both: the two use different random streams)
        for net in (nets["G"], ours.net_G):
            for name, prm in net.named_parameters():
                if ".noise." in name or name.startswith("noise"):
                    prm.data.zero_()
        ref = from_model_space(official_test(nets, img_pm1, valid, model.config.fixed_size))
        diff = float((ref - ours.inpaint(img_d, hole_d, seed=0)).abs().max())

    print(f"{'implementation':42s} {'s/image':>8s} {'CPU s/image':>12s} {'speed-up (wall, CPU time)':>27s}")
    for name, med, cpu_s in rows:
        ratio = f"{official_s[0] / med:.2f}x, {official_s[1] / cpu_s:.2f}x" if official_s else "-"
        print(f"{name:42s} {med:8.3f} {cpu_s:12.3f} {ratio:>27s}")
    print("(medians over interleaved repeats; CPU time = process CPU seconds, robust to other load on the machine)")
    if diff is not None:
        print(f"max |ours - official| on the output ([0, 1] units, noise gains 0): {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
