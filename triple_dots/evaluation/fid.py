"""Fréchet Inception Distance with pytorch-fid's InceptionV3: equal to ``python -m pytorch_fid`` on the same files.

Weights: registry key ``"fid-inception"`` or an explicit path, never downloaded. Images (3, H, W) in [0, 1]
are resized to 299 x 299 one at a time. Activations are cached per folder content, weights and dims.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from triple_dots import weights
from triple_dots.errors import BadInputError, BadWeightsError, where
from triple_dots.evaluation.pairs import raise_problems
from triple_dots.files import atomic_write_bytes
from triple_dots.images import list_images, probe_image, read_image
from triple_dots.state_dicts import load_state_file

#: Feature dimensions pytorch-fid supports.
DIMS: tuple[int, ...] = (64, 192, 768, 2048)

#: Bump when the preprocessing changes, so stale cache files are not reused.
_CACHE_VERSION = 1

#: FID below this many images is mostly noise (reported as a warning).
SMALL_SET_WARNING = 50

_weights_hash_memo: dict[tuple[str, int, int], str] = {}


def weights_hash(path: str | Path) -> str:
    """sha256 of a weights file (memoised per path, size and mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _weights_hash_memo:
        _weights_hash_memo[key] = weights.sha256_of(p)
    return _weights_hash_memo[key]


def build_inception(dims: int = 2048, weights_path: str | Path | None = None) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` for ``dims`` features, in eval mode, with weights from a local file.

    ``weights_path`` None -> ``weights.locate("fid-inception")``. Inputs are resized by us (``resize_input=False``).
    """
    from pytorch_fid import inception as pf_inception

    if dims not in DIMS:
        raise BadInputError(f"dims must be one of {DIMS}, got {dims}")
    path = weights.locate("fid-inception", weights_path)
    state = load_state_file(path)
    try:
        with mock.patch.object(pf_inception, "load_state_dict_from_url", lambda *a, **k: state):
            model = pf_inception.InceptionV3(
                [pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]], resize_input=False, normalize_input=True
            )
    except RuntimeError as exc:  # strict load_state_dict: missing/unexpected keys or shapes
        raise BadWeightsError(f"{where(path)} does not fit pytorch-fid's InceptionV3: {str(exc)[:300]}") from None
    model.eval()
    model.weights_path = Path(path)  # type: ignore[attr-defined]
    model.dims = dims  # type: ignore[attr-defined]
    return model


def save_random_inception(path: str | Path, seed: int = 0, *, overwrite: bool = False) -> Path:
    """Write a random FID-Inception state dict to ``path`` atomically (for tests and SMOKE notebooks only).

    Convs are Kaiming-normal so pool features are ~0.3, not ~1e-8 (which would make every FID ~0).
    """
    import torchvision
    from pytorch_fid import inception as pf

    g = torch.Generator().manual_seed(seed)
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)


@torch.inference_mode()
def encode_images(
    model: torch.nn.Module,
    images: Iterable[torch.Tensor],
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = False,
    total: int | None = None,
) -> np.ndarray:
    """Inception activations of images ((3, H, W) float [0, 1] each) -> (N, dims) float64 array."""
    model = model.to(device)
    out: list[np.ndarray] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        x = torch.cat(batch).to(device)
        pred = model(x)[0]
        if pred.shape[2] != 1 or pred.shape[3] != 1:
            pred = F.adaptive_avg_pool2d(pred, output_size=(1, 1))
        out.append(pred.squeeze(3).squeeze(2).cpu().numpy().astype(np.float64))
        batch.clear()

    for img in tqdm(images, total=total, desc="FID Inception", unit="img", disable=not progress):
        # the same bilinear resize to 299 x 299 that pytorch-fid applies
        batch.append(F.interpolate(img[None].float(), size=(299, 299), mode="bilinear", align_corners=False))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not out:
        return np.zeros((0, int(getattr(model, "dims", 2048))), dtype=np.float64)
    return np.concatenate(out)


def files_key(files: Sequence[Path]) -> str:
    """Hash of the bytes of ``files`` in order (names do not matter, content and order do)."""
    h = hashlib.sha256()
    for f in files:
        h.update(hashlib.sha256(Path(f).read_bytes()).hexdigest().encode())
    return h.hexdigest()


@dataclass
class FIDEncoder:
    """An FID Inception model (``dims`` 64, 192, 768 or 2048) plus an on-disk activation cache.

    ``cache_dir`` defaults to ``$TRIPLE_DOTS_HOME/cache/fid``; ``weights_path`` to the registry's ``"fid-inception"``.
    """

    dims: int = 2048
    weights_path: str | Path | None = None
    cache_dir: str | Path | None = None
    use_cache: bool = True
    device: str = "cpu"
    batch_size: int = 32
    progress: bool = True
    stats: dict[str, int] = field(default_factory=lambda: {"encoded": 0, "cache_hits": 0})

    def __post_init__(self) -> None:
        self._model: torch.nn.Module | None = None
        self.resolved_path = weights.locate("fid-inception", self.weights_path)  # fail early with the clear message

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._model = build_inception(self.dims, self.resolved_path)
        return self._model

    def _cache_file(self, files: Sequence[Path]) -> Path:
        meta = {"files": files_key(files), "weights": weights_hash(self.resolved_path), "dims": self.dims,
                "v": _CACHE_VERSION}
        key = hashlib.sha256(json.dumps(meta).encode()).hexdigest()[:32]
        return Path(self.cache_dir or weights.home() / "cache" / "fid") / f"act_{self.dims}_{key}.npz"

    def encode_tensors(self, images: Sequence[torch.Tensor] | torch.Tensor) -> np.ndarray:
        """(N, 3, H, W) or a list of (3, H, W) float [0, 1] -> (N, dims) activations (not cached)."""
        return self._encode(iter(images), len(images))

    def _encode(self, images: Iterable[torch.Tensor], n: int) -> np.ndarray:
        acts = encode_images(self.model, images, batch_size=self.batch_size, device=self.device,
                             progress=self.progress, total=n)
        self.stats["encoded"] += n
        return acts

    def encode_files(self, files: Sequence[str | Path]) -> np.ndarray:
        """Activations (N, dims) of image files in the given order, from the cache when possible."""
        files = [Path(f) for f in files]
        if not files:
            raise BadInputError("no image files to encode for FID")
        cache = self._cache_file(files) if self.use_cache else None
        if cache is not None and cache.is_file():
            with contextlib.suppress(Exception):  # a corrupt cache file is simply recomputed
                with np.load(cache) as z:
                    acts = z["activations"]
                if acts.shape == (len(files), self.dims):
                    self.stats["cache_hits"] += len(files)
                    return acts
        # decode every file first: one error lists all unreadable ones by name
        raise_problems([f"{f.name}: {err}" for f in files for _, err in [probe_image(f)] if err], "unreadable image(s)")
        acts = self._encode((read_image(f) for f in files), len(files))
        if cache is not None:
            buf = io.BytesIO()
            np.savez(buf, activations=acts, names=np.array([f.name for f in files]))
            atomic_write_bytes(cache, buf.getvalue(), overwrite=True)
        return acts

    def encode_folder(self, folder: str | Path) -> np.ndarray:
        """Activations of every image in ``folder`` (sorted by path)."""
        files = list_images(folder)
        if not files:
            raise BadInputError(f"{where(folder)} contains no images")
        return self.encode_files(files)


def _factor(acts: np.ndarray) -> np.ndarray:
    """A (dims, k) matrix F with F @ F.T == np.cov(acts, rowvar=False) (k = min(N - 1 + 1, dims))."""
    n, d = acts.shape
    centred = acts - acts.mean(axis=0)
    if n <= d:
        return centred.T / np.sqrt(n - 1)
    w, v = np.linalg.eigh(np.cov(acts, rowvar=False))
    return v * np.sqrt(np.clip(w, 0.0, None))


def frechet_distance_exact(acts_a: np.ndarray, acts_b: np.ndarray) -> float:
    """The Fréchet distance of pytorch-fid, computed from activations without ``scipy.linalg.sqrtm``.

    ``tr sqrt(S1 S2)`` is the nuclear norm of ``F1.T @ F2`` for any factors ``S = F F.T``; with F the
    centred activations / sqrt(N - 1) this is an (N1, N2) problem instead of a 2048 x 2048 square root.
    """
    f1, f2 = _factor(acts_a), _factor(acts_b)
    tr_covmean = float(np.linalg.svd(f1.T @ f2, compute_uv=False).sum())
    diff = acts_a.mean(axis=0) - acts_b.mean(axis=0)
    return float(diff @ diff + (f1 * f1).sum() + (f2 * f2).sum() - 2.0 * tr_covmean)


def fid_from_activations(acts_a: np.ndarray, acts_b: np.ndarray, *, method: str = "exact") -> float:
    """FID between two activation sets (N, dims): ``method`` ``"exact"`` (:func:`frechet_distance_exact`) or
    ``"pytorch-fid"`` (its ``calculate_frechet_distance``, slow). Both agree to 1e-3."""
    if len(acts_a) < 2 or len(acts_b) < 2:
        raise BadInputError(f"FID needs at least 2 images per set, got {len(acts_a)} and {len(acts_b)}")
    if method == "exact":
        return frechet_distance_exact(np.asarray(acts_a, np.float64), np.asarray(acts_b, np.float64))
    if method != "pytorch-fid":
        raise BadInputError(f"method must be 'exact' or 'pytorch-fid', got {method!r}")
    from pytorch_fid.fid_score import calculate_frechet_distance

    (mu1, s1), (mu2, s2) = ((np.mean(a, axis=0), np.cov(a, rowvar=False)) for a in (acts_a, acts_b))
    # with N < dims the covariances are singular: scipy warns and pytorch-fid prints a note
    # before adding eps to the diagonal; both are expected, the result is what pytorch-fid reports.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(calculate_frechet_distance(mu1, s1, mu2, s2))


def fid(
    real: str | Path | Sequence[str | Path],
    fake: str | Path | Sequence[str | Path],
    *,
    dims: int = 2048,
    weights_path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    device: str = "cpu",
    encoder: FIDEncoder | None = None,
    method: str = "exact",
) -> float:
    """FID between two folders (or lists of image files). Lower is better; 0 = same statistics."""
    enc = encoder or FIDEncoder(dims=dims, weights_path=weights_path, cache_dir=cache_dir, use_cache=use_cache,
                                device=device)

    def acts(x: str | Path | Sequence[str | Path]) -> np.ndarray:
        return enc.encode_folder(x) if isinstance(x, (str, os.PathLike)) else enc.encode_files(list(x))

    return fid_from_activations(acts(real), acts(fake), method=method)
