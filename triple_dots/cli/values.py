"""Argument types shared by every sub-command: each checks a value where it enters (finite, in range)
and raises :class:`argparse.ArgumentTypeError`, so argparse prints ``argument --name: ...`` and exits 2
before any work. Imports nothing heavy (``--help`` stays fast). ``nan`` and ``inf`` are refused.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from triple_dots.devices import DEVICE_NAME

#: Every generator used (NumPy, torch, Python, OpenCV) takes it; derived seeds stay within 64 bits.
MAX_SEED = 2**32 - 1
#: Largest output side (``--size``) and margin / dilation in pixels: larger would need tens of GB.
MAX_SIDE = 8192
MAX_MARGIN = 1024
MAX_WORKERS = 256


def _parse_int(text: str) -> int:
    try:
        return int(str(text).strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def _ranged(name: str, parse_value: Callable[[str], Any], lo: Any, hi: Any, lo_open: bool, hi_open: bool,
            rng: str, *, show_text: bool) -> Callable[[str], Any]:  # fmt: skip
    """An argparse type named ``name``: ``parse_value(text)`` refused unless within ``lo``/``hi`` (``hi`` None = no
    bound; ``*_open`` excludes it) with "must be {rng}, got ..." (the text as typed or the parsed value)."""

    def parse(text: str) -> Any:
        v = parse_value(text)
        too_low = v <= lo if lo_open else v < lo
        too_high = hi is not None and (v >= hi if hi_open else v > hi)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {rng}, got {text if show_text else v}")
        return v

    parse.__name__ = name
    return parse


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[lo, hi]`` (``hi`` None: no upper bound)."""
    rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
    return _ranged("integer", _parse_int, lo, hi, False, False, rng, show_text=False)


def float_in(lo: float, hi: float | None = None, *, lo_open: bool = False,
             hi_open: bool = False) -> Callable[[str], float]:  # fmt: skip
    """An argparse type: a finite float in ``[lo, hi]`` (``lo_open`` / ``hi_open`` exclude the bound; ``hi`` None:
    no upper bound)."""
    if hi is None:
        rng = f"{'>' if lo_open else '>='} {lo:g}"
    else:
        rng = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return _ranged("number", _parse_float, lo, hi, lo_open, hi_open, rng, show_text=True)


seed = int_in(0, MAX_SEED)
seed.__name__ = "seed"
workers = int_in(1, MAX_WORKERS)
#: DataLoader workers: 0 means "in the main process".
loader_workers = int_in(0, MAX_WORKERS)
margin = int_in(0, MAX_MARGIN)
side = int_in(16, MAX_SIDE)
positive = int_in(1)
non_negative = int_in(0)
quality = int_in(1, 100)
positive_float = float_in(0, lo_open=True)
non_negative_float = float_in(0)
fraction = float_in(0, 1)


def device(text: str) -> str:
    """``--device``: ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (checked against the machine by
    :func:`~triple_dots.devices.check_device` when the command runs)."""
    t = str(text).strip().lower()
    if not DEVICE_NAME.match(t):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return t
