"""Helpers of the hostile-input suite: hash a folder tree, run the CLI in-process, a pickle that leaves a marker."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest


def tree_hash(root: Path) -> dict[str, str]:
    """{relative path: sha256 of the bytes (or 'dir' / 'link:TARGET')} of everything under ``root``."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    """Run ``triple-dots ARGV`` in this process: (exit status, stderr)."""
    from triple_dots.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse refuses a value
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


class Marker:
    """A pickle payload that creates ``path`` when unpickled by a loader that runs code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))
