"""ImageNet backbones read from local torchvision weight files: LPIPS's AlexNet / VGG16.

One loader for the training loss (LPIPS-VGG) and the evaluation (LPIPS-Alex); the files come from the
weights registry (:mod:`triple_dots.weights`), never from the internet.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from triple_dots import weights
from triple_dots.errors import BadInputError, BadWeightsError, where
from triple_dots.state_dicts import load_state_file, save_network

#: LPIPS backbone name -> weights registry key.
LPIPS_BACKBONES: dict[str, str] = {"alex": "alexnet", "vgg": "vgg16"}


def load_lpips(net: str = "alex", backbone_path: str | Path | None = None, device: str = "cpu") -> torch.nn.Module:
    """An ``lpips.LPIPS`` model with its ImageNet backbone from a local torchvision weights file.

    ``backbone_path`` None -> ``weights.locate("alexnet" | "vgg16")``; every backbone tensor is checked by
    name and shape. Building the backbone draws its random initialisation from the global RNG.
    """
    import lpips

    if net not in LPIPS_BACKBONES:
        raise BadInputError(f"LPIPS backbone must be one of {list(LPIPS_BACKBONES)}, got {net!r}")
    path = weights.locate(LPIPS_BACKBONES[net], backbone_path)
    state = load_state_file(path)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's deprecated `pretrained=False`
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    backbone = {}
    for name, param in model.net.state_dict().items():  # "slice<k>.<i>.weight" is torchvision's "features.<i>.weight"
        key = "features." + name.split(".", 1)[1]
        if key not in state:
            raise BadWeightsError(f"{where(path)} is not a torchvision {net} state dict: '{key}' is missing")
        if tuple(state[key].shape) != tuple(param.shape):
            raise BadWeightsError(f"{where(path)}: '{key}' has shape {tuple(state[key].shape)}, expected "
                                  f"{tuple(param.shape)} (LPIPS {net} backbone)")
        backbone[name] = state[key]
    model.net.load_state_dict(backbone, strict=True)
    model.backbone_path = Path(path)  # type: ignore[attr-defined]
    return model.eval().to(device)


def save_random_backbone(path: str | Path, net: str = "alex", seed: int = 0, *, overwrite: bool = False) -> Path:
    """Write a random-initialised torchvision AlexNet/VGG16 state dict (stand-in LPIPS backbone for tests)."""
    import torchvision

    torch.manual_seed(seed)
    return save_network(torchvision.models.alexnet() if net == "alex" else torchvision.models.vgg16(), path,
                        overwrite=overwrite)
