"""Checkpoint sweep: score every checkpoint of a run on a held-out set with one metric and pick the best.

Writes ``RUN/eval/sweep_<metric>.json`` and ``.png`` (metric vs iteration) and, with ``write_best``, ``RUN/best.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from triple_dots.errors import BadInputError, OutputExistsError, where
from triple_dots.evaluation.curves import pyplot, save_figure
from triple_dots.evaluation.generate import load_model, tfill_outputs
from triple_dots.evaluation.metrics import HIGHER_IS_BETTER, Evaluator
from triple_dots.evaluation.testset import TestSet
from triple_dots.files import atomic_write_text
from triple_dots.tfill.checkpoint_files import GENERATOR_NETS
from triple_dots.training import run_folder

#: Metric name -> the Evaluator metric group that computes it (``psnr_hole`` -> ``psnr``).
METRIC_GROUP = {name: name.split("_")[0] for name in HIGHER_IS_BETTER}


@dataclass
class SweepResult:
    """Metric per checkpoint and the best one."""

    metric: str
    higher_is_better: bool
    iterations: list[int]
    values: list[float | None]
    best_iteration: int
    best_value: float
    n_images: int
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)


def sweep(
    run_dir: str | Path,
    data: str | Path | TestSet,
    *,
    metric: str = "lpips_hole",
    masks: str | Path | None = None,
    split: str | None = None,
    max_images: int | None = None,
    tfill_config: Mapping[str, Any] | None = None,
    write_best: bool = True,
    overwrite: bool = False,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    **evaluator_args: Any,
) -> SweepResult:
    """Evaluate every checkpoint of ``run_dir`` on the held-out ``data`` with ``metric`` (``kid``: its mean).

    ``data``: a dataset folder, a photo folder with ``masks``, or a :class:`TestSet`. ``tfill_config``
    overrides the options of ``RUN/config.json``. Every input is checked first.
    """
    if metric not in METRIC_GROUP:
        raise BadInputError(f"unknown sweep metric {metric!r}; choose from {', '.join(METRIC_GROUP)}")
    run = Path(run_dir)
    outs = [run / "eval" / f"sweep_{metric}.json", run / "eval" / f"sweep_{metric}.png"]
    if write_best:
        outs.append(run / run_folder.BEST_FILE)
    existing = [p for p in outs if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{where(existing[0])} already exists; pass overwrite=True / --overwrite to replace it")
    ckpts = run_folder.list_checkpoints(run, required=GENERATOR_NETS)
    if not ckpts:
        raise BadInputError(f"{where(run)} holds no complete checkpoint (checkpoints/iter_NNNNNNNN/latest_net_*.pth)")
    test_set = TestSet.open(data, masks=masks, split=split, max_images=max_images)
    options = {**run_folder.model_options(run), **dict(tfill_config or {})}
    ev = Evaluator(test_set, metrics=[METRIC_GROUP[metric]], device=device, seed=seed, progress=False,
                   **evaluator_args)
    key = "kid_mean" if metric == "kid" else metric
    values: list[float | None] = []
    summaries: dict[int, dict[str, Any]] = {}
    for it, path in tqdm(ckpts, desc=f"sweep {metric}", unit="ckpt", disable=not progress):
        model = load_model(path, options, device)
        outputs = list(tfill_outputs(model, test_set, seed=seed, progress=False))
        res = ev.evaluate(path.name, outputs)
        summaries[it] = res.summary
        v = res.summary.get(key)
        values.append(None if v is None or not math.isfinite(v) else float(v))
    scored = [(it, v) for (it, _), v in zip(ckpts, values, strict=True) if v is not None]
    if not scored:
        raise BadInputError(f"metric {metric!r} could not be computed on any checkpoint (e.g. no faces found)")
    higher = HIGHER_IS_BETTER[metric]
    best_it, best_v = (max if higher else min)(scored, key=lambda t: t[1])
    result = SweepResult(metric, higher, [it for it, _ in ckpts], values, best_it, best_v, len(test_set), summaries)
    atomic_write_text(outs[0], json.dumps({**asdict(result), "test_set": test_set.source}, indent=2) + "\n",
                      overwrite=overwrite)
    save_figure(plot_sweep(result), outs[1], overwrite=overwrite)
    if write_best:
        run_folder.write_best(run, best_it, metric, best_v, overwrite=overwrite)
    return result


def plot_sweep(result: SweepResult):
    """Metric vs iteration with the best checkpoint marked; returns the matplotlib Figure."""
    fig, ax = pyplot().subplots(figsize=(6, 3.6))
    pts = [(i, v) for i, v in zip(result.iterations, result.values, strict=True) if v is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="tab:blue")
    ax.plot([result.best_iteration], [result.best_value], marker="*", ms=18, color="tab:red", ls="none",
            label=f"best: iter {result.best_iteration} ({result.best_value:.4g})")
    arrow = "↑" if result.higher_is_better else "↓"
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{result.metric} {arrow}")
    ax.set_title(f"checkpoint sweep on {result.n_images} held-out images")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
