"""Clicks (and an optional box) -> hole mask (1, H, W) float32 in {0, 1}, **1 = hole**, with Segment Anything.

Coordinates are (x, y) pixels of the original photo (x right, y down); label 1 = the mask to remove (positive),
0 = keep (negative). Per prompt, SAM's light decoder runs on the cached embedding (the heavy ViT encoder runs once per
photo) with the previous step's logits; the best of its three candidates is kept, small islands are removed, holes
filled, and the mask is grown by ``margin`` pixels so the edge of the real mask, which SAM cuts a little short, is
regenerated too.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from triple_dots.errors import BadInputError
from triple_dots.files import atomic_write
from triple_dots.images import as_rgb_uint8, grow_hole
from triple_dots.segment.decoder import ClickDecoder


@dataclass(frozen=True)
class Click:
    """One prompt point: ``(x, y)`` in original-photo pixels, ``label`` 1 = hole (positive), 0 = keep (negative)."""

    x: float
    y: float
    label: int = 1


def as_click(point: Click | Sequence[float]) -> Click:
    """A :class:`Click` from a Click or an ``(x, y)`` / ``(x, y, label)`` sequence in pixels (label 1 when omitted)."""
    if isinstance(point, Click):
        return point
    if len(point) not in (2, 3):
        raise BadInputError(f"a point is (x, y) or (x, y, label), got {point!r}")
    return Click(float(point[0]), float(point[1]), int(point[2]) if len(point) == 3 else 1)


@dataclass
class _Step:
    clicks: tuple[Click, ...]
    box: tuple[float, float, float, float] | None
    logits: torch.Tensor | None = None  # (1, 256, 256) low-res logits of the chosen mask; None: no mask yet
    raw: np.ndarray | None = None  # (H, W) bool, cleaned, not dilated
    score: float | None = None


def image_key(image: np.ndarray) -> str:
    """Content key of an (H, W, 3) uint8 photo: sha1 of its shape and bytes."""
    h = hashlib.sha1(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def clean_mask(mask: np.ndarray, *, min_island: float = 0.001, fill_holes: bool = True) -> np.ndarray:
    """A new (H, W) bool mask (True = hole): islands under ``min_island`` x image area removed (the largest kept when
    all are small, SAM's ``remove_small_regions`` rule), every enclosed hole filled."""
    import cv2
    from segment_anything.utils.amg import remove_small_regions

    out = mask.astype(bool)
    if min_island > 0 and out.any():
        out, _ = remove_small_regions(out, min_island * out.size, mode="islands")
    if fill_holes:
        # A hole is background that the outside cannot reach (4-connected, as scipy's
        # binary_fill_holes): flood the outside from a 1-px frame, everything not flooded is mask.
        framed = np.pad(out.astype(np.uint8), 1)
        cv2.floodFill(framed, None, (0, 0), 2, flags=4)
        out = framed[1:-1, 1:-1] != 2
    return np.asarray(out, dtype=bool)


class ClickSegmenter:
    """Turn clicks on one photo into a hole mask with SAM; the image embedding is computed once per photo.

    Args:
        sam: a SAM model from :func:`triple_dots.segment.load_sam`.
        margin: default dilation in pixels added around SAM's mask (>= 0).
        min_island: islands smaller than this fraction of the image area are removed.
        cache_size: how many photos' embeddings to keep in memory (each is 1x256x64x64 float32, 4 MB).
        cache_dir: optional folder where embeddings are also kept on disk (file name = model
            fingerprint + photo content key), written atomically, read with ``weights_only=True``.
    """

    def __init__(self, sam: torch.nn.Module, *, margin: int = 8, min_island: float = 0.001, cache_size: int = 8,
                 cache_dir: str | Path | None = None):
        from segment_anything import SamPredictor

        if margin < 0:
            raise BadInputError(f"margin must be >= 0 pixels, got {margin}")
        self.sam = sam
        # channels-last weights in the decoder's upscaling (the embedding stays NCHW): faster clicks, same numbers
        sam.mask_decoder.to(memory_format=torch.channels_last)
        self.predictor = SamPredictor(sam)
        self.margin = int(margin)
        self.min_island = float(min_island)
        self.cache_size = int(cache_size)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._fingerprint: str | None = None
        self._decoder = ClickDecoder(sam)
        self._cache: OrderedDict[str, tuple[torch.Tensor, tuple[int, int], tuple[int, int]]] = OrderedDict()
        self._key: str | None = None
        self._image: np.ndarray | None = None
        self._history: list[_Step] = []
        #: How many times the image encoder ran (one per new photo; cache hits do not count).
        self.encoder_runs = 0

    @torch.no_grad()
    def set_image(self, image: torch.Tensor | np.ndarray) -> bool:
        """Use ``image`` ((3, H, W) in [0, 1] or (H, W, 3) uint8 RGB) and clear the clicks; True on a cache hit."""
        arr = as_rgb_uint8(image, gray=False)
        key = image_key(arr)
        if key not in self._cache:
            self._load_disk(key)
        hit = key in self._cache
        p = self.predictor
        if hit:
            self._cache.move_to_end(key)
            p.reset_image()
            p.features, p.original_size, p.input_size = self._cache[key]
            p.is_image_set = True
        else:
            p.set_image(arr, image_format="RGB")
            self.encoder_runs += 1
            self._cache[key] = (p.features, tuple(p.original_size), tuple(p.input_size))
            path = self._disk_path(key)
            if path is not None:
                obj = {"key": key, "features": p.features.cpu(), "original_size": list(p.original_size),
                       "input_size": list(p.input_size)}
                with atomic_write(path, overwrite=True) as tmp:
                    torch.save(obj, tmp)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._key, self._image = key, arr
        self.reset()
        return hit

    def model_fingerprint(self) -> str:
        """Short content hash of the SAM image encoder's weights (patch embedding + neck): names its disk cache."""
        if self._fingerprint is None:
            h = hashlib.sha1()
            enc = self.sam.image_encoder
            for t in (enc.patch_embed.proj.weight, *(p for p in enc.neck.parameters())):
                h.update(t.detach().float().cpu().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def _disk_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"sam-{self.model_fingerprint()}-{key[:24]}.pt"

    def _load_disk(self, key: str) -> None:
        path = self._disk_path(key)
        if path is None or not path.is_file():
            return
        try:
            obj = torch.load(path, map_location=self.predictor.device, weights_only=True)
            feats = obj["features"]
            entry = (feats, tuple(int(v) for v in obj["original_size"]), tuple(int(v) for v in obj["input_size"]))
        except Exception:  # a stale or broken cache file is ignored and recomputed, never trusted
            return
        if obj.get("key") == key and tuple(feats.shape[:2]) == (1, 256):
            self._cache[key] = entry

    @property
    def image(self) -> np.ndarray:
        """The current photo, (H, W, 3) uint8 RGB."""
        if self._image is None:
            raise BadInputError("no photo yet: call set_image(photo) before clicking")
        return self._image

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the current photo in pixels."""
        return self.image.shape[0], self.image.shape[1]

    @property
    def _last(self) -> _Step:
        """The current step (an empty one before any prompt)."""
        return self._history[-1] if self._history else _Step((), None)

    @property
    def clicks(self) -> tuple[Click, ...]:
        """Every click so far, oldest first."""
        return self._last.clicks

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        """The current box prompt (x0, y0, x1, y1) in pixels, or None."""
        return self._last.box

    @property
    def score(self) -> float | None:
        """SAM's predicted IoU of the current mask (None before the first prompt)."""
        return self._last.score

    def _check_point(self, x: float, y: float, label: int) -> None:
        if label not in (0, 1):
            raise BadInputError(f"click label must be 1 (hole) or 0 (keep), got {label!r}")
        h, w = self.size
        if not (np.isfinite(x) and np.isfinite(y) and 0 <= x < w and 0 <= y < h):
            raise BadInputError(
                f"click ({x:g}, {y:g}) is outside the photo: x must be in [0, {w}) and y in [0, {h}) pixels"
            )

    def add_click(self, x: float, y: float, label: int = 1) -> torch.Tensor:
        """Add a click at pixel ``(x, y)`` (label 1 = hole, 0 = keep) and return the new hole mask (1, H, W)."""
        self._check_point(float(x), float(y), label)
        self._advance(self.clicks + (Click(float(x), float(y), int(label)),), self.box, need_mask=True)
        return self.mask()

    def set_box(self, box: Sequence[float] | None) -> torch.Tensor | None:
        """Set (None: clear) a box prompt (x0, y0, x1, y1) in pixels; returns the new mask (None if no prompt)."""
        if box is not None:
            if len(box) != 4:
                raise BadInputError(f"a box is (x0, y0, x1, y1), got {box!r}")
            x0, y0, x1, y1 = (float(v) for v in box)
            h, w = self.size
            if not (0 <= x0 < w and 0 <= y0 < h and 0 < x1 <= w and 0 < y1 <= h):
                raise BadInputError(
                    f"box {tuple(box)} is outside the photo: x must be in [0, {w}] and y in [0, {h}] pixels"
                )
            if not (x1 > x0 and y1 > y0):
                raise BadInputError(f"box {box!r} is empty: need x1 > x0 and y1 > y0")
            box = (x0, y0, x1, y1)
        self._advance(self.clicks, box)
        return self.mask() if self._last.raw is not None else None

    def undo(self) -> torch.Tensor | None:
        """Remove the last click (or box change); returns the mask before it (None when nothing is left)."""
        if self._history:
            self._history.pop()
        return self.mask() if self._last.raw is not None else None

    def reset(self) -> None:
        """Forget every click and the box (the cached embedding stays)."""
        self._history = []

    def segment(self, points: Iterable[Sequence[float]], *, box: Sequence[float] | None = None,
                margin: int | None = None) -> torch.Tensor:
        """Replace the prompts by ``points`` [(x, y[, label=1]), ...] (+ ``box``), as if clicked in order; (1, H, W)."""
        parsed = [as_click(p) for p in points]
        if not parsed and box is None:
            raise BadInputError("no prompt: give at least one positive point (x, y, 1) on the mask, or a box")
        for c in parsed:
            self._check_point(c.x, c.y, c.label)
        self.reset()
        if box is not None:
            self._history.append(_Step((), None))
            self.set_box(box)
        for i in range(len(parsed)):
            self._advance(tuple(parsed[: i + 1]), self.box)
        return self.mask(margin)

    @torch.no_grad()
    def _decode(self, clicks: tuple[Click, ...], box,
                mask_input: torch.Tensor | None) -> tuple[torch.Tensor, float, np.ndarray]:
        """Run SAM's prompt encoder + mask decoder on the cached embedding; keep the best of 3 masks."""
        p, sam = self.predictor, self.sam
        dev = p.device
        points = None
        if clicks:
            coords = p.transform.apply_coords(np.array([[c.x, c.y] for c in clicks], dtype=np.float32), p.original_size)
            labels = np.array([c.label for c in clicks], dtype=np.int64)
            points = (torch.as_tensor(coords, device=dev)[None], torch.as_tensor(labels, device=dev)[None])
        box_t = None
        if box is not None:
            b = p.transform.apply_boxes(np.array(box, dtype=np.float32)[None], p.original_size)
            box_t = torch.as_tensor(b, device=dev)
        masks = None if mask_input is None else mask_input[None].to(dev)
        sparse, dense = sam.prompt_encoder(points=points, boxes=box_t, masks=masks)
        logits, score = self._decoder(self._key, p.features, sparse, None if mask_input is None else dense)
        full = sam.postprocess_masks(logits[None], p.input_size, p.original_size)[0, 0]  # (H, W)
        return logits.detach().cpu(), score, (full > sam.mask_threshold).cpu().numpy()

    def _advance(self, clicks: tuple[Click, ...], box, *, need_mask: bool = False) -> None:
        """A new step: decoded when it has a positive click or a box, else recorded (``need_mask``: refused)."""
        if not any(c.label == 1 for c in clicks) and box is None:
            if need_mask:
                raise BadInputError(
                    "no positive click: the first click must be on the mask to remove (label 1); "
                    "negative clicks (label 0) only refine it"
                )
            self._history.append(_Step(clicks, box))
            return
        _ = self.image
        logits, score, raw = self._decode(clicks, box, self._last.logits)
        self._history.append(_Step(clicks, box, logits, clean_mask(raw, min_island=self.min_island), score))

    def raw_mask(self) -> np.ndarray:
        """The current mask before dilation, (H, W) bool, True = hole."""
        if self._last.raw is None:
            raise BadInputError("no positive click yet: click on the mask to remove first")
        return self._last.raw

    def mask(self, margin: int | None = None) -> torch.Tensor:
        """The hole mask (1, H, W) float32 in {0, 1}, 1 = hole, dilated by ``margin`` px (default: self.margin)."""
        m = grow_hole(self.raw_mask(), self.margin if margin is None else int(margin))
        return torch.from_numpy(m.astype(np.float32))[None]
