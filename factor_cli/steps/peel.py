"""outlierpeel and facetpeel: peel a bright source against its sky model (Factor's OutlierPeel
and FacetPeel, factor.md §5.2-5.3).

A 3C-class source, outside the faceted area (outlierpeel) or as a facet's calibrator whose
effective flux exceeds ``peel_flux_jy`` (facetpeel), is known better than any image of it,
and its sidelobes, corrupted by errors of its own, wreck every facet unless it is removed with
its own direction-dependent solutions before any facet self-calibration (and again at the
start of every further selfcal pass, from the cleaner residual the previous pass left).  So
the solves are made against its peel sky model (in absolute flux, as Factor's bundled 3C
models):
  1. the residual data phase-shifted to the source, its DI model (of the calibrator box)
     added back, sorted per time chunk and TEC block, as for selfcal;
  2. fast (TEC+)phases against the peel model, applied; then slow complex gains
     (smoothness-constrained) on the phase-corrected data;
  3. the slow amplitudes smoothed; *not* normalised for the peel model: against a model in
     absolute flux they carry the station beam's attenuation towards the source and the
     model's flux scale, which its subtraction needs;
  4. facetpeel only: the rest of the facet is imaged (residual + DI facet model − the peel
     model corrupted by the unnormalised solutions, corrected by the normalised ones) and its
     clean components are the facet's model without the source (Factor's step 10).  The
     solution file then holds two directions with the same phases: ``[<dir>]`` with
     normalised amplitudes (for the rest of the facet and for imaging, like any facet) and
     ``[<dir>_peel]`` with the unnormalised ones (for the source's model, patch ``<dir>_peel``);
  5. Factor's verification (the residual before and after replacing the DI model by the new
     model corrupted by the solutions), within 0.25 deg of the source; a failed peel stops
     the run (Factor: always).
``facet_model.skymodel`` is the peel model (and for facetpeel the rest of the facet), so
facetsub and facet imaging treat it as any direction's model.  ``selfcal.json`` records the
solves, the verification and the flux the solutions give the source.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import calibration as cal
from .. import solution_plots as plots
from ..h5parm import read_soltab
from ..side_by_side import Background, run_side_by_side
from ..skymodel import read_skymodel, write_skymodel
from .facetdata import prepare_blocks
from .selfcal import calibrator_models, fast_phases, improved_facet_model, imaging_settings, slow_gains, verify
from .workspace import work_folder


def run(p: dict, log: Path) -> None:
    out = Path(p["out_dir"])
    with work_folder(out, p.get("scratch")) as work, Background() as plotting:
        _peel(p, log, out, work, plotting)


def apparent_flux_jy(model_flux_jy: float, h5: str, patch: str) -> float:
    """The flux the solutions give the source: the model's times the product of two stations'
    slow amplitudes (geometric mean over stations, squared) for the source's patch, averaged
    over time."""
    amp = read_soltab(h5, "amplitude001")
    values, weights = amp.values, amp.weights
    if "dir" in amp.axes:
        k = list(amp.axes).index("dir")
        j = list(amp.axes["dir"]).index(f"[{patch}]")
        values, weights = np.take(values, [j], axis=k), np.take(weights, [j], axis=k)
    logs = np.log(np.where(weights > 0, values, np.nan))
    t = list(amp.axes).index("time")
    per_time = np.exp(2.0 * np.nanmean(logs, axis=tuple(i for i in range(logs.ndim) if i != t)))
    return float(model_flux_jy * np.nanmean(per_time))


def corrected_flux_scale(h5: str, direction: str, patch: str) -> float:
    """By how much a facet peel's source is brighter in its facet's corrected data than in its
    model: its own (unnormalised) slow amplitudes against the facet's normalised ones, which
    correct the data; for two stations, so squared (geometric mean over all good solutions).
    They differ by one factor, the normalisation, which holds the beam's attenuation."""
    amp = read_soltab(h5, "amplitude001")
    k = list(amp.axes).index("dir")
    names = list(amp.axes["dir"])
    values, weights = amp.values, amp.weights
    peel = np.take(values, names.index(f"[{patch}]"), axis=k)
    facet = np.take(values, names.index(f"[{direction}]"), axis=k)
    good = (np.take(weights, names.index(f"[{patch}]"), axis=k) > 0) & (peel > 0) & (facet > 0)
    return float(np.exp(2.0 * np.mean(np.log(peel[good] / facet[good])))) if good.any() else 1.0


def _peel(p: dict, log: Path, out: Path, work: Path, plotting: Background) -> None:
    threads = p["threads"]
    d = p["direction"]
    name = d["name"]
    centre = (d["ra_deg"], d["dec_deg"])
    state, cal_models = calibrator_models(p, work)
    cal_ms = prepare_blocks(p["residual"], cal_models, work, "cal", centre, p["freqstep"], 1, state["h5"], None,
                            name, log, threads, blocks=p["tec_blocks"])
    facet_peel = p["operation"] == "facetpeel"
    # The peel model as a patch named after the direction (``<dir>_peel`` beside the rest of
    # the facet), so h5parmpredict finds its solutions.
    patch = f"{name}_peel" if facet_peel else name
    comps = [replace(c, patch=patch) for c in read_skymodel(p["peel_skymodel"])]
    peel_model = work / "peel_model.skymodel"
    write_skymodel(peel_model, comps, {patch: centre})
    run_side_by_side([lambda n, ms=ms: cal.predict(ms, str(peel_model), "MODEL_DATA", log=log, threads=n)
                      for row in cal_ms for ms in row], threads)

    fast_h5 = fast_phases(cal_ms, p, "DATA", "CORRECTED_PHASE", work / "fast", log, threads)
    slow_h5 = slow_gains(cal_ms, p, work / "slow", log, threads, apply=False)
    solutions = out / "solutions.h5"
    cal.combine(fast_h5, slow_h5, str(solutions), name, d["ra_deg"], d["dec_deg"], spline=p["spline_smooth2d"],
                normalise=facet_peel, peel_direction=patch if facet_peel else None)
    plotting.submit(plots.solutions, str(solutions), out / "solutions")
    model = out / "facet_model.skymodel"
    if facet_peel:
        facet = d["facet"]
        rest = improved_facet_model(p, state, imaging_settings(p, work), str(solutions), work, out, log, threads,
                                    subtract=str(peel_model))
        write_skymodel(model, rest + comps, {name: (facet["ra_deg"], facet["dec_deg"]), patch: centre})
    else:
        shutil.copyfile(peel_model, model)

    check = verify(p, state, str(model), str(solutions), name, work, out, log, threads)
    model_flux = float(sum(c.flux_at(p["ref_freq_hz"]) for c in comps))
    summary = {
        "direction": name, "operation": p["operation"], "ok": check.ok, "peel_skymodel": p["peel_skymodel"],
        "fast_mode": p["fast_mode"], "tec_blocks": p["tec_blocks"], "solint_fast": p["solint_fast"],
        "solint_slow": p["solint_slow"], "model_flux_jy": model_flux,
        "apparent_flux_jy": apparent_flux_jy(model_flux, str(solutions), patch), "ref_freq_hz": p["ref_freq_hz"],
        "peel_patch": patch, "n_facet_components": len(rest) if facet_peel else 0,
        "verification": check.as_dict(),
        "check": "verification (residual peak after the peel <= max_peak_jy and <= max_ratio x before)",
    }
    (out / "selfcal.json").write_text(json.dumps(summary, indent=1))
    plotting.submit(plots.selfcal_images, [out / "verify_pre.fits", out / "verify_post.fits"] + ([out / "facet_image.fits"] if facet_peel else []))
