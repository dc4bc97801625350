"""What every preprocessing command shares: output-folder rules, checked input, one-line summary.

Rules (the seed's ``preproc.py`` deleted unmatched photos; these commands never do):

* the input is only read; results go to a *new* output folder;
* a non-empty output folder is refused unless ``overwrite`` (then only same-named files are
  replaced, atomically; nothing else there is deleted);
* an output folder inside an input folder (or the reverse) is refused;
* every input file is checked before anything is written; bad files stop the command with
  their names, or with ``skip_bad`` are skipped and counted in the summary.

A command is ``fn(cmd: Command, **options)`` decorated with :func:`writes_output`: it checks its options,
takes the checked pairs from ``cmd``, runs its per-pair function on them and finishes (manifest, summary).
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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
SKIP_HINT = "Pass skip_bad=True (--skip-bad) to process only the good pairs."


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

    def skip(self, problem: Problem) -> None:
        """Count a skipped file under its error kind."""
        self.problems.append(problem)
        self.skipped[problem.kind] += 1

    def __str__(self) -> str:
        n_skip = sum(self.skipped.values())
        why = f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.skipped.items()))})" if n_skip else ""
        notes = "".join(f"; {n}" for n in self.notes)
        lead = self.lead or f"wrote {self.written}"
        return f"{self.command}: {lead} to {where(self.out)}; skipped {n_skip}{why}{notes}"


def check_output(out: str | Path, inputs: Iterable[str | Path], *, overwrite: bool = False) -> Path:
    """Refuse an output folder that is (or is inside, or contains) one of the ``inputs``
    (:func:`triple_dots.files.check_apart`), is a file, or is not empty.

    ``inputs`` are the folders read (dataset root, photo/mask/meta folders). Returns ``out``;
    nothing is created yet.
    """
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


_P = inspect.Parameter
#: The public command's parameters around ``fn``'s own options (see :func:`writes_output`).
_SRC_OUT = [_P(name, _P.POSITIONAL_OR_KEYWORD, annotation="str | Path") for name in ("src", "out")]
_COMMON = [_P(name, _P.KEYWORD_ONLY, default=default, annotation=kind)
           for name, default, kind in (("overwrite", False, "bool"), ("skip_bad", False, "bool"),
                                       ("workers", 1, "int | None"), ("progress", True, "bool"))]  # fmt: skip


def writes_output(fn: Callable[..., R]) -> Callable[..., R]:
    """Make the public command ``name(src, out, *, **options, overwrite=False, skip_bad=False, workers=1,
    progress=True)`` of ``fn(cmd: Command, **options)``, ``name`` being ``fn``'s.

    Before anything is created it refuses an ``out`` that is, is inside, or contains ``src`` (or the
    ``masks`` / ``meta`` / ``move_unmatched`` folders of ``pair``), then holds the output folder's lock
    (see :func:`triple_dots.files.output_lock`) for the whole command, so two commands writing one
    folder cannot both pass the "output must be empty" check, and calls ``fn`` with the :class:`Command`.
    ``overwrite`` allows a non-empty ``out`` (same-named files are replaced), ``skip_bad`` skips bad
    files instead of stopping, ``workers`` processes (None: all cores, at most 8), ``progress`` bars.
    """

    @functools.wraps(fn)
    def wrapper(src: str | Path, out: str | Path, *, overwrite: bool = False, skip_bad: bool = False,
                workers: int | None = 1, progress: bool = True, **options: Any) -> R:  # fmt: skip
        check_apart(out, [src, options.get("masks"), options.get("meta"), options.get("move_unmatched")])
        with output_lock(out, command=f"preprocess {fn.__name__}"):
            return fn(Command(fn.__name__, src, Path(out), overwrite, skip_bad, workers, progress), **options)

    own = list(inspect.signature(fn).parameters.values())[1:]
    wrapper.__signature__ = inspect.signature(fn).replace(parameters=[*_SRC_OUT, *own, *_COMMON])  # type: ignore
    return wrapper


def input_folders(src: str | Path, pairs: Sequence[Pair]) -> set[Path]:
    """The input root plus every folder holding one of the pairs' files."""
    folders = {Path(src) if Path(src).is_dir() else Path(src).parent}
    for p in pairs:
        folders.update(f.parent for f in (p.image, p.mask, p.meta) if f is not None)
    return folders


@dataclass(frozen=True)
class OutPaths:
    """Where a pair goes in an output dataset."""

    image: Path
    mask: Path | None
    meta: Path | None


def out_paths(out: Path, pair: Pair, *, image_suffix: str | None = None) -> OutPaths:
    """OUT/images/NAME.ext, OUT/masks/NAME.png, OUT/meta/NAME.json for ``pair``."""
    suffix = image_suffix or pair.image.suffix
    check_name(pair.name)
    return OutPaths(
        out / IMAGES_DIR / f"{pair.name}{suffix}",
        out / MASKS_DIR / f"{pair.name}.png" if pair.mask is not None else None,
        out / META_DIR / f"{pair.name}.json" if pair.meta is not None else None,
    )


def copy_pair(pair: Pair, paths: OutPaths, *, overwrite: bool = False) -> None:
    """Copy a pair unchanged: photo and meta byte for byte; a PNG mask byte for byte, any other
    mask file (e.g. JPEG) re-written as a lossless single-channel PNG."""
    from triple_dots.images import read_mask, write_mask

    copy_file(pair.image, paths.image, overwrite=overwrite)
    if pair.mask is not None and paths.mask is not None:
        if pair.mask.suffix.lower() == ".png":
            copy_file(pair.mask, paths.mask, overwrite=overwrite)
        else:
            write_mask(paths.mask, read_mask(pair.mask), overwrite=overwrite)
    if pair.meta is not None and paths.meta is not None:
        copy_file(pair.meta, paths.meta, overwrite=overwrite)


@dataclass(frozen=True)
class PairTask:
    """One checked pair for a per-pair function (see :meth:`Command.run`) writing into ``out``."""

    pair: Pair
    facts: PairFacts
    out: Path
    overwrite: bool


def copy_task(t: PairTask) -> dict[str, str]:
    """Copy ``t.pair`` into ``t.out`` (see :func:`copy_pair`); returns its manifest row."""
    paths = out_paths(t.out, t.pair)
    copy_pair(t.pair, paths, overwrite=t.overwrite)
    return output_row(t.pair, paths, t.facts, t.out)


def output_row(pair: Pair, paths: OutPaths, facts: PairFacts, out: Path) -> dict[str, str]:
    """Manifest row of a written pair; ``source`` keeps the original photo's path from the first command."""
    fields = dict(pair.fields)
    if not fields.get("source"):
        fields["source"] = pair.image.resolve().as_posix()
    written = Pair(pair.name, paths.image, paths.mask, paths.meta, fields)
    return manifest_row(written, facts, out)


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


def _guarded(job: tuple[Any, Any]) -> Any:
    fn, task = job
    try:
        return fn(task)
    except DiskFullError:
        raise  # not a bad file: stop at once, even with skip_bad
    except TripleDotsError as exc:
        pair = getattr(task, "pair", None)
        return Problem(pair.image if pair is not None else Path("?"), exc)


@dataclass
class Command:
    """One run of a preprocessing command from ``src`` into the new folder ``out`` with the options
    every command takes; :attr:`summary` collects what it did. The steps, in order:
    :meth:`checked_pairs` (or :meth:`check`), :meth:`run` per pair, :meth:`finish`."""

    name: str
    src: str | Path
    out: Path
    overwrite: bool = False
    skip_bad: bool = False
    workers: int | None = 1
    progress: bool = True

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.summary = Summary(self.name, self.out)

    def check(self, pairs: Sequence[Pair], problems: Sequence[Problem] = ()) -> list[tuple[Pair, PairFacts]]:
        """Check ``pairs`` (see :func:`triple_dots.dataset_folder.check_pair`): bad files, and the ``problems``
        found before, raise :class:`BadDatasetError` naming each, or with ``skip_bad`` are counted in the
        summary and left out. Returns (pair, facts) of the good pairs."""
        facts, bad = validate_pairs(pairs, workers=self.workers, progress=self.progress)
        problems = [*problems, *bad]
        if problems and not self.skip_bad:
            raise BadDatasetError(problems, self.src, hint=SKIP_HINT)
        for p in problems:
            self.summary.skip(p)
        return [(p, f) for p, f in zip(pairs, facts, strict=True) if f is not None]

    def checked_pairs(self, *, require_masks: bool | None = None) -> list[tuple[Pair, PairFacts]]:
        """Refuse a bad output folder (:func:`check_output`), then load and check the input's pairs before
        any work (see :func:`triple_dots.dataset_folder.check_dataset` and :meth:`check`), then refuse an
        output folder that is or holds one of the folders of those pairs."""
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
        """Run ``fn(PairTask, **options) -> manifest row`` over ``pairs`` (``fn`` at module level and picklable
        options, see :func:`triple_dots.parallel.map_files`); failures become skipped problems, or one
        :class:`BadDatasetError` at the end."""
        tasks = [PairTask(p, f, self.out, self.overwrite) for p, f in pairs]
        job = functools.partial(fn, **options) if options else fn
        results = map_files(_guarded, [(job, t) for t in tasks], workers=self.workers, desc=desc or self.name,
                            progress=self.progress, unit="pair")  # fmt: skip
        problems = [r for r in results if isinstance(r, Problem)]
        if problems and not self.skip_bad:
            raise BadDatasetError(problems, self.out, before_work=False)
        for p in problems:
            self.summary.skip(p)
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
