"""``triple-dots preprocess``: placeholder until its stage lands (owned by that stage's issue)."""

from __future__ import annotations

import argparse

HELP = "(preprocess stage: not built yet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from triple_dots.errors import TripleDotsError

    raise TripleDotsError("the 'preprocess' stage is not built yet")
