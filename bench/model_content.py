"""What the final facet models of a kept run hold, measured against the simulated truth
(bench/RESULTS.md, session 21):

    python bench/facet_chain.py --preset bright --seed 3 --keep   # once
    python bench/model_content.py [--preset bright] [--seed 3]

Per direction, the model its last subtraction left in the data (the model the residual holds),
split into components at a true source (within 30" or 1.5 of its major axes) and the rest.
Then, on the run's residual and with the bench's R_res images (dirty, same settings):
  - the true sources in no final model: how many, how bright (apparent), and R_res once they
    are subtracted with their true gains, i.e. how much of the residual they are;
  - the components away from any true source, predicted with their directions' solutions into
    the noise MS's layout: their rms against the noise's, their correlation with the
    residual's error (residual minus noise, the same noise realisation), and R_res with them
    added back, i.e. whether they fit noise or real leftovers.
One band (presets tiny and bright).
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
from factor_cli.engines import run_dp3, run_wsclean
from factor_cli.facets import separation_deg
from factor_cli.imaging import image_rms
from factor_cli.skymodel import read_skymodel, write_skymodel

from bench_runs import in_place, last_subtractions, preset_run, residual_image_args, true_sky_step  # bench/, the script's own folder

MATCH_ARCSEC = 30.0


def at_source(comp, source) -> bool:
    """``comp`` lies within 30" (or 1.5 major axes of an extended source) of the true ``source``."""
    return (separation_deg((comp.ra_deg, comp.dec_deg), (source.ra_deg, source.dec_deg)) * 3600.0
            < max(MATCH_ARCSEC, 1.5 * source.major_arcsec))


def image(ms: list[str], name: Path, run: Path) -> str:
    """The dirty image of ``ms`` with R_res's settings; its path."""
    run_wsclean([*residual_image_args(run), "-name", str(name), *ms], threads=2)
    return f"{name}-image.fits"


def main() -> int:
    args, run = preset_run(__doc__, "bright", 3)
    work = run / "work"
    ref = work / "bench_images"
    if not (ref / "resid-image.fits").is_file():
        raise SystemExit(f"model_content: no measured kept run in {work}; run bench/facet_chain.py --preset "
                         f"{args.preset} --seed {args.seed} --keep first")
    truth = json.loads((run / "truth" / "truth.json").read_text())
    if len(truth["bands"]) != 1:
        raise SystemExit("model_content: one band only (presets tiny, bright)")
    products = json.loads((work / "results" / "products.json").read_text())
    sky = read_skymodel(run / "truth" / "sky.txt")
    apparent = read_skymodel(run / truth["bands"][0]["apparent_skymodel"])
    last = last_subtractions(work)

    print(f"\n## what the final models hold: preset {args.preset}, seed {args.seed}\n")
    print("| direction | components | at true sources (n, sum S Jy) | elsewhere (n, sum abs S Jy) |\n|---|---|---|---|")
    models, elsewhere = [], {}
    for name, step in last.items():
        comps = read_skymodel(work / step["new_model"])
        near = [any(at_source(c, t) for t in sky) for c in comps]
        at = [c for c, n in zip(comps, near) if n]
        rest = [c for c, n in zip(comps, near) if not n]
        models += comps
        elsewhere[name] = (rest, str(work / step["solutions"]))
        print(f"| {name} | {len(comps)} | {len(at)}, {sum(c.flux_jy for c in at):.3f} | "
              f"{len(rest)}, {sum(abs(c.flux_jy) for c in rest):.3f} |")

    noise = image_rms(str(ref / "noise-image.fits"))
    resid = np.squeeze(fits.getdata(ref / "resid-image.fits"))
    error = resid - np.squeeze(fits.getdata(ref / "noise-image.fits"))
    missing = [t for t in apparent if not any(at_source(c, t) for c in models)]
    with tempfile.TemporaryDirectory(prefix="model-content-") as tmp:
        t = Path(tmp)
        rows = [("R_res of the run", f"{image_rms(str(ref / 'resid-image.fits')) / noise:.3f}")]
        if missing:
            ms = [str(t / f"resid{i}.ms") for i in range(len(products["residual_ms"]))]
            steps = {}
            for patch in sorted({m.patch for m in missing}):
                write_skymodel(t / f"missing_{patch}.skymodel", [m for m in missing if m.patch == patch])
                steps[f"m{len(steps)}"] = (str(t / f"missing_{patch}.skymodel"), patch)
            for src, dst in zip(products["residual_ms"], ms):
                shutil.copytree(src, dst)
                in_place(Path(dst), {k: true_sky_step(k, m, p, "subtract", str(run / "truth" / "gains.h5"))
                                     for k, (m, p) in steps.items()})
            flux = sorted(m.flux_jy for m in missing)
            rows.append((f"true sources in no model: {len(missing)}, {1e3 * flux[0]:.0f}-{1e3 * flux[-1]:.0f} mJy apparent; "
                         "R_res with them subtracted (true gains)", f"{image_rms(image(ms, t / 'no_missing', run)) / noise:.3f}"))
        base = t / "elsewhere.ms"
        shutil.copytree(run / truth["noise_ms"][truth["bands"][0]["ms"]], base)
        first = True
        for name, (rest, h5) in elsewhere.items():
            if not rest:
                continue
            path = t / f"elsewhere_{name}.skymodel"
            write_skymodel(path, rest)
            run_dp3({"msin": str(base), "msout": ".", "msout.datacolumn": "DATA", "steps": ["p"],
                     **cal.predict_step("p", str(path), "replace" if first else "add", h5, name)}, threads=2)
            first = False
        spur_path = image([str(base)], t / "elsewhere", run)
        spur = np.squeeze(fits.getdata(spur_path))
        ok = np.isfinite(spur) & np.isfinite(error)
        noise_std = float(np.std((resid - error)[ok]))
        # The residual holds minus their image (they were subtracted): a least-squares fit of
        # real leftovers leaves an error uncorrelated with the fit, a fit of noise one
        # anti-correlated with the noise.
        rows += [("components elsewhere, predicted with their solutions: rms / noise",
                  f"{image_rms(spur_path) / noise:.3f}"),
                 ("correlation of the residual's error (residual - noise) with minus their image",
                  f"{np.corrcoef(error[ok], -spur[ok])[0, 1]:.3f}"),
                 ("correlation of their image with the noise", f"{np.corrcoef(spur[ok], (resid - error)[ok])[0, 1]:.3f}"),
                 ("std of the residual / noise's", f"{float(np.std(resid[ok])) / noise_std:.3f}"),
                 ("std of the residual with them added back / noise's", f"{float(np.std((resid + spur)[ok])) / noise_std:.3f}")]
    print("\n| quantity | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
