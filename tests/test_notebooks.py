"""Every course notebook runs top to bottom in SMOKE mode (CPU, no downloads) and is well formed."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_teaching_material(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), "starts with a title"
    assert "learn" in cells[0].source.lower(), "the opening says what the student will learn"
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "SMOKE" in params[0].source and "OUT_DIR" in params[0].source
    assert all(not c.get("outputs") for c in cells if c.cell_type == "code"), "committed without outputs"
    assert any(c.cell_type == "markdown" and "Exercises" in c.source for c in cells), "ends with exercises"
    assert any("solution" in c.metadata.get("tags", []) for c in cells), "exercises come with solutions"


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_in_smoke_mode(path: Path, tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    start = time.perf_counter()
    papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        parameters={"SMOKE": True, "OUT_DIR": str(tmp_path / "out")},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
        execution_timeout=300,
    )
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")
