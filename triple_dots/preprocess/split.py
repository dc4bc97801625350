"""``split``: a deterministic train / validation / test split into the manifest's ``split`` column, optionally
grouped (``group`` column) so that a person's photos never leak from training into testing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from triple_dots.errors import BadInputError, where
from triple_dots.preprocess.folders import Command, Summary, copy_task, output_row, writes_output


def assign_splits(
    names: Sequence[str],
    *,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> dict[str, str]:
    """Map each name to ``"train"``, ``"val"`` or ``"test"``, deterministically (names in any order).

    Groups (one key per name; default: each name alone) are shuffled with ``seed`` and given to test until it
    holds at least ``round(test * N)`` names, then likewise to val; the rest go to train. A group is never
    divided, so test and val can exceed their fractions by up to one group.
    """
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise BadInputError(f"split fractions need 0 <= val, test and val + test < 1; got val={val}, test={test}")
    if len(set(names)) != len(names):
        raise BadInputError("split: names must be unique")
    keys = list(groups) if groups is not None else list(names)
    if len(keys) != len(names):
        raise BadInputError("split: one group per name is needed")
    size = Counter(keys)
    unique = sorted(size)
    order = np.random.default_rng(seed).permutation(len(unique))
    n = len(names)
    targets = [("test", round(test * n)), ("val", round(val * n))]
    group_split: dict[str, str] = {}
    t, taken = 0, 0  # current split in `targets`, names given to it so far
    for idx in order:
        key = unique[idx]
        while t < len(targets) and taken >= targets[t][1]:
            t, taken = t + 1, 0
        group_split[key] = targets[t][0] if t < len(targets) else "train"
        taken += size[key]
    return {name: group_split[key] for name, key in zip(names, keys)}


def group_by_regex(names: Sequence[str], pattern: str) -> list[str]:
    """Group key per name: the regex's first group if it has one, else the whole match."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise BadInputError(f"split: bad group regex {pattern!r}: {exc}") from None
    keys = []
    for name in names:
        m = rx.search(name)
        if m is None:
            raise BadInputError(f"split: group regex {pattern!r} does not match the name {name!r}")
        keys.append(m.group(1) if rx.groups else m.group(0))
    return keys


@writes_output
def split(
    cmd: Command,
    *,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    group_regex: str | None = None,
    group_column: str | None = None,
    manifest_only: bool = False,
) -> Summary:
    """Split the pairs of ``src`` and write the new dataset folder ``out``. Groups come from ``group_regex``
    applied to each name (e.g. ``r"^([a-z]+)_"`` for ``alice_003``) or from the input manifest's column
    ``group_column`` (e.g. ``person``). ``manifest_only`` writes just ``out/manifest.csv`` pointing at the
    input files (no copies)."""
    if group_regex is not None and group_column is not None:
        raise BadInputError("split: give group_regex or group_column, not both")
    assign_splits([], val=val, test=test)  # checks the fractions before any work
    good = cmd.checked_pairs()
    names = [p.name for p, _ in good]
    groups: list[str] | None = None
    if group_regex is not None:
        groups = group_by_regex(names, group_regex)
    elif group_column is not None:
        groups = [p.fields.get(group_column, "") for p, _ in good]
        for (p, _), value in zip(good, groups):
            if not value:
                raise BadInputError(f"split: pair {p.name!r} ({where(p.image)}) has no value in manifest column "
                                    f"{group_column!r}")  # fmt: skip
    assignment = assign_splits(names, val=val, test=test, seed=seed, groups=groups)
    for i, (p, _) in enumerate(good):
        p.fields = {**p.fields, "split": assignment[p.name]}
        if groups is not None:
            p.fields["group"] = groups[i]
    if manifest_only:  # rows point at the input files
        rows = [output_row(p, p, f, cmd.out) for p, f in good]
    else:
        rows = cmd.run(copy_task, good)
    summary = cmd.finish(rows)
    counts = Counter(assignment.values())
    grouped = f" in {len(set(groups))} groups" if groups is not None else ""
    summary.notes.append(", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "val", "test")) + grouped + f" (seed {seed})")
    if manifest_only:
        summary.notes.append("manifest only: paths point at the input files")
    return summary
