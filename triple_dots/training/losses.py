"""The TFill training objective, in TFill's model space (images in [-1, 1], masks **1 = visible**, 0 = hole)::

    loss_G = lambda_rec * [hole_weight * L1(out*(1-m), gt*(1-m)) + L1(out*m, gt*m)]
           + lambda_lp  * LPIPS_VGG(out, gt)
           + lambda_g   * softplus(-D(out))                       (non-saturating)
    loss_D = softplus(-D(gt)) + softplus(D(out.detach()))          (logistic)

with ``out`` the generator's **raw** output (not the composite).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots import weights
from triple_dots.state_dicts import save_network


def reconstruction_loss(
    out: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, *, hole_weight: float = 3.0
) -> torch.Tensor:
    """Masked L1: ``hole_weight * mean|(out-gt)*(1-m)| + mean|(out-gt)*m|`` (means over all elements).

    ``out``, ``target``: (B, 3, H, W) in [-1, 1]; ``valid``: (B, 1, H, W) in {0, 1}, **1 = visible**, 0 = hole.
    """
    diff = (out - target).abs()
    return hole_weight * (diff * (1.0 - valid)).mean() + (diff * valid).mean()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``mean(softplus(-D(fake)))``; logits (B, 1)."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logistic discriminator loss split as ``(mean softplus(-D(real)), mean softplus(D(fake)))``."""
    return F.softplus(-real_logits).mean(), F.softplus(fake_logits).mean()


@functools.lru_cache(maxsize=2)
def _build_lpips(path_str: str, mtime_ns: int) -> nn.Module:
    """LPIPS-VGG (:func:`~triple_dots.backbones.load_lpips`, every parameter frozen, eval mode)."""
    from triple_dots.backbones import load_lpips

    # building VGG16 draws from the global RNG: forked, so a run's random stream does not depend on
    # whether an earlier run in this process built (and cached) the module already
    with torch.random.fork_rng(devices=[]):
        model = load_lpips("vgg", path_str)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class PerceptualLoss(nn.Module):
    """LPIPS-VGG16 (``lpips`` v0.1), backbone ``vgg_weights`` or the registry's ``"vgg16"``; frozen, always eval.

    Input: two (B, 3, H, W) tensors in **[-1, 1]** (H, W >= 16). Output: scalar, batch mean.
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
    """Write a **random** VGG16 ``features`` state dict with the keys of ``vgg16-397923af.pth`` (tests, SMOKE only)."""
    import torchvision

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        features = torchvision.models.vgg16().features
    return save_network(nn.ModuleDict({"features": features}), path, overwrite=overwrite)  # keys "features.<i>.*"
