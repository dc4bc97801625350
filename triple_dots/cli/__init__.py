"""The ``triple-dots`` command line: one sub-command per stage.

Each lives in ``triple_dots/cli/<name>.py`` with ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy libraries (torch, dlib, ...) inside ``run`` so that ``--help``
stays fast. User errors (:class:`~triple_dots.errors.TripleDotsError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from triple_dots import __version__
from triple_dots.errors import TripleDotsError

#: Sub-command name -> module under ``triple_dots.cli``, in the order of the pipeline.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "mask": "mask",
    "preprocess": "preprocess",
    "inpaint": "inpaint",
    "train": "train",
    "evaluate": "evaluate",
    "segment": "segment",
    "weights": "weights_cmd",
}

#: Exit status for a user error (bad input, missing weights, ...).
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="triple-dots",
        description="Face-mask removal with TFill: synthesise masks, preprocess, inpaint, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"triple_dots.cli.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``triple-dots``; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except TripleDotsError as exc:
        print(f"triple-dots {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"triple-dots {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `triple-dots weights | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
