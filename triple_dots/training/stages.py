"""The two TFill training stages as modules that ``DistributedDataParallel`` can wrap.

Everything here is in TFill's model space: images in [-1, 1], masks **1 = visible**, 0 = hole
(the loop converts once with ``triple_dots.tfill.to_model_space``). Data flow (official
``TC.forward``, see ``shared/design/tfill-facts.md`` section 2)::

    x (B,3,S,S), m (B,1,S,S) at fine_size S
    coarse inputs  x_f = clamp(bicubic(x*m -> F)), m_f = bicubic(m -> F) > 0.9,  target gt_f = clamp(bicubic(x -> F))
    coarse         out_c = G(T(E(x_f, m_f)), mask=m)                 (B,3,F,F) raw, in (-1, 1)
    composite      comp = m*x + (1-m)*clamp(bicubic(out_c -> S))
    refine         out_r = G_Ref(comp, mask=m)                       (B,3,S,S) raw

``bicubic`` is ``F.interpolate(mode="bicubic", align_corners=True)`` as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def bicubic(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bicubic resize with ``align_corners=True`` (the official resampling); no-op at equal size."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=True)


@dataclass
class CoarseInputs:
    """The coarse stage's tensors at ``fixed_size`` F (model space)."""

    image: torch.Tensor  # (B,3,F,F) masked input x*m resized, clamped to [-1, 1]
    valid: torch.Tensor  # (B,1,F,F) {0,1} 1 = visible (bicubic then > 0.9, as official)
    target: torch.Tensor  # (B,3,F,F) ground truth resized, clamped to [-1, 1]


def coarse_inputs(x: torch.Tensor, valid: torch.Tensor, fixed_size: int) -> CoarseInputs:
    """Build the coarse-stage inputs from full-size model-space ``x`` (B,3,S,S) and ``valid`` (B,1,S,S)."""
    return CoarseInputs(
        image=bicubic(x * valid, fixed_size).clamp(-1, 1),
        valid=(bicubic(valid, fixed_size) > 0.9).to(x.dtype),
        target=bicubic(x, fixed_size).clamp(-1, 1),
    )


def composite(x: torch.Tensor, valid: torch.Tensor, coarse_out: torch.Tensor) -> torch.Tensor:
    """``m*x + (1-m)*up(coarse_out)``: the coarse result at full size, the refine stage's input."""
    up = bicubic(coarse_out, tuple(x.shape[-2:])).clamp(-1, 1)
    return valid * x + (1 - valid) * up


class CoarseGenerator(nn.Module):
    """E -> T -> G as one module (one DDP wrapper, one optimiser over all three, as official).

    forward(image (B,3,F,F) masked [-1,1], valid_f (B,1,F,F), valid_full (B,1,S,S)) -> (B,3,F,F) raw.
    G gets the full-resolution mask for its noise injection, as in the official code.
    """

    def __init__(self, net_E: nn.Module, net_T: nn.Module, net_G: nn.Module) -> None:
        super().__init__()
        self.net_E, self.net_T, self.net_G = net_E, net_T, net_G

    def forward(self, image: torch.Tensor, valid_f: torch.Tensor, valid_full: torch.Tensor) -> torch.Tensor:
        tokens, token_mask = self.net_E(image, valid_f)  # (B,C,h,w), (B,1,h,w) soft visible fraction
        tokens = self.net_T(tokens, token_mask)  # (B,C,h,w)
        return self.net_G(tokens, valid_full)  # (B,3,F,F) in (-1, 1)


class RefineGenerator(nn.Module):
    """G_Ref as a module: forward(composite (B,3,S,S), valid (B,1,S,S)) -> (B,3,S,S) raw."""

    def __init__(self, net_G_Ref: nn.Module) -> None:
        super().__init__()
        self.net_G_Ref = net_G_Ref

    def forward(self, comp: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.net_G_Ref(comp, valid)


class DiscriminatorStep(nn.Module):
    """Both discriminator calls of one D step inside a single ``forward``.

    DDP reduces gradients once per forward/backward pair, so real and fake go through one call
    (kept as two separate D passes, not one concatenated batch, because the minibatch-stddev
    layer groups samples within a batch). Returns (real_logits, fake_logits), each (B, 1).
    """

    def __init__(self, net_D: nn.Module) -> None:
        super().__init__()
        self.net_D = net_D

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net_D(real), self.net_D(fake)
