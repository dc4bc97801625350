"""MAT (Li et al., CVPR 2022, "Mask-Aware Transformer for Large Hole Image Inpainting") with the project's API.

Public conventions (everywhere outside this package, as for TFill): images (B, 3, H, W) float in [0, 1];
hole masks (B, 1, H, W) in {0, 1} with **1 = hole**. MAT's own conventions (images in [-1, 1], masks
with **1 = known**) are used only inside :meth:`MAT.official_forward` and the networks; :meth:`MAT.inpaint`
converts once, in :func:`to_model_space` / :func:`from_model_space`.

Any photo size (:meth:`MAT.inpaint`): MAT works on R x R squares (R = 512 for the released models).
The photo is padded to a square (reflected borders, centred; replicated where a side is too short to
reflect) and so is its hole mask (a padded pixel is a hole when the pixel it mirrors is); both are
resized to R (bicubic, anti-aliased; the hole mask grows to every model pixel a hole pixel touches),
inpainted, resized back, cropped, and composited:
``out = where(hole, generated, image)``, so every known pixel is returned bit-identical.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from triple_dots import weights
from triple_dots.errors import BadWeightsError, MissingWeightsError, where
from triple_dots.images import resize_hole, resize_photo
from triple_dots.mat.checkpoint import check_state_dict, infer_resolution, infer_widths, load_state_file
from triple_dots.mat.synthesis import Generator
from triple_dots.tfill.model import prepare_batch, seeded_generator

#: registry key used when :meth:`MAT.from_official` gets no path
DEFAULT_WEIGHTS = "mat-celeba-hq-512"


def to_model_space(images: torch.Tensor, hole_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project convention -> MAT's: images [0, 1] -> [-1, 1]; hole mask (1 = hole) -> valid mask (1 = known)."""
    return images * 2 - 1, 1 - hole_masks


def from_model_space(images_pm1: torch.Tensor) -> torch.Tensor:
    """MAT image in [-1, 1] -> [0, 1] (clamped)."""
    return ((images_pm1 + 1) / 2).clamp(0, 1)


def square_padding(height: int, width: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding that centres an H x W image in a max(H, W) square."""
    side = max(height, width)
    dh, dw = side - height, side - width
    return dw // 2, dw - dw // 2, dh // 2, dh - dh // 2


def _pad_square(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    if not any(pad):
        return x
    h, w = x.shape[-2:]
    reflectable = max(pad[0], pad[1]) < w and max(pad[2], pad[3]) < h
    return F.pad(x, pad, mode="reflect" if reflectable else "replicate")


class MAT(Generator):
    """The MAT generator with the official state-dict layout, plus :meth:`inpaint` in project conventions.

    ``MAT(resolution=512)`` builds random weights (N(0, 1) like the official init); use
    :meth:`from_official` for the released checkpoints. ``dim`` (first-stage width, a multiple of 6),
    ``channel_divisor`` (second-stage widths / divisor), ``z_dim`` and ``w_dim`` default to the released
    sizes; smaller ones give tiny models for tests. Resolution: a power of two >= 128. Model-space entry points: ``forward`` (the
    generator, differentiable) and :meth:`official_forward` (equivalence with the official code).
    """

    def __init__(self, resolution: int = 512, *, z_dim: int = 512, w_dim: int = 512, dim: int = 180,
                 channel_divisor: int = 1) -> None:
        super().__init__(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=resolution, img_channels=3, dim=dim,
                         channel_divisor=channel_divisor)
        self.resolution = resolution

    @property
    def device(self) -> torch.device:
        return self.mapping.fc0.weight.device

    # ------------------------------------------------------------------ files
    @classmethod
    def from_official(cls, path: str | Path | None = None, *, resolution: int | None = None,
                      device: str | torch.device | None = None, key: str = DEFAULT_WEIGHTS) -> MAT:
        """Load a MAT generator strictly from an official ``.pkl`` (read safely: nothing in it is executed),
        a ``.pth``/``.pt`` state dict or a ``.safetensors`` file with the official keys.

        ``path`` None: the weights registry entry ``key`` (default ``mat-celeba-hq-512``); a missing file
        raises :class:`MissingWeightsError` saying what to download and where. ``resolution`` None:
        read from the file (as are ``z_dim``/``w_dim``). A file whose keys or shapes do not fit raises
        :class:`BadWeightsError` naming the file and the first bad keys. Returned in ``eval()`` mode.
        """
        if path is None:
            file = weights.locate(key)
        else:
            file = Path(path).expanduser()
            if not file.is_file():
                raise MissingWeightsError(
                    f"{where(file)} does not exist: download a MAT model (see `triple-dots weights`, "
                    f"e.g. '{key}' from {weights.get(key).url}) or pass the right path")
        return cls.from_state_dict(load_state_file(file), resolution=resolution, device=device, path=file)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], *, resolution: int | None = None,
                        device: str | torch.device | None = None, path: str | Path | None = None) -> MAT:
        """Build a MAT that fits ``state`` (official keys) and load it strictly (see :meth:`from_official`).

        Widths are read from the tensors (:func:`~triple_dots.mat.checkpoint.infer_widths`): resolution
        from the encoder block names, ``z_dim``, ``w_dim``, ``dim`` and ``channel_divisor`` from weight
        shapes; ``path`` only names the source in errors.
        """
        res = resolution or infer_resolution(state) or 512
        try:
            with torch.device("meta"):
                try:
                    model = cls(res, **infer_widths(state))
                except ValueError:  # implausible widths: build the released ones, the check names the bad keys
                    model = cls(res)
        except (ValueError, KeyError) as exc:
            raise BadWeightsError(f"{where(path)} does not describe a MAT generator ({exc})") from None
        check_state_dict(model, state, path)
        model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True, assign=True)
        model.eval().requires_grad_(False)
        if device is not None:
            model = model.to(device)
        return model

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the generator as a plain ``.pth`` state dict (official keys; read back by :meth:`from_official`).

        Atomic (a temporary file renamed when complete); an existing file raises unless ``overwrite``.
        """
        from triple_dots.files import atomic_write

        path = Path(path)
        with atomic_write(path, overwrite=overwrite) as tmp:
            torch.save({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, tmp)
        return path

    # ------------------------------------------------------------------ model space
    @torch.inference_mode()
    def official_forward(self, image: torch.Tensor, valid_mask: torch.Tensor, z: torch.Tensor, *,
                         truncation_psi: float = 1.0, noise_mode: str = "const",
                         dropout_maps: tuple[torch.Tensor, torch.Tensor] | None = None,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The official ``G(image, valid_mask, z, None, truncation_psi, noise_mode=..., return_stg1=True)``.

        image (B, 3, R, R) in [-1, 1]; valid_mask (B, 1, R, R) **1 = known**; z (B, z_dim). Returns
        ``(output, stage1)``, each (B, 3, R, R), known pixels taken from ``image``. ``dropout_maps``
        = (first-stage map (B, 256, 180), synthesis map (B, 512, 16, 16)) in {0, 1} replaces the two
        random ``F.dropout`` draws; None draws them like the official code (global RNG, or ``generator``).
        """
        dev = self.device
        maps = None if dropout_maps is None else tuple(m.to(dev) for m in dropout_maps)
        out, stage1 = self(image.to(dev, torch.float32), valid_mask.to(dev, torch.float32), z.to(dev),
                           truncation_psi=truncation_psi, noise_mode=noise_mode, dropout_maps=maps,
                           generator=generator)
        return out.contiguous(), stage1.contiguous()

    # ------------------------------------------------------------------ project space
    @torch.inference_mode()
    def inpaint(self, images: torch.Tensor, hole_masks: torch.Tensor, *, seed: int | None = None,
                truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        """Fill the holes of ``images``; known pixels are returned exactly unchanged.

        images (B, 3, H, W) (or (3, H, W)) float in [0, 1]; hole_masks (B, 1, H, W) (or (1, H, W), (H, W))
        in {0, 1}, **1 = hole**. Any H, W (see the module docs for the pad-to-square / resize strategy).
        Returns the same shape, float32 in [0, 1], on the input's device.

        ``seed`` fixes the latent z and the two dropout maps (a private ``torch.Generator``; the global
        RNG is untouched); without it repeated calls differ inside the holes. ``noise_mode``: "const"
        (the released models' default), "random" or "none". A sample without hole is returned
        unchanged (the network is skipped); an all-hole mask is allowed (the picture is then invented).
        Bad input raises before the network runs (``triple_dots.tfill.check_inputs``:
        :class:`BadInputError`, :class:`BadMaskError`, :class:`SizeMismatchError`).
        """
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        img, _, was_3d, img_d, hole_d, has_hole = prepare_batch(images, hole_masks, self.device)
        dev = self.device
        if not bool(has_hole.any()):
            out = img.clone()
            return out[0] if was_3d else out
        idx = has_hole.nonzero().flatten()
        h, w = img.shape[-2:]
        pad = square_padding(h, w)
        x = resize_photo(_pad_square(img_d[idx], pad), (self.resolution,) * 2)
        holes = resize_hole(_pad_square(hole_d[idx], pad), (self.resolution,) * 2)
        x_pm1, valid = to_model_space(x, holes)
        gen = seeded_generator(dev, seed)
        z = torch.randn(len(idx), self.z_dim, generator=gen, device=dev)
        out, _ = self(x_pm1, valid, z, truncation_psi=truncation_psi, noise_mode=noise_mode, generator=gen)
        side = max(h, w)
        generated = resize_photo(from_model_space(out).contiguous(), (side, side))
        generated = generated[:, :, pad[2]:pad[2] + h, pad[0]:pad[0] + w]
        result = img_d.clone()
        result[idx] = torch.where(hole_d[idx] > 0, generated, img_d[idx])
        result = result.to(img.device)
        return result[0] if was_3d else result


__all__ = ["DEFAULT_WEIGHTS", "MAT", "from_model_space", "square_padding", "to_model_space"]
