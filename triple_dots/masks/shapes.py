"""The mask types: outline parameters, colours and straps of each procedural drawing.

Colours are sRGB hex strings as they look in even, bright light; the renderer darkens them to the face.
"""

from __future__ import annotations

from dataclasses import dataclass

from triple_dots.masks.outline import OutlineSpec

#: Mask types that can be drawn, in a fixed order.
MASK_TYPES: tuple[str, ...] = ("surgical", "n95", "kn95", "cloth", "gas")
#: Extra choices accepted by the CLI and the folder runner.
TYPE_CHOICES: tuple[str, ...] = MASK_TYPES + ("random", "all")


@dataclass(frozen=True)
class MaskStyle:
    """How one mask type looks."""

    outline: OutlineSpec
    palette: tuple[str, ...]  # hex colours; the first is the default, a seed picks among all of them
    strap_color: str | None  # None: same as the mask
    straps: str  # "ear" (loops to the ears), "head" (two straps round the head) or "none"
    strap_width: float  # in jaw widths


STYLES: dict[str, MaskStyle] = {
    "surgical": MaskStyle(
        outline=OutlineSpec(peak=0.42, side=0.72, curve=1.6, side_out=0.045, far_out=0.012, chin_drop=0.18),
        palette=("#8ec5e8", "#f2f4f5", "#9fd8c0", "#f1c6d3", "#2b2d31", "#5a8fd0"),
        strap_color="#f4f4f2",
        straps="ear",
        strap_width=0.012,
    ),
    "n95": MaskStyle(
        outline=OutlineSpec(peak=0.30, side=0.66, curve=2.0, side_out=0.06, far_out=0.015, chin_drop=0.28),
        palette=("#f1efe9", "#e9e4d8", "#f6f6f6"),
        strap_color="#3c6fb0",
        straps="head",
        strap_width=0.016,
    ),
    "kn95": MaskStyle(
        outline=OutlineSpec(peak=0.22, side=0.80, curve=1.0, side_out=0.05, far_out=0.012, chin_drop=0.40),
        palette=("#f4f4f1", "#2a2a2c", "#f3d9de", "#d7e3ef"),
        strap_color=None,
        straps="ear",
        strap_width=0.012,
    ),
    "cloth": MaskStyle(
        outline=OutlineSpec(peak=0.36, side=0.74, curve=1.8, side_out=0.05, far_out=0.012, chin_drop=0.25),
        palette=("#30405c", "#6b2d3b", "#3f5e3a", "#1f1f22", "#b58a3c", "#7d7f86"),
        strap_color=None,
        straps="ear",
        strap_width=0.016,
    ),
    "gas": MaskStyle(
        outline=OutlineSpec(peak=0.30, side=0.66, curve=1.8, side_out=0.07, far_out=0.02, chin_drop=0.32),
        palette=("#3a3c3f", "#4a4f3a", "#2c2d2f"),
        strap_color="#1d1d1f",
        straps="head",
        strap_width=0.03,
    ),
}


def parse_hex(color: str) -> tuple[float, float, float]:
    """'#rrggbb' (or 'rrggbb', '#rgb') -> RGB floats in [0, 1]; raises ValueError when malformed."""
    s = color.strip().lstrip("#")
    if len(s) == 3:
        s = "".join(ch * 2 for ch in s)
    if len(s) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in s):
        raise ValueError(f"not a hex colour: {color!r} (expected '#rrggbb')")
    return tuple(int(s[i: i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]

