"""The benchmarks' run folders: bench/runs/<preset>-<seed>/, one simulation per preset and seed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from factor_cli import calibration as cal
from factor_cli.engines import run_dp3

RUNS = Path(__file__).resolve().parent / "runs"


def preset_run(description: str, default_preset: str, default_seed: int, options: list | None = None
               ) -> tuple[argparse.Namespace, Path]:
    """``--preset`` and ``--seed`` (and the script's own ``options``: (names, keywords) for
    ``add_argument``) from the command line, and the run folder they name."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=default_preset)
    ap.add_argument("--seed", type=int, default=default_seed)
    for names, keywords in options or []:
        ap.add_argument(*names, **keywords)
    args = ap.parse_args()
    return args, RUNS / f"{args.preset}-{args.seed}"


def kept_run(description: str, script: str, default_preset: str = "bright", default_seed: int = 3,
             options: list | None = None) -> tuple[argparse.Namespace, Path, dict]:
    """``preset_run`` for a script that reads a kept run: (arguments, run folder, truth.json);
    exits with what to run first when the run folder holds no finished run."""
    args, run = preset_run(description, default_preset, default_seed, options)
    work = run / "work"
    if not (work / "results" / "products.json").is_file():
        raise SystemExit(f"{script}: no kept run in {work}; run bench/facet_chain.py --preset {args.preset} "
                         f"--seed {args.seed} --keep first")
    return args, run, json.loads((run / "truth" / "truth.json").read_text())


def last_subtractions(work: Path) -> dict[str, dict]:
    """Each direction's last subtraction step of a run (its ``new_model`` and ``solutions``):
    the model and solutions its final residual holds."""
    plan = yaml.safe_load((work / "config.yaml").read_text())
    last = {}
    for per_chunk in plan["steps"]["subtract"].values():
        step = next(iter(per_chunk.values()))
        last[step["direction"]] = step
    return last


def residual_image_args(run: Path) -> list[str]:
    """WSClean settings of the bench's dirty residual and noise images (R_res): the whole
    field (5.2 deg) at the run's selfcal cell, Briggs -0.5, no dirty-image duplicate."""
    parset = (run / "factor.parset").read_text().splitlines()
    cell = float(next(line.split("=")[1] for line in parset if line.startswith("selfcal_cellsize_arcsec")))
    npix = int(5.2 * 3600 / cell)
    npix += npix % 2
    return ["-size", str(npix), str(npix), "-scale", f"{cell}asec", "-weight", "briggs", "-0.5", "-minuv-l", "80", "-no-dirty"]


def true_sky_step(name: str, skymodel: str, patch: str, operation: str, gains: str) -> dict:
    """A DP3 step adding or subtracting ``skymodel`` corrupted by the simulation's true gains
    of ``patch`` (truth/gains.h5, as factor-simulate corrupted the data)."""
    return {f"{name}.type": "h5parmpredict", f"{name}.sourcedb": skymodel, f"{name}.operation": operation,
            f"{name}.directions": [f"[{patch}]"],
            **cal.applycal_settings(f"{name}.applycal.", gains, ["phase000", "amplitude000"])}


def in_place(ms: Path, steps: dict[str, dict]) -> None:
    """DP3 ``steps`` (name -> its keys) on the DATA column of ``ms``, in place."""
    args: dict = {"msin": str(ms), "msin.datacolumn": "DATA", "msout": ".", "msout.datacolumn": "DATA", "steps": list(steps)}
    for keys in steps.values():
        args.update(keys)
    run_dp3(args, threads=2)


def phase_shifted(ms: Path, out: Path, ra_deg: float, dec_deg: float, model: str) -> str:
    """``ms`` phase-shifted to (ra, dec) into ``out``, with ``model`` (uncorrupted) in MODEL_DATA."""
    run_dp3({"msin": str(ms), "msin.datacolumn": "DATA", "msout": str(out), "steps": ["shift"],
             "shift.type": "phaseshift", "shift.phasecenter": [f"{ra_deg}deg", f"{dec_deg}deg"]}, threads=2)
    cal.predict(str(out), model, "MODEL_DATA", threads=2)
    return str(out)
