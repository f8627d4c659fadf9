"""``factor-simulate OUTDIR --preset tiny|small|benchmark [--seed N] [--overwrite]``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .. import __version__
from ..engines import EngineError
from .presets import PRESETS
from .simulate import Progress, simulate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factor-simulate",
        description="Simulate a LOFAR HBA observation as LINC hands it to Factor "
        "(MSs with DATA and SUBTRACTED_DATA_ALL, DI sky models, directions file, parset), "
        "with the truth (sky, DD gains, noise) kept apart in OUTDIR/truth/.",
    )
    parser.add_argument("outdir", help="output folder (created; must be empty unless --overwrite)")
    parser.add_argument("--preset", default="tiny", help="one of: " + ", ".join(PRESETS) + " (default tiny)")
    parser.add_argument("--seed", type=int, default=1, help="random seed; output is deterministic per seed (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty OUTDIR")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def fail(message: str) -> None:
    print(f"factor-simulate: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.preset not in PRESETS:
        fail(f"--preset: unknown preset '{args.preset}' (choose from {', '.join(PRESETS)})")
    if args.seed < 0:
        fail("--seed: must be a non-negative integer")
    outdir = Path(args.outdir).expanduser().resolve()
    if outdir.exists() and not outdir.is_dir():
        fail(f"{outdir}: exists and is not a folder")
    if outdir.is_dir() and any(outdir.iterdir()) and not args.overwrite:
        fail(f"{outdir}: folder is not empty (use --overwrite to replace its contents)")
    parent = outdir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK) or (outdir.is_dir() and not os.access(outdir, os.W_OK)):
        fail(f"{outdir}: not writable")

    # Build in a sibling staging folder and move it into place at the end, so an interrupted
    # or failed simulation never leaves a half-written observation that looks complete.
    try:
        parent.mkdir(parents=True, exist_ok=True)
        outdir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.partial-", dir=outdir.parent))
    except OSError as err:
        fail(f"{outdir}: cannot create ({err.strerror})")
    progress = Progress(not args.quiet)
    try:
        truth = simulate(staging, PRESETS[args.preset], args.seed, progress)
        if outdir.exists():
            shutil.rmtree(outdir)
        staging.rename(outdir)
        umask = os.umask(0)
        os.umask(umask)
        outdir.chmod(0o777 & ~umask)  # mkdtemp made the staging folder private
    except EngineError as err:
        shutil.rmtree(staging, ignore_errors=True)
        print(f"factor-simulate: engine error: {err}", file=sys.stderr)
        return 1
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not args.quiet:
        print(
            f"factor-simulate: wrote preset '{args.preset}' (seed {args.seed}) to {outdir}: "
            f"{len(truth['bands'])} MS, {len(truth['calibrators'])} calibrators, "
            f"thermal image rms {1e3 * truth['thermal_image_rms_jy']['value']:.3f} mJy/beam (natural)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
