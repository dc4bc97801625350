"""Torch device names as users give them (``--device``): the accepted forms, checked against this machine."""

from __future__ import annotations

import re

from triple_dots.errors import BadInputError

#: ``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N`` (lowercase).
DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")


def check_device(spec: str, *, option: str = "--device") -> str:
    """Raise :class:`~triple_dots.errors.BadInputError` when ``spec`` names a device this machine lacks; returns
    ``spec`` lowercased (``auto`` is left to the caller)."""
    import torch

    t = str(spec).strip().lower()
    if not DEVICE_NAME.match(t):
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
