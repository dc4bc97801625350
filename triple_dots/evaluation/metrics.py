"""Evaluate generated images against a test set: every metric, per image, per model and per band."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from triple_dots.backbones import load_lpips
from triple_dots.errors import BadInputError, NoFaceError, SizeMismatchError, where
from triple_dots.evaluation.bands import band_indices, band_of, by_band, mean_ignoring_nan
from triple_dots.evaluation.fid import FIDEncoder, fid_from_activations, weights_hash
from triple_dots.evaluation.identity import FaceEmbedder, cosine, find_landmarks
from triple_dots.evaluation.kid import KIDResult, kid_from_activations
from triple_dots.evaluation.paired import scores
from triple_dots.evaluation.pairs import index_folder, raise_problems
from triple_dots.evaluation.testset import TestSet
from triple_dots.images import from_uint8, hole_ratio, probe_image, read_image, to_uint8

#: Every metric name and whether higher is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "fid": False, "kid": False,
    "psnr": True, "psnr_hole": True, "ssim": True, "ssim_hole": True,
    "lpips": False, "lpips_hole": False, "identity": True,
}
#: Metric groups a user can ask for.
METRIC_GROUPS: tuple[str, ...] = ("fid", "kid", "psnr", "ssim", "lpips", "identity")
PAIRED_KEYS: tuple[str, ...] = tuple(k for k in HIGHER_IS_BETTER if k not in ("fid", "kid"))

#: sha256 prefixes of the real pretrained files (the torch-hub file-name convention).
OFFICIAL_PREFIXES = {"fid": "6726825d", "alex": "7be5be79", "vgg": "397923af"}


@dataclass
class ModelResult:
    """Scores of one model: set-level ``summary``, one dict per image, and means (+ KID) per mask-ratio band."""

    name: str
    summary: dict[str, Any]
    per_image: list[dict[str, Any]]
    bands: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "bands": self.bands, "per_image": self.per_image}


class Evaluator:
    """Scores generated images against one :class:`TestSet` with ``metrics`` (a subset of :data:`METRIC_GROUPS`).

    Loads each metric model once (a missing weights file raises, no silent skip) and caches what
    depends only on the test set (real activations, true faces and their embeddings). FID/KID need
    ``fid_weights`` or the registry's ``"fid-inception"`` (``dims``: feature size, 2048 standard; ``cache_dir``:
    activation cache); LPIPS the ``lpips_net`` backbone (``lpips_backbone`` or the registry); identity dlib's
    model (``identity_model``); ``kid_subset_size`` / ``kid_subsets``: KID's random subsets.
    """

    def __init__(
        self,
        test_set: TestSet,
        *,
        metrics: Sequence[str] = METRIC_GROUPS,
        dims: int = 2048,
        fid_weights: str | Path | None = None,
        cache_dir: str | Path | None = None,
        lpips_net: str = "alex",
        lpips_backbone: str | Path | None = None,
        identity_model: str | Path | None = None,
        kid_subset_size: int | None = None,
        kid_subsets: int = 100,
        device: str = "cpu",
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        bad = sorted(set(metrics) - set(METRIC_GROUPS))
        if bad:
            raise BadInputError(f"unknown metric(s) {bad}; choose from {', '.join(METRIC_GROUPS)}")
        self.test_set = test_set
        self.metrics = tuple(m for m in METRIC_GROUPS if m in metrics)
        self.kid_subset_size, self.kid_subsets, self.seed = kid_subset_size, kid_subsets, seed
        self.progress = progress
        self.notes: dict[str, Any] = {}
        self.encoder = self.lpips_model = self.embedder = None
        if {"fid", "kid"} & set(self.metrics):
            self.encoder = FIDEncoder(dims=dims, weights_path=fid_weights, cache_dir=cache_dir, device=device,
                                      progress=progress)
            wh = weights_hash(self.encoder.resolved_path)
            self.notes["fid_weights"] = {"path": str(self.encoder.resolved_path), "sha256": wh,
                                         "official": wh.startswith(OFFICIAL_PREFIXES["fid"]), "dims": dims}
        if "lpips" in self.metrics:
            self.lpips_model = load_lpips(lpips_net, lpips_backbone, device=device)
            wh = weights_hash(self.lpips_model.backbone_path)
            self.notes["lpips_backbone"] = {"net": lpips_net, "path": str(self.lpips_model.backbone_path),
                                            "official": wh.startswith(OFFICIAL_PREFIXES[lpips_net])}
        if "identity" in self.metrics:
            self.embedder = FaceEmbedder(identity_model)
            self.notes["identity_model"] = str(self.embedder.path)
        self._real_acts: np.ndarray | None = None
        self._real_faces: dict[int, tuple[Any, np.ndarray] | None] = {}
        self._ratios = [hole_ratio(test_set.load(i)[1]) for i in range(len(test_set))]

    def _real_face(self, i: int) -> tuple[Any, np.ndarray] | None:
        """((box, landmarks), embedding) of the true face of sample i, or None when no face is found."""
        if i not in self._real_faces:
            arr = to_uint8(self.test_set.load(i)[0])
            try:
                face = find_landmarks(arr)
                self._real_faces[i] = (face, self.embedder.embed(arr, face))  # type: ignore[union-attr]
            except NoFaceError:
                self._real_faces[i] = None
        return self._real_faces[i]

    def match_folder(self, folder: str | Path) -> list[Path]:
        """The generated file for every test image, by stem; one error lists every bad or missing file.

        Extra files are not scored: they are listed in ``self.notes["ignored_files"]`` and a warning.
        """
        problems: list[Any] = []
        index = index_folder(folder, "generated", problems,
                             not_a_folder=f"{where(folder)} is not a folder of generated images")
        out: list[Path] = []
        for smp in self.test_set.samples:
            f = index.get(smp.name)
            if f is None:
                problems.append(f"no generated image for '{smp.name}' in {where(folder)}")
                continue
            size, err = probe_image(f)
            ref, _ = probe_image(smp["real"])
            if err:
                problems.append(f"generated/{f.name}: {err}")
            elif size != ref:
                problems.append(f"size mismatch for '{smp.name}': generated/{f.name} {size[0]}x{size[1]}, "
                                f"ground truth {ref[0]}x{ref[1]}")
            out.append(f)
        raise_problems(problems, f"problem(s) with generated images in {where(folder)}")
        extra = sorted(set(index) - set(self.test_set.names))
        if extra:
            self.notes.setdefault("ignored_files", {})[str(folder)] = extra
            warnings.warn(f"{len(extra)} file(s) in {folder} are not in the test set and are ignored: "
                          f"{', '.join(extra[:10])}", stacklevel=2)
        return out

    def evaluate(self, name: str, fakes: str | Path | Sequence[str | Path] | Sequence[torch.Tensor]) -> ModelResult:
        """Score a folder (matched by stem), a list of files, or (3, H, W) [0, 1] tensors (quantised to 8 bits)."""
        items: list[Any] = self.match_folder(fakes) if isinstance(fakes, (str, Path)) else list(fakes)
        if len(items) != len(self.test_set):  # a folder is matched by stem, image for image
            raise BadInputError(f"{len(items)} generated images for {len(self.test_set)} test images")
        rows: list[dict[str, Any]] = []
        tensors: list[torch.Tensor] = []
        for i, it in enumerate(tqdm(items, desc=f"scoring {name}", unit="img", disable=not self.progress)):
            real, hole = self.test_set.load(i)
            fake = read_image(it) if isinstance(it, (str, Path)) else from_uint8(to_uint8(it.detach().cpu()))
            if fake.shape != real.shape:
                src = where(it) if isinstance(it, (str, Path)) else f"generated image {i}"
                raise SizeMismatchError(f"{src} is {tuple(fake.shape[-2:])}, ground truth {tuple(real.shape[-2:])}")
            if not isinstance(it, (str, Path)):
                tensors.append(fake)
            row: dict[str, Any] = {"name": self.test_set.names[i], "hole_ratio": self._ratios[i],
                                   "band": band_of(self._ratios[i])}
            row.update(self._paired(i, fake, real, hole))
            rows.append(row)
        summary: dict[str, Any] = {"n": len(rows)}
        present = [k for k in PAIRED_KEYS if any(k in r for r in rows)]
        bands = by_band(rows, present)
        if self.encoder is not None:
            fake_acts = (self.encoder.encode_files(items) if isinstance(items[0], (str, Path))
                         else self.encoder.encode_tensors(tensors))
            if self._real_acts is None:  # the test set's side, computed once for every model
                self._real_acts = self.encoder.encode_files([s["real"] for s in self.test_set.samples])
            real_acts = self._real_acts
            if "fid" in self.metrics:
                summary["fid"] = fid_from_activations(real_acts, fake_acts)
            if "kid" in self.metrics:
                k = self._kid(real_acts, fake_acts)
                summary["kid_mean"], summary["kid_std"], summary["kid_subset_size"] = k.mean, k.std, k.subset_size
                for label, idx in band_indices(self._ratios).items():
                    if len(idx) >= 4:  # fewer: every subset is the whole band
                        k = self._kid(real_acts[idx], fake_acts[idx])
                        bands[label]["kid_mean"], bands[label]["kid_std"] = k.mean, k.std
        summary.update({k: mean_ignoring_nan([r.get(k) for r in rows]) for k in present})
        for k in ("psnr", "psnr_hole"):  # left out of the mean above: an infinite PSNR has no place in a mean
            if k in present:
                summary[f"{k}_identical"] = sum(1 for r in rows if r.get(f"{k}_identical"))
        if "identity" in self.metrics:
            summary["identity_no_face"] = sum(1 for r in rows if r.get("identity") is None)
        return ModelResult(name, summary, rows, bands)

    def _paired(self, i: int, fake: torch.Tensor, real: torch.Tensor, hole: torch.Tensor) -> dict[str, Any]:
        out: dict[str, Any] = scores(fake, real, hole, groups=self.metrics, lpips_model=self.lpips_model)
        if self.embedder is not None:
            rf = self._real_face(i)
            out["identity"] = None if rf is None else cosine(self.embedder.embed(to_uint8(fake), rf[0]), rf[1])
        for k, v in list(out.items()):  # identical pixels (PSNR = inf) and empty holes (NaN) are no number:
            if isinstance(v, float) and not math.isfinite(v):  # None here, counted in the summary
                out[k] = None
                if math.isinf(v):
                    out[f"{k}_identical"] = True
        return out

    def _kid(self, real_acts: np.ndarray, fake_acts: np.ndarray) -> KIDResult:
        return kid_from_activations(real_acts, fake_acts, subset_size=self.kid_subset_size,
                                    n_subsets=self.kid_subsets, seed=self.seed)
