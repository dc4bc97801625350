"""The TFill training objective: reconstruction, LPIPS-VGG perceptual, non-saturating GAN.

All functions here work in **TFill's model space**: images in [-1, 1], masks with
**1 = visible / known, 0 = hole** (what ``TFill.to_model_space`` returns). The loop converts
once, at the boundary, from the project convention ([0, 1], 1 = hole).

Official recipe (``model/tc_model.py``, ``model/losses.py`` of lyndonzheng/TFill), per stage::

    loss_G = lambda_rec * [hole_weight * L1(out*(1-m), gt*(1-m)) + L1(out*m, gt*m)]
           + lambda_lp  * LPIPS_VGG(out, gt)
           + lambda_g   * softplus(-D(out))                       (non-saturating)
    loss_D = softplus(-D(gt)) + softplus(D(out.detach()))          (logistic)

with ``out`` the generator's **raw** output (not the composite). Quirks kept / fixed are
listed in :mod:`triple_dots.training.loop`.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots import weights
from triple_dots.errors import BadWeightsError, where

#: torchvision ``vgg16().features`` indexes of the 13 conv layers LPIPS uses (relu1_2 .. relu5_3).
_VGG_CONV_INDEXES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
#: LPIPS splits ``features`` into five slices at these boundaries (after relu1_2, relu2_2, ...).
_LPIPS_SLICES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))


def reconstruction_loss(
    out: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, *, hole_weight: float = 3.0
) -> torch.Tensor:
    """Masked L1: ``hole_weight * mean|(out-gt)*(1-m)| + mean|(out-gt)*m|`` (means over all elements).

    Args:
        out: (B, 3, H, W) generator output in [-1, 1].
        target: (B, 3, H, W) ground truth in [-1, 1].
        valid: (B, 1, H, W) mask in {0, 1}, **1 = visible**, 0 = hole.
        hole_weight: weight of the hole term (official 3).

    Both terms compare ``out`` with ``target`` (the official coarse stage compared ``out`` with
    itself in the visible term until PR #24; we use the fixed version).
    """
    diff = (out - target).abs()
    return hole_weight * (diff * (1.0 - valid)).mean() + (diff * valid).mean()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``mean(softplus(-D(fake)))``; logits (B, 1)."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logistic discriminator loss split as ``(mean softplus(-D(real)), mean softplus(D(fake)))``."""
    return F.softplus(-real_logits).mean(), F.softplus(fake_logits).mean()


# ------------------------------------------------------------------------------------------------
# LPIPS-VGG
# ------------------------------------------------------------------------------------------------
def _vgg_features_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a torchvision VGG16 state dict and return its ``features.*`` tensors, checked."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling/IO failure is a bad file for the user
        raise BadWeightsError(f"{where(path)} is not a readable torchvision VGG16 state dict: {exc}") from None
    if not isinstance(state, dict):
        raise BadWeightsError(f"{where(path)} holds a {type(state).__name__}, not a VGG16 state dict")
    expected_in = 3
    out: dict[str, torch.Tensor] = {}
    widths = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
    for idx, width in zip(_VGG_CONV_INDEXES, widths, strict=True):
        for kind, shape in (("weight", (width, expected_in, 3, 3)), ("bias", (width,))):
            key = f"features.{idx}.{kind}"
            if key not in state:
                raise BadWeightsError(f"{where(path)} is not a torchvision VGG16 state dict: '{key}' is missing")
            if tuple(state[key].shape) != shape:
                raise BadWeightsError(
                    f"{where(path)}: '{key}' has shape {tuple(state[key].shape)}, expected {shape} (VGG16)"
                )
            out[key] = state[key].float()
        expected_in = width
    return out


@functools.lru_cache(maxsize=2)
def _build_lpips(path_str: str, mtime_ns: int) -> nn.Module:
    import lpips  # noqa: PLC0415 - heavy import, only when a perceptual loss is built

    feats = _vgg_features_state(Path(path_str))  # check the user's file before the slow VGG16 build
    # use_dropout=True only so the shipped linear-layer keys ("lin0.model.1.weight") match; the
    # module is kept in eval mode, so the dropout never fires
    # Building VGG16 draws its random initialisation from the global RNG. Forked, so that a training
    # run's random stream does not depend on whether an earlier run in this process built (and
    # cached) the module already: the first run in a process would otherwise differ from later ones.
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's deprecated `pretrained=False`
        model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, use_dropout=True, verbose=False)
    lin_file = Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth"
    lins = torch.load(lin_file, map_location="cpu", weights_only=True)
    own = model.state_dict()
    if set(lins) - set(own) or not all(torch.equal(own[k], v) for k, v in lins.items()):
        raise RuntimeError(f"the lpips package did not load its linear layers from {lin_file}")
    mapped = {}
    for s, (lo, hi) in enumerate(_LPIPS_SLICES, start=1):
        for idx in _VGG_CONV_INDEXES:
            if lo <= idx < hi:
                for kind in ("weight", "bias"):
                    mapped[f"net.slice{s}.{idx}.{kind}"] = feats[f"features.{idx}.{kind}"]
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    trunk_missing = [k for k in missing if k.startswith("net.")]
    if trunk_missing or unexpected:  # programming error, not a user error
        raise RuntimeError(f"LPIPS trunk mapping is wrong: missing {trunk_missing}, unexpected {unexpected}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class PerceptualLoss(nn.Module):
    """LPIPS with the VGG16 trunk (the ``lpips`` package, v0.1 linear layers it ships).

    The VGG16 ImageNet backbone is the torchvision file ``vgg16-397923af.pth`` found through the
    weights registry (key ``"vgg16"``) or given as ``vgg_weights``; a missing file raises
    :class:`~triple_dots.errors.MissingWeightsError` (no silent random backbone).

    Input: two (B, 3, H, W) tensors in **[-1, 1]** (H, W >= 16). Output: scalar, batch mean.
    The module is frozen and always in eval mode: the LPIPS dropout that the official loss
    leaves active during training is off here (a fix, see the loop's docstring).
    """

    def __init__(self, vgg_weights: str | Path | None = None) -> None:
        super().__init__()
        path = weights.locate("vgg16", vgg_weights).resolve()
        # cached per process: building VGG16 takes seconds, and the module has no state that training changes
        self.lpips = _build_lpips(str(path), path.stat().st_mtime_ns)
        self.path = path

    def train(self, mode: bool = True) -> PerceptualLoss:  # stays in eval mode: no dropout, ever
        super().train(False)
        return self

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.lpips(out.float(), target.float(), normalize=False).mean()


def save_random_vgg16(path: str | Path, *, seed: int = 0, overwrite: bool = False) -> Path:
    """Write a **random-initialised** torchvision VGG16 ``features`` state dict to ``path``.

    For tests and SMOKE notebooks only: it has the keys and shapes of ``vgg16-397923af.pth`` so
    the real loader runs, but its perceptual loss is meaningless. Real training needs the real file.
    """
    import torchvision  # noqa: PLC0415

    from triple_dots.files import atomic_write  # noqa: PLC0415

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        feats = torchvision.models.vgg16().features.state_dict()
    with atomic_write(path, overwrite=overwrite) as tmp:
        torch.save({f"features.{k}": v for k, v in feats.items()}, tmp)
    return Path(path)
