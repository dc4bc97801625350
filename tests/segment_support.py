"""Shared, once-per-process objects for the segment tests: a random vit_b SAM file and one cached embedding.

A vit_b embedding takes ~25 s on two CPU cores, so every segment test uses the same photo
(grace_hopper) through :func:`segmenter`, whose embedding is computed once and also written to
:func:`cache_dir` so other processes (the browser test's kernel, the CLI) reuse it from disk.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

PHOTO = "grace_hopper"


@functools.lru_cache(maxsize=None)
def workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="td_segment_"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


@functools.lru_cache(maxsize=None)
def sam_checkpoint() -> Path:
    """A random-initialised SAM vit_b state dict saved to a file (the stand-in for sam_vit_b_01ec64.pth)."""
    from triple_dots.segment import save_random_sam

    return save_random_sam(workdir() / "sam_vit_b_random.pth", "vit_b", seed=0)


def cache_dir() -> Path:
    return workdir() / "embeddings"


@functools.lru_cache(maxsize=None)
def sam():
    from triple_dots.segment import load_sam

    return load_sam(checkpoint=sam_checkpoint())


@functools.lru_cache(maxsize=None)
def photo_path() -> Path:
    from triple_dots.samples import sample_path

    return sample_path(PHOTO)


@functools.lru_cache(maxsize=None)
def photo():
    from triple_dots.images import read_image

    return read_image(photo_path())


class EncoderCounter:
    """Counts forward calls of SAM's image encoder (a forward hook)."""

    def __init__(self, module) -> None:
        self.calls = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, *_args) -> None:
        self.calls += 1


@functools.lru_cache(maxsize=None)
def encoder_counter() -> EncoderCounter:
    return EncoderCounter(sam().image_encoder)


@functools.lru_cache(maxsize=None)
def segmenter():
    """A ClickSegmenter with the photo's embedding computed (once per process) and saved to cache_dir()."""
    from triple_dots.segment import ClickSegmenter

    encoder_counter()
    seg = ClickSegmenter(sam(), margin=6, cache_dir=cache_dir())
    seg.set_image(photo())
    return seg
