"""Which directions leave the excess noise of a kept run's residual?  Per direction, the error its
subtraction leaves, imaged as R_res is:

    python bench/facet_chain.py --preset bright --seed 3 --keep   # once (or --report on a kept run)
    python bench/error_budget.py [--preset bright] [--seed 3]

Per direction of the run's last subtractions (facets and peeled sources), on copies of the
noise-only MSs with their data replaced: the model the run subtracted for it, corrupted by the
run's solutions, minus the direction's true sources (its patch of the simulated sky, corrupted
by its true gains, as factor-simulate made the data): E_d.  That error alone is imaged with the
bench's dirty-residual settings (``bench_runs.residual_image_args``) and its robust rms divided
by the noise image's: R_d.

The residual is the noise minus the sum of the E_d, and a dirty image is linear in the data
(the copies share their weights and flags), so the errors' images add: the table checks that
the noise image minus their sum gives R_res again, then splits the excess variance R_res^2 - 1
into the errors' own, rms(sum E_d)^2 / thermal^2, and what is left: twice their covariance with
the noise (the solutions and models take up some noise, bench/RESULTS.md, session 20).  The R_d
alone do not add up (a later solve fits part of an earlier direction's leftover, so the errors
partly cancel), hence per direction the leave-one-out number: the errors' variance with that
direction's error removed, i.e. with it subtracted perfectly, against all of them.

Sources outside every patch the run subtracted (true sources below the sky model's cut in no
facet, none in the presets) are not counted; faint sources missing from a facet's model are,
since the truth holds every source of the patch.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from factor_cli import calibration as cal
from factor_cli.engines import run_wsclean
from factor_cli.imaging import image_rms, pixel_rms
from factor_cli.skymodel import read_skymodel, write_skymodel

from bench_runs import in_place, kept_run, last_subtractions, residual_image_args, true_sky_step  # bench/


def main() -> int:
    args, run, truth = kept_run(__doc__, "error_budget")
    work = run / "work"
    gains = str(run / "truth" / "gains.h5")
    common = residual_image_args(run)
    products = json.loads((work / "results" / "products.json").read_text())
    last = last_subtractions(work)

    with tempfile.TemporaryDirectory(prefix="error-budget-") as tmp:
        t = Path(tmp)
        run_wsclean([*common, "-name", str(t / "noise"), *[str(run / b["noise_ms"]) for b in truth["bands"]]], threads=2)
        thermal = image_rms(str(t / "noise-image.fits"))
        run_wsclean([*common, "-name", str(t / "resid"), *products["residual_ms"]], threads=2)
        r_res = image_rms(str(t / "resid-image.fits")) / thermal
        excess = r_res ** 2 - 1.0
        print(f"\n## error budget of the residual: preset {args.preset}, seed {args.seed}\n")
        print(f"R_res {r_res:.3f}: excess variance R_res^2 - 1 = {excess:.3f} (thermal {1e3 * thermal:.3f} mJy/beam)\n")
        print("| direction | true / model components | R_d (its error alone) | errors' variance without it / with all |"
              "\n|---|---|---|---|")
        errors, rows = {}, []
        for direction, step in sorted(last.items()):
            model = str(work / step["new_model"])
            solutions = str(work / step["solutions"])
            n_model = len(read_skymodel(model))
            error_ms = []
            n_true = 0
            for b in truth["bands"]:
                true_model = t / f"{direction}_{Path(b['ms']).stem}.skymodel"
                comps = [c for c in read_skymodel(run / b["apparent_skymodel"]) if c.patch == direction]
                n_true = len(comps)
                write_skymodel(true_model, comps)
                ms = t / f"{direction}_{Path(b['ms']).name}"
                shutil.copytree(run / b["noise_ms"], ms)
                # Data := the run's model under its solutions, then minus the truth: E_d.
                in_place(ms, {"model": cal.predict_step("model", model, "replace", solutions, direction),
                              "truth": true_sky_step("truth", str(true_model), direction, "subtract", gains)})
                error_ms.append(str(ms))
            run_wsclean([*common, "-name", str(t / direction), *error_ms], threads=2)
            errors[direction] = np.squeeze(fits.getdata(t / f"{direction}-image.fits"))
            rows.append((direction, n_true, n_model))
            for ms in error_ms:
                shutil.rmtree(ms)
        noise = np.squeeze(fits.getdata(t / "noise-image.fits"))
        total = sum(errors.values())
        var_all = (pixel_rms(total) / thermal) ** 2
        for direction, n_true, n_model in rows:
            without = (pixel_rms(total - errors[direction]) / thermal) ** 2
            print(f"| {direction} | {n_true} / {n_model} | {pixel_rms(errors[direction]) / thermal:.3f} | {without / var_all:.2f} |")
        print(f"\nnoise minus the errors' sum: {pixel_rms(noise - total) / thermal:.3f} x thermal (R_res {r_res:.3f})")
        print(f"the errors' own variance: {var_all:.3f} x thermal^2 ({var_all / excess:.2f} of the excess); "
              f"the rest, their covariance with the noise: {excess - var_all:+.3f} "
              f"(correlation {np.corrcoef(noise.ravel(), -total.ravel())[0, 1]:+.3f})")
        others = sorted({c.patch for b in truth["bands"] for c in read_skymodel(run / b["apparent_skymodel"])} - set(last))
        if others:
            print(f"\nTrue patches no subtraction covers (not counted): {', '.join(others)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
