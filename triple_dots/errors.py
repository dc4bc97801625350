"""The exceptions every stage raises for problems a user can fix: each message names the file (or argument)
and the problem in one line, so the CLI prints it without a traceback. Programming errors stay ordinary."""

from __future__ import annotations

from pathlib import Path


class TripleDotsError(Exception):
    """Base class: a problem with the user's input, files or environment."""


class UnreadableImageError(TripleDotsError):
    """A photo or mask file that cannot be decoded (missing, empty, truncated, not an image)."""


class BadMaskError(TripleDotsError):
    """A hole mask that is not binary, has colour, or has an implausible hole."""


class SizeMismatchError(TripleDotsError):
    """Two arrays or files that must have the same size do not."""


class MissingWeightsError(TripleDotsError):
    """A pretrained file is not where the weights registry looks for it."""


class BadWeightsError(TripleDotsError):
    """A weights file exists but is corrupt or does not fit the model (keys, shapes, type)."""


class OutputExistsError(TripleDotsError):
    """Writing would overwrite a user's file and ``overwrite`` was not given."""


class DiskFullError(TripleDotsError):
    """A write failed because the disk (or quota) is full; no partial file is left under the final name."""


class NoFaceError(TripleDotsError):
    """No usable face was found in a photo."""


class BadInputError(TripleDotsError):
    """Any other invalid input: bad argument values, empty folders, output inside input."""


def where(path: str | Path | None) -> str:
    """Format a path for an error message (``'<memory>'`` when there is none)."""
    return f"'{path}'" if path is not None else "<in-memory input>"
