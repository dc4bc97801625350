"""Train the bundled face check (``triple_dots/masks/models/face_check.onnx``) from folders of photos.

The face check is a 62k-parameter CNN that looks at a 64 px crop twice the size of a YuNet face box
and says whether the face is human (masked or not) or an animal/object face. It is trained on YuNet's
own detections, so it sees the boxes it will judge:

* positives: YuNet detections scoring >= 0.5 on photos of people (``--faces``), with and without masks;
* negatives: YuNet detections scoring >= 0.15 on photos with no human face (``--no-faces``): pets,
  monkeys, other animals, objects.

Photos that are near-duplicates (16 x 16 thumbnail correlation > 0.9) of a photo in an ``--exclude``
folder (the evaluation sets) are left out. Photos are split into training and validation by photo, one
in seven for validation. The script prints, for the validation split, the logit that keeps 99.5 % and
99 % of the human faces and the share of animal/object faces that still pass it, then writes the ONNX
file (run by ``cv2.dnn``; exporting needs the ``onnx`` package: ``pip install onnx``).

    python tools/train_face_check.py --faces people/ --no-faces animals/ objects/ \\
        --exclude eval/masked eval/no_face --out face_check.onnx

The bundled file's sources and figures are in ``triple_dots/masks/models/README.md`` and BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from triple_dots.images import read_image_uint8
from triple_dots.masks.detect import CHECK_CROP, CHECK_PX, square_crop, yunet_faces

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
#: Crops are stored this much larger than the check's crop, so that training can shift and zoom them.
MARGIN = 1.25


class FaceCheck(nn.Module):
    """(B, 3, 64, 64) RGB in [0, 1] -> (B, 1) logits, > 0: a human face."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 64)) -> None:
        super().__init__()
        layers, c = [], 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(c * (CHECK_PX >> len(widths)) ** 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - 0.5) / 0.25))


def photos(folders: list[str]) -> list[Path]:
    return sorted(p for f in folders for p in Path(f).rglob("*") if p.suffix.lower() in SUFFIXES)


def thumb(rgb: np.ndarray) -> np.ndarray:
    t = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
    t = t.astype(np.float32).ravel() - t.mean()
    return t / (np.linalg.norm(t) + 1e-6)


def detections(job: tuple[Path, float]) -> tuple[Path, np.ndarray | None, np.ndarray | None]:
    """Crops ((N, px, px, 3) uint8, px = MARGIN * CHECK_PX) and thumbnail of one photo; None if unreadable."""
    path, min_score = job
    cv2.setNumThreads(1)  # two worker processes on two cores
    try:
        rgb = read_image_uint8(path)
    except Exception:  # noqa: BLE001 -- a training run skips unreadable files and says how many
        return path, None, None
    px = round(MARGIN * CHECK_PX)
    crops = [square_crop(rgb, f.box, MARGIN * CHECK_CROP, px)[0] for f in yunet_faces(rgb, min_score=min_score)]
    return path, np.array(crops, np.uint8).reshape(-1, px, px, 3), thumb(rgb)


def gather(paths: list[Path], min_score: float, exclude: np.ndarray | None) -> tuple[list[np.ndarray], list[int]]:
    crops, groups, skipped = [], [], 0
    with get_context("spawn").Pool(2) as pool:  # fork would copy torch's and OpenCV's thread pools
        for i, (_, c, t) in enumerate(pool.imap(detections, [(p, min_score) for p in paths], chunksize=8)):
            if c is None or (exclude is not None and len(exclude) and float((exclude @ t).max()) > 0.9):
                skipped += 1
                continue
            crops += list(c)
            groups += [i] * len(c)
    print(f"{len(paths)} photos, {skipped} unreadable or near an excluded photo, {len(crops)} detections")
    return crops, groups


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random zoom (+-15 %), shift (+-8 %), tilt (+-11 deg), mirror, grey, contrast and colour of (B, 3, px, px)."""
    b = x.shape[0]
    scale = torch.exp(torch.empty(b).uniform_(-0.15, 0.15)) / MARGIN
    rot = torch.empty(b).uniform_(-0.2, 0.2)
    flip = (torch.rand(b) < 0.5).float() * 2 - 1
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = scale * torch.cos(rot) * flip, -scale * torch.sin(rot)
    theta[:, 1, 0], theta[:, 1, 1] = scale * torch.sin(rot) * flip, scale * torch.cos(rot)
    theta[:, :, 2] = torch.empty(b, 2).uniform_(-0.08, 0.08)
    y = F.grid_sample(x, F.affine_grid(theta, [b, 3, CHECK_PX, CHECK_PX], align_corners=False), align_corners=False)
    grey = (torch.rand(b, 1, 1, 1) < 0.15).float()
    y = grey * y.mean(1, keepdim=True) + (1 - grey) * y
    y = (y - 0.5) * torch.empty(b, 1, 1, 1).uniform_(0.7, 1.3) + 0.5 + torch.empty(b, 1, 1, 1).uniform_(-0.15, 0.15)
    return (y * torch.empty(b, 3, 1, 1).uniform_(0.9, 1.1)).clamp(0, 1)


def centre(x: torch.Tensor) -> torch.Tensor:
    """The check's own crop (CHECK_CROP x the box) out of the stored, larger one."""
    m = (x.shape[-1] - CHECK_PX) // 2
    return x[..., m:m + CHECK_PX, m:m + CHECK_PX]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", nargs="+", required=True, help="folders of photos of people (masked or not)")
    ap.add_argument("--no-faces", nargs="+", required=True, help="folders of photos with no human face")
    ap.add_argument("--exclude", nargs="*", default=[], help="folders whose photos (and near-duplicates) stay out")
    ap.add_argument("--out", default="face_check.onnx")
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    excl = [thumb(read_image_uint8(p)) for p in photos(args.exclude)]
    exclude = np.array(excl) if excl else None
    pos, pos_g = gather(photos(args.faces), 0.5, exclude)
    neg, neg_g = gather(photos(args.no_faces), 0.15, exclude)
    x = torch.from_numpy(np.array(pos + neg)).permute(0, 3, 1, 2).contiguous()
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
    groups = np.array(pos_g + [g + 10**9 for g in neg_g])
    val_groups = rng.choice(np.unique(groups), len(np.unique(groups)) // 7, replace=False)
    val = np.isin(groups, val_groups)
    train_idx, val_idx = np.where(~val)[0], np.where(val)[0]

    model = FaceCheck()
    steps = args.epochs * (len(train_idx) // 128)
    opt = torch.optim.AdamW(model.parameters(), 3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    pos_weight = float((y[train_idx] == 0).sum() / (y[train_idx] == 1).sum())  # classes count the same
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = rng.permutation(train_idx)
        for i in range(0, len(perm) - 127, 128):
            b = perm[i:i + 128]
            logits = model(augment(x[b].float() / 255)).squeeze(1)
            weight = torch.where(y[b] > 0.5, pos_weight, 1.0)
            loss = F.binary_cross_entropy_with_logits(logits, y[b], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            lv = torch.cat([model(centre(x[val_idx[i:i + 512]].float() / 255)).squeeze(1)
                            for i in range(0, len(val_idx), 512)]).numpy()
        yv = y[val_idx].numpy()
        figures = []
        for keep in (0.995, 0.99):
            thr = float(np.quantile(lv[yv == 1], 1 - keep))
            passing = (lv[yv == 0] >= thr).mean()
            figures.append(f"keeps {keep:.1%} of faces from {thr:.2f}: {passing:.1%} of non-faces pass")
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss.item():.3f}  {'; '.join(figures)}  ({time.time() - t0:.0f} s)")

    try:
        import onnx  # noqa: F401 -- torch's exporter needs it
    except ImportError as e:
        raise SystemExit("exporting the face check needs the onnx package: pip install onnx") from e
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 3, CHECK_PX, CHECK_PX), args.out, dynamo=False,
                      input_names=["crop"], output_names=["logit"])
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
