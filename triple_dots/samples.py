"""The bundled sample photos in ``data_samples/`` (public domain; see ``data_samples/SOURCES.md``)."""

from __future__ import annotations

from pathlib import Path

from triple_dots.errors import BadInputError
from triple_dots.images import list_images

#: Stems of the sample photos, in a fixed order.
SAMPLE_NAMES: tuple[str, ...] = ("grace_hopper", "astronaut", "obama", "obama2", "biden")


def sample_dir() -> Path:
    """The ``data_samples`` folder of this checkout (it is not part of a wheel install)."""
    here = Path(__file__).resolve().parents[1] / "data_samples"
    if not here.is_dir():
        raise BadInputError(
            f"sample photos not found at {here}: they ship with the git checkout, not the wheel; "
            "pass your own photos instead (e.g. --images DIR)"
        )
    return here


def sample_paths() -> list[Path]:
    """Paths of every sample photo, sorted by name."""
    return list_images(sample_dir(), recursive=False)


def sample_path(name: str) -> Path:
    """Path of one sample photo by stem, e.g. ``sample_path("grace_hopper")``."""
    for p in sample_paths():
        if p.stem == name:
            return p
    raise BadInputError(f"no sample photo named {name!r}; available: {', '.join(p.stem for p in sample_paths())}")
