"""The benchmarks' run folders: bench/runs/<preset>-<seed>/, one simulation per preset and seed."""

from __future__ import annotations

import argparse
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "runs"


def preset_run(description: str, default_preset: str, default_seed: int) -> tuple[argparse.Namespace, Path]:
    """``--preset`` and ``--seed`` from the command line, and the run folder they name."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=default_preset)
    ap.add_argument("--seed", type=int, default=default_seed)
    args = ap.parse_args()
    return args, RUNS / f"{args.preset}-{args.seed}"
