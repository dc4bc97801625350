"""TFill checkpoint files: the official ``latest_net_<name>.pth`` layout, read strictly and written atomically.

One plain state dict per network: ``latest_net_{E,T,G,G_Ref}.pth`` and, for training, ``latest_net_{D,D_Ref}.pth``;
read with ``weights_only=True``, a bad file raises :class:`BadWeightsError` naming it and the first bad keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from triple_dots.errors import BadWeightsError, where
from triple_dots.files import atomic_write

GENERATOR_NETS = ("E", "T", "G", "G_Ref")
DISCRIMINATOR_NETS = ("D", "D_Ref")
#: Official checkpoint file of each network (attribute ``net_<name>`` of :class:`TFill`).
NET_FILES: dict[str, str] = {name: f"latest_net_{name}.pth" for name in GENERATOR_NETS + DISCRIMINATOR_NETS}


def has_networks(folder: str | Path, names: tuple[str, ...] = GENERATOR_NETS) -> bool:
    """True when ``folder`` holds ``latest_net_<name>.pth`` for every name (default: the four generators)."""
    folder = Path(folder)
    return folder.is_dir() and all((folder / NET_FILES[n]).is_file() for n in names)


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


def check_state_dict(net: nn.Module, state: dict[str, torch.Tensor], path: str | Path, name: str) -> None:
    """Raise :class:`BadWeightsError` naming ``path`` and the first bad keys if ``state`` does not fit ``net``."""
    problem = state_dict_mismatch(net, state)
    if problem is not None:
        raise BadWeightsError(
            f"{where(path)} does not fit TFill network {name}: " + problem
            + ". Is it the right file, saved with the same options (--attn_G --add_noise, ngf, embed_dim, n_encoders)?"
        )


#: Bounds on widths read from weight files (released: 32, 512, 12), so a hostile file cannot make the model huge.
WIDTH_LIMITS: dict[str, tuple[int, int]] = {"ngf": (1, 512), "embed_dim": (8, 4096), "n_encoders": (1, 64)}
#: Attention heads of the transformer: ``embed_dim`` must be a multiple of it.
NUM_HEADS = 8


def infer_options(state_E: dict[str, torch.Tensor], state_T: dict[str, torch.Tensor],
                  folder: str | Path | None = None) -> dict[str, int]:
    """``ngf``, ``embed_dim``, ``n_encoders`` read from E and T state dicts ({} if absent); widths outside
    :data:`WIDTH_LIMITS` or not a multiple of :data:`NUM_HEADS` raise :class:`BadWeightsError` naming the file."""
    try:
        ngf = int(state_E["encode.weight"].shape[0])
        embed_dim = int(state_T["token_embed.weight"].shape[0])
    except (KeyError, IndexError, AttributeError):
        return {}
    layers = {k.split(".")[2] for k in state_T if k.startswith("encoder_trans.layers.") and k.count(".") >= 3}
    found = {"ngf": ngf, "embed_dim": embed_dim, "n_encoders": len(layers)}
    base = Path(folder) if folder is not None else Path(".")
    for key, value in found.items():
        lo, hi = WIDTH_LIMITS[key]
        file = base / NET_FILES["E" if key == "ngf" else "T"]
        if not lo <= value <= hi:
            raise BadWeightsError(
                f"{where(file)} claims {key}={value}, outside {lo}..{hi}: not a TFill checkpoint this package can "
                "load (the released models use ngf=32, embed_dim=512, n_encoders=12)"
            )
    if embed_dim % NUM_HEADS:
        raise BadWeightsError(
            f"{where(base / NET_FILES['T'])} claims embed_dim={embed_dim}, which is not a multiple of the "
            f"{NUM_HEADS} attention heads: the file is corrupt or not a TFill transformer"
        )
    return found
