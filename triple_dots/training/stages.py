"""Each training stage's networks as one module that ``DistributedDataParallel`` / ``torch.compile`` can wrap.

Only the networks a stage trains are registered, so DDP reduces exactly their gradients.
Model space: images in [-1, 1], masks 1 = visible.
"""

from __future__ import annotations

import torch
from torch import nn

from triple_dots.tfill import TFill
from triple_dots.tfill.model import resize_bicubic_ac


def coarse_target(x: torch.Tensor, fixed_size: int) -> torch.Tensor:
    """The coarse stage's ground truth: ``x`` (B,3,S,S) resized to ``fixed_size`` as the inputs are, clamped."""
    return resize_bicubic_ac(x, (fixed_size, fixed_size)).clamp(-1, 1)


class StageGenerator(nn.Module):
    """The generator networks one stage trains (coarse: E, T, G; refine: G_Ref).

    forward(x (B,3,S,S), valid (B,1,S,S), coarse_composite (refine only)) -> (raw output, its visible
    mask): coarse (B,3,F,F) and ``fixed_mask`` at F; refine (B,3,S,S) and ``valid``.
    """

    def __init__(self, model: TFill, stage: str) -> None:
        super().__init__()
        self.coarse = stage == "coarse"
        self.nets = nn.ModuleList([model.net_E, model.net_T, model.net_G] if self.coarse else [model.net_G_Ref])
        self.stage_fn = model.coarse_stage if self.coarse else model.refine_stage  # not a submodule

    def forward(self, x: torch.Tensor, valid: torch.Tensor,
                coarse_composite: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.coarse:
            out = self.stage_fn(x, valid)
            return out.coarse_raw, out.fixed_mask
        return self.stage_fn(coarse_composite, x, valid).refine_raw, valid


class DiscriminatorStep(nn.Module):
    """Both discriminator calls of one D step in one ``forward`` (DDP reduces once per forward/backward).

    Two D passes, not one concatenated batch: the minibatch-stddev layer groups samples within a batch.
    """

    def __init__(self, net_D: nn.Module) -> None:
        super().__init__()
        self.net_D = net_D

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real_logits, fake_logits), each (B, 1)."""
        return self.net_D(real), self.net_D(fake)
