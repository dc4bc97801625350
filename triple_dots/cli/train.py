"""``triple-dots train``: train TFill from scratch, from a pretrained checkpoint, or personalise it (examples:
README, section 4)."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from triple_dots.cli import values

HELP = "train TFill (coarse/refine/both; scratch, pretrained or personalise) into a run folder"
DESCRIPTION = (
    "Train TFill with the official recipe. The run folder gets config.json, log.jsonl (losses per step, "
    "held-out metrics), checkpoints/iter_N/ (official latest_net_*.pth files + state.pt) and best.json. "
    "--iterations counts optimiser steps per stage (images = steps x batch size x processes). "
    "Under torchrun every process trains on its shard (--batch-size is per process)."
)


#: fields left out of the command line (set from Python only)
NOT_ON_COMMAND_LINE = ("extra", "progress")
#: The checked argparse type of TrainConfig fields (finite, in range); other ints are >= 1, other floats >= 0.
_VALUE_TYPES = {
    "seed": values.seed, "num_workers": values.loader_workers, "device": values.device,
    "val_every": values.non_negative, "ckpt_every": values.non_negative, "early_stopping_patience": values.non_negative,
    "early_stopping_min_delta": values.non_negative_float, "val_fraction": values.float_in(0, 1, hi_open=True),
    "lr_g": values.positive_float, "lr_d": values.positive_float, "beta1": values.float_in(0, 1, hi_open=True),
    "beta2": values.float_in(0, 1, hi_open=True), "lr_decay_fraction": values.fraction,
    "ngf": values.int_in(1, 512), "ndf": values.int_in(1, 512), "embed_dim": values.int_in(8, 4096),
    "n_encoders": values.int_in(1, 64), "fixed_size": values.int_in(32, 8192), "fine_size": values.int_in(32, 8192),
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`~triple_dots.training.config.TrainConfig` field: name, type, default, help and
    group come from the field (``--field-name`` unless the field names another flag); booleans get
    ``--x/--no-x``. ``--data`` and ``--out`` are required."""
    from triple_dots.training.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name in NOT_ON_COMMAND_LINE:
            continue
        meta = f.metadata
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None))
        shown = "" if f.default in (None, "") else f" (default {f.default})"
        kwargs: dict = {"dest": f.name, "help": (meta["help"] or f.name.replace("_", " ")) + shown}
        if kind is bool:
            kwargs |= {"action": argparse.BooleanOptionalAction, "default": f.default}
        elif f.name in ("data", "out"):
            kwargs |= {"required": True, "metavar": "DIR"}
        else:
            by_kind = {int: values.positive, float: values.non_negative_float}.get(kind, kind)
            kwargs |= {"type": _VALUE_TYPES.get(f.name, by_kind), "default": f.default, "choices": meta["choices"],
                       "metavar": None if meta["choices"] else flag[2:].upper().replace("-", "_")}
        group.add_argument(flag, **kwargs)


def config_from_args(args: argparse.Namespace):
    """The :class:`~triple_dots.training.TrainConfig` of parsed CLI arguments; ``--lr`` alone also sets the
    discriminator's LR to 4x it (the official ratio)."""
    from triple_dots.training.config import TrainConfig

    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    if fields["lr_d"] is None and fields["lr_g"] is not None:
        fields["lr_d"] = 4 * fields["lr_g"]
    return TrainConfig(**fields)


def run(args: argparse.Namespace) -> int:
    from triple_dots.training import train

    result = train(config_from_args(args))
    best = result.best
    msg = f"trained to iteration {result.iteration}; run folder {result.run_dir}"
    if best:
        msg += f"; best checkpoint {best['checkpoint']} ({best['metric']}={best['value']:.4g})"
    if result.stopped_early:
        msg += f"; early stopping in: {', '.join(result.stopped_early)}"
    print(msg)
    return 0
