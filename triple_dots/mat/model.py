"""MAT (Li et al., CVPR 2022, "Mask-Aware Transformer for Large Hole Image Inpainting") with the project's API.

:meth:`MAT.inpaint` pads photo and hole mask to a centred square (reflected; replicated where too short),
resizes both to R, inpaints, resizes back, crops and composites ``where(hole, generated, image)``.
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
from triple_dots.state_dicts import save_network
from triple_dots.tfill.model import from_model_space, prepare_batch, seeded_generator, to_model_space

DEFAULT_WEIGHTS = "mat-celeba-hq-512"


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
    """The MAT generator (official state-dict layout, random N(0, 1) weights) plus :meth:`inpaint`; ``dim`` (a
    multiple of 6), ``channel_divisor`` (second-stage widths / divisor), ``z_dim``, ``w_dim``: released by default."""

    def __init__(self, resolution: int = 512, *, z_dim: int = 512, w_dim: int = 512, dim: int = 180,
                 channel_divisor: int = 1) -> None:
        super().__init__(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=resolution, img_channels=3, dim=dim,
                         channel_divisor=channel_divisor)
        self.resolution = resolution

    @property
    def device(self) -> torch.device:
        return self.mapping.fc0.weight.device

    @classmethod
    def from_official(cls, path: str | Path | None = None, *, resolution: int | None = None,
                      device: str | torch.device | None = None, key: str = DEFAULT_WEIGHTS) -> MAT:
        """Load a generator strictly from an official ``.pkl`` (nothing in it is executed), ``.pth``/``.pt``
        or ``.safetensors`` file (``path`` None: the registry entry ``key``), in ``eval()`` mode. Missing file:
        :class:`MissingWeightsError`; keys or shapes that do not fit: :class:`BadWeightsError`."""
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
        """Build a MAT whose widths fit ``state`` (official keys) and load it strictly; ``path``: for errors."""
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
        """Write a plain ``.pth`` state dict (official keys) atomically; an existing file needs ``overwrite``."""
        return save_network(self, path, overwrite=overwrite)

    @torch.inference_mode()
    def official_forward(self, image: torch.Tensor, valid_mask: torch.Tensor, z: torch.Tensor, *,
                         truncation_psi: float = 1.0, noise_mode: str = "const",
                         dropout_maps: tuple[torch.Tensor, torch.Tensor] | None = None,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The official ``G(image, valid_mask, z, None, truncation_psi, noise_mode=..., return_stg1=True)``:
        image (B, 3, R, R) in [-1, 1]; valid_mask (B, 1, R, R) **1 = known**; z (B, z_dim) -> (output, stage1).
        ``dropout_maps`` ((B, 256, 180), (B, 512, 16, 16)) in {0, 1} replace the two ``F.dropout`` draws."""
        dev = self.device
        maps = None if dropout_maps is None else tuple(m.to(dev) for m in dropout_maps)
        out, stage1 = self(image.to(dev, torch.float32), valid_mask.to(dev, torch.float32), z.to(dev),
                           truncation_psi=truncation_psi, noise_mode=noise_mode, dropout_maps=maps,
                           generator=generator)
        return out.contiguous(), stage1.contiguous()

    @torch.inference_mode()
    def inpaint(self, images: torch.Tensor, hole_masks: torch.Tensor, *, seed: int | None = None,
                truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        """Fill the holes of ``images`` (B, 3, H, W) (or (3, H, W)) float in [0, 1]; hole_masks (B, 1, H, W) (or
        (1, H, W), (H, W)) in {0, 1}, **1 = hole**; any H, W. Returns the same shape, float32 in [0, 1], on the
        input's device, known pixels exactly unchanged; a sample without a hole comes back as it is (the networks
        skip it), an all-hole mask is allowed. ``seed`` fixes z and the dropout maps (private generator);
        ``noise_mode``: "const", "random" or "none". Bad input raises first (:func:`triple_dots.tfill.check_inputs`)."""
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
