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


@pytest.mark.parametrize("argv", [[], ["mask"], ["preprocess"], ["weights"], ["train"], ["inpaint"]])
def test_help_imports_no_torch(argv: list[str]) -> None:
    """Building the parser for --help (and for the light commands) loads no torch, numpy or OpenCV."""
    code = ("import sys\nfrom triple_dots.cli import main\ntry:\n    main(sys.argv[1:] + ['--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in ('torch', 'numpy', 'cv2', 'dlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]


def test_train_options_come_from_the_config_fields() -> None:
    import dataclasses

    from triple_dots.cli import build_parser
    from triple_dots.cli.train import NOT_ON_COMMAND_LINE, config_from_args
    from triple_dots.training.config import TrainConfig

    args = build_parser().parse_args(["train", "--data", "d", "--out", "o"])
    cfg = config_from_args(args)
    for f in dataclasses.fields(TrainConfig):  # every default is the dataclass's own
        if f.name not in NOT_ON_COMMAND_LINE + ("data", "out"):
            assert getattr(cfg, f.name) == f.default, f.name
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--no-flip", "--lr", "1e-3",
                                      "--patience", "3", "--lambda-lp", "2.5", "--workers", "2"])
    cfg = config_from_args(args)
    assert (cfg.flip, cfg.lr_g, cfg.lr_d, cfg.early_stopping_patience, cfg.lambda_lp, cfg.num_workers) == (
        False, 1e-3, 4e-3, 3, 2.5, 2)


def test_mask_run_imports_no_torch(tmp_path: Path) -> None:
    """A whole ``triple-dots mask`` run (detection, drawing, PNG files) needs numpy, OpenCV, dlib and PIL only."""
    from triple_dots.samples import sample_path

    code = ("import sys\nfrom triple_dots.cli import main\nrc = main(sys.argv[1:])\n"
            "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, "mask", str(sample_path("astronaut")), str(tmp_path / "o")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stdout[-500:] + out.stderr[-1000:]
