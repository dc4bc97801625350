"""Loading Segment Anything (Meta's SAM) from the weights registry (``"sam-vit_b"`` / ``"sam-vit_l"`` / ``"sam-vit_h"``,
see ``triple-dots weights``) or a file: a state dict read with ``weights_only=True`` onto the CPU, loaded with
``strict=True``. The model type is read from the tensor shapes, so a wrong ``model`` gets a clear error.
"""

from __future__ import annotations

from pathlib import Path

import torch

from triple_dots import weights
from triple_dots.errors import BadInputError, BadWeightsError, where
from triple_dots.files import atomic_write

#: Model types and the width of their ViT image encoder (the first dimension of the patch embedding).
MODEL_TYPES: dict[str, int] = {"vit_b": 768, "vit_l": 1024, "vit_h": 1280}
_PATCH_KEY = "image_encoder.patch_embed.proj.weight"


def _check_model(model: str) -> str:
    if model == "default":  # segment-anything's own name for vit_h
        return "vit_h"
    if model not in MODEL_TYPES:
        raise BadInputError(f"unknown SAM model type {model!r}; use one of {', '.join(MODEL_TYPES)}")
    return model


def model_type_of(state_dict: dict[str, torch.Tensor], path: str | Path | None = None) -> str:
    """The SAM model type (``"vit_b"``, ``"vit_l"``, ``"vit_h"``) of a state dict; :class:`BadWeightsError` if none."""
    w = state_dict.get(_PATCH_KEY)
    if not isinstance(w, torch.Tensor) or w.ndim != 4:
        sample = ", ".join(list(state_dict)[:3]) or "no tensors"
        raise BadWeightsError(f"{where(path)} is not a Segment Anything checkpoint: it has no '{_PATCH_KEY}' tensor "
                              f"(first keys: {sample})")
    for name, width in MODEL_TYPES.items():
        if w.shape[0] == width:
            return name
    raise BadWeightsError(
        f"{where(path)} has a SAM image encoder of width {w.shape[0]}, which is none of "
        + ", ".join(f"{k} ({v})" for k, v in MODEL_TYPES.items())
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A SAM checkpoint's state dict (bare, or under ``"model"`` / ``"state_dict"``), read onto the CPU safely."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated, pickled code, not a torch file
        raise BadWeightsError(f"{where(path)} cannot be read as a PyTorch weights file: {exc}") from None
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict) and _PATCH_KEY not in obj:
                obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadWeightsError(f"{where(path)} does not hold a state dict of tensors (got {type(obj).__name__})")
    return obj


def load_sam(model: str | None = None, checkpoint: str | Path | None = None, *,
             device: str | torch.device = "cpu") -> torch.nn.Module:
    """A SAM of type ``model`` with its released weights, in eval mode on ``device``.

    ``model``: ``"vit_b"``, ``"vit_l"`` or ``"vit_h"``; without it the type is read from ``checkpoint``, else
    ``"vit_b"``. ``checkpoint``: a SAM ``.pth`` file; default: the registry entry ``"sam-<model>"``.
    Raises :class:`MissingWeightsError` when the file is missing (saying what to download and where), and
    :class:`BadWeightsError` when it is unreadable, not SAM, or of another type than ``model``.
    """
    from segment_anything import sam_model_registry

    if model is not None:
        model = _check_model(model)
    path = weights.locate(f"sam-{model or 'vit_b'}", checkpoint)
    state = read_state_dict(path)
    found = model_type_of(state, path)
    if model is not None and found != model:
        raise BadWeightsError(f"{where(path)} is a SAM {found} checkpoint, not {model}: pass model={found!r} "
                              f"(CLI: --model {found}) or the {model} file")
    sam = sam_model_registry[found](checkpoint=None)
    try:
        sam.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise BadWeightsError(f"{where(path)} does not fit SAM {found}: {' '.join(first)}") from None
    return sam.to(device).eval()


def save_random_sam(path: str | Path, model: str = "vit_b", *, seed: int = 0, overwrite: bool = False) -> Path:
    """Write a random-initialised SAM state dict to ``path`` (atomically): the stand-in for tests and SMOKE runs."""
    from segment_anything import sam_model_registry

    model = _check_model(model)
    torch.manual_seed(seed)
    sam = sam_model_registry[model](checkpoint=None)
    with atomic_write(path, overwrite=overwrite) as tmp:
        torch.save(sam.state_dict(), tmp)
    return Path(path)
