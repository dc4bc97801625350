"""Read dlib's 68-point shape predictor (~100 MB, about half a second) on a background thread while a command
starts up.

dlib releases the GIL while it parses the file, so the rest of start-up (imports, listing the photos, reading and
preparing the first ones) runs meanwhile. Imports nothing heavy (dlib only on the thread), so that a command can
call :func:`start` before it imports numpy, OpenCV and the mask code.
:func:`triple_dots.masks.landmarks.load_predictor` picks the loaded predictor up (:func:`take`); when the
thread failed (missing or corrupt file) it loads the file itself and reports the problem as usual.
"""

from __future__ import annotations

import threading
from pathlib import Path

_lock = threading.Lock()
_threads: list[threading.Thread] = []
_started: set[str | None] = set()  # the ``path`` arguments of :func:`start` so far
_loaded: dict[str, object] = {}  # resolved path -> predictor, until taken


def _load(path: str | Path | None) -> None:
    try:
        import dlib

        from triple_dots import weights

        key = str(Path(weights.locate("dlib-landmarks68", path)).resolve())
        predictor = dlib.shape_predictor(key)
    except Exception:  # noqa: BLE001 - load_predictor loads it again and reports the problem
        return
    with _lock:
        _loaded.setdefault(key, predictor)


def start(path: str | Path | None = None) -> None:
    """Start loading the predictor at ``path`` (None: the weights registry's file) on a background thread, once
    per process and ``path``."""
    arg = None if path is None else str(path)
    thread = threading.Thread(target=_load, args=(path,), name="dlib-predictor-load")
    with _lock:
        if arg in _started:
            return
        _started.add(arg)
        _threads.append(thread)
    thread.start()


def take(key: str) -> object | None:
    """The predictor loaded from the resolved path ``key`` (waiting for loads under way), or None."""
    with _lock:
        threads, _threads[:] = list(_threads), []
    for thread in threads:
        thread.join()
    with _lock:
        return _loaded.pop(key, None)
