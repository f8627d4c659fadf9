"""``checkfactor parset``: the progress of a Factor run."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="checkfactor", description="Show the progress of a Factor run.")
    parser.add_argument("parset", help="Factor parset of the run")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"checkfactor {__version__}: progress reporting is not implemented yet ({args.parset})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
