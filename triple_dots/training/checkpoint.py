"""Run-folder checkpoints that survive a crash at any moment (SIGKILL included).

Layout (read by evaluation and by ``TFill.from_official``)::

    RUN/checkpoints/iter_{N:08d}/latest_net_{E,T,G,G_Ref,D,D_Ref}.pth   official file layout
    RUN/checkpoints/iter_{N:08d}/state.pt                              optimisers, RNG, data order, ...
    RUN/best.json   {"iteration": N, "checkpoint": "checkpoints/iter_...", "metric": name, "value": x}

A checkpoint is written file by file (each file atomically, via :func:`triple_dots.files.atomic_write`)
into ``RUN/checkpoints/.tmp-iter_N-<random>/`` and only then renamed to ``iter_N``: a directory
named ``iter_*`` is always complete, and a killed write leaves only a ``.tmp-*`` folder that the
next resume removes. :func:`latest_checkpoint` additionally checks each candidate's files and
falls back to the previous one if a file is unreadable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from triple_dots.files import atomic_write, atomic_write_text

CHECKPOINTS = "checkpoints"
STATE_FILE = "state.pt"
BEST_FILE = "best.json"
_NAME = re.compile(r"^iter_(\d{8,})$")

#: Test hook: ``"ITER:SECONDS"`` makes the write of checkpoint ITER pause for SECONDS after its
#: first file, so a test can SIGKILL the process in the middle of a checkpoint write.
WRITE_DELAY_ENV = "TRIPLE_DOTS_CHECKPOINT_WRITE_DELAY"


def checkpoint_name(iteration: int) -> str:
    """``iter_00001234`` for iteration 1234."""
    return f"iter_{iteration:08d}"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_delay(iteration: int) -> float:
    spec = os.environ.get(WRITE_DELAY_ENV, "")
    if ":" not in spec:
        return 0.0
    it, secs = spec.split(":", 1)
    return float(secs) if it.strip() and int(it) == iteration else 0.0


def save_checkpoint(
    run_dir: str | Path,
    iteration: int,
    networks: Mapping[str, torch.nn.Module],
    state: Mapping[str, Any],
) -> Path:
    """Write ``RUN/checkpoints/iter_N`` atomically and return its path.

    Args:
        run_dir: the run folder.
        iteration: global optimiser step N (names the folder).
        networks: ``{"E": net_E, ...}``; each saved as ``latest_net_<name>.pth`` (a plain
            state_dict without ``module.`` / ``_orig_mod.`` prefixes, the official layout).
        state: everything else needed to resume (saved as ``state.pt``; tensors, numbers,
            strings, lists and dicts only, so it loads with ``weights_only=True``).
    """
    ckpt_root = Path(run_dir) / CHECKPOINTS
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / checkpoint_name(iteration)
    tmp = ckpt_root / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    delay = _write_delay(iteration)
    for i, (name, net) in enumerate(networks.items()):
        with atomic_write(tmp / f"latest_net_{name}.pth") as p:
            torch.save(clean_state_dict(net.state_dict()), p)
        if i == 0 and delay:
            time.sleep(delay)
    with atomic_write(tmp / STATE_FILE) as p:
        torch.save(dict(state), p)
    _fsync_dir(tmp)
    if final.exists():  # re-saving the same step (e.g. after a resume): swap, then drop the old copy
        old = ckpt_root / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(ckpt_root)
    return final


def clean_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) key prefixes; tensors to CPU."""
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix) :]
        k = k.replace("._orig_mod.", ".")
        out[k] = v.detach().to("cpu").clone()
    return out


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoint folders of a run as ``(iteration, path)``, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found)


def load_state(ckpt_dir: str | Path) -> dict[str, Any]:
    """Read ``state.pt`` of a checkpoint folder (``weights_only=True``)."""
    return torch.load(Path(ckpt_dir) / STATE_FILE, map_location="cpu", weights_only=True)


def load_network_state(ckpt_dir: str | Path, name: str) -> dict[str, torch.Tensor]:
    """Read ``latest_net_<name>.pth`` of a checkpoint folder (``weights_only=True``)."""
    return torch.load(Path(ckpt_dir) / f"latest_net_{name}.pth", map_location="cpu", weights_only=True)


def latest_checkpoint(run_dir: str | Path, required: tuple[str, ...] = ()) -> Path | None:
    """The newest checkpoint whose ``state.pt`` loads and whose ``latest_net_<required>.pth`` exist.

    Leftover ``.tmp-*`` / ``.old-*`` folders of killed writes are removed (they belong to the run).
    Returns None when there is no usable checkpoint.
    """
    root = Path(run_dir) / CHECKPOINTS
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and (p.name.startswith(".tmp-iter_") or p.name.startswith(".old-iter_")):
                shutil.rmtree(p, ignore_errors=True)
    for _, path in reversed(list_checkpoints(run_dir)):
        if not all((path / f"latest_net_{n}.pth").is_file() for n in required):
            continue
        try:
            load_state(path)
        except Exception:  # noqa: BLE001 - unreadable: fall back to the previous checkpoint
            continue
        return path
    return None


def prune_checkpoints(run_dir: str | Path, keep_last: int, keep: tuple[int, ...] = ()) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints of the run, never those in ``keep``.

    Returns the removed folders. Only ``iter_*`` folders inside ``RUN/checkpoints`` are touched.
    """
    ckpts = list_checkpoints(run_dir)
    removed = []
    for it, path in ckpts[: max(0, len(ckpts) - keep_last)]:
        if it in keep:
            continue
        shutil.rmtree(path)
        removed.append(path)
    return removed


def write_best(run_dir: str | Path, iteration: int, metric: str, value: float) -> Path:
    """Atomically (over)write ``RUN/best.json`` naming the checkpoint chosen by the held-out metric."""
    rec = {
        "iteration": int(iteration),
        "checkpoint": f"{CHECKPOINTS}/{checkpoint_name(iteration)}",
        "metric": metric,
        "value": float(value),
    }
    return atomic_write_text(Path(run_dir) / BEST_FILE, json.dumps(rec, indent=2) + "\n", overwrite=True)


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """``RUN/best.json`` as a dict, or None when the run has none yet."""
    p = Path(run_dir) / BEST_FILE
    if not p.is_file():
        return None
    return json.loads(p.read_text())
