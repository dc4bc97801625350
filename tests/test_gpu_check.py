"""benchmarks/gpu_check.py keeps working: its CPU fallback measures every row, and its time guards hold."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path  # the script puts benchmarks/ first on sys.path
    return module


def test_time_guards_stop_a_slow_piece() -> None:
    gc = load_script()
    t = time.perf_counter()
    with pytest.raises(gc.TimeUp), gc.time_limit(0.3):
        while True:  # a piece that never ends on its own
            time.sleep(0.01)
    assert time.perf_counter() - t < 5
    times = gc.repeat(lambda: time.sleep(0.2), "cpu", 1000, budget_s=1.0)
    assert 1 <= len(times) <= 5
    with gc.time_limit(5):  # a guard that does not fire leaves no interrupt behind
        pass
    time.sleep(0.1)
    s = gc.sizes_for("cpu", True, None)
    md = gc.table(s, {"fid": (12.5, "images/s", "x")}, 1.0)
    assert "| FID Inception | 12.5 | images/s | x |" in md and md.count("| not run |") == len(gc.ROWS) - 1


@pytest.mark.slow
def test_quick_run_measures_every_row(tmp_path: Path) -> None:
    gc = load_script()
    out = tmp_path / "table.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    # a generous budget: the guards are for GPUs that are slower than planned, not for a loaded CI box
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--budget-s", "400", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = out.read_text()
    assert md.strip() in proc.stdout
    assert "torch " in md.splitlines()[0] and "CUDA" in md.splitlines()[0]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in md.splitlines()
            if line.startswith("| ") and not line.startswith("| measurement")}
    assert list(rows) == list(gc.ROWS.values())
    for label, (value, unit, detail) in rows.items():
        if label.startswith("training peak memory"):
            assert value == "–" and "CPU run" in detail
            continue
        assert float(value) > 0, (label, value, detail)
        assert "timed out" not in detail and "failed" not in detail and "stopped" not in detail
