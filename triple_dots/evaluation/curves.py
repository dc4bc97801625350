"""Loss curves from a run's ``log.jsonl``: one panel per loss term and per validation metric."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from triple_dots.errors import BadInputError, where
from triple_dots.files import atomic_write_bytes
from triple_dots.training.run_folder import read_best, read_log


def _is_val(rec: dict[str, Any]) -> bool:
    return rec.get("split") not in (None, "train")


def loss_terms(records: Sequence[dict[str, Any]]) -> list[str]:
    """The ``loss_*`` keys of the training lines, in first-seen order."""
    return list(dict.fromkeys(k for r in records if not _is_val(r) for k in r if k.startswith("loss_")))


def val_metrics(records: Sequence[dict[str, Any]]) -> list[str]:
    """Numeric metric keys of the validation lines."""
    skip = {"iteration", "images_seen", "split", "stage", "epoch"}
    return list(dict.fromkeys(k for r in records if _is_val(r) for k, v in r.items()
                              if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)))


def smooth(values: Sequence[float], weight: float = 0.9) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard-style); NaNs are skipped, weight in [0, 1)."""
    if not 0.0 <= weight < 1.0:
        raise BadInputError(f"smoothing weight must be in [0, 1), got {weight}")
    out = np.empty(len(values))
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v):
            acc = weight * acc + (1 - weight) * v
            norm = weight * norm + (1 - weight)
        out[i] = acc / norm if norm > 0 else np.nan
    return out


def series(records: Sequence[dict[str, Any]], key: str, *, val: bool = False, x: str = "iteration"
           ) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of ``key`` over the training (or validation) lines that have it."""
    pts = [(float(r[x]), float(r[key])) for r in records
           if _is_val(r) == val and key in r and x in r and isinstance(r[key], (int, float))]
    if not pts:
        return np.zeros(0), np.zeros(0)
    xs, ys = zip(*pts, strict=True)
    return np.asarray(xs), np.asarray(ys)


def stage_changes(records: Sequence[dict[str, Any]], x: str = "iteration") -> list[tuple[float, str]]:
    """(x, new stage) wherever the training ``stage`` changes."""
    out, last = [], None
    for r in records:
        if _is_val(r) or "stage" not in r:
            continue
        if last is not None and r["stage"] != last:
            out.append((float(r[x]), str(r["stage"])))
        last = r["stage"]
    return out


def plot_loss_curves(
    run_or_file: str | Path,
    out: str | Path | None = None,
    *,
    terms: Sequence[str] | None = None,
    smoothing: float = 0.9,
    log_scale: bool = False,
    x: str = "iteration",
    include_val: bool = True,
    overwrite: bool = False,
):
    """One panel per loss term (raw, smoothed) and validation metric; returns the Figure (PNG to ``out``)."""
    plt = pyplot()
    records = read_log(run_or_file)
    terms = list(terms) if terms is not None else loss_terms(records)
    unknown = [t for t in terms if not len(series(records, t, x=x)[0])]
    if unknown:
        raise BadInputError(f"no values for {unknown} in {where(run_or_file)}; loss terms there: {loss_terms(records)}")
    panels = [(t, False) for t in terms] + [(v, True) for v in (val_metrics(records) if include_val else [])]
    if not panels:
        raise BadInputError(f"{where(run_or_file)} has no loss_* terms or validation metrics to plot")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    changes = stage_changes(records, x)
    best = read_best(run_or_file) if Path(run_or_file).is_dir() and x == "iteration" else None
    for ax, (key, is_val) in zip(axes.flat, panels, strict=False):
        xs, ys = series(records, key, val=is_val, x=x)
        if is_val:
            ax.plot(xs, ys, "o-", color="tab:green", label="validation")
            if best is not None and best.get("metric") == key:
                ax.axvline(best["iteration"], color="k", ls="--", lw=1, label=f"best: iteration {best['iteration']}")
        else:
            ax.plot(xs, ys, color="tab:blue", alpha=0.25, lw=1, label="raw")
            ax.plot(xs, smooth(ys, smoothing), color="tab:blue", lw=2, label=f"smoothed ({smoothing:g})")
        for cx, stage in changes:
            ax.axvline(cx, color="gray", ls="--", lw=1)
            ax.text(cx, 1.0, f" {stage}", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="gray")
        if log_scale:
            ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel(x.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"loss curves: {Path(run_or_file).name}")
    fig.tight_layout()
    if out is not None:
        save_figure(fig, out, overwrite=overwrite)
    return fig


def pyplot() -> Any:
    """``matplotlib.pyplot``, on the Agg backend unless a backend was chosen already."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, overwrite: bool = False, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)
