"""The TFill model: both stages, official checkpoints, and inpainting in the project's conventions.

Project conventions: images (B, 3, H, W) in [0, 1], hole masks 1 = hole. Model space: images in [-1, 1],
**visible** masks (1 = known). Data flow as the official ``TC.test``: E -> T -> G at ``fixed_size``, composite,
then G_Ref at the model size, composite.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from triple_dots import weights
from triple_dots.errors import (
    BadInputError,
    BadMaskError,
    BadWeightsError,
    MissingWeightsError,
    SizeMismatchError,
    where,
)
from triple_dots.images import resize_hole, resize_photo
from triple_dots.tfill.checkpoint_files import (
    DISCRIMINATOR_NETS,
    GENERATOR_NETS,
    NET_FILES,
    check_state_dict,
    infer_options,
    load_state_file,
    save_network,
)
from triple_dots.tfill.config import TFillConfig, make_config
from triple_dots.tfill.decoder import DiffDecoder
from triple_dots.tfill.discriminator import StyleDiscriminator
from triple_dots.tfill.encoder import DiffEncoder
from triple_dots.tfill.refine import RefinedGenerator
from triple_dots.tfill.transformer import Transformer


def to_model_space(images: torch.Tensor, hole_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project convention -> model space: images [0, 1] -> [-1, 1]; hole mask (1 = hole) -> visible mask (1 = known)."""
    return images * 2 - 1, 1 - hole_masks


def from_model_space(images_pm1: torch.Tensor) -> torch.Tensor:
    """Model-space image in [-1, 1] -> [0, 1] (clamped)."""
    return ((images_pm1 + 1) / 2).clamp(0, 1)


#: Longest side / shortest side TFill accepts (the short side is scaled to ``fine_size``).
MAX_ASPECT = 8.0


def model_size(height: int, width: int, fine_size: int = 512, multiple: int = 32) -> tuple[int, int]:
    """Official test-time size: short side -> ``fine_size``, each side rounded to a multiple of ``multiple``;
    more elongated than :data:`MAX_ASPECT`: :class:`BadInputError`."""
    if min(height, width) < 1 or max(height, width) / min(height, width) > MAX_ASPECT:
        raise BadInputError(
            f"a {width}x{height} picture is too elongated for TFill (aspect ratio above {MAX_ASPECT:g}:1; it would "
            f"run at {fine_size} pixels on the short side): crop it closer to the face first"
        )
    scale = fine_size / min(height, width)
    h, w = round(height * scale), round(width * scale)
    return max(1, round(h / multiple)) * multiple, max(1, round(w / multiple)) * multiple


def resize_bicubic_ac(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The official internal resize: bicubic, align_corners=True (no clamp)."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=True)


def prepare_batch(images: Any, hole_masks: Any, device: torch.device) -> tuple:
    """:func:`check_inputs`, then ``(image, hole, was_3d, image_d, hole_d, has_hole)``: ``*_d`` are float32 copies
    on ``device``, ``has_hole`` (B,) bool marks the samples with a hole (TFill and MAT)."""
    img, hole, was_3d = check_inputs(images, hole_masks)
    img_d, hole_d = img.to(device, torch.float32), hole.to(device, torch.float32)
    return img, hole, was_3d, img_d, hole_d, hole_d.flatten(1).amax(dim=1) > 0


def check_inputs(images: Any, hole_masks: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate ``inpaint`` inputs: images (B, 3, H, W) or (3, H, W) float in [0, 1], hole masks (B or 1, 1, H, W),
    (1, H, W) or (H, W) in {0, 1}. Returns ``(images4d, holes4d float, was_3d)``; raises :class:`BadInputError`,
    :class:`BadMaskError` or :class:`SizeMismatchError`."""
    if not isinstance(images, torch.Tensor):
        raise BadInputError(f"images must be a torch.Tensor (B, 3, H, W) in [0, 1], got {type(images).__name__}")
    if not isinstance(hole_masks, torch.Tensor):
        raise BadInputError(f"hole_masks must be a torch.Tensor (B, 1, H, W) in {{0, 1}}, got {type(hole_masks).__name__}")
    was_3d = images.ndim == 3
    if images.ndim not in (3, 4):
        raise BadInputError(f"images must be (B, 3, H, W) or (3, H, W), got shape {tuple(images.shape)}")
    img = images[None] if was_3d else images
    if img.shape[1] != 3:
        raise BadInputError(
            f"images must have 3 colour channels (RGB), got {img.shape[1]} in shape {tuple(images.shape)}; "
            "convert grayscale/RGBA photos to RGB first"
        )
    if not img.is_floating_point():
        raise BadInputError(f"images must be float in [0, 1], got dtype {img.dtype}; divide uint8 images by 255")
    if img.shape[0] == 0 or img.shape[-1] == 0 or img.shape[-2] == 0:
        raise BadInputError(f"images is empty: shape {tuple(images.shape)}")
    if not torch.isfinite(img).all():
        raise BadInputError("images contain NaN or infinite values")
    lo, hi = float(img.min()), float(img.max())
    if lo < 0 or hi > 1:
        raise BadInputError(
            f"images must be in [0, 1], found values in [{lo:.3g}, {hi:.3g}] (images in [-1, 1] or 0..255?)"
        )
    m = hole_masks
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3:
        m = m[None] if m.shape[0] == 1 else m[:, None]
    if m.ndim != 4 or m.shape[1] != 1:
        raise BadMaskError(f"hole_masks must be (B, 1, H, W) single-channel, got shape {tuple(hole_masks.shape)}")
    if m.shape[-2:] != img.shape[-2:]:
        raise SizeMismatchError(
            f"hole mask size {tuple(m.shape[-2:])} differs from image size {tuple(img.shape[-2:])} (H, W)"
        )
    if m.shape[0] not in (1, img.shape[0]):
        raise SizeMismatchError(f"{m.shape[0]} hole masks for {img.shape[0]} images")
    m = m.to(img.dtype)
    if not torch.isfinite(m).all():
        raise BadMaskError("hole mask contains NaN or infinite values")
    if not ((m == 0) | (m == 1)).all():
        raise BadMaskError("hole mask must be binary {0, 1} with 1 = hole; threshold it first (e.g. mask > 0.5)")
    if m.shape[0] != img.shape[0]:
        m = m.expand(img.shape[0], -1, -1, -1)
    return img, m, was_3d


@dataclass
class ModelOutputs:
    """Model-space outputs of :meth:`TFill.forward` and its stages (None: stage not run); images in [-1, 1],
    masks 1 = visible; ``fixed_*``, ``coarse_raw`` (B, ., F, F) at ``fixed_size`` F, the composites (B, 3, H, W)."""

    fixed_image: torch.Tensor | None = None
    fixed_mask: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    token_mask: torch.Tensor | None = None
    transformer_out: torch.Tensor | None = None
    coarse_raw: torch.Tensor | None = None
    coarse_composite: torch.Tensor | None = None
    refine_raw: torch.Tensor | None = None
    final_composite: torch.Tensor | None = None


@dataclass
class _Run:
    """:meth:`TFill._run`'s result (input resolution) and, for the samples with a hole, the model-resolution
    inputs ([0, 1], 1 = hole) and outputs."""

    result: torch.Tensor
    was_3d: bool
    every_sample_has_hole: bool = False
    image: torch.Tensor | None = None
    hole: torch.Tensor | None = None
    outputs: ModelOutputs | None = None


@dataclass
class TFillStages:
    """Every intermediate of one :meth:`TFill.stages` call; images in [0, 1], masks 1 = hole except
    ``token_mask`` (visible fraction per patch). ``fixed_*``/``coarse_raw`` at ``fixed_size`` squared, ``final``
    at the input resolution, the rest at the model resolution (short side ``fine_size``, multiples of 32)."""

    image: torch.Tensor
    hole_mask: torch.Tensor
    fixed_image: torch.Tensor
    fixed_hole: torch.Tensor
    tokens: torch.Tensor
    token_mask: torch.Tensor
    transformer_out: torch.Tensor
    coarse_raw: torch.Tensor
    coarse_composite: torch.Tensor
    refine_raw: torch.Tensor
    final: torch.Tensor


def seeded_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A private ``torch.Generator`` on ``device``: seeded with ``seed``, or with fresh entropy when None."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()  # fresh entropy; the global RNG is left alone
    else:
        gen.manual_seed(int(seed))
    return gen


class TFill(nn.Module):
    """TFill (Zheng et al., CVPR 2022): networks ``net_E``, ``net_T``, ``net_G``, ``net_G_Ref`` and, with
    ``discriminators=True``, ``net_D`` (at ``fixed_size``) and ``net_D_Ref`` (at ``fine_size``), officially initialised.
    Model space (training): :meth:`coarse_stage`, :meth:`refine_stage`, :meth:`forward`; project: :meth:`inpaint`."""

    def __init__(self, config: TFillConfig | str | None = None, *, discriminators: bool = False, init: bool = True,
                 **options: Any) -> None:
        super().__init__()
        self.config = make_config(config, **options)
        self.net_E = DiffEncoder(self.config)
        self.net_T = Transformer(self.config)
        self.net_G = DiffDecoder(self.config)
        self.net_G_Ref = RefinedGenerator(self.config)
        self.net_D: StyleDiscriminator | None = None
        self.net_D_Ref: StyleDiscriminator | None = None
        if discriminators:
            self.add_discriminators()
        if init:
            for net in (self.net_E, self.net_G, self.net_G_Ref):
                _official_init(net)
        self.channels_last = False

    def add_discriminators(self) -> None:
        """Build ``net_D`` (``fixed_size``) and ``net_D_Ref`` (``fine_size``) on the model's device."""
        dev = self.device
        self.net_D = StyleDiscriminator(self.config.fixed_size, self.config.ndf).to(dev)
        self.net_D_Ref = StyleDiscriminator(self.config.fine_size, self.config.ndf).to(dev)

    @property
    def device(self) -> torch.device:
        return next(self.net_E.parameters()).device

    def networks(self) -> Iterator[tuple[str, nn.Module]]:
        """(name, module) of every built network, official names (E, T, G, G_Ref, D, D_Ref)."""
        for name in GENERATOR_NETS + DISCRIMINATOR_NETS:
            net = getattr(self, f"net_{name}")
            if net is not None:
                yield name, net

    @classmethod
    def from_official(cls, checkpoint_dir: str | Path | None = None, *, preset: str | None = None,
                      discriminators: bool = False, device: str | torch.device | None = None,
                      channels_last: bool = True, **config: Any) -> TFill:
        """Load ``latest_net_{E,T,G,G_Ref}.pth`` (and ``D``, ``D_Ref`` with ``discriminators``) strictly, in ``eval()``
        mode. ``checkpoint_dir`` None: the registry entry ``tfill-<preset>`` (default ``tfill-ffhq``); widths are read
        from the files unless given. Missing: :class:`MissingWeightsError`; bad: :class:`BadWeightsError`."""
        key = f"tfill-{preset or 'ffhq'}" if preset != "tiny" else "tfill-ffhq"
        folder = Path(checkpoint_dir).expanduser() if checkpoint_dir is not None else None
        try:
            folder = weights.locate(key, folder)
        except MissingWeightsError as exc:
            if folder is not None:
                absent = [f for f in weights.TFILL_FILES if not (folder / f).is_file()]
                raise MissingWeightsError(f"{where(folder)} lacks {', '.join(absent)}: {exc}") from None
            raise
        names = GENERATOR_NETS + (DISCRIMINATOR_NETS if discriminators else ())
        for name in names:
            if not (folder / NET_FILES[name]).is_file():
                raise MissingWeightsError(
                    f"missing {where(folder / NET_FILES[name])} (TFill network {name}, needed for training): "
                    f"download it with the other TFill files from {weights.get(key).url}"
                )
        states = {name: load_state_file(folder / NET_FILES[name]) for name in names}
        if preset is None and not {"ngf", "embed_dim", "n_encoders"} & set(config):
            config = {**infer_options(states["E"], states["T"], folder), **config}
        try:
            model = cls(preset, discriminators=discriminators, init=False, **config)
        except (ValueError, AssertionError, RuntimeError) as exc:
            raise BadWeightsError(
                f"the TFill weights in {where(folder)} ({', '.join(NET_FILES[n] for n in names)}) do not describe a "
                f"model this package can build: {exc}"
            ) from None
        for name in names:
            net = getattr(model, f"net_{name}")
            check_state_dict(net, states[name], folder / NET_FILES[name], name)
            net.load_state_dict(states[name], strict=True)
        model.eval()
        if device is not None:
            model = model.to(device)
        return model.use_channels_last() if channels_last else model

    def save(self, checkpoint_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Write ``latest_net_<name>.pth`` (plain CPU state dicts) of every built network atomically; existing
        files raise :class:`OutputExistsError` unless ``overwrite``. Returns the written paths."""
        return [save_network(net, Path(checkpoint_dir) / NET_FILES[name], overwrite=overwrite)
                for name, net in self.networks()]

    def use_channels_last(self, enabled: bool = True) -> TFill:
        """Store weights and run activations channels-last (faster convolutions on most back-ends)."""
        fmt = torch.channels_last if enabled else torch.contiguous_format
        for _, net in self.networks():
            net.to(memory_format=fmt)
        self.channels_last = enabled
        return self

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def coarse_stage(self, img: torch.Tensor, valid: torch.Tensor, *,
                     generator: torch.Generator | None = None) -> ModelOutputs:
        """Coarse stage (differentiable): img (B, 3, H, W) in [-1, 1], valid (B, 1, H, W) 1 = visible; ``generator``:
        G's noise (None: the global RNG). Fills the coarse fields of :class:`ModelOutputs`."""
        s = self.config.fixed_size
        fixed_img = resize_bicubic_ac(valid * img, (s, s)).clamp(-1, 1)
        fixed_mask = (resize_bicubic_ac(valid, (s, s)) > 0.9).to(fixed_img.dtype)
        tokens, token_mask = self.net_E(self._fmt(fixed_img), fixed_mask)
        t_out = self.net_T(tokens, token_mask)
        coarse_raw = self.net_G(t_out, valid, generator=generator)
        up = resize_bicubic_ac(coarse_raw.float(), tuple(img.shape[-2:])).clamp(-1, 1)
        return ModelOutputs(fixed_image=fixed_img, fixed_mask=fixed_mask, tokens=tokens, token_mask=token_mask,
                            transformer_out=t_out, coarse_raw=coarse_raw,
                            coarse_composite=valid * img + (1 - valid) * up)

    def refine_stage(self, coarse_composite: torch.Tensor, img: torch.Tensor, valid: torch.Tensor) -> ModelOutputs:
        """Refine stage in model space (differentiable); H, W multiples of 2**down_layers (16)."""
        refine_raw = self.net_G_Ref(self._fmt(coarse_composite), valid)
        return ModelOutputs(refine_raw=refine_raw, final_composite=valid * img + (1 - valid) * refine_raw)

    def forward(self, img: torch.Tensor, valid: torch.Tensor, *,
                generator: torch.Generator | None = None) -> ModelOutputs:
        """Both stages in model space (see :meth:`coarse_stage`, :meth:`refine_stage`); every field filled."""
        out = self.coarse_stage(img, valid, generator=generator)
        refine = self.refine_stage(out.coarse_composite, img, valid)
        out.refine_raw, out.final_composite = refine.refine_raw, refine.final_composite
        return out

    def _run(self, images: torch.Tensor, hole_masks: torch.Tensor, seed: int | None,
             autocast_dtype: torch.dtype | None) -> _Run:
        img, _, was_3d, img_d, hole_d, has_hole = prepare_batch(images, hole_masks, self.device)
        dev = self.device
        if not bool(has_hole.any()):
            return _Run(img.clone(), was_3d)
        size = model_size(img.shape[-2], img.shape[-1], self.config.fine_size, self.config.multiple)
        idx = has_hole.nonzero().flatten()
        x = resize_photo(img_d[idx], size)
        h = resize_hole(hole_d[idx], size)
        x_pm1, valid = to_model_space(x, h)
        ctx = torch.autocast(dev.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
        with ctx:
            out = self.forward(self._fmt(x_pm1), valid, generator=seeded_generator(dev, seed))
        for f in fields(out):
            setattr(out, f.name, getattr(out, f.name).float())
        generated = resize_photo(from_model_space(out.final_composite).contiguous(), tuple(img.shape[-2:]))
        result = img_d.clone()
        result[idx] = torch.where(hole_d[idx] > 0, generated, img_d[idx])
        return _Run(result.to(img.device), was_3d, bool(has_hole.all()), x, h, out)

    @torch.inference_mode()
    def inpaint(self, images: torch.Tensor, hole_masks: torch.Tensor, *, seed: int | None = None,
                autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
        """Fill the holes of ``images`` (B, 3, H, W) (or (3, H, W)) float in [0, 1]; hole_masks (B, 1, H, W) (or
        (1, H, W)) in {0, 1}, **1 = hole**; any H, W (run at :func:`model_size`, resized back). Returns the same
        shape, float32 in [0, 1], on the input's device, known pixels exactly unchanged; a sample without a hole comes
        back as it is (the networks skip it), an all-hole mask is allowed. ``seed``: reproducible noise (private
        generator); ``autocast_dtype``: e.g. ``torch.bfloat16`` on GPU (the attention-aware layer stays float32).
        Bad input raises first."""
        run = self._run(images, hole_masks, seed, autocast_dtype)
        return run.result[0] if run.was_3d else run.result

    @torch.inference_mode()
    def stages(self, images: torch.Tensor, hole_masks: torch.Tensor, *, seed: int | None = None,
               autocast_dtype: torch.dtype | None = None) -> TFillStages:
        """Like :meth:`inpaint` but returns every intermediate (:class:`TFillStages`); needs a hole in every sample."""
        run = self._run(images, hole_masks, seed, autocast_dtype)
        out = run.outputs
        if out is None or not run.every_sample_has_hole:
            raise BadMaskError("stages() needs a hole in every mask (a mask without hole has no stages to show)")
        return TFillStages(
            image=run.image, hole_mask=run.hole,
            fixed_image=from_model_space(out.fixed_image), fixed_hole=1 - out.fixed_mask,
            tokens=out.tokens, token_mask=out.token_mask, transformer_out=out.transformer_out,
            coarse_raw=from_model_space(out.coarse_raw), coarse_composite=from_model_space(out.coarse_composite),
            refine_raw=from_model_space(out.refine_raw), final=run.result,
        )


def _official_init(net: nn.Module) -> None:
    """Official ``init_weights(kaiming)``: kaiming-normal (fan_in) on every conv/linear weight, zero biases."""
    for module in net.modules():
        name = type(module).__name__
        if ("Conv" in name or "Linear" in name) and getattr(module, "weight", None) is not None:
            nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)


__all__ = [
    "ModelOutputs", "TFill", "TFillStages", "check_inputs", "from_model_space", "model_size", "to_model_space",
]
