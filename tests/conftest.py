"""Shared pytest fixtures: sample photos and an isolated weights folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Two cores in CI: keep intra-op threads predictable and tests reproducible.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $TRIPLE_DOTS_HOME and $TORCH_HOME so registry look-ups find nothing by default."""
    home = tmp_path / "td_home"
    home.mkdir()
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return home


@pytest.fixture(scope="session")
def sample_paths() -> list[Path]:
    from triple_dots.samples import sample_paths as _paths

    return _paths()


@pytest.fixture
def one_thread():
    """One intra-op thread: tiny models on a shared 2-core machine run faster without oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
