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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots import weights


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
@functools.lru_cache(maxsize=2)
def _build_lpips(path_str: str, mtime_ns: int) -> nn.Module:
    """LPIPS-VGG (:func:`~triple_dots.evaluation.paired.load_lpips`, every parameter frozen, eval mode)."""
    from triple_dots.evaluation.paired import load_lpips

    # Building VGG16 draws its random initialisation from the global RNG. Forked, so that a training
    # run's random stream does not depend on whether an earlier run in this process built (and
    # cached) the module already: the first run in a process would otherwise differ from later ones.
    with torch.random.fork_rng(devices=[]):
        model = load_lpips("vgg", path_str)
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
    import torchvision

    from triple_dots.tfill.checkpoint_files import save_network

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        features = torchvision.models.vgg16().features
    return save_network(nn.ModuleDict({"features": features}), path, overwrite=overwrite)  # keys "features.<i>.*"
