"""``stats``: histogram and counts per band of the hole ratio (hole pixels / all pixels, in [0, 1]);
``band`` keeps only the pairs in one band."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triple_dots.errors import BadInputError
from triple_dots.files import atomic_write
from triple_dots.preprocess.folders import Command, Summary, copy_task, write_csv, writes_output

#: Default band edges: 0-10 %, 10-20 %, ..., 90-100 %.
DEFAULT_EDGES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
HISTOGRAM_NAME = "histogram.png"
BANDS_NAME = "bands.csv"
RATIOS_NAME = "ratios.csv"


def parse_band(text: str) -> tuple[float, float]:
    """``"0.2-0.3"`` (or ``"20-30%"``) -> (0.2, 0.3); raises :class:`BadInputError` for anything else."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        lo_s, hi_s = raw.rstrip("%").split("-")
        lo, hi = float(lo_s), float(hi_s)
    except ValueError:
        raise BadInputError(f"band must look like 0.2-0.3 (fractions) or 20-30%, got {text!r}") from None
    if percent or hi > 1:
        lo, hi = lo / 100, hi / 100
    if not 0 <= lo < hi <= 1:
        raise BadInputError(f"band {text!r}: need 0 <= low < high <= 1")
    return lo, hi


def band_counts(ratios: Sequence[float], edges: Sequence[float] = DEFAULT_EDGES) -> list[tuple[float, float, int]]:
    """(low, high, count) per band between consecutive ``edges``; every ratio in [edges[0], edges[-1]]
    is counted exactly once (bands are low-inclusive, the last one also high-inclusive)."""
    edges = list(edges)
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise BadInputError(f"band edges must be increasing with at least two values, got {edges}")
    r = np.asarray(ratios, dtype=np.float64)
    out = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        n = int(np.count_nonzero((r >= lo) & ((r <= hi) if last else (r < hi))))
        out.append((lo, hi, n))
    return out


def plot_histogram(ratios: Sequence[float], path: Path, *, bins: int = 20, band: tuple[float, float] | None = None,
                   title: str = "", overwrite: bool = False) -> Path:  # fmt: skip
    """Save a hole-ratio histogram PNG (x: hole ratio in %, y: pairs); ``band`` is shaded."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(np.asarray(ratios) * 100, bins=bins, range=(0, 100), color="#4878d0", edgecolor="white")
    if band is not None:
        ax.axvspan(band[0] * 100, band[1] * 100, color="#ee854a", alpha=0.25, label=f"band {band[0]:g}-{band[1]:g}")
        ax.legend()
    ax.set_xlabel("hole ratio (% of the picture)")
    ax.set_ylabel("pairs")
    ax.set_title(title or f"hole ratio of {len(ratios)} pairs")
    fig.tight_layout()
    with atomic_write(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


@dataclass
class StatsResult:
    """Hole ratios per pair name, counts per band, the written files and the command summary."""

    ratios: dict[str, float]
    bands: list[tuple[float, float, int]]
    histogram: Path
    summary: Summary
    selected: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return str(self.summary)


@writes_output
def stats(
    cmd: Command,
    *,
    band: tuple[float, float] | str | None = None,
    edges: Sequence[float] = DEFAULT_EDGES,
    bins: int = 20,
) -> StatsResult:
    """Measure the hole ratio of every pair of ``src`` and write to the new folder ``out``:
    ``histogram.png``, ``bands.csv`` (low, high, count, fraction) and ``ratios.csv`` (per pair).
    With ``band`` (``(0.2, 0.3)`` or ``"0.2-0.3"``) the pairs in the band are also copied to ``out`` as a dataset.
    """
    if not (isinstance(bins, int) and 1 <= bins <= 1000):
        raise BadInputError(f"stats: bins (--bins) must be a whole number in 1..1000, got {bins!r}")
    band_t = parse_band(band) if isinstance(band, str) else band
    if band_t is not None:
        band_t = parse_band(f"{band_t[0]}-{band_t[1]}")
    good = cmd.checked_pairs(require_masks=True)
    out, summary = cmd.out, cmd.summary
    ratios = {p.name: float(f.hole_ratio or 0.0) for p, f in good}
    r = np.array(list(ratios.values()))
    counts = band_counts(r, edges)
    n = len(ratios)
    write_csv(out / BANDS_NAME, ["low", "high", "count", "fraction"],
              [[f"{lo:g}", f"{hi:g}", c, f"{c / n:.4f}"] for lo, hi, c in counts], overwrite=cmd.overwrite)  # fmt: skip
    write_csv(out / RATIOS_NAME, ["name", "width", "height", "hole_ratio"],
              [[p.name, f.width, f.height, f"{ratios[p.name]:.6f}"] for p, f in good], overwrite=cmd.overwrite)  # fmt: skip
    hist = plot_histogram(r, out / HISTOGRAM_NAME, bins=bins, band=band_t, overwrite=cmd.overwrite)
    summary.notes.append(
        f"hole ratio mean {r.mean():.3f}, min {r.min():.3f}, max {r.max():.3f}; "
        + ", ".join(f"{lo:g}-{hi:g}: {c}" for lo, hi, c in counts if c)
    )
    summary.lead = f"measured {n} pairs, wrote {HISTOGRAM_NAME}, {BANDS_NAME}, {RATIOS_NAME}"
    result = StatsResult(ratios, counts, hist, summary)
    rows = []
    if band_t is not None:
        lo, hi = band_t  # low-inclusive; high too when it is 1
        chosen = [(p, f) for p, f in good if lo <= ratios[p.name] < hi or (hi == 1 and ratios[p.name] == 1)]
        result.selected = [p.name for p, _ in chosen]
        rows = cmd.run(copy_task, chosen, desc="copy band")
        summary.lead += f" and the {len(rows)} pairs in band {band_t[0]:g}-{band_t[1]:g}"
    if rows:
        cmd.finish(rows)  # the band's manifest, and skipped.csv
    else:
        cmd.write_skipped()
    return result
