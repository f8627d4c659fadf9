"""The fast-phase solver's own floor, per simulated direction: the direction's sources alone in
the noise, solved against their true model, so nothing but the noise and the solver limits the
phases.  A pipeline phase error far above this floor is set by the rest of the data (other
sources' residuals, the model); one at the floor, by the solve itself.

    python bench/solver_floor.py [--preset bright] [--seed 3]

Uses the bench's simulation (bench/runs/<preset>-<seed>/, simulated if missing).  Per direction
(calibrators and peeled sources): the noise-only MS plus the direction's true apparent sources
corrupted by its true gains (DP3 h5parmpredict), phase-shifted to the source, MODEL_DATA = the
same sources uncorrupted; DDECal fast solves (solution interval 1, a phase per channel where
the mode has one) with the pipeline's default solver settings; rms and median phase error
against the truth (quality.phase_errors).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from factor_cli import calibration as cal
from factor_cli.quality import phase_errors
from factor_cli.skymodel import read_skymodel, write_skymodel

from bench_runs import in_place, phase_shifted, preset_run, true_sky_step  # bench/, the script's own folder

BIN = Path(sys.executable).parent
# (label, DDECal mode, smoothness constraint in Hz)
MODES = [("tecandphase", "tecandphase", 0.0), ("scalarphase", "scalarphase", 0.0),
         ("scalarphase, smoothness 3 MHz", "scalarphase", 3e6), ("scalarphase, smoothness 6 MHz", "scalarphase", 6e6)]


def main() -> int:
    args, run = preset_run(__doc__, "bright", 3)
    if not (run / "truth" / "truth.json").is_file():
        subprocess.run([str(BIN / "factor-simulate"), str(run), "--preset", args.preset, "--seed", str(args.seed), "--overwrite"], check=True)
    truth = json.loads((run / "truth" / "truth.json").read_text())
    if len(truth["bands"]) != 1:
        raise SystemExit("solver_floor: one band only (tiny, bright)")
    gains = str(run / "truth" / "gains.h5")
    apparent = read_skymodel(run / truth["bands"][0]["apparent_skymodel"])
    positions = {c["direction"]: (c["ra_deg"], c["dec_deg"]) for c in truth["calibrators"]}
    positions.update({p["name"]: (p["ra_deg"], p["dec_deg"]) for p in truth.get("peeled", [])})
    solver = cal.SolverSettings()

    print(f"\n## fast-phase solver floor: preset {args.preset}, seed {args.seed} (the direction alone in the noise)\n")
    print("| direction | " + " | ".join(label for label, *_ in MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    with tempfile.TemporaryDirectory(prefix="solver-floor-") as tmp:
        work = Path(tmp)
        for name, (ra, dec) in positions.items():
            model = work / f"{name}.skymodel"
            write_skymodel(model, [c for c in apparent if c.patch == name])
            ms = work / f"{name}.ms"
            shutil.copytree(run / truth["noise_ms"][truth["bands"][0]["ms"]], ms)
            in_place(ms, {"sky": true_sky_step("sky", str(model), name, "add", gains)})
            shifted = phase_shifted(ms, work / f"{name}_shifted.ms", ra, dec, str(model))
            cells = []
            for label, mode, smoothness in MODES:
                h5 = str(work / f"{name}_{len(cells)}.h5")
                cal.solve(shifted, h5, mode, 1, 1, solver, "DATA", smoothness_hz=smoothness, threads=2)
                err = phase_errors(h5, gains, name)[..., 1:]
                cells.append(f"{np.sqrt(np.mean(err ** 2)):.3f} / {np.median(np.abs(err)):.3f}")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print("\n(rms / median phase error in rad, stations against the first, truth averaged per interval)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
