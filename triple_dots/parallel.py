"""Run one function over many files with a tqdm bar, in-process or on a pool of worker processes.

Image decoding is CPU work: processes use every core where threads would wait on the GIL. Each worker
pins OpenCV and torch to one thread so ``workers`` processes use ``workers`` cores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, suppress
from typing import TypeVar

from tqdm.auto import tqdm

from triple_dots.errors import BadInputError

T = TypeVar("T")
R = TypeVar("R")


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` processes: forked from a clean server, not from a parent whose torch/OpenMP
    thread pools may hold locks (a plain ``fork`` can then hang); the server imports torch once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows, macOS spawn
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["triple_dots.preprocess", "triple_dots.dataset_folder"])
    return ctx


def _single_thread() -> None:
    """Pool initializer: one compute thread per worker process (no oversubscription)."""
    with suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)
    with suppress(ImportError):
        import torch

        torch.set_num_threads(1)


def map_files(
    fn: Callable[[T], R],
    items: Sequence[T] | Iterable[T],
    *,
    workers: int | None = 1,
    desc: str = "",
    progress: bool = True,
    unit: str = "file",
) -> list[R]:
    """``[fn(x) for x in items]`` with a progress bar; exceptions raised by ``fn`` propagate.

    ``workers`` > 1 (``None``: every core, at most 8) runs ``fn`` in that many processes (``fn`` and the
    items must be picklable: a module-level function and plain data).
    """
    items = list(items)
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, 8))
    if workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {workers}")
    with tqdm(total=len(items), desc=desc, unit=unit, disable=not progress, leave=False) as bar, ExitStack() as stack:
        if workers == 1 or len(items) < 2:
            results = map(fn, items)
        else:
            workers = min(workers, len(items))
            chunk = max(1, min(16, len(items) // (workers * 8)))
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_single_thread)
            results = stack.enter_context(pool).map(fn, items, chunksize=chunk)
        out = []
        for result in results:
            out.append(result)
            bar.update(1)
        return out
