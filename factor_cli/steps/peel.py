"""outlierpeel: peel a bright source outside the faceted area (Factor's OutlierPeel, factor.md §5.2).

Such a source (a 3C-class object in the station beam's flank) is not imaged or mosaicked, but
its sidelobes, corrupted by errors of its own, wreck every facet unless it is removed with its
own direction-dependent solutions before any facet self-calibration.  There is nothing to
self-calibrate on: the source is known better than any image of it, so the solves are made
against its peel sky model (in absolute flux, as Factor's bundled 3C models):
  1. the residual data phase-shifted to the source, its DI model (of the calibrator box)
     added back, sorted per time chunk and TEC block, as for selfcal;
  2. fast (TEC+)phases against the peel model, applied; then slow complex gains
     (smoothness-constrained) on the phase-corrected data;
  3. the slow amplitudes smoothed but *not* normalised: against a model in absolute flux they
     carry the station beam's attenuation towards the source and the model's flux scale, which
     the subtraction needs;
  4. Factor's verification (the residual before and after replacing the DI model by the peel
     model corrupted by the solutions); a failed peel stops the run (Factor: always).
``facet_model.skymodel`` is the peel model (one patch, named after the direction), so facetsub
replaces the DI model by it exactly as it does for a self-calibrated facet.  ``selfcal.json``
records the solves, the verification and the flux the solutions give the source.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import calibration as cal
from .. import solution_plots as plots
from ..h5parm import read_soltab
from ..skymodel import read_skymodel, write_skymodel
from .facetdata import prepare_blocks
from .selfcal import calibrator_models, verify
from .workspace import work_folder


def run(p: dict, log: Path) -> None:
    out = Path(p["out_dir"])
    with work_folder(out, p.get("scratch")) as work:
        _peel(p, log, out, work)


def apparent_flux_jy(model_flux_jy: float, h5: str) -> float:
    """The flux the solutions give the source: the model's times the product of two stations'
    slow amplitudes (geometric mean over stations, squared), averaged over time."""
    amp = read_soltab(h5, "amplitude001")
    logs = np.log(np.where(amp.weights > 0, amp.values, np.nan))
    t = list(amp.axes).index("time")
    per_time = np.exp(2.0 * np.nanmean(logs, axis=tuple(i for i in range(logs.ndim) if i != t)))
    return float(model_flux_jy * np.nanmean(per_time))


def _peel(p: dict, log: Path, out: Path, work: Path) -> None:
    threads = p["threads"]
    d = p["direction"]
    name = d["name"]
    centre = (d["ra_deg"], d["dec_deg"])
    state, cal_models = calibrator_models(p, work)
    cal_ms = prepare_blocks(p["residual"], cal_models, work, "cal", centre, p["freqstep"], 1, state["h5"], None,
                            name, log, threads, blocks=p["tec_blocks"])
    # The peel model as this direction's patch, so facetsub's h5parmpredict finds its solutions.
    comps = [replace(c, patch=name) for c in read_skymodel(p["peel_skymodel"])]
    model = out / "facet_model.skymodel"
    write_skymodel(model, comps, {name: centre})
    for row in cal_ms:
        for ms in row:
            cal.predict(ms, str(model), "MODEL_DATA", log=log, threads=threads)

    solver = cal.SolverSettings(**p["solver"])
    slow_solver = replace(solver, maxiter=max(solver.maxiter, 150))
    fast_tabs = ["tec000", "phase000"] if p["fast_mode"] == "tecandphase" else ["phase000"]
    fast_h5: list[list[str]] = []
    slow_h5: list[list[str]] = []
    for i, row in enumerate(cal_ms):
        fast_h5.append([])
        slow_h5.append([])
        for b, ms in enumerate(row):
            fast = str(work / f"fast_t{i}_b{b}.h5")
            cal.solve(ms, fast, p["fast_mode"], p["solint_fast"], p["nchan_fast"], solver, "DATA", log=log, threads=threads)
            cal.apply(ms, fast, fast_tabs, "DATA", "CORRECTED_PHASE", log=log, threads=threads)
            slow = str(work / f"slow_t{i}_b{b}.h5")
            cal.solve(ms, slow, "scalar", p["solint_slow"], p["nchan_slow"], slow_solver, "CORRECTED_PHASE",
                      smoothness_hz=p["smoothness_hz"], log=log, threads=threads)
            fast_h5[-1].append(fast)
            slow_h5[-1].append(slow)
    solutions = out / "solutions.h5"
    cal.combine(fast_h5, slow_h5, str(solutions), name, d["ra_deg"], d["dec_deg"], spline=p["spline_smooth2d"],
                normalise=False)

    check = verify(p, state, str(model), str(solutions), name, work, out, log, threads)
    model_flux = float(sum(c.flux_at(p["ref_freq_hz"]) for c in comps))
    summary = {
        "direction": name, "operation": p["operation"], "ok": check.ok, "peel_skymodel": p["peel_skymodel"],
        "fast_mode": p["fast_mode"], "tec_blocks": p["tec_blocks"], "solint_fast": p["solint_fast"],
        "solint_slow": p["solint_slow"], "model_flux_jy": model_flux,
        "apparent_flux_jy": apparent_flux_jy(model_flux, str(solutions)), "ref_freq_hz": p["ref_freq_hz"],
        "verification": check.as_dict(),
        "check": "verification (residual peak after the peel <= max_peak_jy and <= max_ratio x before)",
    }
    (out / "selfcal.json").write_text(json.dumps(summary, indent=1))
    plots.selfcal_images([out / "verify_pre.fits", out / "verify_post.fits"])
    plots.solutions(str(solutions), out / "solutions")
