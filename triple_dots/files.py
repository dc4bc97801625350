"""Writing files safely: every write goes to a temporary file in the destination folder and is renamed
into place, so a crash never leaves a half-written file, and no file is replaced unless ``overwrite=True``."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from triple_dots.errors import BadInputError, DiskFullError, OutputExistsError, where

#: Name of the lock file a command holds in its output folder while it writes there.
LOCK_NAME = ".triple-dots.lock"

#: Errors of a failed write that mean "no space left": ENOSPC, EDQUOT and EFBIG (file size limit).
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what it was raised from) is a "disk full" error, including ``torch.save``'s
    ``RuntimeError('... unexpected pos ...')`` and ``'PytorchStreamWriter failed writing file'``."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if isinstance(exc, RuntimeError) and any(
            s in str(exc) for s in ("unexpected pos", "PytorchStreamWriter failed", "No space left")
        ):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def disk_full_error(path: str | Path, exc: BaseException) -> DiskFullError:
    """The clear error for a write to ``path`` that ran out of space."""
    return DiskFullError(
        f"cannot write {where(path)}: the disk is full ({exc}); nothing was left under that name. "
        "Free some space and run the command again"
    )


@contextlib.contextmanager
def atomic_write(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` to write the whole file to; on success move it to ``path``.

    If the ``with`` body raises, nothing appears under ``path``. Without ``overwrite`` an existing ``path``
    raises :class:`OutputExistsError` (checked before and, race-free with a hard link, at the final move).
    """
    path = Path(path)
    exists = OutputExistsError(f"{where(path)} already exists; pass overwrite=True / --overwrite to replace it")
    if path.exists() and not overwrite:
        raise exists
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
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
                    raise exists from None
                except OSError:  # file system without hard links
                    if path.exists():
                        raise exists from None
                    os.replace(tmp, path)
        except (OSError, RuntimeError) as exc:
            if is_disk_full(exc):
                raise disk_full_error(path, exc) from None
            raise
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


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_apart(out: str | Path, inputs: Iterable[str | Path | None], *, what: str = "output folder") -> None:
    """Raise :class:`BadInputError` naming both when ``out`` is, is inside, or contains one of the ``inputs``
    (symbolic links resolved); an input file only counts when it is inside ``out``."""
    out = Path(out)
    out_r = out.resolve()
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        inp_r = inp.resolve()
        folder = inp_r.exists() and not inp_r.is_file()
        if folder and _inside(out_r, inp_r):
            rel = "is" if out_r == inp_r else "is inside"
            raise BadInputError(
                f"{what} {where(out)} {rel} the input folder {where(inp)}: its files would be replaced or read "
                "as inputs next time; choose a folder outside it"
            )
        if _inside(inp_r, out_r):
            kind = "input folder" if folder else "input"
            raise BadInputError(f"{kind} {where(inp)} is inside the {what} {where(out)}; choose another {what}")


def _folder_is_empty(folder: Path) -> bool:
    return not any(p.name != LOCK_NAME for p in folder.iterdir())


@contextlib.contextmanager
def output_lock(out: str | Path, *, command: str = "triple-dots") -> Iterator[Path]:
    """Hold an exclusive lock (``out/.triple-dots.lock``, ``fcntl.flock``; none on Windows) on the output folder
    ``out`` while a command writes there: a second command is refused at once with :class:`OutputExistsError`.

    ``out`` is created if needed, and removed on exit when this call created it and it is still empty.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {where(out)} exists and is a file, not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(out, exc) from None
        raise BadInputError(f"cannot create the output folder {where(out)}: {exc}") from None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    lock = out / LOCK_NAME
    fd = None
    try:
        while fcntl is not None:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                fd = None
                raise OutputExistsError(
                    f"another {command} run is writing to {where(out)} (it holds {where(lock)}); wait for it to "
                    "finish or choose another output folder"
                ) from None
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file between our open and lock: lock the new one
            fd = None
        yield out
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)
            os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                if _folder_is_empty(out):
                    out.rmdir()
