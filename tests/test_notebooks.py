"""Every course notebook is well-formed teaching material, committed with its SMOKE-mode outputs.

Running the notebooks is nbval's job (``pytest --nbval-lax notebooks/``, part of the README's test
command): it executes each one top to bottom in SMOKE mode and compares the cells marked
``# NBVAL_CHECK_OUTPUT`` with their committed outputs. The outputs are re-made with
``python notebooks/make_outputs.py``. The full-size run (``SMOKE = False``, stand-in weights, papermill)
is ``tests/test_full_size.py``. This file checks what nbval does not: the structure, and that the
committed outputs are complete, clean (no errors, timings, machine paths, addresses) and small.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK = "# NBVAL_CHECK_OUTPUT"
MAX_TOTAL_BYTES = 5_000_000  # all notebooks with outputs together; the ceiling is 10 MB


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _texts(cell) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        if "text" in o:
            out.append(o["text"])
        for mime, value in o.get("data", {}).items():
            if mime.startswith("text/"):
                out.append(value if isinstance(value, str) else "".join(value))
        out.extend(o.get("traceback", []))
    return out


def test_nine_notebooks_and_the_remake_script() -> None:
    assert len(NOTEBOOKS) == 9
    assert (REPO / "notebooks" / "make_outputs.py").is_file()
    assert (REPO / "notebooks" / "nbval_sanitize.cfg").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_teaching_material(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), "starts with a title"
    assert "learn" in cells[0].source.lower(), "the opening says what the student will learn"
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "SMOKE" in params[0].source and "OUT_DIR" in params[0].source
    assert re.search(r"^SMOKE = True\b", params[0].source, re.M), "SMOKE mode is the default"
    assert any(c.cell_type == "markdown" and "Exercises" in c.source for c in cells), "ends with exercises"
    assert any("solution" in c.metadata.get("tags", []) for c in cells), "exercises come with solutions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_with_its_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        "every code cell executed once, top to bottom: re-make the outputs with python notebooks/make_outputs.py")
    assert any(o.get("output_type") in ("display_data", "execute_result") and
               any(m.startswith("image/") for m in o.get("data", {}))
               for c in code for o in c.outputs), "the pictures are committed"
    for c in code:
        for o in c.outputs:
            assert o.output_type != "error", f"an error is committed in cell:\n{c.source[:300]}"
            assert "application/vnd.jupyter.widget-view+json" not in o.get("data", {}), "no widget state"
        for text in _texts(c):
            assert str(REPO) not in text, "a path of the machine that made the outputs"
            assert not re.search(r" at 0x[0-9a-fA-F]{4,}", text), "a memory address"
            assert "\r" not in text and "it/s]" not in text, "a progress bar"
    for c in code:
        assert "execution" not in c.metadata, "no execution timestamps"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_checks_the_numbers_its_prose_uses(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(CHECK)]
    assert checked, f"at least one cell starts with {CHECK}"
    for c in checked:
        texts = "".join(_texts(c))
        assert texts.strip(), f"a checked cell has committed text output:\n{c.source[:300]}"
        assert "solution" not in c.metadata.get("tags", []), "solution cells are not checked"


def test_notebooks_with_outputs_stay_small() -> None:
    total = sum(p.stat().st_size for p in NOTEBOOKS)
    assert total < MAX_TOTAL_BYTES, f"{total / 1e6:.1f} MB: shrink pictures (notebooks/make_outputs.py)"
