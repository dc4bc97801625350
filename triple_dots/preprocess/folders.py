"""What every preprocessing command shares: output-folder rules, checked input, one-line summary.

Rules: the input is only read; a non-empty output folder is refused unless ``overwrite`` (then only
same-named files are replaced, atomically; nothing is deleted); an output inside an input (or the reverse)
is refused; every input file is checked before anything is written (bad files stop the command, or are
skipped with ``skip_bad``). A command is ``fn(cmd: Command, **options)`` decorated with :func:`writes_output`.
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from triple_dots.dataset_folder import (
    IMAGES_DIR,
    MANIFEST_NAME,
    MASKS_DIR,
    META_DIR,
    BadDatasetError,
    Pair,
    PairFacts,
    Problem,
    check_name,
    load_pairs,
    manifest_row,
    validate_pairs,
    write_manifest,
)
from triple_dots.errors import BadInputError, DiskFullError, OutputExistsError, TripleDotsError, where
from triple_dots.files import _folder_is_empty, atomic_write_text, check_apart, copy_file, output_lock
from triple_dots.parallel import map_files

R = TypeVar("R")


@dataclass
class Summary:
    """What a command did: pairs written, pairs skipped by reason, and notes; ``str()`` is one line."""

    command: str
    out: Path
    written: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lead: str = ""  # replaces "wrote N" when a command writes reports rather than pairs

    def __str__(self) -> str:
        n_skip = sum(self.skipped.values())
        why = f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.skipped.items()))})" if n_skip else ""
        notes = "".join(f"; {n}" for n in self.notes)
        lead = self.lead or f"wrote {self.written}"
        return f"{self.command}: {lead} to {where(self.out)}; skipped {n_skip}{why}{notes}"


def check_output(out: str | Path, inputs: Iterable[str | Path], *, overwrite: bool = False) -> Path:
    """Refuse an ``out`` that is, is inside or contains one of the ``inputs`` (folders read), is a file,
    or is not empty (unless ``overwrite``). Returns ``out``; nothing is created."""
    out = Path(out)
    check_apart(out, inputs)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {where(out)} exists and is a file, not a folder")
    if out.is_dir() and not _folder_is_empty(out) and not overwrite:
        raise OutputExistsError(
            f"output folder {where(out)} is not empty; choose a new folder or pass overwrite=True / --overwrite "
            "(same-named files are replaced, nothing else is deleted)"
        )
    return out


def writes_output(fn: Callable[..., R]) -> Callable[..., R]:
    """Make the public command ``name(src, out, *, **options, overwrite=False, skip_bad=False, workers=1,
    progress=True)`` of ``fn(cmd: Command, **options)`` (``workers`` None: all cores, at most 8).

    It refuses an ``out`` that is, is inside or contains ``src`` (or ``pair``'s ``masks`` / ``meta`` /
    ``move_unmatched``), then holds the output folder's lock for the whole command, so two commands writing
    one folder cannot both pass the "output must be empty" check.
    """

    @functools.wraps(fn)
    def wrapper(src: str | Path, out: str | Path, *, overwrite: bool = False, skip_bad: bool = False,
                workers: int | None = 1, progress: bool = True, **options: Any) -> R:  # fmt: skip
        check_apart(out, [src, options.get("masks"), options.get("meta"), options.get("move_unmatched")])
        with output_lock(out, command=f"preprocess {fn.__name__}"):
            return fn(Command(fn.__name__, src, Path(out), overwrite, skip_bad, workers, progress), **options)

    own = list(inspect.signature(fn).parameters.values())[1:]
    common = list(inspect.signature(wrapper, follow_wrapped=False).parameters.values())[:-1]  # without **options
    wrapper.__signature__ = inspect.signature(fn).replace(parameters=[*common[:2], *own, *common[2:]])  # type: ignore
    return wrapper


def input_folders(src: str | Path, pairs: Sequence[Pair]) -> set[Path]:
    """The input root plus every folder holding one of the pairs' files."""
    folders = {Path(src) if Path(src).is_dir() else Path(src).parent}
    for p in pairs:
        folders.update(f.parent for f in (p.image, p.mask, p.meta) if f is not None)
    return folders


def out_paths(out: Path, pair: Pair, *, image_suffix: str | None = None) -> Pair:
    """Where ``pair`` goes in ``out``: images/NAME.ext, masks/NAME.png, meta/NAME.json (no fields)."""
    check_name(pair.name)
    return Pair(pair.name, out / IMAGES_DIR / f"{pair.name}{image_suffix or pair.image.suffix}",
                out / MASKS_DIR / f"{pair.name}.png" if pair.mask is not None else None,
                out / META_DIR / f"{pair.name}.json" if pair.meta is not None else None)  # fmt: skip


@dataclass(frozen=True)
class PairTask:
    """One checked pair for a per-pair function (see :meth:`Command.run`) writing into ``out``."""

    pair: Pair
    facts: PairFacts
    out: Path
    overwrite: bool


def copy_task(t: PairTask) -> dict[str, str]:
    """Copy ``t.pair`` into ``t.out`` unchanged (photo, meta and a PNG mask byte for byte; any other mask
    file re-written as single-channel PNG); returns its manifest row."""
    from triple_dots.images import read_mask, write_mask

    pair, paths = t.pair, out_paths(t.out, t.pair)
    copy_file(pair.image, paths.image, overwrite=t.overwrite)
    if pair.mask is not None and paths.mask is not None:
        if pair.mask.suffix.lower() == ".png":
            copy_file(pair.mask, paths.mask, overwrite=t.overwrite)
        else:
            write_mask(paths.mask, read_mask(pair.mask), overwrite=t.overwrite)
    if pair.meta is not None and paths.meta is not None:
        copy_file(pair.meta, paths.meta, overwrite=t.overwrite)
    return output_row(pair, paths, t.facts, t.out)


def output_row(pair: Pair, paths: Pair, facts: PairFacts, out: Path) -> dict[str, str]:
    """Manifest row of ``pair`` written to ``paths``; ``source`` keeps the original photo's path from the first
    command."""
    fields = dict(pair.fields)
    if not fields.get("source"):
        fields["source"] = pair.image.resolve().as_posix()
    return manifest_row(replace(paths, fields=fields), facts, out)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], *, overwrite: bool = False) -> Path:
    """Write ``header`` and ``rows`` as a CSV file atomically (``\\n`` line ends)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return atomic_write_text(path, buf.getvalue(), overwrite=overwrite)


SKIPPED_NAME = "skipped.csv"


def _guarded(job: tuple[Callable[[PairTask], Any], PairTask]) -> Any:
    fn, task = job
    try:
        return fn(task)
    except DiskFullError:
        raise  # not a bad file: stop at once, even with skip_bad
    except TripleDotsError as exc:
        return Problem(task.pair.image, exc)


@dataclass
class Command:
    """One run of a command from ``src`` into the new folder ``out``; :attr:`summary` collects what it did.
    The steps: :meth:`checked_pairs` (or :meth:`check`), :meth:`run` per pair, :meth:`finish`."""

    name: str
    src: str | Path
    out: Path
    overwrite: bool = False
    skip_bad: bool = False
    workers: int | None = 1
    progress: bool = True

    def __post_init__(self) -> None:
        self.summary = Summary(self.name, self.out)

    def _skip(self, problems: list[Problem], where_: str | Path, **error: Any) -> None:
        """Raise :class:`BadDatasetError` for ``problems``, or with ``skip_bad`` count them in the summary."""
        if problems and not self.skip_bad:
            raise BadDatasetError(problems, where_, **error)
        self.summary.problems += problems
        self.summary.skipped.update(p.kind for p in problems)

    def check(self, pairs: Sequence[Pair], problems: Sequence[Problem] = ()) -> list[tuple[Pair, PairFacts]]:
        """Check ``pairs``: bad files, and the ``problems`` found before, raise :class:`BadDatasetError`
        naming each, or with ``skip_bad`` are skipped. Returns (pair, facts) of the good pairs."""
        facts, bad = validate_pairs(pairs, workers=self.workers, progress=self.progress)
        problems = [*problems, *bad]
        self._skip(problems, self.src, hint="Pass skip_bad=True (--skip-bad) to process only the good pairs.")
        return [(p, f) for p, f in zip(pairs, facts, strict=True) if f is not None]

    def checked_pairs(self, *, require_masks: bool | None = None) -> list[tuple[Pair, PairFacts]]:
        """Refuse a bad output folder (:func:`check_output`), load and :meth:`check` the input's pairs, then
        refuse an output folder that is or holds one of the folders of those pairs."""
        check_output(self.out, [self.src], overwrite=self.overwrite)
        problems: list[Problem] = []
        pairs = load_pairs(self.src, require_masks=require_masks, problems_out=problems if self.skip_bad else None)
        good = self.check(pairs, problems)
        if not good:
            raise BadInputError(
                f"no usable pairs left in {where(self.src)} after skipping {len(self.summary.problems)} bad file(s)"
            )
        check_output(self.out, input_folders(self.src, [p for p, _ in good]), overwrite=self.overwrite)
        return good

    def run(self, fn: Callable[..., dict[str, str]], pairs: Sequence[tuple[Pair, PairFacts]], *, desc: str = "",
            **options: Any) -> list[dict[str, str]]:  # fmt: skip
        """Run ``fn(PairTask, **options) -> manifest row`` (module-level ``fn``, picklable options) over ``pairs``;
        failures become skipped problems, or one :class:`BadDatasetError` at the end."""
        tasks = [PairTask(p, f, self.out, self.overwrite) for p, f in pairs]
        job = functools.partial(fn, **options) if options else fn
        results = map_files(_guarded, [(job, t) for t in tasks], workers=self.workers, desc=desc or self.name,
                            progress=self.progress, unit="pair")  # fmt: skip
        problems = [r for r in results if isinstance(r, Problem)]
        self._skip(problems, self.out, before_work=False)
        return [r for r in results if not isinstance(r, Problem)]

    def write_skipped(self) -> Path | None:
        """List the skipped files (``skip_bad``) in ``OUT/skipped.csv``: file, kind, message."""
        if not self.summary.problems:
            return None
        rows = [[p.path.as_posix(), p.kind, str(p)] for p in self.summary.problems]
        path = write_csv(self.out / SKIPPED_NAME, ["file", "kind", "message"], rows, overwrite=self.overwrite)
        if f"listed in {SKIPPED_NAME}" not in self.summary.notes:
            self.summary.notes.append(f"listed in {SKIPPED_NAME}")
        return path

    def finish(self, rows: Sequence[dict[str, str]]) -> Summary:
        """Write ``OUT/manifest.csv`` (rows sorted by name) and ``OUT/skipped.csv`` (if any), count the pairs."""
        write_manifest(self.out / MANIFEST_NAME, sorted(rows, key=lambda r: r["name"]), overwrite=self.overwrite)
        self.write_skipped()
        self.summary.written += len(rows)
        return self.summary
