"""``RUN/log.jsonl``: one JSON object per logged step, appended and flushed line by line.

Training lines: ``iteration``, ``images_seen``, ``stage``, ``loss_*``, ``lr_*``, ``sec_per_step``.
Validation lines add ``"split": "val"`` and the metric keys (``val_loss``, ``val_l1_hole``, ...).
On resume, lines after the checkpoint's iteration are dropped (atomically), so an interrupted
and resumed run has the same log as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from triple_dots.files import atomic_write_text

LOG_FILE = "log.jsonl"


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf: keep them readable ("nan", "inf")
    return v


class RunLog:
    """Appends JSON lines to ``RUN/log.jsonl`` (only constructed on the main process)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOG_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, iteration: int) -> None:
        """Drop every line whose ``iteration`` is greater than ``iteration`` (atomic rewrite)."""
        if not self.path.exists():
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln.strip() and _iteration(ln) <= iteration]
        atomic_write_text(self.path, "".join(ln + "\n" for ln in keep), overwrite=True)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({k: _clean(v) for k, v in record.items()}, sort_keys=False)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _iteration(line: str) -> int:
    try:
        return int(json.loads(line).get("iteration", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 1 << 62  # a torn last line (killed mid-write) is dropped


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete line of ``RUN/log.jsonl`` as dicts (a torn last line is skipped)."""
    path = Path(run_dir) / LOG_FILE
    out = []
    if not path.exists():
        return out
    for ln in path.read_text().splitlines():
        try:
            out.append(json.loads(ln))
        except json.JSONDecodeError:
            continue
    return out
