"""``runfactor parset``: the whole Factor reduction, driven through Snakemake."""

from __future__ import annotations

import argparse
import sys

from . import __version__

OPERATIONS = ("outlierpeel", "facetpeel", "facetpeelimage", "facetselfcal", "facetsub", "facetimage", "fieldmosaic")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runfactor",
        usage="runfactor parset [options]",
        description="Run the Factor facet-calibration reduction described by a Factor parset. "
        "Re-running with the same parset resumes: completed work is skipped.",
        epilog="To start over completely, delete the 'results' and 'state' folders in the working "
        "directory and run again; everything but the chunking is redone.",
    )
    parser.add_argument("parset", help="Factor parset (INI format)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="show program's version number and exit")
    parser.add_argument("-d", dest="dry_run", action="store_true", help="enable dry-run mode")
    parser.add_argument("-q", dest="quiet", action="store_true", help="enable quiet mode")
    parser.add_argument("-r", "--reset", metavar="RESET", default=None,
                        help='comma-separated list of directions to reset (e.g., "-r facet1,facet3"); '
                        '"field" resets the mosaic')
    parser.add_argument("-o", "--ops", metavar="OPS", default=None,
                        help='comma-separated list of operations to reset for the directions specified with '
                        '"-r" or "--reset" (e.g., "-o facetselfcal,facetsub"). By default, all operations '
                        "are reset. Available operations are: " + ", ".join(OPERATIONS))
    parser.add_argument("-s", "--stop_after", metavar="STOP_AFTER", type=int, default=None,
                        help="Stop after processing so many facetselfcal groups. "
                        "(Please note the difference between directions and groups!)")
    parser.add_argument("-v", dest="verbose", action="store_true", help="enable verbose mode")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"runfactor {__version__}: the reduction pipeline is not implemented yet; "
          f"nothing was done for {args.parset}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
