"""Argument types shared by every sub-command: each checks a value where it enters (finite, in range)
and raises :class:`argparse.ArgumentTypeError`, so argparse prints ``argument --name: ...`` and exits 2
before any work. Imports nothing heavy (``--help`` stays fast).

Decisions the options do not state themselves:

* seeds are integers in ``[0, 2**32 - 1]``: every generator used (NumPy, torch, Python, OpenCV)
  accepts them, and derived seeds (``seed * 100_003 + epoch``) stay within 64 bits;
* image sides are bounded by :data:`MAX_SIDE` pixels and pixel margins by :data:`MAX_MARGIN`; larger
  requests would need tens of gigabytes and are refused by name instead of failing mid-run;
* ``nan`` and ``inf`` are refused for every float option.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

#: Largest seed accepted by ``--seed``.
MAX_SEED = 2**32 - 1
#: Largest output side (``--size``) in pixels: 8192 x 8192 RGB float32 is already 805 MB.
MAX_SIDE = 8192
#: Largest margin / dilation in pixels.
MAX_MARGIN = 1024
#: Largest number of worker processes.
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
    """An argparse type named ``name``: ``parse_value(text)`` refused unless within ``lo``/``hi`` (None = no
    bound; ``*_open`` excludes it) with "must be {rng}, got ..." (the text as typed or the parsed value)."""

    def parse(text: str) -> Any:
        v = parse_value(text)
        too_low = lo is not None and (v <= lo if lo_open else v < lo)
        too_high = hi is not None and (v >= hi if hi_open else v > hi)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {rng}, got {text if show_text else v}")
        return v

    parse.__name__ = name
    return parse


def int_in(lo: int | None = None, hi: int | None = None, *, what: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number in ``[lo, hi]`` (either bound may be None)."""
    rng = f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in {lo}..{hi}"
    return _ranged("integer", _parse_int, lo, hi, False, False, rng + (f" {what}" if what else ""), show_text=False)


def float_in(
    lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite float in ``[lo, hi]`` (``lo_open`` / ``hi_open`` exclude the bound)."""
    if lo is not None and hi is not None:
        rng = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        rng = f"{'>' if lo_open else '>='} {lo:g}"
    else:
        rng = f"{'<' if hi_open else '<='} {hi:g}" if hi is not None else ""
    return _ranged("number", _parse_float, lo, hi, lo_open, hi_open, rng, show_text=True)


#: ``--seed``: 0 .. 2**32 - 1.
seed = int_in(0, MAX_SEED)
seed.__name__ = "seed"
#: ``--workers``: 1 .. 256.
workers = int_in(1, MAX_WORKERS)
#: ``--workers`` where 0 means "in the main process" (DataLoader workers).
loader_workers = int_in(0, MAX_WORKERS)
#: ``--margin`` and other pixel counts: 0 .. 1024.
margin = int_in(0, MAX_MARGIN)
#: ``--size``: 16 .. 8192 pixels.
side = int_in(16, MAX_SIDE)
#: counts that must be at least one (``--bins``, ``--max-images``, ``--iterations`` ...).
positive = int_in(1)
#: counts that may be zero (``--val-every 0`` = never).
non_negative = int_in(0)
#: a JPEG/WebP quality.
quality = int_in(1, 100)
#: a finite number, any sign.
finite = float_in()
#: a finite number > 0.
positive_float = float_in(0, lo_open=True)
#: a finite number >= 0.
non_negative_float = float_in(0)
#: a fraction in [0, 1].
fraction = float_in(0, 1)

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")


def device(text: str) -> str:
    """``--device``: ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (checked against the machine by
    :func:`check_device` when the command runs)."""
    t = str(text).strip().lower()
    if not _DEVICE.match(t):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return t


def check_device(spec: str, *, option: str = "--device") -> str:
    """Raise :class:`~triple_dots.errors.BadInputError` when ``spec`` names a device this machine lacks.

    Returns ``spec``; ``auto`` is left to the caller (it always works).
    """
    import torch

    from triple_dots.errors import BadInputError

    t = str(spec).strip().lower()
    if not _DEVICE.match(t):
        raise BadInputError(f"{option} must be auto, cpu, cuda or cuda:N, got {spec!r}")
    if t.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInputError(f"{option} {spec}: CUDA is not available on this machine; use --device cpu or auto")
        index = int(t.split(":")[1]) if ":" in t else 0
        if index >= torch.cuda.device_count():
            raise BadInputError(
                f"{option} {spec}: this machine has {torch.cuda.device_count()} CUDA device(s) (0..)"
            )
    if t == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadInputError(f"{option} mps: Apple's MPS is not available on this machine; use --device cpu")
    return t
