"""The training-run folder: the one module that writes and reads it.

    RUN/config.json   the TrainConfig (``ARCHITECTURE_KEYS`` + ``extra`` are the TFill options)
    RUN/log.jsonl     one JSON object per logged step; validation lines add ``"split": "val"``
    RUN/checkpoints/iter_{N:08d}/latest_net_{E,T,G,G_Ref,D,D_Ref}.pth   official file layout
    RUN/checkpoints/iter_{N:08d}/state.pt                              optimisers, RNG, data order, ...
    RUN/best.json     {"iteration": N, "checkpoint": "checkpoints/iter_...", "metric": name, "value": x}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from triple_dots.errors import BadInputError, TripleDotsError, where
from triple_dots.files import atomic_write, atomic_write_text
from triple_dots.state_dicts import load_state_file, save_network
from triple_dots.tfill.checkpoint_files import NET_FILES, has_networks
from triple_dots.training.config import architecture_options

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
CHECKPOINTS = "checkpoints"
STATE_FILE = "state.pt"
BEST_FILE = "best.json"
_NAME = re.compile(r"^iter_(\d{8,})$")

#: Test hook: ``"ITER:SECONDS"`` pauses the write of checkpoint ITER after its first file (to SIGKILL it there).
WRITE_DELAY_ENV = "TRIPLE_DOTS_CHECKPOINT_WRITE_DELAY"


def checkpoint_name(iteration: int) -> str:
    """``iter_00001234`` for iteration 1234."""
    return f"iter_{iteration:08d}"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(
    run_dir: str | Path,
    iteration: int,
    networks: Mapping[str, nn.Module],
    state: Mapping[str, Any],
) -> Path:
    """Write ``RUN/checkpoints/iter_N`` (N = global optimiser step) and return its path.

    Files go to ``.tmp-iter_N-<random>/`` first and are renamed when complete, so ``iter_*`` is always whole.
    ``networks`` (``{"E": net_E, ...}``) go to ``latest_net_<name>.pth``; ``state`` (tensors, numbers,
    strings, lists and dicts, so it loads with ``weights_only=True``) to ``state.pt``.
    """
    ckpt_root = Path(run_dir) / CHECKPOINTS
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / checkpoint_name(iteration)
    tmp = ckpt_root / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    spec = os.environ.get(WRITE_DELAY_ENV, "")
    it, _, secs = spec.partition(":")
    delay = float(secs) if ":" in spec and it.strip() and int(it) == iteration else 0.0
    for i, (name, net) in enumerate(networks.items()):
        save_network(net, tmp / NET_FILES[name])
        if i == 0 and delay:
            time.sleep(delay)
    with atomic_write(tmp / STATE_FILE) as p:
        torch.save(dict(state), p)
    _fsync_dir(tmp)
    old = ckpt_root / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
    if final.exists():  # re-saving the same step (e.g. after a resume): swap, then drop the old copy
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(ckpt_root)
    return final


def list_checkpoints(run_dir: str | Path, required: tuple[str, ...] = ()) -> list[tuple[int, Path]]:
    """Checkpoint folders ``iter_N`` with every ``latest_net_<required>.pth`` as ``(iteration, path)``, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _NAME.match(p.name)
        if m and has_networks(p, required):
            found.append((int(m.group(1)), p))
    return sorted(found)


def load_state(ckpt_dir: str | Path) -> dict[str, Any]:
    """Read ``state.pt`` of a checkpoint folder (``weights_only=True``)."""
    return torch.load(Path(ckpt_dir) / STATE_FILE, map_location="cpu", weights_only=True)


def load_network_state(ckpt_dir: str | Path, name: str) -> dict[str, torch.Tensor]:
    """Read ``latest_net_<name>.pth`` of a checkpoint folder (``weights_only=True``)."""
    return torch.load(Path(ckpt_dir) / NET_FILES[name], map_location="cpu", weights_only=True)


def check_checkpoint(ckpt_dir: str | Path, required: tuple[str, ...] = (), *, need_config: bool = False) -> str | None:
    """Why the checkpoint folder cannot be resumed from, or None when it can.

    Every ``latest_net_<required>.pth`` must load as a state dict of tensors; ``state.pt`` must load with
    ``weights_only=True`` (a hostile pickle is never run) and hold ``iteration`` (and ``config`` with ``need_config``).
    """
    ckpt_dir = Path(ckpt_dir)
    missing = [NET_FILES[n] for n in required if not (ckpt_dir / NET_FILES[n]).is_file()]
    if missing:
        return f"lacks {', '.join(missing)}"
    try:
        state = load_state(ckpt_dir)
    except Exception as exc:  # noqa: BLE001 - truncated zip, hostile pickle, not a torch file ...
        first_line = str(exc).splitlines()[0][:120] if str(exc) else ""
        return f"{STATE_FILE} is unreadable ({type(exc).__name__}: {first_line})"
    if not isinstance(state, dict) or "iteration" not in state:
        return f"{STATE_FILE} is not a training state (no 'iteration')"
    if need_config and not isinstance(state.get("config"), dict):
        return f"{STATE_FILE} is not a training state (no 'config')"
    try:
        int(state["iteration"])
    except (TypeError, ValueError):
        return f"{STATE_FILE} has a bad 'iteration' value"
    for name in required:
        try:
            load_state_file(ckpt_dir / NET_FILES[name])
        except TripleDotsError:
            return f"{NET_FILES[name]} is unreadable"
    return None


def latest_checkpoint(
    run_dir: str | Path, required: tuple[str, ...] = (), *, problems: list[str] | None = None,
    need_config: bool = False,
) -> Path | None:
    """The newest checkpoint that :func:`check_checkpoint` accepts, or None; leftovers of killed writes are removed.

    ``problems`` (if given) collects one line per checkpoint passed over, newest first.
    """
    for p in (Path(run_dir) / CHECKPOINTS).glob(".*-iter_*"):
        if p.is_dir() and p.name.startswith((".tmp-iter_", ".old-iter_")):
            shutil.rmtree(p, ignore_errors=True)
    for path in reversed([p for _, p in list_checkpoints(run_dir) if p.is_dir()]):
        why = check_checkpoint(path, required, need_config=need_config)
        if why is None:
            return path
        if problems is not None:
            problems.append(f"{path.name}: {why}")
    return None


def prune_checkpoints(run_dir: str | Path, keep_last: int, keep: tuple[int, ...] = ()) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints of the run, never those in ``keep``; returns them."""
    ckpts = list_checkpoints(run_dir)
    removed = [path for it, path in ckpts[: max(0, len(ckpts) - keep_last)] if it not in keep]
    for path in removed:
        shutil.rmtree(path)
    return removed


def write_best(run_dir: str | Path, iteration: int, metric: str, value: float, *, overwrite: bool = True) -> Path:
    """Atomically write ``RUN/best.json`` naming the checkpoint chosen by a held-out metric."""
    rec = {"iteration": int(iteration), "checkpoint": f"{CHECKPOINTS}/{checkpoint_name(iteration)}", "metric": metric,
           "value": float(value)}
    return atomic_write_text(Path(run_dir) / BEST_FILE, json.dumps(rec, indent=2) + "\n", overwrite=overwrite)


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """``RUN/best.json`` as a dict, or None when the run has none yet."""
    p = Path(run_dir) / BEST_FILE
    return json.loads(p.read_text()) if p.is_file() else None


def write_config(run_dir: str | Path, config_json: str) -> Path:
    """Atomically (over)write ``RUN/config.json`` (the text of ``TrainConfig.to_json()``)."""
    return atomic_write_text(Path(run_dir) / CONFIG_FILE, config_json, overwrite=True)


def model_options(run_dir: str | Path) -> dict[str, Any]:
    """The TFill generator options in ``RUN/config.json``: ``ARCHITECTURE_KEYS`` + ``extra`` (empty without one)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{where(path)} is not valid JSON: {exc}") from None
    opts = architecture_options(cfg)
    opts.pop("ndf", None)  # discriminators are not loaded for evaluation
    return opts


class RunLog:
    """Appends JSON lines to ``RUN/log.jsonl`` (only constructed on the main process)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOG_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def truncate_after(self, iteration: int) -> None:
        """Drop every line whose ``iteration`` is greater than ``iteration`` (atomic rewrite)."""
        if not self.path.exists():
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln.strip() and _iteration(ln) <= iteration]
        atomic_write_text(self.path, "".join(ln + "\n" for ln in keep), overwrite=True)

    def write(self, record: dict[str, Any]) -> None:
        # JSON has no NaN/inf: they are written as strings ("nan", "inf") and read back as floats
        line = json.dumps({k: str(v) if isinstance(v, float) and not math.isfinite(v) else v
                           for k, v in record.items()})
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _iteration(line: str) -> int:
    try:
        return int(json.loads(line).get("iteration", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return 1 << 62  # a torn last line (killed mid-write) is dropped


def read_log(run_or_file: str | Path) -> list[dict[str, Any]]:
    """Records of ``RUN/log.jsonl`` (or a given .jsonl file), "nan"/"inf" strings as floats; bad lines skipped."""
    p = Path(run_or_file)
    path = p / LOG_FILE if p.is_dir() else p
    if not path.is_file():
        raise BadInputError(f"{where(path)} does not exist: expected a run folder with {LOG_FILE}")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "iteration" in rec:
            out.append({k: (float(v) if v in ("nan", "inf", "-inf") else v) for k, v in rec.items()})
    return out
