"""Would one solve of every direction together, after the passes, lower a kept run's residual?

    python bench/facet_chain.py --preset bright --seed 3 --keep   # once
    python bench/joint_solve.py [--preset bright] [--seed 3] [--mode scalarphase] [--solint 2 4]

bench/error_budget.py found that the directions' subtraction errors cancel each other to a large
part: each later solve fits part of what the earlier ones left, and no one direction holds the
excess.  The sequential scheme never fits them together.  Here, on a copy of the run's final
residual: every direction's final model is added back under its final solutions (the data as
the run saw them before any DD subtraction), each direction's model under its final solutions
becomes a model column, and one DDECal solve (``--mode``, per channel, the run's solver
settings) fits a phase correction of every direction at once (``modeldatacolumns``), starting
from zero, i.e. from the run's solutions.  The models are those the run ended with, not
refitted.  Each column is then multiplied by its correction and all are subtracted; the result
is imaged as R_res is.  Besides R_res, the errors' own variance: the image minus the noise
image (the same noise realisation), rms squared over thermal squared; R_res alone also falls
when the corrections fit noise.  The first row (no correction) must give the run's R_res.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from astropy.io import fits
from casacore.tables import table

from factor_cli import calibration as cal
from factor_cli.engines import run_dp3, run_wsclean
from factor_cli.imaging import pixel_rms
from factor_cli.phase_smoothing import smooth_solution_file, smoothing_window

from bench_runs import in_place, kept_run, last_subtractions, residual_image_args  # bench/


def corrupt(ms: str, column: str, h5: str, soltabs: list[str], direction: str) -> None:
    """``column`` of ``ms`` multiplied by the gains of ``direction`` in ``h5`` (not inverted)."""
    run_dp3({"msin": ms, "msin.datacolumn": column, "msout": ".", "msout.datacolumn": column, "steps": ["c"],
             "c.type": "applycal", "c.invert": False, **cal.applycal_settings("c.", h5, soltabs, direction)}, threads=2)


def subtract_columns(ms: str, columns: list[str], out: str) -> None:
    """``out`` (a copy of ``ms``) with DATA := DATA minus the sum of ``columns``."""
    shutil.copytree(ms, out)
    with table(out, readonly=False, ack=False) as t:
        data = t.getcol("DATA")
        for c in columns:
            data -= t.getcol(c)
        t.putcol("DATA", data)


def main() -> int:
    args, run, truth = kept_run(__doc__, "joint_solve", options=[
        (("--mode",), {"default": "scalarphase", "choices": ["scalarphase", "tecandphase"]}),
        (("--solint",), {"type": int, "nargs": "+", "default": [2, 4], "help": "solution intervals (time slots)"})])
    work = run / "work"
    plan = yaml.safe_load((work / "config.yaml").read_text())
    last = last_subtractions(work)
    first = next(iter(plan["steps"]["selfcal"].values()))  # solver and smoothing: the same in every stage
    solver = cal.SolverSettings(**first["solver"])
    products = json.loads((work / "results" / "products.json").read_text())
    if len(products["residual_ms"]) != 1:
        raise SystemExit("joint_solve: one residual MS (one band, one chunk) only, as in preset bright")
    common = residual_image_args(run)
    tabs = ["tec000", "phase000"] if args.mode == "tecandphase" else ["phase000"]

    with tempfile.TemporaryDirectory(prefix="joint-solve-") as tmp:
        t = Path(tmp)
        run_wsclean([*common, "-name", str(t / "noise"), *[str(run / b["noise_ms"]) for b in truth["bands"]]], threads=2)
        noise = fits.getdata(t / "noise-image.fits")
        thermal = pixel_rms(noise)
        data = str(t / "data.ms")
        shutil.copytree(products["residual_ms"][0], data)
        in_place(Path(data), {f"a{i}": cal.predict_step(f"a{i}", str(work / s["new_model"]), "add", str(work / s["solutions"]), d)
                              for i, (d, s) in enumerate(sorted(last.items()))})
        with table(data, ack=False) as ms:
            interval_s = float(ms.getcell("INTERVAL", 0))
        # The run's smoothing span: its largest window of its fast intervals.
        span_s = first["fast_smoothing_window"] * first["solint_fast"] * interval_s
        columns = []
        for d, s in sorted(last.items()):
            columns.append(f"MODEL_{d.upper()}")
            run_dp3({"msin": data, "msout": ".", "msout.datacolumn": columns[-1], "steps": ["p"],
                     **cal.predict_step("p", str(work / s["new_model"]), "replace", str(work / s["solutions"]), d)}, threads=2)

        def residual_of(h5: str | None, name: str) -> tuple[float, float]:
            """(R_res, the errors' variance / thermal^2) of DATA minus the columns, each
            multiplied by its correction in ``h5`` (None: as they are)."""
            corrected = str(t / "corrected.ms")
            shutil.copytree(data, corrected)
            for column in columns if h5 else []:
                corrupt(corrected, column, h5, tabs, column)
            out = str(t / "residual.ms")
            subtract_columns(corrected, columns, out)
            run_wsclean([*common, "-name", str(t / name), out], threads=2)
            image = fits.getdata(t / f"{name}-image.fits")
            shutil.rmtree(corrected)
            shutil.rmtree(out)
            return pixel_rms(image) / thermal, (pixel_rms(image - noise) / thermal) ** 2

        rows = [("none (the run's solutions)", *residual_of(None, "none"))]
        for solint in args.solint:
            h5 = str(t / f"joint_{solint}.h5")
            cal.solve(data, h5, args.mode, solint, 1, solver, "DATA", threads=2, model_columns=tuple(columns))
            rows.append((f"{args.mode} per channel, {solint} time slots", *residual_of(h5, f"joint_{solint}")))
            smoothed = str(t / f"joint_{solint}_smoothed.h5")
            shutil.copyfile(h5, smoothed)
            window = smoothing_window(span_s, solint * interval_s)
            smooth_solution_file(smoothed, window)
            rows.append((f"the same, smoothed (GCV, up to {window} intervals)", *residual_of(smoothed, f"joint_{solint}_s")))
        print(f"\n## joint phase correction of every direction after the passes: preset {args.preset}, seed {args.seed}\n")
        print(f"directions: {', '.join(sorted(last))}\n")
        print("| joint correction | R_res | the errors' variance / thermal^2 |\n|---|---|---|")
        for label, r_res, variance in rows:
            print(f"| {label} | {r_res:.3f} | {variance:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
