"""Writing files safely: every write goes to a temporary file in the destination folder and is
renamed into place, so a crash never leaves a half-written file under the final name, and no
existing file is replaced unless ``overwrite=True``. Used for photos, masks, manifests, reports
and checkpoints."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from triple_dots.errors import OutputExistsError, where


@contextlib.contextmanager
def atomic_write(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it to ``path`` atomically.

    The caller writes the whole file to the yielded path. If the ``with`` body raises, the
    temporary file is removed and nothing appears under ``path``. Without ``overwrite`` an
    existing ``path`` raises :class:`OutputExistsError` (checked before and, race-free with a
    hard link, at the final move).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{where(path)} already exists; pass overwrite=True / --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"atomic_write: nothing was written to the temporary file for {path}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile: never clobbers
            except FileExistsError:
                raise OutputExistsError(
                    f"{where(path)} already exists; pass overwrite=True / --overwrite to replace it"
                ) from None
            except OSError:  # file system without hard links
                if path.exists():
                    raise OutputExistsError(f"{where(path)} already exists") from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`). Returns ``path``."""
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`). Returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def copy_file(src: Path, dst: Path, *, overwrite: bool = False) -> Path:
    """Copy bytes of ``src`` to ``dst`` atomically (refuses an existing ``dst`` unless ``overwrite``)."""
    with atomic_write(dst, overwrite=overwrite) as tmp:
        shutil.copyfile(src, tmp)
    return dst
