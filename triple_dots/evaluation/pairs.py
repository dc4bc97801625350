"""Match generated images, ground truths and hole masks by file stem; every problem is reported together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from triple_dots.dataset_folder import Problem, by_stem
from triple_dots.errors import BadInputError, where
from triple_dots.images import list_images, probe_image

_MAX_LISTED = 20


@dataclass(frozen=True)
class Sample:
    """One test item: its stem and the matching file in each role (e.g. real, mask, ours, base)."""

    name: str
    files: dict[str, Path]

    def __getitem__(self, role: str) -> Path:
        return self.files[role]


@dataclass
class PairingReport:
    """Result of :func:`match_by_stem`: matched samples and every problem found (file, message)."""

    samples: list[Sample]
    problems: list[Problem] = field(default_factory=list)

    def raise_if_problems(self) -> None:
        """Raise one :class:`BadInputError` listing every problem by file name."""
        raise_problems(self.problems, "problem(s) with the evaluation files")


def raise_problems(problems: Sequence[object], what: str) -> None:
    """Raise one :class:`BadInputError` ``"<n> <what>, nothing was computed:"`` listing the first 20 problems."""
    if problems:
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        shown = "\n  ".join(str(p) for p in problems[:_MAX_LISTED])
        raise BadInputError(f"{len(problems)} {what}, nothing was computed:\n  {shown}{more}")


def _problem(path: Path, message: str) -> Problem:
    return Problem(path, BadInputError(message))


def index_folder(folder: str | Path, role: str, problems: list[Problem], *, not_a_folder: str = "") -> dict[str, Path]:
    """The images directly in ``folder`` by stem; duplicates and an empty folder -> ``problems``; no folder raises."""
    if not Path(folder).is_dir():
        raise BadInputError(not_a_folder or f"{role}: {where(folder)} is not a folder")
    index, dup = by_stem(list_images(folder, recursive=False), role)
    problems += dup
    if not index and not dup:
        problems.append(_problem(Path(folder), f"{role}: {where(folder)} contains no images"))
    return index


def match_by_stem(folders: Mapping[str, str | Path]) -> PairingReport:
    """Match the images of several folders (role -> folder) by file stem; stems some role lacks are problems.

    Every matched file is decoded and its size compared with the first role's.
    """
    if not folders:
        raise BadInputError("no folders to match")
    problems: list[Problem] = []
    index = {role: index_folder(folder, role, problems) for role, folder in folders.items()}
    all_stems = sorted(set().union(*[set(v) for v in index.values()]))
    samples: list[Sample] = []
    for stem in all_stems:
        missing = [r for r in index if stem not in index[r]]
        if missing:
            found = [(r, index[r][stem]) for r in index if stem in index[r]]
            have = ", ".join(f"{r}/{f.name}" for r, f in found)
            message = f"unmatched '{stem}': found {have} but nothing in {', '.join(missing)}"
            problems.append(_problem(found[0][1], message))
            continue
        samples.append(Sample(stem, {r: index[r][stem] for r in index}))
    ref = next(iter(folders))
    kept = []
    for s in samples:
        probed = {role: probe_image(path) for role, path in s.files.items()}
        bad = [_problem(s.files[r], f"{r}/{s.files[r].name}: {err}") for r, (_, err) in probed.items() if err]
        if not bad and len({size for size, _ in probed.values()}) > 1:
            desc = ", ".join(f"{r}/{s.files[r].name} {w}x{h}" for r, ((w, h), _) in probed.items())
            bad.append(_problem(s.files[ref], f"size mismatch for '{s.name}' (reference {ref}): {desc}"))
        problems += bad
        if not bad:
            kept.append(s)
    return PairingReport(kept, problems)
