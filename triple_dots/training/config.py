"""The one object that describes a training run: :class:`TrainConfig` (written to ``RUN/config.json``).

Defaults are the official TFill recipe unless the help says otherwise. ``iterations`` counts
**optimiser steps per stage**; the official code counts images (images = iterations x batch_size x
world_size; ``log.jsonl`` has both).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triple_dots.devices import DEVICE_NAME
from triple_dots.errors import BadInputError

STAGES = ("coarse", "refine", "both")
MODES = ("scratch", "pretrained", "personalise")
LR_SCHEDULES = ("constant", "linear")


def opt(default: Any, help: str, group: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None) -> Any:
    """A :class:`TrainConfig` field with its ``triple-dots train`` help; ``flag`` overrides ``--field-name``."""
    return field(default=default, metadata={"help": help, "group": group, "flag": flag, "choices": choices})


#: Mode-dependent defaults of the options left None: (personalise, other modes); None = stays None.
_MODE_DEFAULTS: dict[str, tuple[Any, Any]] = {
    "lr_g": (2e-5, 1e-4), "lr_d": (8e-5, 4e-4), "val_every": (50, 500), "ckpt_every": (50, 1000),
    "early_stopping_patience": (5, None),
}

#: Architecture options: taken from the checkpoint on resume, never silently changed.
ARCHITECTURE_KEYS = ("ngf", "ndf", "embed_dim", "n_encoders", "fixed_size", "fine_size")


def architecture_options(config: dict[str, Any]) -> dict[str, Any]:
    """The TFill options of a config (:class:`TrainConfig` fields or JSON): ``ARCHITECTURE_KEYS`` + ``extra``."""
    return {k: config[k] for k in ARCHITECTURE_KEYS if k in config} | dict(config.get("extra") or {})


@dataclass
class TrainConfig:
    """How to train TFill. Fields left ``None`` are filled by :meth:`resolved` from the mode.

    Masks on disk: 255 = hole; the TFill wrapper converts to its [-1, 1] / 1 = visible model space.
    """

    data: str = opt("", "dataset folder (ROOT/images + ROOT/masks) or its manifest.csv", "I/O")
    out: str = opt("", "run folder: config.json, log.jsonl, checkpoints/, best.json", "I/O")
    val_data: str | None = opt(
        None, "separate held-out folder; default: the data's \"val\" split or a held-out fraction", "I/O")
    val_fraction: float = opt(0.1, "share of the data held out when it has no \"val\" split and no val_data", "I/O")
    val_max_images: int = opt(64, "validation looks at most at this many held-out images (deterministic subset)", "I/O")

    stage: str = opt(
        "both", "coarse | refine | both (coarse then refine, as in the official README)", "what to train",
        choices=STAGES)
    mode: str = opt("scratch", "scratch | pretrained | personalise", "what to train", choices=MODES)
    weights: str | None = opt(
        None, "folder with latest_net_*.pth, or a registry key such as \"tfill-ffhq\"", "what to train")

    iterations: int = opt(
        10_000, "optimiser steps per stage (images = iterations x batch_size x world_size)", "schedule")
    refine_iterations: int | None = opt(
        None, "steps of the refine stage when stage=\"both\" (default: iterations)", "schedule")
    batch_size: int = opt(4, "images per step per process (official: 24 over 3 GPUs = 8 per GPU)", "schedule")
    lr_g: float | None = opt(None, "generator(s) Adam LR; official 1e-4 (personalise: 2e-5)", "schedule", flag="--lr")
    lr_d: float | None = opt(None, "discriminator Adam LR; official 4e-4 (personalise: 8e-5)", "schedule")
    beta1: float = opt(0.5, "Adam beta1 (official betas (0.5, 0.9) for all four optimisers)", "schedule")
    beta2: float = opt(0.9, "Adam beta2 (official 0.9)", "schedule")
    lr_schedule: str = opt(
        "constant", "constant (official) | linear (to 0 over the last lr_decay_fraction of the stage)", "schedule",
        choices=LR_SCHEDULES)
    lr_decay_fraction: float = opt(0.5, "share of a stage over which the linear schedule decays to 0", "schedule")

    lambda_rec: float = opt(10.0, "L1 reconstruction", "losses")
    hole_weight: float = opt(3.0, "the hole term counts 3x the visible term (official; kept)", "losses")
    lambda_lp: float = opt(10.0, "LPIPS-VGG perceptual", "losses")
    lambda_g: float = opt(1.0, "non-saturating adversarial (generator side)", "losses")
    vgg_weights: str | None = opt(
        None, "torchvision vgg16-397923af.pth; default: the weights registry (\"vgg16\")", "losses")

    flip: bool = opt(True, "random horizontal flip of image and mask together (official)", "data")
    synthetic_masks: bool = opt(False, "draw fresh synthetic face masks on the fly instead of the mask files", "data")
    num_workers: int = opt(0, "DataLoader workers per process", "data", flag="--workers")

    log_every: int = opt(10, "write a log.jsonl line every N steps (the first and last step always)", "bookkeeping")
    val_every: int | None = opt(None, "validate every N steps (default 500; personalise 50); 0 = never", "bookkeeping")
    ckpt_every: int | None = opt(None, "checkpoint every N steps (default 1000; personalise 50)", "bookkeeping")
    keep_last: int = opt(3, "checkpoints kept besides the best one", "bookkeeping")
    best_metric: str = opt("val_loss", "held-out metric that picks best.json (lower is better)", "bookkeeping")
    early_stopping_patience: int | None = opt(
        None, "validations without improvement before a stage stops (personalise: 5)", "bookkeeping", flag="--patience")
    early_stopping_min_delta: float = opt(0.0, "a smaller improvement of the best metric does not count", "bookkeeping")
    seed: int = opt(
        0, "seed of the weights, data order and noise (exact resume restores every generator)", "bookkeeping")
    resume: bool = opt(False, "continue from the newest complete checkpoint in out/checkpoints", "bookkeeping")
    stop_after: int | None = opt(
        None, "checkpoint and exit after this global iteration (time-limited jobs; then --resume)", "bookkeeping")
    tensorboard: bool = opt(
        False, "also write TensorBoard scalars to RUN/tensorboard (needs the tensorboard package)", "bookkeeping")
    progress: bool = opt(True, "tqdm progress bar on the main process", "bookkeeping")

    device: str = opt("auto", "auto | cpu | cuda | cuda:N (under torchrun: cuda:LOCAL_RANK)", "system")
    amp: bool = opt(True, "bf16 autocast on CUDA (ignored on CPU)", "system")
    cpu_amp: bool = opt(False, "bf16 autocast on CPU too: fast with AMX / AVX512-BF16, slow without (opt-in)", "system")
    keep_cpu_memory: bool = opt(True, "on CPU, glibc keeps freed memory for reuse (triple_dots.cpu_memory)", "system")
    tf32: bool = opt(True, "TF32 matmuls / convolutions on CUDA", "system")
    compile: bool = opt(False, "torch.compile the networks (opt-in)", "system")

    ngf: int = opt(32, "generator base width (released models: 32)", "model")
    ndf: int = opt(32, "discriminator base width (released: 32)", "model")
    embed_dim: int = opt(512, "transformer token width (released: 512; a multiple of 8 heads)", "model")
    n_encoders: int = opt(12, "transformer encoder layers (released: 12)", "model")
    fixed_size: int = opt(256, "coarse (transformer) stage and netD resolution", "model")
    fine_size: int = opt(512, "training crop, refine stage and netD_Ref resolution", "model")

    extra: dict[str, Any] = field(default_factory=dict)  # further TFillConfig options passed through

    def resolved(self) -> TrainConfig:
        """A copy with mode-dependent defaults filled in and every value checked (:meth:`validate`)."""
        c = dataclasses.replace(self, extra=dict(self.extra))
        personal = c.mode == "personalise"
        for name, (personal_value, value) in _MODE_DEFAULTS.items():
            if getattr(c, name) is None and (personal or value is not None):
                setattr(c, name, personal_value if personal else value)
        if c.refine_iterations is None:
            c.refine_iterations = c.iterations
        c.validate()
        return c

    def validate(self) -> None:
        """Raise :class:`BadInputError` for the first invalid option."""
        for name, allowed in (("stage", STAGES), ("mode", MODES)):
            if getattr(self, name) not in allowed:
                raise BadInputError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not self.data:
            raise BadInputError("no training data given (--data DIR)")
        if not self.out:
            raise BadInputError("no run folder given (--out RUN_DIR)")
        if self.mode in ("pretrained", "personalise") and not self.weights:
            raise BadInputError(f"mode {self.mode!r} needs --weights (a TFill checkpoint folder or registry key)")
        if self.mode == "scratch" and self.stage == "refine" and not self.weights:
            raise BadInputError(
                "stage 'refine' trains G_Ref on top of frozen coarse networks: pass --weights with a coarse "
                "checkpoint (e.g. RUN/checkpoints/iter_...) or use --stage both"
            )
        for name in ("iterations", "batch_size", "log_every", "keep_last"):
            if int(getattr(self, name)) < 1:
                raise BadInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name, lo in (("refine_iterations", 1), ("val_every", 0), ("ckpt_every", 0)):
            v = getattr(self, name)
            if v is not None and v < lo:
                raise BadInputError(f"{name} must be >= {lo}, got {v}")
        for name in ("lr_g", "lr_d"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise BadInputError(f"{name} must be > 0, got {v}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise BadInputError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise BadInputError(f"lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}")
        for name in ("fixed_size", "fine_size"):
            v = getattr(self, name)
            if v < 32 or v % 16:
                raise BadInputError(f"{name} must be a multiple of 16 and >= 32, got {v}")
        if not (isinstance(self.seed, int) and 0 <= self.seed <= 2**32 - 1):
            raise BadInputError(f"seed (--seed) must be a whole number in 0..{2**32 - 1}, got {self.seed!r}")
        if int(self.num_workers) < 0:
            raise BadInputError(f"num_workers (--workers) must be >= 0, got {self.num_workers}")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise BadInputError(f"{f.name} must be a finite number, got {v}")
        for name, (lo, hi) in {"ngf": (1, 512), "ndf": (1, 512), "embed_dim": (8, 4096), "n_encoders": (1, 64),
                               "fixed_size": (32, 8192), "fine_size": (32, 8192)}.items():  # fmt: skip
            v = getattr(self, name)
            if not lo <= int(v) <= hi:
                raise BadInputError(f"{name} must be in {lo}..{hi}, got {v}")
        if self.embed_dim % 8:
            raise BadInputError(f"embed_dim must be a multiple of the 8 attention heads, got {self.embed_dim}")
        if not DEVICE_NAME.match(str(self.device).strip().lower()):
            raise BadInputError(f"device (--device) must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.fixed_size > self.fine_size:
            raise BadInputError(f"fixed_size ({self.fixed_size}) must not exceed fine_size ({self.fine_size})")

    def stage_plan(self) -> list[tuple[str, int]]:
        """The stages this run trains, in order, with their step counts: e.g. [("coarse", N), ("refine", M)]."""
        if self.stage == "both":
            return [("coarse", self.iterations), ("refine", self.refine_iterations or self.iterations)]
        return [(self.stage, self.iterations)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a run's config.json); unknown keys raise :class:`BadInputError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise BadInputError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a ``config.json`` written by a run."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BadInputError(f"'{path}' is not a readable training config: {exc}") from None
        return cls.from_dict(d)
