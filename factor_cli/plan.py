"""The run plan: parset settings + directions + input MSs → the Snakemake config.

Everything a rule needs is decided here, once, in plain Python: bands and time chunks, facets,
selfcal groups and the residual chain, averaging and solution intervals, imaging sizes.  Each
step's parameters are stored per job, so a rule passes exactly its own parameters to its
step and a parset edit reruns exactly the jobs whose parameters changed.  Paths are relative
to the working directory (Snakemake runs there), so the plan is independent of where the
run directory is mounted.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from itertools import groupby
from pathlib import Path

import numpy as np

from .averaging import (
    averaging_steps,
    bandwidth_for_peak,
    central_channels,
    fast_solint_slots,
    fast_solve_mode,
    slow_solint_slots,
    tec_blocks,
    verify_steps,
)
from .bands import BandInfo, band_grid, fwhm_deg, make_chunks
from .directions import Direction
from .calibrators import Source, group_sources, sources_by_patch
from .edges import avoidance_radius_deg
from .facets import Facet, facet_of_sources, make_facets, ns_stretch, plane_coordinates
from .groups import make_groups, nearest
from .imaging import baseline_averaging_wavelengths
from .imagesets import image_sets, reaverage_factors
from .parset import ParsetError, groupings
from .phase_smoothing import smoothing_window
from .skymodel import read_skymodel
from .target import TARGET_NAME, Target, TargetError, containing_direction, target_of, with_target_direction

PLAN_VERSION = 1


class PlanError(ValueError):
    pass


def wsclean_has_idg() -> bool:
    exe = shutil.which("wsclean")
    if exe is None:
        return False
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    return "IDG" in out and "not" not in out.split("IDG", 1)[1][:20]


def residual_name(stage: str | None, chunk: str, band: str) -> str:
    """The residual data of one band-chunk after the subtraction of ``stage`` (None: the chunks)."""
    return f"chunks/{band}/{chunk}.ms" if stage is None else f"results/facetsub/{stage}/{chunk}.ms"


def _check_direction_columns(where: str, d: Direction) -> None:
    if d.outlier_source and not d.peel_skymodel:
        raise PlanError(f"{where}: direction {d.name}: outlier_source = True needs a peel_skymodel (column 11): "
                        "an outlier is peeled against its model, never self-calibrated")
    if d.peel_skymodel:
        try:
            if not read_skymodel(d.peel_skymodel):
                raise PlanError(f"{where}: direction {d.name}: peel_skymodel {d.peel_skymodel} has no components")
        except OSError as err:
            raise PlanError(f"{where}: direction {d.name}: peel_skymodel {d.peel_skymodel}: {err.strerror}") from None
    for attr, what in (("region_selfcal", "user selfcal masks (region_selfcal)"),
                       ("region_facet", "user facet masks (region_facet)")):
        if getattr(d, attr):
            raise PlanError(f"{where}: direction {d.name}: {what} is not implemented in this version")


def field_geometry(bands: list[BandInfo], faceting_radius_deg: float | None) -> tuple[tuple[float, float], float, float, float]:
    """(phase centre, mean elevation, FWHM of the highest band, faceting radius), in degrees."""
    centre = bands[0].ms.phase_centre_deg
    ref = bands[-1]  # highest frequency
    elevation = float(np.mean([b.ms.mean_elevation_deg for b in bands]))
    fwhm = fwhm_deg(ref.freq_hz, ref.ms.dish_diameter_m, elevation)
    return centre, elevation, fwhm, faceting_radius_deg or 1.25 * fwhm / 2.0


def build_plan(settings: dict, directions: list[Direction], bands: list[BandInfo], ncpu: int) -> dict:
    g, cal, img, dirs = settings["global"], settings["calibration"], settings["imaging"], settings["directions"]
    where = dirs["directions_file"]
    for d in directions:
        _check_direction_columns(where, d)
    if img["wsclean_use_idg"] and "wsclean_use_idg" in settings["explicit"]["imaging"] and not wsclean_has_idg():
        raise ParsetError(f"{settings['parset_file']}: [imaging] wsclean_use_idg: this WSClean was built without IDG; set it to False")

    centre, elevation, fwhm, radius = field_geometry(bands, dirs["faceting_radius_deg"])
    ref = bands[-1]  # highest frequency
    sources = _faceting_sources(dirs, ref)
    target = target_of(dirs)
    notes: list[str] = []
    if target and dirs["target_has_own_facet"]:
        try:
            directions, inside = with_target_direction(directions, target)
        except TargetError as err:
            raise PlanError(f"{where}: {err}") from None
        if inside:
            notes.append(f"target: directions inside the target circle, replaced by the target facet: {', '.join(inside)}")

    # Facets always come from every direction of the file; ndir_process only limits which are
    # processed.  So raising ndir_process later ("5 then 10") keeps the facets of the first
    # five, and their results stay valid.
    all_directions = list(directions)
    all_names = [d.name for d in directions]
    avoid = _edge_sources(sources, target) if dirs["check_edges"] else None
    facets = make_facets(all_names, [d.ra_deg for d in directions], [d.dec_deg for d in directions], centre,
                         radius, ns_stretch(elevation), avoid=avoid, notes=notes)
    calibrators = [d for d in directions if d.name != TARGET_NAME]
    own_target = [d for d in directions if d.name == TARGET_NAME]
    if dirs["ndir_process"]:
        calibrators = calibrators[: dirs["ndir_process"]]
    directions = calibrators + own_target  # the target's own facet is always processed, never selfcal'd
    names = [d.name for d in directions]
    cal_names = [d.name for d in calibrators]
    # Outliers (outlier_source) are peeled before the facet selfcal of each pass and never self-calibrated.
    outliers = [d.name for d in calibrators if d.outlier_source]
    inside = [n for n in outliers if not facets[n].is_patch]
    if inside:
        raise PlanError(f"{where}: direction {inside[0]}: outlier_source = True, but it lies inside the faceted area "
                        f"(faceting radius {radius:.2f} deg); outliers are sources beyond it")
    facet_cals = [n for n in cal_names if n not in outliers]
    selfcal_names = facet_cals[: dirs["ndir_selfcal"]] if dirs["ndir_selfcal"] else facet_cals
    positions = {d.name: (d.ra_deg, d.dec_deg) for d in directions}
    with_target = None
    if target:
        with_target = TARGET_NAME if own_target else containing_direction(
            target, {n: f.vertices_radec for n, f in facets.items()}, centre, positions)

    grid = band_grid(bands)
    slots = [b.name if b else None for b in grid]
    for band in bands:
        band.chunks = make_chunks(band.ms, g["chunk_size_sec"], Path(band.ms.path).stem)
    nchunks = {len(b.chunks) for b in bands}
    if len(nchunks) != 1:
        raise PlanError("bands were chunked differently in time; all bands must cover the same times")
    ntime = nchunks.pop()

    # Flux of each calibrator as Factor sees it: the DI model inside the calibrator box.
    ref_model = read_skymodel(ref.ms.di_skymodel)
    fluxes = {d.name: _cal_flux(d, ref_model, centre, ref.freq_hz) for d in directions}
    peel_models = {d.name: d.peel_skymodel for d in directions if d.peel_skymodel}
    # facetpeel (Factor's FacetPeel): a calibrator brighter than peel_flux_jy with a peel model is
    # peeled against it after the outliers and before any selfcal group (of every pass),
    # instead of being self-calibrated.
    facet_peels = [n for n in selfcal_names if fluxes[n] > cal["peel_flux_jy"] and n in peel_models]
    peeled = outliers + facet_peels
    groups = make_groups([n for n in selfcal_names if n not in facet_peels], positions, fluxes,
                         groupings(dirs["groupings"]), dirs["allow_reordering"])
    for n in selfcal_names:
        if n in facet_peels:
            notes.append(f"direction {n}: calibrator flux {fluxes[n]:.1f} Jy is above peel_flux_jy "
                         f"({cal['peel_flux_jy']:g}): peeled against its peel_skymodel (facetpeel)")
        elif fluxes[n] > cal["peel_flux_jy"]:  # Factor without a peel model: a warning, normal selfcal
            notes.append(f"direction {n}: calibrator flux {fluxes[n]:.1f} Jy is above peel_flux_jy "
                         f"({cal['peel_flux_jy']:g}) but it has no peel_skymodel, so it is self-calibrated normally")
        elif n in peel_models:
            notes.append(f"direction {n}: peel_skymodel not used: calibrator flux {fluxes[n]:.1f} Jy is below "
                         f"peel_flux_jy ({cal['peel_flux_jy']:g}), so it is self-calibrated (as Factor)")

    band0 = bands[0].ms
    nchan = len(band0.chan_freqs_hz)
    cell = img["selfcal_cellsize_arcsec"]

    def residual(stage: str | None) -> list[list[str | None]]:
        return [[residual_name(stage, b.chunks[i].name, b.name) if b else None for b in grid] for i in range(ntime)]

    nbands = len(bands)
    max_gap = max((len(list(run)) for is_gap, run in groupby([s is None for s in slots]) if is_gap), default=0)
    channels_out_selfcal = max(2, math.ceil(len(slots) / max(2, max_gap + 1))) if nchan * nbands >= 2 else 1
    channels_out_facet = max(channels_out_selfcal, math.ceil(nbands / img["wsclean_nchannels_factor"]) if nbands > 5 else 1)
    solver = {"maxiter": cal["maxiter"], "tolerance": cal["tolerance"], "stepsize": cal["stepsize"],
              "propagatesolutions": cal["propagatesolutions"], "uvlambdamin": cal["solve_min_uv_lambda"],
              "approximatetec": cal["approximatetec"], "maxapproxiter": cal["maxapproxiter"]}

    # IDG (Factor: selfcal images only) when asked for and built in; baseline-dependent
    # averaging only without IDG, which does not support it.
    idg_mode = img["idg_mode"] if img["wsclean_use_idg"] and wsclean_has_idg() else None

    def bl_avg(cell_arcsec: float, timestep: float) -> float:
        if idg_mode or not img["wsclean_bl_averaging"]:
            return 0.0
        return baseline_averaging_wavelengths(cell_arcsec, timestep)
    steps: dict[str, dict] = {"chunk": {}, "skymodels": {}, "selfcal": {}, "subtract": {}, "facetimage": {}}
    dir_entries = []
    for d in all_directions:
        f: Facet = facets[d.name]
        cal_size = d.cal_size_deg if d.cal_size_deg else d.cal_imsize * cell / 1.5 / 3600.0
        dir_entries.append({
            "name": d.name, "ra_deg": d.ra_deg, "dec_deg": d.dec_deg, "cal_size_deg": cal_size,
            "processed": d.name in names, "selfcal": d.name in selfcal_names,
            "contains_target": d.name == with_target,
            "mscale_selfcal": _multiscale(d.mscale_selfcal_do, _largest_source_arcmin(sources, centre, d, cal_size)),
            "mscale_facet": _multiscale(d.mscale_facet_do, _largest_source_arcmin(sources, centre, d, None, f.vertices_radec),
                                        d.name == with_target),
            "facet": {"vertices": [list(v) for v in f.vertices_radec], "ra_deg": f.ra_deg, "dec_deg": f.dec_deg,
                      "width_deg": f.width_deg, "is_patch": f.is_patch},
        })
    by_name = {e["name"]: e for e in dir_entries}

    # Only when set, so that the jobs of runs without it keep their parameters (and are not rerun).
    compress = {"compress": True} if g["use_compression"] else {}
    for band in bands:
        for c in band.chunks:
            start_slot = int(round((c.start_s - band.ms.start_s + band.ms.timestep_s / 2) / band.ms.timestep_s))
            end_slot = int(round((c.end_s - band.ms.start_s + band.ms.timestep_s / 2) / band.ms.timestep_s))
            steps["chunk"][c.name] = {
                "ms": band.ms.path, "has_subtracted": band.ms.has_subtracted, "di_skymodel": band.ms.di_skymodel,
                "start_slot": max(0, start_slot), "ntimes": end_slot - max(0, start_slot),
                "out_ms": residual_name(None, c.name, band.name),
                **{k: g[k] for k in ("flag_abstime", "flag_baseline", "flag_freqrange", "flag_expr")}, **compress,
            }
        steps["skymodels"][band.name] = {
            "di_skymodel": band.ms.di_skymodel, "centre_deg": list(centre), "out_dir": f"results/skymodels/{band.name}",
            "directions": [{k: by_name[n][k] for k in ("name", "ra_deg", "dec_deg", "cal_size_deg", "facet")} for n in all_names],
        }

    def band_models(kind: str, name: str) -> list[str | None]:
        return [f"results/skymodels/{b.name}/{name}.{kind}.skymodel" if b else None for b in grid]

    timestep_s = band0.timestep_s
    present = [b is not None for b in grid]
    blocks = tec_blocks(present, band0.chan_width_hz * nchan, cal["tec_block_mhz"])
    # Verification on the middle band (Factor's selectMiddleFreq)
    mid_slot = min((k for k, ok in enumerate(present) if ok), key=lambda k: abs(k - (len(grid) - 1) / 2))
    vfreqstep, vtimestep = verify_steps(band0.chan_width_hz, nchan, timestep_s)
    ntimes_chunk = min(v["ntimes"] for v in steps["chunk"].values())
    passes = cal["selfcal_passes"]

    def stage_id(name: str, p: int) -> str:
        return name if p == 1 else f"{name}.p{p}"

    def operation(name: str) -> str:
        return "outlierpeel" if name in outliers else "facetpeel" if name in facet_peels else "facetselfcal"

    def stage_dir(name: str, p: int) -> str:
        return f"results/{operation(name)}/{stage_id(name, p)}"

    def history(name: str, upto: int) -> list[dict]:
        """DI facet model, then each selfcal pass (or the peel) before ``upto`` (see steps/state.py)."""
        entries = [{"models": band_models("facet", name), "h5": None, "selfcal_json": None}]
        for q in range(1, upto):
            out = stage_dir(name, q)
            entries.append({"models": [f"{out}/facet_model.skymodel" if b else None for b in grid],
                            "h5": f"{out}/solutions.h5", "selfcal_json": f"{out}/selfcal.json"})
        return entries

    # The processing sequence of each pass: the outliers and then the peeled facet calibrators
    # one by one, then every selfcal group; each stage starts from the residual the previous
    # one left.  A further pass (selfcal_passes, beyond Factor) peels again too: the peeled
    # sources are the brightest, and their first solves were made with every other direction
    # still uncalibrated in the data (measured on bright: see README "Peeling").
    sequence: list[tuple[str, str, int, int]] = []
    for p in range(1, passes + 1):
        sequence += [(stage_id(n, p), n, p, -1 - i) for i, n in enumerate(peeled)]
        sequence += [(stage_id(n, p), n, p, k) for k, grp in enumerate(groups) for n in grp]
    group_start: dict[tuple[int, int], str | None] = {}
    previous: str | None = None
    for sid, n, p, k in sequence:
        group_start.setdefault((p, k), previous)
        previous = sid
    order = [sid for sid, *_ in sequence]

    for sid, name, p, k in sequence:
        d = next(x for x in directions if x.name == name)
        e = by_name[name]
        freqstep, _ = _steps(0.85, e["cal_size_deg"] / 2, cell, band0)
        ffreqstep, ftimestep = _steps(0.85, e["facet"]["width_deg"] / 2, cell, band0)
        # The facet image inside selfcal: the central part of each band (the whole by default).
        fchannels = central_channels(nchan, img["fractional_bandwidth_selfcal_facet_image"], ffreqstep)
        if fchannels is not None:
            ffreqstep = fchannels[2]
        flux = fluxes[name]
        preaveraged = flux < cal["preaverage_flux_jy"]
        nchan_avg = nchan // freqstep
        solint_fast = d.solint_ph or (1 if preaveraged else fast_solint_slots(flux, nbands, timestep_s))
        steps["selfcal"][sid] = {
            "out_dir": stage_dir(name, p), "direction": e, "pass": p,
            "operation": operation(name),
            "peel_skymodel": peel_models.get(name), "ref_freq_hz": band0.ref_freq_hz,
            "skip_selfcal_check": cal["skip_selfcal_check"],
            "residual": residual(group_start[(p, k)]), "history": history(name, p),
            # Factor's preapply_first_cal_phases: the first group's directions (of this pass),
            # the first that passed its selfcal lends its phases.
            "preapply": [{"name": n, "h5": f"results/facetselfcal/{stage_id(n, p)}/solutions.h5",
                          "selfcal_json": f"results/facetselfcal/{stage_id(n, p)}/selfcal.json"}
                         for n in groups[0]] if cal["preapply_first_cal_phases"] and k > 0 else [],
            "freqstep": freqstep, "facet_freqstep": ffreqstep, "facet_timestep": ftimestep,
            "facet_channels": list(fchannels[:2]) if fchannels else None,
            # WSClean cannot make more output channels than the facet data hold.
            "facet_channels_out": min(channels_out_selfcal, len(slots) * ((fchannels[1] if fchannels else nchan) // ffreqstep)),
            "cellsize_arcsec": cell, "min_cal_imsize": 512 if d.cal_imsize == 0 else d.cal_imsize,
            "robust": img["selfcal_robust"], "min_uv_lambda": img["selfcal_min_uv_lambda"],
            "channels_out": channels_out_selfcal, "padding": img["wsclean_image_padding"],
            "multiscale": e["mscale_selfcal"], "multiscale_scales": img["selfcal_multiscale_scales_pixel"],
            "idg_mode": idg_mode, "bl_avg_wavelengths": bl_avg(cell, timestep_s),
            "facet_bl_avg_wavelengths": bl_avg(cell, timestep_s * ftimestep),
            "solver": solver,
            "fast_mode": fast_solve_mode(blocks, present, nchan_avg, band0.chan_width_hz * nchan), "tec_blocks": blocks,
            "max_loops": cal["target_max_selfcal_loops"] if e["contains_target"] else cal["max_selfcal_loops"],
            "spline_smooth2d": cal["spline_smooth2d"], "multires": cal["multires_selfcal"],
            "verify": {"slot": mid_slot, "freqstep": vfreqstep, "timestep": vtimestep,
                       "min_uv_lambda": img["facet_min_uv_lambda"][0], "max_peak_jy": cal["verify_max_peak_jy"],
                       "max_ratio": cal["verify_max_peak_ratio"], "local": name in peeled},
            # Faint calibrators: every slot solved on pre-averaged data (preaverage.py)
            "preaverage_bandwidth_hz": bandwidth_for_peak(0.99, band0.ref_freq_hz, e["cal_size_deg"] / 2, 3 * cell / 3600.0)
            if preaveraged else 0.0,
            "solint_fast": solint_fast,
            "fast_smoothing_window": smoothing_window(cal["fast_phase_smoothing_s"], solint_fast * timestep_s),
            # One phase per channel: a TEC of ~1 rad changes the phase by several per cent
            # across a band, too much for one phase per band on bright calibrators.
            "nchan_fast": 1,
            "solint_slow": d.solint_amp or slow_solint_slots(flux, timestep_s, ntimes_chunk),
            "nchan_slow": 1 if d.dynamic_range == "HD" else nchan_avg,
            "smoothness_hz": 6e6,
            "effective_flux_jy": flux,
        }
    for i, (sid, name, p, _) in enumerate(sequence):
        prev = order[i - 1] if i > 0 else None
        for slot, band in enumerate(grid):
            if band is None:
                continue
            for c in band.chunks:
                steps["subtract"].setdefault(sid, {})[c.name] = {
                    "in_ms": residual_name(prev, c.name, band.name), "out_ms": residual_name(sid, c.name, band.name),
                    "slot": slot, "history": history(name, p),
                    "new_model": f"{stage_dir(name, p)}/facet_model.skymodel",
                    "solutions": f"{stage_dir(name, p)}/solutions.h5",
                    "selfcal_json": f"{stage_dir(name, p)}/selfcal.json",
                    # A failed peel always stops the run (Factor): its source would wreck every facet.
                    "direction": name, "exit_on_selfcal_failure": cal["exit_on_selfcal_failure"] or name in peeled,
                    "peel": name in peeled,
                    "skip_selfcal_check": cal["skip_selfcal_check"], **compress,
                }

    final = order[-1] if order else None
    imaged = [n for n in names if not by_name[n]["facet"]["is_patch"] and (n == with_target or not img["image_target_only"])]
    if not imaged and img["image_target_only"]:
        raise PlanError(f"{settings['parset_file']}: [imaging] image_target_only: the target lies in no facet of the field "
                        f"(nearest direction {with_target} is a patch outside the faceting radius)")

    sets = image_sets(img)
    shared = len(sets) > 1
    steps["facetimage"] = {s["image_op"]: {} for s in sets}
    steps["facetdata"] = {}
    for name in imaged:
        e = by_name[name]
        # Each set averages as much as its own smearing limit allows (it depends on the cell size).
        wanted = {s["image_op"]: _steps(1.0 - img["max_peak_smearing"], e["facet"]["width_deg"] / 2, s["cellsize_arcsec"], band0)
                  for s in sets}
        calibration = {
            "direction": e, "residual": residual(final),
            "own": history(name, passes + 1) if name in selfcal_names else history(name, 1),
            "candidates": [{"name": n, "history": history(n, passes + 1)} for n in nearest(name, selfcal_names, positions)],
            "skip_selfcal_check": cal["skip_selfcal_check"],
        }
        base = (min(f for f, _ in wanted.values()), min(t for _, t in wanted.values()))
        if shared:
            steps["facetdata"][name] = {**calibration, "out_dir": f"results/facetdata/{name}", "freqstep": base[0],
                                        "timestep": base[1]}
        for s in sets:
            entry = {
                "out_image": f"results/{s['image_op']}/{name}/image.fits", "image_op": s["image_op"],
                "cellsize_arcsec": s["cellsize_arcsec"], "robust": s["robust"], "min_uv_lambda": s["min_uv_lambda"],
                "taper_arcsec": s["taper_arcsec"], "channels_out": channels_out_facet,
                "padding": img["wsclean_image_padding"],
                "keep_avg_facet_data": not shared and (g["keep_avg_facet_data"] or e["contains_target"]),
                "multiscale": e["mscale_facet"], "multiscale_scales": img["facet_multiscale_scales_pixel"],
            }
            if shared:
                # The facet's shared averaged data, averaged further for this set.
                kf, kt = reaverage_factors(base, wanted[s["image_op"]], nchan // base[0])
                entry.update({"direction": e, "facet_data": [f"results/facetdata/{name}/facet_data_t{i}.ms" for i in range(ntime)],
                              "facet_data_json": f"results/facetdata/{name}/facetdata.json",
                              "freqstep": kf, "timestep": kt,
                              "bl_avg_wavelengths": bl_avg(s["cellsize_arcsec"], timestep_s * base[1] * kt)})
            else:
                ffreqstep, ftimestep = wanted[s["image_op"]]
                entry.update({**calibration, "freqstep": ffreqstep, "timestep": ftimestep,
                              "bl_avg_wavelengths": bl_avg(s["cellsize_arcsec"], timestep_s * ftimestep)})
            steps["facetimage"][s["image_op"]][name] = entry

    times = np.linspace(band0.start_s, band0.end_s, 3).tolist()
    steps["mosaic"] = {
        s["mosaic_op"]: {
            "out_dir": f"results/{s['mosaic_op']}/field", "centre_deg": list(centre),
            "images": [steps["facetimage"][s["image_op"]][n]["out_image"] for n in imaged],
            "vertices": [by_name[n]["facet"]["vertices"] for n in imaged],
            "beam_ms": residual_name(None, bands[0].chunks[0].name, bands[0].name),
            "freqs_hz": [b.freq_hz for b in bands], "times_s": times,
        } for s in sets
    }
    steps["products"] = {
        "out": "results/products.json", "make_mosaic": img["make_mosaic"],
        "image_sets": [{**s, "mosaic_dir": steps["mosaic"][s["mosaic_op"]]["out_dir"],
                        "facet_images": {n: steps["facetimage"][s["image_op"]][n]["out_image"] for n in imaged}}
                       for s in sets],
        "solutions": {n: f"{stage_dir(n, passes)}/solutions.h5" for n in outliers + selfcal_names},
        "residual_ms": [m for row in residual(final) for m in row if m],
        "directions": {n: {"ra_deg": by_name[n]["ra_deg"], "dec_deg": by_name[n]["dec_deg"],
                           "polygon": by_name[n]["facet"]["vertices"], "is_patch": by_name[n]["facet"]["is_patch"]}
                       for n in names},
    }

    return {
        "version": PLAN_VERSION,
        "parset": settings["parset_file"],
        "centre_deg": list(centre),
        "mean_elevation_deg": elevation,
        "fwhm_deg": fwhm,
        "faceting_radius_deg": radius,
        "bands": [b.name for b in bands],
        "band_slots": slots,
        "chunks": {b.name: [c.name for c in b.chunks] for b in bands},
        "directions": dir_entries,
        "groups": groups,
        "outliers": outliers,
        "facet_peels": facet_peels,
        "passes": passes,
        "order": order,
        "imaged": imaged,
        "make_mosaic": img["make_mosaic"],
        "image_sets": sets,
        "target": with_target,
        "notes": notes,
        "steps": steps,
    }


def _faceting_sources(dirs: dict, ref: BandInfo) -> list[Source]:
    """The faceting sky model as sources: the DI model of the highest band grouped as for
    calibrator selection, or the user's faceting_skymodel by its patches."""
    comps = read_skymodel(dirs["faceting_skymodel"] or ref.ms.di_skymodel)
    return sources_by_patch(comps, ref.freq_hz) if dirs["faceting_skymodel"] else group_sources(comps, ref.freq_hz)


def _edge_sources(sources: list[Source], target: Target | None) -> list[tuple[str, float, float, float]]:
    """What check_edges keeps facet edges away from: every source, and the target circle."""
    avoid = [(s.name, s.ra_deg, s.dec_deg, avoidance_radius_deg(s.size_arcmin, s.flux_jy)) for s in sources]
    if target and target.radius_deg:
        avoid.append((TARGET_NAME, target.ra_deg, target.dec_deg, target.radius_deg))
    return avoid


MULTISCALE_SIZE_ARCMIN = 4.0


def _multiscale(explicit: bool | None, largest_arcmin: float, holds_target: bool = False) -> bool:
    """Factor's rule for an empty mscale_* column: multiscale clean when a source larger than
    4' is in the region (point-source clean breaks extended emission into artefacts), and for
    the target's facet; a value in the directions file wins."""
    if explicit is not None:
        return bool(explicit)
    return holds_target or largest_arcmin > MULTISCALE_SIZE_ARCMIN


def _largest_source_arcmin(sources: list[Source], centre: tuple[float, float], d: Direction,
                           box_deg: float | None, vertices: list | None = None) -> float:
    """Size of the largest source in the calibrator box (side ``box_deg``) or in the facet."""
    if not sources:
        return 0.0
    ra, dec = [s.ra_deg for s in sources], [s.dec_deg for s in sources]
    if vertices is not None:
        inside = [f == d.name for f in facet_of_sources({d.name: vertices}, centre, ra, dec)]
    else:
        x, y = plane_coordinates((d.ra_deg, d.dec_deg), ra, dec)
        inside = (np.abs(x) <= box_deg / 2) & (np.abs(y) <= box_deg / 2)
    return max((s.size_arcmin for s, k in zip(sources, inside) if k), default=0.0)


def _steps(peak: float, delta_theta_deg: float, cell: float, ms) -> tuple[int, int]:
    timestep, freqstep = averaging_steps(peak, delta_theta_deg, cell, ms.ref_freq_hz, ms.chan_width_hz,
                                         len(ms.chan_freqs_hz), ms.timestep_s)
    return freqstep, timestep


def _cal_flux(d: Direction, model, centre, freq_hz: float) -> float:
    if d.cal_flux_mjy:
        return d.cal_flux_mjy / 1000.0
    if not model:
        return 0.0
    ra = np.array([c.ra_deg for c in model])
    dec = np.array([c.dec_deg for c in model])
    x, y = plane_coordinates(centre, ra, dec)
    cx, cy = plane_coordinates(centre, [d.ra_deg], [d.dec_deg])
    half = (d.cal_size_deg or 0.1) / 2
    inside = (np.abs(x - cx[0]) <= half) & (np.abs(y - cy[0]) <= half)
    return float(sum(float(c.flux_at(freq_hz)) for c, k in zip(model, inside) if k))


def selfcal_units(config: dict) -> list[list[str]]:
    """The selfcal groups in processing order, each a list of stages: every group of pass 1,
    then every group again for each further pass (what ``-s N`` counts)."""
    units = []
    for p in range(1, config["passes"] + 1):
        for group in config["groups"]:
            units.append([name if p == 1 else f"{name}.p{p}" for name in group])
    return units


def stop_after_targets(config: dict, n: int) -> list[str] | None:
    """Snakemake targets for ``runfactor -s N``: the residual after the first N selfcal groups
    (N = 0: the chunks and the facet sky models only).  None when N covers every group."""
    units = selfcal_units(config)
    if n >= len(units):
        return None
    if n == 0:
        chunks = [c["out_ms"] for c in config["steps"]["chunk"].values()]
        models = [f"results/skymodels/{b}/{d['name']}.facet.skymodel" for b in config["bands"] for d in config["directions"]]
        # Peels come before the first selfcal group, so -s 0 includes them.
        peels = config.get("outliers", []) + config.get("facet_peels", [])
        peeled = [c["out_ms"] for c in config["steps"]["subtract"][peels[-1]].values()] if peels else []
        return chunks + models + peeled
    last = units[n - 1][-1]
    return [c["out_ms"] for c in config["steps"]["subtract"][last].values()]
