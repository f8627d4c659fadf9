"""How much do the peeled sources' leftovers spoil a calibrator's phases, and would a joint solve
help?  Measured on a kept `bright` benchmark run (its last peel solutions), per calibrator:

    python bench/facet_chain.py --preset bright --seed 3 --keep   # once
    python bench/peel_leftovers.py [--preset bright] [--seed 3]

Data: the noise-only MS plus the calibrator's true sources and the peeled sources, all corrupted
by their true gains; then the calibrator's fast TEC+phase solve (pipeline defaults) against its
true model, with the peeled sources
  (a) removed perfectly (the truth subtracted): the solver floor beside bright sources;
  (b) subtracted with the run's peel models and solutions, as the pipeline does before any
      facet selfcal: their leftovers stay in the calibrator's data;
  (c) left in the data and solved jointly: the peel models corrupted by the run's solutions
      are further DDECal directions (model data columns), so the solve fits the leftovers'
      phase corrections instead of absorbing them.
Phase error rms / median (rad) against the truth (quality.phase_errors).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from factor_cli import calibration as cal
from factor_cli.engines import run_dp3
from factor_cli.facets import separation_deg
from factor_cli.quality import phase_errors
from factor_cli.skymodel import read_skymodel, write_skymodel

from bench_runs import in_place, kept_run, last_subtractions, phase_shifted, true_sky_step  # bench/, the script's own folder

PEEL_RADIUS_DEG = 2.0 / 60.0  # a peeled source's true components (bright: 20" doubles)


def main() -> int:
    args, run, truth = kept_run(__doc__, "peel_leftovers")
    work = run / "work"
    if not truth.get("peeled") or len(truth["bands"]) != 1:
        raise SystemExit("peel_leftovers: needs peeled sources and one band (preset bright)")
    gains = str(run / "truth" / "gains.h5")
    apparent = read_skymodel(run / truth["bands"][0]["apparent_skymodel"])
    last = last_subtractions(work)

    print(f"\n## calibrator phases beside peeled sources: preset {args.preset}, seed {args.seed}\n")
    print("| calibrator | peels removed perfectly | peels subtracted with the run's solutions | joint solve |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="peel-leftovers-") as tmp:
        t = Path(tmp)
        peels = []
        for src in truth["peeled"]:
            name = src["name"]
            true_path, solved_path = t / f"{name}_true.skymodel", t / f"{name}_solved.skymodel"
            write_skymodel(true_path, [c for c in apparent if c.patch == name and
                                       separation_deg((c.ra_deg, c.dec_deg), (src["ra_deg"], src["dec_deg"])) < PEEL_RADIUS_DEG])
            comps = read_skymodel(work / last[name]["new_model"])
            write_skymodel(solved_path, [c for c in comps if c.patch.endswith("_peel")] or comps)
            peels.append((name, str(true_path), str(solved_path), str(work / last[name]["solutions"])))
        for c in truth["calibrators"]:
            d = c["direction"]
            model = t / f"{d}.skymodel"
            write_skymodel(model, [x for x in apparent if x.patch == d])
            base = t / f"{d}.ms"
            shutil.copytree(run / truth["noise_ms"][truth["bands"][0]["ms"]], base)
            steps = {"cal": (str(model), d), **{f"p{i}": (true, name) for i, (name, true, _, _) in enumerate(peels)}}
            in_place(base, {k: true_sky_step(k, m, p, "add", gains) for k, (m, p) in steps.items()})
            cells = []
            for variant in ("perfect", "subtracted", "joint"):
                ms = t / f"{d}_{variant}.ms"
                shutil.copytree(base, ms)
                if variant == "perfect":
                    in_place(ms, {f"p{i}": true_sky_step(f"p{i}", true, name, "subtract", gains)
                                  for i, (name, true, _, _) in enumerate(peels)})
                elif variant == "subtracted":
                    in_place(ms, {f"p{i}": cal.predict_step(f"p{i}", solved, "subtract", h5, name)
                                  for i, (name, _, solved, h5) in enumerate(peels)})
                shifted = phase_shifted(ms, t / f"{d}_{variant}_shifted.ms", c["ra_deg"], c["dec_deg"], str(model))
                columns = ["MODEL_DATA"]
                if variant == "joint":
                    for i, (name, _, solved, h5) in enumerate(peels):
                        columns.append(f"MODEL_PEEL{i}")
                        run_dp3({"msin": shifted, "msout": ".", "msout.datacolumn": columns[-1], "steps": ["pr"],
                                 **cal.predict_step("pr", solved, "replace", h5, name)}, threads=2)
                h5 = str(t / f"{d}_{variant}.h5")
                # The pipeline's fast solve; with the peels as further directions in the joint one.
                cal.solve(shifted, h5, "tecandphase", 1, 1, cal.SolverSettings(), "DATA", threads=2, model_columns=tuple(columns))
                err = phase_errors(h5, gains, d)[..., 1:]
                cells.append(f"{np.sqrt(np.mean(err ** 2)):.3f} / {np.median(np.abs(err)):.3f}")
            print(f"| {d} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
