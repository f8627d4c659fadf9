"""Build a simulated LOFAR HBA observation as LINC hands it to Factor, with its truth kept apart.

OUTDIR/
  sim[_B<k>].ms             one MS per band: DATA (DI-calibrated) and SUBTRACTED_DATA_ALL
  sim[_B<k>].merge          the (imperfect) DI sky model subtracted from that band
  directions.txt            the calibrators in Factor's 14-column format, brightest first
  factor.parset             ready to run (paths relative to OUTDIR)
  truth/                    never read by the pipeline: sky.txt, gains.h5, noise[_B<k>].ms,
                            apparent[_B<k>].skymodel, truth.json

DATA = Σ_d g_i,d g*_j,d M_ij,d + noise, where M_d is the apparent (beam-attenuated) sky of
patch d predicted by DP3 and g the DD gains of truth/gains.h5 (applied by DP3 h5parmpredict).
The noise is kept, visibility for visibility, in truth/noise*.ms (same layout and flags), so
the thermal limit of any image can be measured by imaging it with the same settings.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import __version__
from ..directions import Direction, write_directions_file
from ..engines import run_dp3
from ..h5parm import SolutionTable, write_h5parm
from ..skymodel import write_skymodel
from . import beam, ionosphere, sky
from .measurement_set import create_ms
from .observation import core_location, elevation_deg, local_sidereal_time_deg, make_bands, transit_centred_times
from .presets import Preset
from .stations import select_stations

# Calibrator region recorded in directions.txt (degrees): room for the calibrator and its
# immediate surroundings in the selfcal image, as LSMTool's writer would give for a compact source.
CAL_SIZE_DEG = 0.1


class Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[{time.monotonic() - self.start:6.1f} s] {message}", file=sys.stderr, flush=True)


def thermal_sigma(sefd_jy: float, chan_width_hz: float, dt_s: float) -> float:
    """Noise sigma of the real (and of the imaginary) part of one visibility: SEFD/√(2Δν τ)."""
    return sefd_jy / np.sqrt(2.0 * chan_width_hz * dt_s)


def natural_image_rms(sigma: float, n_visibilities: int) -> float:
    """Stokes-I natural-weighted image rms: I=(XX+YY)/2 halves the variance, N visibilities average."""
    return sigma / np.sqrt(2.0 * n_visibilities)


def simulate(outdir: Path, preset: Preset, seed: int, progress: Progress | None = None) -> dict:
    """Write the observation and its truth into ``outdir`` (which must exist and be empty)."""
    progress = progress or Progress(False)
    outdir = Path(outdir).resolve()
    truth_dir = outdir / "truth"
    truth_dir.mkdir()
    rng = np.random.default_rng(seed)
    ra0, dec0 = preset.phase_centre_deg

    stations = select_stations(preset.ncore, preset.nremote)
    bands = make_bands(preset.start_freq_hz, preset.band_width_hz, preset.nchan, list(preset.band_indices))
    times = transit_centred_times(ra0, preset.date, preset.ntimes, preset.dt_s)
    suffixes = [""] if len(bands) == 1 else [f"_B{b.index}" for b in bands]
    ms_paths = [outdir / f"sim{s}.ms" for s in suffixes]
    noise_paths = [truth_dir / f"noise{s}.ms" for s in suffixes]

    comps, patches = sky.make_sky(rng, preset.sky, preset.phase_centre_deg)
    calibrators = [c for c in comps if c.name.startswith("cal")]
    # Each patch's direction: its calibrator, or the primary of a bright source to be peeled.
    leaders = {c.patch: c for c in comps if c.name.startswith("cal") or (c.name.startswith("peel_") and c.name.endswith("_A"))}
    bright = {b.name: b for b in preset.sky.bright}
    progress(f"sky: {len(comps)} sources, {len(patches)} calibrator patches")

    nant = len(stations)
    nbl = nant * (nant - 1) // 2
    flag_masks = [rng.uniform(size=(nbl * len(times), b.nchan)) < preset.flag_fraction for b in bands]
    for band, ms, flags in zip(bands, ms_paths, flag_masks):
        create_ms(ms, stations, band, times, preset.dt_s, preset.phase_centre_deg, flags)
    progress(f"created {len(ms_paths)} MS ({nant} stations, {nbl} baselines, {len(times)} x {preset.dt_s:g} s)")

    attenuation = [beam.band_attenuation(ms_paths[0], comps, b.ref_freq_hz, times) for b in bands]
    progress("primary-beam attenuation from EveryBeam")

    freqs = np.concatenate([b.chan_freqs_hz for b in bands])
    lat, lon = core_location()
    station_itrf = np.array([s.position for s in stations])
    cal_radec = np.array([[leaders[p].ra_deg, leaders[p].dec_deg] for p in patches])
    corr = ionosphere.make_corruptions(
        rng, preset.ionosphere, station_itrf, station_itrf[0], lat, lon, cal_radec,
        local_sidereal_time_deg(times), times, freqs, strong=np.array([p in bright and bright[p].strong_errors for p in patches]),
    )
    gains_path = truth_dir / "gains.h5"
    antennas = {s.name: s.position for s in stations}
    dir_positions = {p: (leaders[p].ra_deg, leaders[p].dec_deg) for p in patches}
    axes = {"time": times, "freq": freqs, "ant": np.array([s.name for s in stations]), "dir": np.array(patches)}
    write_h5parm(
        gains_path,
        [
            SolutionTable("phase000", "phase", axes, corr.phase),
            SolutionTable("amplitude000", "amplitude", axes, corr.amplitude),
            SolutionTable("tec000", "tec", {k: axes[k] for k in ("time", "ant", "dir")}, corr.tec),
        ],
        antennas, dir_positions,
    )
    progress("DD errors written to truth/gains.h5")

    di_model, di_factors = sky.make_di_model(rng, comps, preset.di_errors)
    sigma = thermal_sigma(preset.sefd_jy, bands[0].chan_width_hz, preset.dt_s)
    n_vis_total = 0
    band_truth = []
    with tempfile.TemporaryDirectory(prefix="factor-sim-") as tmp:
        for k, (band, ms, noise_ms, flags, suffix) in enumerate(zip(bands, ms_paths, noise_paths, flag_masks, suffixes)):
            apparent = sky.apply_attenuation(comps, attenuation[k])
            apparent_path = truth_dir / f"apparent{suffix}.skymodel"
            write_skymodel(apparent_path, apparent, dir_positions)
            _copy_table(ms, noise_ms)
            run_dp3(
                {
                    "msin": ms, "msout": ".", "msout.datacolumn": "DATA", "steps": ["corrupt"],
                    "corrupt.type": "h5parmpredict", "corrupt.sourcedb": apparent_path,
                    "corrupt.applycal.parmdb": gains_path, "corrupt.applycal.correction": "phase000",
                    "corrupt.applycal.steps": ["ph", "amp"], "corrupt.applycal.ph.correction": "phase000",
                    "corrupt.applycal.amp.correction": "amplitude000",
                },
                threads=2,
            )
            noise_rng = np.random.default_rng([seed, 1000 + band.index])
            _add_noise(ms, noise_ms, noise_rng, sigma)
            n_vis = int((~flags).sum())
            n_vis_total += n_vis
            di_band = sky.scale_di_model(sky.apply_attenuation(di_model, attenuation[k]), di_factors)
            merge_path = outdir / f"sim{suffix}.merge"
            write_skymodel(merge_path, di_band)
            dp3_copy = Path(tmp) / f"di{suffix}.skymodel"  # DP3 wants a .skymodel name
            shutil.copyfile(merge_path, dp3_copy)
            run_dp3(
                {
                    "msin": ms, "msin.datacolumn": "DATA", "msout": ".",
                    "msout.datacolumn": "SUBTRACTED_DATA_ALL", "steps": ["sub"],
                    "sub.type": "predict", "sub.sourcedb": dp3_copy, "sub.operation": "subtract",
                },
                threads=2,
            )
            band_truth.append(
                {
                    "ms": ms.name, "noise_ms": f"truth/{noise_ms.name}",
                    "apparent_skymodel": f"truth/{apparent_path.name}", "di_skymodel": merge_path.name,
                    "ref_freq_hz": band.ref_freq_hz, "nchan": band.nchan,
                    "chan_width_hz": band.chan_width_hz, "n_unflagged_visibilities": n_vis,
                    "thermal_image_rms_jy": natural_image_rms(sigma, n_vis),
                }
            )
            progress(f"band {band.index} ({band.ref_freq_hz / 1e6:.2f} MHz): corrupted, noise added, DI model subtracted")

    write_skymodel(truth_dir / "sky.txt", comps, dir_positions)

    def apparent_mjy(patch: str) -> float:
        return round(float(np.mean([1e3 * lead_apparent_jy(comps, patch, b, a) for b, a in zip(bands, attenuation)])), 1)

    # A peel sky model per bright source, as Factor's bundled 3C models: intrinsic fluxes
    # (the solutions' amplitudes take up the beam), one patch.
    for name in bright:
        path = outdir / f"peel_{name}.skymodel"
        write_skymodel(path, peel_components(comps, name), {name: dir_positions[name]})
        path.write_text(f"# peel model of {name}: the simulated truth (factor-simulate preset {preset.name}, seed {seed}), "
                        "intrinsic fluxes\n" + path.read_text())
    # Factor processes directions in file order, brightest (apparent, as in the DI model) first.
    directions = sorted(
        (
            Direction(name=p, ra_deg=leaders[p].ra_deg, dec_deg=leaders[p].dec_deg, cal_size_deg=CAL_SIZE_DEG,
                      cal_flux_mjy=apparent_mjy(p), peel_skymodel=f"peel_{p}.skymodel" if p in bright else None,
                      outlier_source=bool(p in bright and bright[p].outlier))
            for p in patches
        ),
        key=lambda d: -d.cal_flux_mjy,
    )
    write_directions_file(outdir / "directions.txt", directions)
    (outdir / "factor.parset").write_text(_parset_text(preset))

    elevations = elevation_deg(times, ra0, dec0)
    truth = {
        "generator": f"factor-simulate {__version__}",
        "preset": preset.name,
        "seed": seed,
        "phase_centre_deg": [ra0, dec0],
        "mean_elevation_deg": float(np.mean(elevations)),
        "time_range_mjd_s": [float(times[0] - preset.dt_s / 2), float(times[-1] + preset.dt_s / 2)],
        "stations": [s.name for s in stations],
        "sefd_jy": preset.sefd_jy,
        "noise_sigma_jy": float(sigma),
        "noise_sigma_note": "sigma of the real and of the imaginary part of one visibility (each correlation)",
        "thermal_image_rms_jy": {
            "weighting": "natural",
            "stokes": "I",
            "value": float(natural_image_rms(sigma, n_vis_total)),
            "n_unflagged_visibilities": n_vis_total,
            "note": "all bands imaged together; per band in bands[].thermal_image_rms_jy",
        },
        "bands": band_truth,
        "noise_ms": {b["ms"]: b["noise_ms"] for b in band_truth},
        "calibrators": [
            {
                "name": c.name, "direction": c.patch, "ra_deg": c.ra_deg, "dec_deg": c.dec_deg,
                "flux_jy": c.flux_jy, "ref_freq_hz": c.ref_freq_hz, "spectral_index": list(c.spectral_index),
                "beam_attenuation": [a[c.name] for a in attenuation],
                "apparent_flux_jy": [float(c.flux_at(b.ref_freq_hz) * a[c.name]) for b, a in zip(bands, attenuation)],
            }
            for c in calibrators
        ],
        "peeled": [
            {
                "name": name, "direction": name, "outlier": b.outlier, "peel_skymodel": f"peel_{name}.skymodel",
                "ra_deg": leaders[name].ra_deg, "dec_deg": leaders[name].dec_deg,
                "flux_jy": b.flux_jy, "ref_freq_hz": preset.sky.ref_freq_hz, "spectral_index": [b.spectral_index],
                "components": [c.name for c in peel_components(comps, name)],
                "apparent_flux_jy": [lead_apparent_jy(comps, name, bd, a) for bd, a in zip(bands, attenuation)],
            }
            for name, b in bright.items()
        ],
        "primary_beam": "EveryBeam LOFAR station power response, mean over time and stations, per band (static)",
        "di_model": {
            "flux_scatter_lognormal_sigma": preset.di_errors.flux_scatter,
            "omitted_below_jy": preset.di_errors.omit_below_jy,
            "n_sources": len(di_model),
            "n_omitted": len(comps) - len(di_model),
            "flux_factors": di_factors,
        },
        "ionosphere": asdict(preset.ionosphere),
        "gains": "truth/gains.h5 (sol000: phase000, amplitude000, tec000; dirs [dirNN, then the bright sources]; phases referenced to the first station)",
    }
    (truth_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    progress("wrote directions.txt, factor.parset and truth/truth.json")
    return truth


def peel_components(comps: list, patch: str) -> list:
    """The components of a bright source to be peeled (``peel_<name>_A``/``_B``)."""
    return [c for c in comps if c.patch == patch and c.name.startswith("peel_")]


def lead_apparent_jy(comps: list, patch: str, band, attenuation: dict[str, float]) -> float:
    """Apparent flux (Jy) in one band of what leads a patch: its calibrator, or the
    components of its bright source."""
    return float(sum(c.flux_at(band.ref_freq_hz) * attenuation[c.name] for c in comps
                     if c.patch == patch and c.name.startswith(("cal", "peel_"))))


def _copy_table(src: Path, dst: Path) -> None:
    from casacore import tables as pt

    with pt.table(str(src), ack=False) as t:
        t.copy(str(dst), deep=True)


def _add_noise(ms: Path, noise_ms: Path, rng: np.random.Generator, sigma: float) -> None:
    """DATA += noise in ``ms``; the same noise goes into ``noise_ms`` DATA."""
    from casacore import tables as pt

    with pt.table(str(ms), readonly=False, ack=False) as t, pt.table(str(noise_ms), readonly=False, ack=False) as n:
        nrow = t.nrows()
        step = 200_000
        for start in range(0, nrow, step):
            count = min(step, nrow - start)
            data = t.getcol("DATA", startrow=start, nrow=count)
            noise = (rng.standard_normal(data.shape) + 1j * rng.standard_normal(data.shape)) * sigma
            noise = noise.astype(np.complex64)
            t.putcol("DATA", data + noise, startrow=start, nrow=count)
            n.putcol("DATA", noise, startrow=start, nrow=count)


def _parset_text(preset: Preset) -> str:
    return f"""# Factor parset written by factor-simulate (preset {preset.name}).
# Relative paths are relative to this file's folder.

[global]
dir_working = work
dir_ms = .

[calibration]
# Beyond Factor: further passes over all directions, each starting from the residual the one
# before left, so the first (brightest) directions are re-calibrated on cleaner data.
selfcal_passes = {preset.selfcal_passes}

[imaging]
selfcal_cellsize_arcsec = {preset.cellsize_arcsec}
# Debian's WSClean 3.1 is built without IDG.
wsclean_use_idg = False

[directions]
directions_file = directions.txt
"""
