"""``triple-dots weights``: list every pretrained file, present or missing, and where to get it."""

from __future__ import annotations

import argparse

HELP = "list the pretrained files triple_dots can use, present or missing, and where to get them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify", action="store_true", help="also check sizes / sha256 of present files")
    parser.add_argument("--missing", action="store_true", help="show only missing entries")
    parser.add_argument("--stand-ins", metavar="DIR", help="write random-initialised STAND-IN files at the released "
                        "names/shapes into DIR (use with TRIPLE_DOTS_HOME=DIR; tests and timing only)")
    parser.add_argument("--only", nargs="+", metavar="KEY", help="with --stand-ins: these registry keys only")
    parser.add_argument("--overwrite", action="store_true", help="with --stand-ins: replace existing files")


def run(args: argparse.Namespace) -> int:
    from triple_dots import weights
    from triple_dots.errors import BadInputError
    from triple_dots.stand_ins import is_stand_in, write_stand_ins

    if (args.only or args.overwrite) and not args.stand_ins:
        raise BadInputError("--only and --overwrite go with --stand-ins DIR")
    if args.stand_ins:
        write_stand_ins(args.stand_ins, args.only, overwrite=args.overwrite)
        return 0
    print(f"weights folder: {weights.home()}  (set TRIPLE_DOTS_HOME to change it)")
    for entry, path in weights.status():
        if args.missing and path is not None:
            continue
        state = "present" if path is not None else "MISSING"
        if path is not None and is_stand_in(path):
            state = "present (STAND-IN: random weights)"
        elif path is not None and args.verify:
            try:
                weights.verify(entry.key, path)
                state = "present, verified"
            except weights.BadWeightsError as exc:
                state = f"BAD: {exc}"
        print(f"\n{entry.key:<24} {state}")
        at = path if path is not None else entry.default_path()
        print(f"  {entry.description}")
        print(f"  at:       {at}")
        if entry.is_folder:
            print("  files:    " + ", ".join(f + ("" if (at / f).is_file() else " (missing)") for f in entry.files))
        else:
            print(f"  file:     {entry.default_path().name}")
        if path is None:
            print(f"  download: {entry.url}")
        print(f"  licence:  {entry.licence}")
    return 0
