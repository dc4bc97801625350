"""SAM click-to-segment latency: one-off image embedding vs. click -> updated hole mask on the cached embedding.

Prints, measured side by side in one run:
* the one-off vit_b image embedding (ViT encoder at 1024 px) on CPU, and on GPU when there is one;
* click -> hole mask with the embedding cached (``ClickSegmenter.add_click``: prompt encoder + mask
  decoder + upsampling of the best mask + island/hole clean-up + dilation), against SAM's own
  ``SamPredictor.predict`` (which upsamples all three candidate masks), with a breakdown;
* the target: a click under 50 ms on CPU.

Without ``--checkpoint`` (and no file in the weights registry) a random-initialised vit_b is used:
the timings are the same as with the released weights (same shapes, same work), the masks are not.

    python benchmarks/sam_click.py                    # random vit_b, sample photo, 2 threads
    python benchmarks/sam_click.py --checkpoint ~/.cache/triple_dots/sam_vit_b_01ec64.pth --clicks 50
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from triple_dots import weights
from triple_dots.images import as_rgb_uint8, grow_hole, read_image
from triple_dots.samples import sample_path
from triple_dots.segment import ClickSegmenter, clean_mask, load_sam, save_random_sam

TARGET_MS = 50.0


def _ms(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def _summary(name: str, ms: list[float]) -> str:
    s = sorted(ms)
    p90 = s[min(len(s) - 1, int(0.9 * len(s)))]
    return f"{name:<44} median {statistics.median(s):8.1f} ms   min {s[0]:8.1f}   p90 {p90:8.1f}   (n={len(s)})"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="SAM vit_b .pth (default: registry, else a random vit_b)")
    ap.add_argument("--model", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    ap.add_argument("--photo", help="photo (default: the grace_hopper sample)")
    ap.add_argument("--size", type=int, default=None, help="resize the photo to this long side first")
    ap.add_argument("--clicks", type=int, default=30, help="timed clicks per measurement")
    ap.add_argument("--embeds", type=int, default=1, help="timed embeddings (each is slow on CPU)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the course machines have 2)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = args.checkpoint or weights.find(f"sam-{args.model}")
    tmp = None
    if ckpt is None:
        tmp = tempfile.TemporaryDirectory()
        ckpt = save_random_sam(Path(tmp.name) / f"sam_{args.model}_random.pth", args.model)
        kind = f"random-initialised {args.model}"
    else:
        kind = f"{args.model} from {ckpt}"
    photo = read_image(args.photo or sample_path("grace_hopper"))
    if args.size:
        h, w = photo.shape[-2:]
        s = args.size / max(h, w)
        photo = F.interpolate(photo[None], size=(round(h * s), round(w * s)), mode="bilinear", antialias=True)[0]
    h, w = photo.shape[-2:]
    print(f"SAM {kind}; photo {w}x{h}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads")

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rng = np.random.default_rng(0)
    for device in devices:
        sam = load_sam(args.model, ckpt, device=device)
        print(f"\n== {device} ==")
        seg = ClickSegmenter(sam, margin=8)
        # embedding: one warm-up on GPU (cuDNN autotune); on CPU the first call is the one users wait for
        if device != "cpu":
            seg.predictor.set_image(as_rgb_uint8(photo))
            _sync(device)
        emb = []
        for _ in range(args.embeds):
            seg._cache.clear()
            t0 = time.perf_counter()
            seg.set_image(photo)
            _sync(device)
            emb.append(1000 * (time.perf_counter() - t0))
        print(_summary(f"image embedding ({args.model}, 1024 px input)", emb))
        t0 = time.perf_counter()
        assert seg.set_image(photo)
        print(f"{'same photo again (cache hit)':<44} {1000 * (time.perf_counter() - t0):8.1f} ms")

        pts = [(float(rng.uniform(0.2, 0.8) * w), float(rng.uniform(0.3, 0.9) * h)) for _ in range(args.clicks)]
        seg.add_click(*pts[0])  # warm-up

        def one_click(i=[0]):
            seg.reset()
            seg.add_click(*pts[i[0] % len(pts)])
            _sync(device)
            i[0] += 1

        ours = _ms(one_click, args.clicks)
        p = seg.predictor

        def sam_predict(i=[0]):
            x, y = pts[i[0] % len(pts)]
            p.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]), multimask_output=True)
            _sync(device)
            i[0] += 1

        theirs = _ms(sam_predict, args.clicks)
        seg.reset()
        seg.add_click(*pts[0])

        def second_click(i=[0]):
            seg.add_click(*pts[(i[0] + 1) % len(pts)], label=1)
            _sync(device)
            seg.undo()
            i[0] += 1

        follow = _ms(second_click, args.clicks)

        # breakdown of one click
        clicks = seg.clicks

        def decode_only():
            with torch.no_grad():
                seg._decode(clicks, None, None)
            _sync(device)

        raw = seg.raw_mask()
        with torch.no_grad():
            logits, _, _ = seg._decode(clicks, None, None)
        logits = logits.to(sam.device)

        def upsample_only():
            with torch.no_grad():
                sam.postprocess_masks(logits[None], p.input_size, p.original_size)
            _sync(device)

        print(_summary("click -> hole mask (ours: best mask only)", ours))
        print(_summary("  second click (+ previous logits as prompt)", follow))
        print(_summary("SamPredictor.predict (3 masks upsampled)", theirs))
        print(_summary("  breakdown: prompt enc + decoder + upsample", _ms(decode_only, args.clicks)))
        print(_summary("  breakdown: upsample best mask to photo", _ms(upsample_only, args.clicks)))
        print(_summary("  breakdown: clean (islands, holes)", _ms(lambda: clean_mask(raw), args.clicks)))
        print(_summary("  breakdown: dilate 8 px", _ms(lambda: grow_hole(raw, 8), args.clicks)))
        med = statistics.median(ours)
        print(f"ratio SamPredictor.predict / ours: {statistics.median(theirs) / med:.2f}x; "
              f"embedding / click: {statistics.median(emb) / med:.0f}x")
        verdict = "meets" if med < TARGET_MS else "MISSES"
        print(f"target click < {TARGET_MS:.0f} ms on {device}: {verdict} ({med:.1f} ms median)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
