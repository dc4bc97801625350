"""TFill hyper-parameters, named like the official options; the four released models share one architecture."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from triple_dots.errors import BadInputError


@dataclass(frozen=True)
class TFillConfig:
    """Architecture and test-time options of TFill (official option names and defaults).

    ``ngf``/``ndf``: generator / discriminator base widths; ``embed_dim``: transformer width, = ``ngf * 2**n_layers_G``
    (``n_layers_G``: E and G's down-/up-sampling steps); ``kernel_E``/``kernel_G``/``kernel_T``: conv kernels;
    ``down_layers``/``mid_layers``: G_Ref's steps and middle blocks; ``fixed_size``: coarse-stage and D input side,
    ``fine_size``: test-time short side and refine / D_Ref size (pixels); test-time sides are multiples of
    ``2**data_powers``. ``attn_G``/``add_noise`` are needed by every released model; ``n_decoders`` and the
    options after ``add_noise`` accept only the released values.
    """

    ngf: int = 32
    ndf: int = 32
    embed_dim: int = 512
    n_layers_G: int = 4
    num_res_blocks: int = 2
    kernel_E: int = 1
    kernel_G: int = 3
    kernel_T: int = 1
    n_encoders: int = 12
    n_decoders: int = 0
    num_heads: int = 8
    dim_conv: int = 2048
    down_layers: int = 4
    mid_layers: int = 6
    fixed_size: int = 256
    fine_size: int = 512
    data_powers: int = 5
    attn_G: bool = True
    add_noise: bool = True
    attn_E: bool = False
    use_pos_G: bool = False
    attn_D: bool = False
    embed_type: str = "learned"
    norm: str = "pixel"
    activation: str = "leakyrelu"
    img_nc: int = 3

    def __post_init__(self) -> None:
        for name in ("n_decoders", "attn_E", "use_pos_G", "attn_D", "embed_type", "norm", "activation", "img_nc"):
            value, ok = getattr(self, name), getattr(TFillConfig, name)  # only the released default
            if value != ok:
                raise BadInputError(f"TFillConfig.{name}={value!r} is not supported (the released models use {ok!r})")
        for name in ("ngf", "ndf", "embed_dim", "n_layers_G", "num_res_blocks", "n_encoders", "num_heads", "dim_conv"):
            if getattr(self, name) < 1:
                raise BadInputError(f"TFillConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.embed_dim % self.num_heads:
            raise BadInputError(f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads}")
        if self.embed_dim != self.ngf * 2**self.n_layers_G:  # E's last width is what T and G read
            raise BadInputError(
                f"embed_dim={self.embed_dim} must equal ngf x 2**n_layers_G = {self.ngf} x {2**self.n_layers_G} = "
                f"{self.ngf * 2**self.n_layers_G} (released: ngf 32, embed_dim 512; tiny: ngf 4, embed_dim 64)"
            )
        if self.down_layers < 3:
            raise BadInputError("down_layers must be >= 3 (the attention-aware layer sits at 1/8 resolution)")
        if self.fixed_size % (2**self.n_layers_G) or self.fixed_size // (2**self.n_layers_G) > 32:
            raise BadInputError(
                f"fixed_size={self.fixed_size} must be a multiple of {2**self.n_layers_G} giving at most 32x32 tokens"
            )

    @property
    def token_dim(self) -> int:
        """Channels of E's output tokens and the transformer's input and output: ``ngf * 2**n_layers_G``."""
        return self.ngf * 2**self.n_layers_G

    @property
    def multiple(self) -> int:
        """Test-time image sides are rounded to multiples of this (32)."""
        return 2**self.data_powers

    def replace(self, **changes: Any) -> TFillConfig:
        """A copy with some options changed (unknown names raise :class:`BadInputError`)."""
        known = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise BadInputError(f"unknown TFill option(s) {bad}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The released models (README of lyndonzheng/TFill): all use the same architecture.
PRESETS: dict[str, TFillConfig] = {name: TFillConfig() for name in ("celeba", "ffhq", "places2", "imagenet")}
#: Widths of the reference fixture and of fast tests.
TINY = TFillConfig(ngf=4, embed_dim=64, n_encoders=1)


def make_config(preset: str | TFillConfig | None = None, **options: Any) -> TFillConfig:
    """A :class:`TFillConfig` from a preset name (``celeba``/``ffhq``/``places2``/``imagenet``/``tiny``)
    or an existing config, with official-option overrides (``ngf=4, embed_dim=64, ...``)."""
    presets = {**PRESETS, "tiny": TINY}
    if isinstance(preset, TFillConfig) or preset is None:
        base = preset or TFillConfig()
    elif preset in presets:
        base = presets[preset]
    else:
        raise BadInputError(f"unknown TFill preset {preset!r}; choose one of {sorted(PRESETS) + ['tiny']}")
    return base.replace(**options) if options else base
