"""TFill checkpoint files: the official ``latest_net_<name>.pth`` layout, read strictly and written atomically.

One plain state dict per network: ``latest_net_{E,T,G,G_Ref}.pth`` and, for training, ``latest_net_{D,D_Ref}.pth``;
read with ``weights_only=True``, a bad file raises :class:`BadWeightsError` naming it and the first bad keys.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from triple_dots.errors import BadWeightsError, where
from triple_dots.state_dicts import load_state_file, save_network, state_dict_mismatch  # noqa: F401 (re-exported)

GENERATOR_NETS = ("E", "T", "G", "G_Ref")
DISCRIMINATOR_NETS = ("D", "D_Ref")
#: Official checkpoint file of each network (attribute ``net_<name>`` of :class:`TFill`).
NET_FILES: dict[str, str] = {name: f"latest_net_{name}.pth" for name in GENERATOR_NETS + DISCRIMINATOR_NETS}


def has_networks(folder: str | Path, names: tuple[str, ...] = GENERATOR_NETS) -> bool:
    """True when ``folder`` holds ``latest_net_<name>.pth`` for every name (default: the four generators)."""
    folder = Path(folder)
    return folder.is_dir() and all((folder / NET_FILES[n]).is_file() for n in names)


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
