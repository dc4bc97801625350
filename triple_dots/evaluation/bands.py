"""Results by mask-ratio band: the hole's share of the image in percent, bands half-open [lo, hi)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: (label, lo %, hi %) for the default bands.
DEFAULT_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-10%", 0.0, 10.0),
    ("10-20%", 10.0, 20.0),
    ("20-30%", 20.0, 30.0),
    ("30-40%", 30.0, 40.0),
    (">40%", 40.0, math.inf),
)


def band_of(ratio: float) -> str:
    """Label of the band holding ``ratio`` (a fraction in [0, 1])."""
    pct = 100.0 * ratio
    for label, lo, hi in DEFAULT_BANDS:
        if lo <= pct < hi:
            return label
    return DEFAULT_BANDS[-1][0]


def mean_ignoring_nan(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values (None when there are none)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def by_band(rows: Sequence[Mapping[str, object]], metrics: Sequence[str]) -> dict[str, dict[str, float | int | None]]:
    """``{band label: {"n": count, metric: mean, ...}}`` for every band of per-image rows (``hole_ratio`` in [0, 1])."""
    groups = band_indices([float(r["hole_ratio"]) for r in rows])  # type: ignore[arg-type]
    return {label: {"n": len(idx), **{m: mean_ignoring_nan([rows[i].get(m) for i in idx]) for m in metrics}}
            for label, idx in groups.items()}  # type: ignore[misc]


def band_indices(ratios: Sequence[float]) -> dict[str, list[int]]:
    """Band label -> indices of the images in it (for set-level metrics such as KID per band)."""
    out: dict[str, list[int]] = {label: [] for label, _, _ in DEFAULT_BANDS}
    for i, r in enumerate(ratios):
        out[band_of(r)].append(i)
    return out
