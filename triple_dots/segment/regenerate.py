"""Regenerate the face under a hole mask with an inpainting model, at the photo's own resolution."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from triple_dots.errors import BadInputError, SizeMismatchError
from triple_dots.images import resize_hole

#: An inpainter: (B, 3, S, S) photos in [0, 1] and (B, 1, S, S) hole masks (1 = hole) -> (B, 3, S, S) in [0, 1].
Inpainter = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def crop_box(hole_mask: torch.Tensor, *, context: float = 0.6) -> tuple[int, int, int, int]:
    """Square (x0, y0, x1, y1) around the hole of a (1, H, W) mask, grown by ``context`` x its size, in the photo."""
    ys, xs = torch.nonzero(hole_mask[0] > 0.5, as_tuple=True)
    if ys.numel() == 0:
        raise BadInputError("the hole mask is empty: there is nothing to regenerate (click on the mask first)")
    h, w = hole_mask.shape[-2:]
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    side = max(16, min(int(round(max(x1 - x0, y1 - y0) * (1 + 2 * context))), h, w))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx0 = int(round(min(max(cx - side / 2, 0), w - side)))
    by0 = int(round(min(max(cy - side / 2, 0), h - side)))
    return bx0, by0, bx0 + side, by0 + side


@torch.no_grad()
def regenerate(image: torch.Tensor, hole_mask: torch.Tensor, inpaint: Inpainter, *, size: int = 256,
               context: float = 0.6) -> torch.Tensor:
    """Fill the hole of ``hole_mask`` (1, H, W) in ``image`` (3, H, W) [0, 1] with ``inpaint``; returns (3, H, W).

    ``inpaint`` is e.g. ``TFill.inpaint`` (base or personalised checkpoint). Pixels outside the
    hole are returned unchanged; the crop the model sees is ``size`` x ``size`` pixels.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise BadInputError(f"expected a (3, H, W) photo, got shape {tuple(image.shape)}")
    if hole_mask.shape != (1, *image.shape[-2:]):
        raise SizeMismatchError(
            f"hole mask {tuple(hole_mask.shape)} does not match the photo {tuple(image.shape)}: expected (1, H, W)"
        )
    x0, y0, x1, y1 = crop_box(hole_mask, context=context)
    crop = image[:, y0:y1, x0:x1].float()
    mcrop = (hole_mask[:, y0:y1, x0:x1] > 0.5).float()
    small = F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    msmall = resize_hole(mcrop[None], (size, size))
    out = inpaint(small.clamp(0, 1), msmall)
    if out.shape != small.shape:
        raise BadInputError(f"the inpainter returned shape {tuple(out.shape)}, expected {tuple(small.shape)}")
    back = F.interpolate(out.float(), size=crop.shape[-2:], mode="bilinear", align_corners=False)[0].clamp(0, 1)
    result = image.clone().float()
    result[:, y0:y1, x0:x1] = crop * (1 - mcrop) + back.to(crop) * mcrop
    return result
