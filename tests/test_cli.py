"""The ``triple-dots`` command line: help for every sub-command, one-line user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from triple_dots.cli import COMMANDS, EXIT_USER_ERROR, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: triple-dots {command}")


def test_user_error_is_one_line_and_nonzero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "triple_dots", "demo", "--images", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == EXIT_USER_ERROR
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("triple-dots demo: error:") and "missing" in lines[0]
    assert "Traceback" not in proc.stderr


def test_weights_command_lists_entries(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    assert "tfill-ffhq" in out and "MISSING" in out and "dlib-landmarks68" in out
