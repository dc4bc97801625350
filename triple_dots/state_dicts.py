"""Plain PyTorch state-dict files, the format every network file here uses: read with ``weights_only=True``
(never arbitrary unpickling), written atomically, and compared key by key with a network."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from triple_dots.errors import BadWeightsError, where
from triple_dots.files import atomic_write


def clean_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) key prefixes; contiguous CPU copies."""
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix) :]
        k = k.replace("._orig_mod.", ".")
        out[k] = v.detach().to("cpu").contiguous().clone()
    return out


def save_network(net: nn.Module, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``net``'s state dict (official layout: plain, prefix-free, CPU) to ``path`` atomically."""
    with atomic_write(path, overwrite=overwrite) as tmp:
        torch.save(clean_state_dict(net.state_dict()), tmp)
    return Path(path)


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read one official ``latest_net_*.pth`` with ``weights_only=True``; a bad file -> :class:`BadWeightsError`."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling error, truncated zip, not a torch file ...
        raise BadWeightsError(f"{where(path)} is not a readable PyTorch state dict ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadWeightsError(f"{where(path)} does not hold a plain state dict of tensors (got {type(state).__name__})")
    if state and all(k.startswith("module.") for k in state):  # saved from a DataParallel wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def state_dict_mismatch(net: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Missing / unexpected keys and shape mismatches (first five of each) keeping ``state`` from ``net``, or None."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} in file vs {tuple(v.shape)} in model"
        for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]

    def first(items: list[str]) -> str:
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        return ", ".join(items[:5]) + more

    parts = [f"{len(items)} {what}: {first(items)}" for what, items in
             (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)) if items]
    return "; ".join(parts) or None
