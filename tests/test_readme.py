"""The README works when pasted: every block marked ``<!-- readme-run -->`` runs exactly as written.

The blocks run in order, in a scratch folder holding a copy of ``data_samples/`` and a
``.venv/bin/activate`` that puts this interpreter's environment first on PATH (what the README's
``source .venv/bin/activate`` does after the install commands). Shell blocks run with ``bash -e``
(any failing line fails the test); Python blocks run with this interpreter. Blocks that need a
download (TFill, SAM weights) or a GPU are not marked, and the two install commands are run by CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-run -->"


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block right after the marker line, in order."""
    pattern = re.compile(re.escape(MARKER) + r"\n```(\w+)\n(.*?)\n```", re.S)
    return [(m.group(1), m.group(2)) for m in pattern.finditer(text)]


def test_readme_has_runnable_blocks_and_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    langs = [lang for lang, _ in readme_blocks(text)]
    assert langs.count("bash") >= 4 and langs.count("python") >= 1
    assert text.count(MARKER) == len(langs)  # every marker is followed by a fenced block
    assert "<!-- demo-command -->" in text and "<!-- test-command -->" in text


@pytest.mark.slow
def test_readme_blocks_run_as_pasted(tmp_path: Path) -> None:
    shutil.copytree(REPO / "data_samples", tmp_path / "data_samples")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "TRIPLE_DOTS_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    blocks = readme_blocks((REPO / "README.md").read_text())
    prelude = "source .venv/bin/activate\n"  # the README says: activate once per shell
    for i, (lang, code) in enumerate(blocks):
        if lang == "bash":
            cmd = ["bash", "-e", "-c", prelude + code]
        else:
            cmd = [sys.executable, "-c", code]
        out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"README block {i} ({lang}) failed:\n{code}\n--- stderr:\n{out.stderr[-2000:]}"
    assert (tmp_path / "jpg" / "images").is_dir() and (tmp_path / "split" / "manifest.csv").is_file()
