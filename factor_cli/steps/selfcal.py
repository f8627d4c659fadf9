"""facetselfcal: self-calibration of one direction, then its improved facet model.

Cycles (factor.md §5.4, with DDECal as in Rapthor), on the calibrator data sorted per time
chunk and TEC block (``TEC_block_MHz``):
  0  image the phase-shifted calibrator data (DI model of the calibrator region added back)
  1  fast phase solve against the sky model of the calibrator box → apply → image
  2  fast phase solve against the clean components of image 1 → apply → image
  3  fast phases + slow complex gains (smoothness-constrained) against the sky model of the
     calibrator box again (Factor: image 2; see below) → apply → image
  4… Factor's amplitude loop: cycle 3 again against the latest image, up to
     ``max_selfcal_loops`` (``target_max_selfcal_loops`` for the target's direction) times,
     while the image improves (convergence.py: dynamic range or min/max ratio by 1.25 %);
     the solutions of the best image are kept.
Fast phases are TEC+phase (DDECal ``tecandphase``: the ionosphere's dispersive delay plus a
common phase, two parameters per station instead of one per channel) when every TEC block
has the bandwidth and channels for it, scalar phases per channel otherwise.  Slow gain
amplitudes are smoothed and normalised before they are applied (amplitudes.py).
Cycle 1 solves against the sky model (the DI model, or the previous pass's improved model)
rather than image 0: phase-only selfcal started from an image keeps the position shift the
ionosphere gave the calibrator (a phase gradient over the array is degenerate with position),
and measured against the simulated truth that left 0.2-0.4 rad constant phase errors on the
remote stations and 5" offsets.  The sky model anchors the astrometry.
Cycle 3, the first with slow gains, solves against the sky model too, not against image 2 as
Factor does: image 2 is corrected for phases only, so the stations' amplitude errors (up to
20 % on the benchmark's remote stations) are still in it as structure around the calibrator,
which the clean takes into the model (dir01 of `benchmark`, 3" cells: 11 % more than its flux,
in symmetric components along the beam).  Solved against that model, the slow amplitudes took
part of the errors for sky and passed the rest to the wrong stations (RS406 solved 0.88 where
the truth is 0.80, RS407 1.10 for 0.95) and the image's flux moved by 5-7 % (dir01 0.952, dir03
1.067 of the truth after the cycle), which Factor's amplitude loop then took up to 10 cycles to
undo.  Against the sky model: 1.000 and 1.001, and dir01's slow amplitudes have no station
bias (core -0.02 %, remote +0.05 %; before -1.1 / +3.4 %).  Where the box holds no sky model,
image 2 is used.
The selfcal images are cleaned inside the calibrator box only (cal_box_mask), so the models
the solves fit hold the calibrator region's sources and not other sources' leftovers.
Then the whole facet is imaged from the residual data with the DI facet model added back and
the solutions applied.  Its clean components inside the facet, plus those of Factor's
medium-resolution image of what the first model left (cell x4, taper, robust 0), are the
improved facet model that facetsub subtracts.  Without the medium-resolution part the
residual of extended and faint emission dominated the short baselines (4.5x thermal on
baselines < 1500 lambda against 3.2x on all).
The selfcal passes when Factor's verification passes (verification.py: the residual after
replacing the old model by the new one, imaged at low resolution on the middle band, has no
peak above 0.75 Jy/beam and has not grown more than 4x) and the final selfcal image's dynamic
range is not worse than the first image's.  ``selfcal.json`` records per-cycle image
statistics, the loop, the solution intervals and both checks; PNGs of every selfcal image,
of the verification images and of the solutions per station sit beside it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import calibration as cal
from .. import solution_plots as plots
from .. import verification
from ..convergence import (
    AMPLITUDE_LOOP_FACTOR,
    PHASE_LOOP_FACTOR,
    ImageStats,
    image_stats,
    improved,
)
from ..engines import run_dp3
from ..facets import discs_mask, plane_coordinates, polygon_mask
from ..imaging import (
    ImagingSettings,
    cal_image_size,
    clean_components,
    image_wcs,
    optimum_size,
    write_mask,
    wsclean,
    wsclean_memory_gb,
)
from ..phase_smoothing import smooth_solution_file
from ..preaverage import COLUMN as PREAVG_COLUMN
from ..preaverage import preaverage
from ..side_by_side import Background, import_beside, run_side_by_side, share
from ..solve_pieces import ms_ntimes, time_pieces
from ..skymodel import read_skymodel, write_skymodel
from .facetdata import prepare, prepare_blocks
from .state import passed, subtracted
from .subtract import replacement
from .workspace import work_folder

# What smooth_solution_file imports on first use (side_by_side.import_beside).
SMOOTHING_MODULES = ("scipy.signal", "losoto.h5parm")


def run(p: dict, log: Path) -> None:
    out = Path(p["out_dir"])
    # The plots are drawn while the work folder is removed (the inner block ends first).
    with Background() as plotting, work_folder(out, p.get("scratch"), keep=p.get("keep_work", False)) as work:
        _selfcal(p, log, out, work, plotting)


def calibrator_models(p: dict, work: Path) -> tuple[dict, list[str | None]]:
    """What is currently subtracted of this direction (the DI model, or the previous pass's
    model with its solutions; steps/state.py), and per band its part in the calibrator box,
    which is added back to the calibrator's data."""
    state = subtracted(p["history"], p["skip_selfcal_check"])
    return state, [cal_box_model(m, p["direction"], work / f"calmodel_b{k}.skymodel") if m else None
                   for k, m in enumerate(state["models"])]


def _selfcal(p: dict, log: Path, out: Path, work: Path, plotting: Background) -> None:
    threads = p["threads"]
    d = p["direction"]
    name = d["name"]
    centre = (d["ra_deg"], d["dec_deg"])

    state, cal_models = calibrator_models(p, work)
    # preapply_first_cal_phases: the first calibrator's phases (TEC, fast and slow phases) are
    # applied before solving, so this direction solves only for what differs from them.
    pre = next((c for c in p.get("preapply", []) if passed(c, p["skip_selfcal_check"])), None)
    pre_tabs = [t for t in ("tec000", "phase000", "phase001") if pre and cal.has_soltab(pre["h5"], t)]
    cal_ms = prepare_blocks(p["residual"], cal_models, work, "cal", centre, p["freqstep"], 1,
                            state["h5"], pre["h5"] if pre else None, name, log, threads,
                            apply_direction=pre["name"] if pre else None, blocks=p["tec_blocks"], apply_soltabs=pre_tabs)
    all_ms = [m for row in cal_ms for m in row]
    fast_column = "DATA"
    if p.get("preaverage_bandwidth_hz"):  # a faint calibrator: fast solves on smoothed data
        for ms in all_ms:
            preaverage(ms, p["preaverage_bandwidth_hz"])
        fast_column = PREAVG_COLUMN

    img = imaging_settings(p, work)
    size = img.size
    cal_mask = work / "cal_box_mask.fits"
    wcs = image_wcs(centre, size, img.scale_arcsec)
    write_mask(cal_mask, cal_box_mask(d, wcs, size), wcs)
    cycles: list[dict] = []

    def image(cycle: int, column: str, auto_mask: float, taper_arcsec: float = 0.0) -> ImageStats:
        products = wsclean(all_ms, str(work / f"image_c{cycle}"), replace(img, auto_mask=auto_mask, taper_arcsec=taper_arcsec),
                           data_column=column, fits_mask=str(cal_mask), log=log, threads=threads)
        stats = image_stats(products["image"])
        cycles.append({"cycle": cycle, "rms_jy": stats.rms_jy, "peak_jy": stats.peak_jy,
                       "dynamic_range": stats.dynamic_range, "minmax": stats.minmax})
        shutil.copyfile(products["image"], out / f"selfcal_image_c{cycle}.fits")
        plotting.submit(plots.selfcal_images, [out / f"selfcal_image_c{cycle}.fits"])
        return stats

    def predict_model(skymodel: str) -> None:
        run_side_by_side([lambda n, ms=ms: cal.predict(ms, skymodel, "MODEL_DATA", log=log, threads=n) for ms in all_ms],
                         threads)

    def solve_fast(cycle: int, column_out: str) -> list[list[str]]:
        return fast_phases(cal_ms, p, fast_column, column_out, work / f"fast_c{cycle}", log, threads)

    def solve_slow(cycle: int) -> list[list[str]]:
        return slow_gains(cal_ms, p, work / f"slow_c{cycle}", log, threads, apply=True)

    # multires_selfcal: the first images tapered to 20" and 10" so the first phase solves see
    # only the compact, bright structure; then a phase-only loop at full resolution.
    tapers = (20.0, 10.0, 0.0) if p.get("multires") else (0.0, 0.0, 0.0)
    # The smoothing's imports, while WSClean leaves part of a core idle (DDECal's pieces do not).
    import_beside(*SMOOTHING_MODULES)
    first = image(0, "DATA", 5.0, tapers[0])
    anchor = next((m for m in reversed(cal_models) if m and read_skymodel(m)), None)
    if anchor:  # replace image 0's model by the sky model (see the module docstring)
        predict_model(anchor)
    for cycle in (1, 2):
        solve_fast(cycle, "CORRECTED_DATA")
        stats = image(cycle, "CORRECTED_DATA", 4.0 - 0.5 * cycle, tapers[cycle])
    cycle = 2
    phase_loop = {"iterations": 0}
    if p.get("multires"):
        for cycle in range(3, 3 + p["max_loops"]):
            solve_fast(cycle, "CORRECTED_DATA")
            new = image(cycle, "CORRECTED_DATA", 3.0)
            phase_loop["iterations"] += 1
            if phase_loop["iterations"] > 1 and not improved(new, stats, PHASE_LOOP_FACTOR):
                break
            stats = new

    cycle += 1
    if anchor:  # the first slow-gain solve against the sky model as well (module docstring)
        predict_model(anchor)
    fast_h5 = solve_fast(cycle, "CORRECTED_PHASE")
    slow_h5 = solve_slow(cycle)
    best, best_cycle = image(cycle, "CORRECTED_DATA", 3.0), cycle
    loop = {"max_loops": p["max_loops"], "iterations": 0, "stopped": "max_selfcal_loops reached"}
    for cycle in range(best_cycle + 1, best_cycle + 1 + p["max_loops"]):
        fast_i, slow_i = solve_fast(cycle, "CORRECTED_PHASE"), solve_slow(cycle)
        stats = image(cycle, "CORRECTED_DATA", 3.0)
        loop["iterations"] += 1
        if not improved(stats, best):
            loop["stopped"] = f"converged: cycle {cycle} did not improve on cycle {best_cycle} by {AMPLITUDE_LOOP_FACTOR - 1:.2%}"
            break
        best, best_cycle, fast_h5, slow_h5 = stats, cycle, fast_i, slow_i
    loop["kept_cycle"] = best_cycle

    solutions = out / "solutions.h5"
    cal.combine(fast_h5, slow_h5, str(solutions), name, d["ra_deg"], d["dec_deg"], spline=p["spline_smooth2d"],
                preapply=pre["h5"] if pre else None)
    plotting.submit(plots.solutions, str(solutions), out / "solutions")

    comps = improved_facet_model(p, state, img, str(solutions), work, out, log, threads)
    fcentre = (d["facet"]["ra_deg"], d["facet"]["dec_deg"])
    write_skymodel(out / "facet_model.skymodel", comps, {name: fcentre})

    check = verify(p, state, str(out / "facet_model.skymodel"), str(solutions), name, work, out, log, threads)
    dr_ok = bool(np.isfinite(best.rms_jy) and best.dynamic_range >= first.dynamic_range)
    summary = {
        "direction": name, "ok": check.ok and dr_ok, "cycles": cycles, "amplitude_loop": loop, "multires_phase_loop": phase_loop, "cal_imsize": size,
        "fast_mode": p["fast_mode"], "tec_blocks": p["tec_blocks"], "preapplied_from": pre["name"] if pre else None,
        "preaveraged": bool(p.get("preaverage_bandwidth_hz")),
        "solint_fast": p["solint_fast"], "solint_slow": p["solint_slow"],
        "n_facet_components": len(comps), "verification": check.as_dict(), "dynamic_range_ok": dr_ok,
        "check": "verification (residual peak after replacement <= max_peak_jy and <= max_ratio x before) "
                 "and kept selfcal image dynamic range >= first image's",
    }
    (out / "selfcal.json").write_text(json.dumps(summary, indent=1))
    plotting.submit(plots.selfcal_images, [out / "verify_pre.fits", out / "verify_post.fits"])


def fast_phases(cal_ms: list[list[str]], p: dict, data_column: str, out_column: str, prefix: Path,
                log: Path, threads: int) -> list[list[str]]:
    """Fast (TEC+)phases of every time chunk and TEC block against MODEL_DATA
    (``<prefix>_t<i>_b<b>.h5``), applied to DATA into ``out_column``."""
    solver = cal.SolverSettings(**p["solver"])
    tabs = ["tec000", "phase000"] if p["fast_mode"] == "tecandphase" else ["phase000"]
    import_beside(*SMOOTHING_MODULES)  # the peels' (selfcal has them by now: above)

    def solve(ms: str, h5: str, n: int, slots: tuple[int, int] | None) -> None:
        cal.solve(ms, h5, p["fast_mode"], p["solint_fast"], p["nchan_fast"], solver, data_column, log=log, threads=n,
                  time_slots=slots)

    def apply(ms: str, h5: str, n: int) -> None:
        windows = smooth_solution_file(h5, p["fast_smoothing_window"])
        if any(w for w, _, _ in windows.values()):
            with open(log, "a") as fh:
                fh.write(f"{Path(h5).name}: fast phases smoothed, (solution intervals, order) per station (GCV), "
                         "+ outlying intervals replaced: "
                         + " ".join(f"{a} {w}/{o}" + (f"+{r}" if r else "") for a, (w, o, r) in windows.items()) + "\n")
        cal.apply(ms, h5, tabs, "DATA", out_column, log=log, threads=n)

    return _per_block(cal_ms, prefix, solve, apply, p["solint_fast"], threads)


def slow_gains(cal_ms: list[list[str]], p: dict, prefix: Path, log: Path, threads: int, apply: bool) -> list[list[str]]:
    """Slow complex gains (smoothness-constrained) of the phase-corrected data
    (CORRECTED_PHASE); with ``apply``, their smoothed, normalised amplitudes and phases are
    applied into CORRECTED_DATA (the selfcal loop images that)."""
    solver = cal.SolverSettings(**p["solver"])
    solver = replace(solver, maxiter=max(solver.maxiter, 150))

    def solve(ms: str, h5: str, n: int, slots: tuple[int, int] | None) -> None:
        cal.solve(ms, h5, "scalar", p["solint_slow"], p["nchan_slow"], solver, "CORRECTED_PHASE",
                  smoothness_hz=p["smoothness_hz"], log=log, threads=n, time_slots=slots)

    def smooth_apply(ms: str, h5: str, n: int) -> None:
        cal.add_smoothed_amplitudes(h5, p["spline_smooth2d"])
        cal.apply(ms, h5, ["amplitude001", "phase000"], "CORRECTED_PHASE", "CORRECTED_DATA", log=log, threads=n)

    return _per_block(cal_ms, prefix, solve, smooth_apply if apply else None, p["solint_slow"], threads)


def _per_block(cal_ms: list[list[str]], prefix: Path, solve, apply, solint: int, threads: int) -> list[list[str]]:
    """``solve(ms, h5, threads, time_slots)`` for every time chunk and TEC block (each block
    is solved on its own), side by side; where there are more threads than blocks, each solve
    in time pieces side by side (solve_pieces.py), joined into one file; then
    ``apply(ms, h5, threads)`` (if given) for every block.  The solution files are
    ``<prefix>_t<i>_b<b>.h5`` per chunk and block."""
    files = [[f"{prefix}_t{i}_b{b}.h5" for b in range(len(row))] for i, row in enumerate(cal_ms)]
    blocks = [(ms, h5) for row, names in zip(cal_ms, files) for ms, h5 in zip(row, names)]
    per_block = share(threads, len(blocks))[1]
    calls, joins = [], []
    for ms, h5 in blocks:
        pieces = time_pieces(ms_ntimes(ms), solint, per_block) if per_block > 1 else [None]
        if len(pieces) == 1:
            calls.append(lambda n, ms=ms, h5=h5: solve(ms, h5, n, None))
            continue
        parts = [f"{h5.removesuffix('.h5')}_p{k}.h5" for k in range(len(pieces))]
        calls += [lambda n, ms=ms, part=part, slots=slots: solve(ms, part, n, slots) for part, slots in zip(parts, pieces)]
        joins.append((parts, h5))
    run_side_by_side(calls, threads)
    for parts, h5 in joins:
        cal.merge_in_time(parts, h5)
        for part in parts:
            Path(part).unlink()
    if apply is not None:
        run_side_by_side([lambda n, ms=ms, h5=h5: apply(ms, h5, n) for ms, h5 in blocks], threads)
    return files


def in_cal_box(d: dict, ra, dec, margin_deg: float = 0.0) -> np.ndarray:
    """Whether (ra, dec) lie in direction ``d``'s calibrator box (side ``cal_size_deg`` about the
    calibrator, in the tangent plane), widened by ``margin_deg`` on every side.  The one
    definition of the box: its sources are added back to the calibrator's data (cal_box_model)
    and its pixels are the selfcal images' clean mask (cal_box_mask)."""
    x, y = plane_coordinates((d["ra_deg"], d["dec_deg"]), ra, dec)
    half = d["cal_size_deg"] / 2.0 + margin_deg
    return (np.abs(np.asarray(x)) <= half) & (np.abs(np.asarray(y)) <= half)


def cal_box_mask(d: dict, wcs, size: int) -> np.ndarray:
    """The selfcal images' clean mask: the calibrator box and two cells around it.

    Outside the box the calibrator's data hold only what the subtraction left of other
    sources.  Cleaned, those leftovers became part of the model the next solve fitted: on the
    benchmark's faintest calibrator (dir06, 0.59 Jy) the phase-only cycle against image 1's
    model lost 2.5 % of the peak that the solve against the sky model had reached (0.981 ->
    0.956; with this mask 0.981).  Factor's premask (the image's central 60 %) was meant to be
    this box: Factor sizes the image so the box fills that 60 %, but at the 512-pixel minimum
    and coarse cells the 60 % reaches far beyond it (30' at 6" cells for a 6' box)."""
    yy, xx = np.mgrid[0:size, 0:size]
    ra, dec = wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
    cell_deg = abs(wcs.wcs.cdelt[1])
    # 2.5 cells: every pixel whose centre is within two whole cells of the box (the box's edge
    # falls anywhere between pixel centres, and one exactly on it must not be lost to rounding).
    return in_cal_box(d, ra, dec, 2.5 * cell_deg).reshape(size, size)


def imaging_settings(p: dict, work: Path) -> ImagingSettings:
    """The selfcal images' WSClean settings (the calibrator image's size)."""
    cell = p["cellsize_arcsec"]
    return ImagingSettings(size=cal_image_size(p["min_cal_imsize"], p["direction"]["cal_size_deg"], cell), scale_arcsec=cell,
                           robust=p["robust"], min_uv_lambda=p["min_uv_lambda"], abs_mem_gb=wsclean_memory_gb(p),
                           temp_dir=str(work), channels_out=p["channels_out"], auto_mask=4.0, auto_threshold=1.5,
                           multiscale=p["multiscale"], multiscale_scales=_scales(p.get("multiscale_scales")),
                           idg_mode=p.get("idg_mode"), baseline_averaging_wavelengths=p.get("bl_avg_wavelengths", 0.0))


def improved_facet_model(p: dict, state: dict, img: ImagingSettings, solutions: str, work: Path, out: Path,
                         log: Path, threads: int, subtract: str | None = None) -> list:
    """Clean components of the whole facet: the residual with the facet's current model added
    back (and ``subtract``, a peeled source's model corrupted by its solutions, taken out),
    corrected by ``solutions``, imaged inside the facet polygon; ``facet_image.fits`` is kept."""
    d = p["direction"]
    name = d["name"]
    cell = img.scale_arcsec
    facet = d["facet"]
    fcentre = (facet["ra_deg"], facet["dec_deg"])
    facet_ms = prepare(p["residual"], state["models"], work, "facet", fcentre, p["facet_freqstep"],
                       p["facet_timestep"], state["h5"], solutions, name, log, threads,
                       sub_model=subtract, sub_h5=solutions if subtract else None, channels=p.get("facet_channels"))
    fsize = optimum_size(facet["width_deg"] * 3600.0 / cell * p["padding"], minimum=256)
    wcs = image_wcs(fcentre, fsize, cell)
    mask = polygon_mask([tuple(v) for v in facet["vertices"]], wcs, (fsize, fsize))
    mask_path = work / "facet_mask.fits"
    write_mask(mask_path, mask, wcs)
    img = replace(img, baseline_averaging_wavelengths=p.get("facet_bl_avg_wavelengths", 0.0),
                  channels_out=p.get("facet_channels_out", img.channels_out))
    products = wsclean(facet_ms, str(work / "facet"), replace(img, size=fsize, auto_mask=3.0),
                       fits_mask=str(mask_path), log=log, threads=threads, update_model=False)
    shutil.copyfile(products["image"], out / "facet_image.fits")
    comps = clean_components(products["sources"], name)
    known = [c for m in (*p["history"][0]["models"], *state["models"]) if m for c in read_skymodel(m)]
    if subtract:  # the peeled source is not part of the rest of the facet
        known = [c for c in known if not _near_any(c, read_skymodel(subtract), 2.0 * cell / 3600.0)]
    _subtract_into(facet_ms, comps, "DATA", "RESIDUAL_HIGH", work / "facet_high.skymodel", log, threads)
    comps += _known_source_model(facet_ms, known, mask, wcs, img, fsize, work, name, log, threads)
    comps += _medium_resolution_model(facet_ms, facet, img, fsize, work, name, log, threads)
    return comps


def _near_any(comp, others: list, radius_deg: float) -> bool:
    x, y = plane_coordinates((comp.ra_deg, comp.dec_deg), [o.ra_deg for o in others], [o.dec_deg for o in others])
    return bool(np.any(np.hypot(x, y) <= radius_deg))


def verify(p: dict, state: dict, new_model: str, solutions: str, name: str, work: Path, out: Path,
            log: Path, threads: int) -> verification.Verification:
    """Factor's verification on the middle band: residual before and after the replacement."""
    v = p["verify"]
    slot = v["slot"]
    pre, post = [], []
    steps, args = replacement(state["models"][slot], state["h5"], new_model, solutions, name)
    pre_calls, post_calls = [], []
    for i, row in enumerate(p["residual"]):
        if row[slot] is None:
            continue
        pre.append(str(work / f"verify_pre_t{i}.ms"))
        post.append(str(work / f"verify_post_t{i}.ms"))
        pre_calls.append(lambda n, ms=row[slot], out=pre[-1]: verification.averaged(ms, out, [], {}, v["freqstep"], v["timestep"], log, n))
        post_calls.append(lambda n, ms=row[slot], out=post[-1]: verification.averaged(ms, out, steps, args, v["freqstep"], v["timestep"], log, n))
    # The "pre" averaging takes a fraction of a second, the "post" one predicts both models:
    # side by side, "post" ran alone on one thread for most of the pair's time (measured on
    # small: 46 core-seconds idle over the run), so each set gets all the threads in turn.
    run_side_by_side(pre_calls, threads)
    run_side_by_side(post_calls, threads)
    mem = wsclean_memory_gb(p)  # the job's WSClean memory, shared by the two images at once
    mem = mem / share(threads, 2)[0] if mem else None
    images = run_side_by_side([lambda n, kind=kind, ms=ms: verification.image(ms, str(work / f"verify_{kind}"), v["min_uv_lambda"],
                                                                              log, n, abs_mem_gb=mem)
                               for kind, ms in (("pre", pre), ("post", post))], threads)
    shutil.copyfile(images[0], out / "verify_pre.fits")
    shutil.copyfile(images[1], out / "verify_post.fits")
    local = (p["direction"]["ra_deg"], p["direction"]["dec_deg"]) if v.get("local") else None
    return verification.verify(images[0], images[1], v["max_peak_jy"], v["max_ratio"], local=local)


def _subtract_into(facet_ms: list[str], comps: list, column_in: str, column_out: str, path: Path,
                   log: Path, threads: int) -> None:
    """``column_out`` = ``column_in`` minus the (uncorrupted) components."""
    write_skymodel(path, comps)
    if comps:
        run_side_by_side([lambda n, ms=ms: cal.predict(ms, str(path), column_out, operation="subtract", data_column=column_in,
                                                       log=log, threads=n) for ms in facet_ms], threads)
    elif column_in != column_out:
        run_side_by_side([lambda n, ms=ms: run_dp3({"msin": ms, "msin.datacolumn": column_in, "msout": ".",
                                                    "msout.datacolumn": column_out, "steps": []}, log=log, threads=n)
                          for ms in facet_ms], threads)


def _known_source_model(facet_ms: list[str], known: list, facet_mask: np.ndarray, wcs, img: ImagingSettings,
                        fsize: int, work: Path, name: str, log: Path, threads: int) -> list:
    """Clean components at the positions of the sources already in the model (the DI facet
    model and the model currently subtracted), cleaned to 1 sigma without auto-masking.

    The auto-masked clean only finds sources above ~3x the facet image noise; a source of the
    DI model fainter than that would otherwise drop out of the improved model and, after
    facetsub, be left unsubtracted in the residual (measured: the brightest facet's model
    shrank from the DI model's components to 2-3 in the second pass).  The data after the
    auto-masked clean (RESIDUAL_HIGH) are cleaned again inside small discs around every known
    source, and what is found is subtracted from RESIDUAL_HIGH too.

    Known sources include every component of the model being replaced, so the 1-sigma
    components of one pass get discs in the next and the model grows (bright seed 3, 4 passes:
    dir00 154 -> 798 components, most of them away from any true source).  That looks like a
    bug but is worth keeping: the extra components fit the bright sources' leftovers, and
    taking only the DI model's sources as known (session 21) gave better solutions but R_res
    1.58 -> 1.73 and R_mosaic 1.55 -> 1.77 (bench/RESULTS.md, bench/model_content.py)."""
    if not known:
        return []
    cell = img.scale_arcsec
    radius = [max(2.5 * cell, 0.5 * c.major_arcsec + 1.5 * cell) for c in known]
    discs = discs_mask([c.ra_deg for c in known], [c.dec_deg for c in known], radius, wcs, (fsize, fsize))
    mask = discs & facet_mask
    if not mask.any():
        return []
    mask_path = work / "facet_mask_known.fits"
    write_mask(mask_path, mask, wcs)
    products = wsclean(facet_ms, str(work / "facet_known"), replace(img, size=fsize, auto_mask=0.0, auto_threshold=1.0),
                       data_column="RESIDUAL_HIGH", fits_mask=str(mask_path), log=log, threads=threads, update_model=False)
    comps = [replace(c, name=f"{name}_known_{i}") for i, c in enumerate(clean_components(products["sources"], name))]
    _subtract_into(facet_ms, comps, "RESIDUAL_HIGH", "RESIDUAL_HIGH", work / "facet_known.skymodel", log, threads)
    return comps


def _medium_resolution_model(facet_ms: list[str], facet: dict, img: ImagingSettings, fsize: int,
                             work: Path, name: str, log: Path, threads: int) -> list:
    """Clean components of the facet data minus the high-resolution model, imaged at 4x the
    cell with a 3-cell taper and robust 0 down to 0.5 sigma inside the facet (factor.md §5.4
    step 15): the extended and faint emission the high-resolution clean left."""
    cell = 4.0 * img.scale_arcsec
    size = optimum_size(fsize / 4.0, minimum=128)
    fcentre = (facet["ra_deg"], facet["dec_deg"])
    wcs = image_wcs(fcentre, size, cell)
    mask_path = work / "facet_mask_med.fits"
    write_mask(mask_path, polygon_mask([tuple(v) for v in facet["vertices"]], wcs, (size, size)), wcs)
    settings = replace(img, size=size, scale_arcsec=cell, robust=0.0, taper_arcsec=3.0 * cell,
                       auto_mask=3.0, auto_threshold=0.5)
    products = wsclean(facet_ms, str(work / "facet_med"), settings, data_column="RESIDUAL_HIGH",
                       fits_mask=str(mask_path), log=log, threads=threads, update_model=False)
    return [replace(c, name=f"{name}_med_{i}") for i, c in enumerate(clean_components(products["sources"], name))]


def _scales(values) -> tuple[int, ...] | None:
    return tuple(values) if values else None


def cal_box_model(model: str, d: dict, out: Path) -> str:
    """The components of ``model`` inside the calibrator box (side cal_size_deg)."""
    comps = read_skymodel(model)
    if comps:
        inside = in_cal_box(d, [c.ra_deg for c in comps], [c.dec_deg for c in comps])
        comps = [c for c, keep in zip(comps, inside) if keep]
    write_skymodel(out, comps)
    return str(out)
