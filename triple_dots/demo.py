"""The demo pipeline behind ``triple-dots demo``: every stage that exists, on the sample photos."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from triple_dots.images import list_images, read_image
from triple_dots.samples import sample_dir
from triple_dots.viz import image_grid, save_grid


def run_demo(
    *, images: Path | None = None, out: Path = Path("outputs/demo"), weights: Path | None = None, overwrite: bool = False
) -> Path:
    """Run the demo and return the path of the grid PNG it wrote under ``out``."""
    paths = list_images(images or sample_dir())
    photos = [read_image(p) for p in tqdm(paths, desc="reading photos")]
    grid = image_grid([photos], col_labels=[p.stem for p in paths])
    path = save_grid(Path(out) / "grid.png", grid, overwrite=overwrite)
    print(f"wrote {path} ({len(photos)} photos)")
    return path
