"""Measurements of a run against the simulated truth, shared by the tests and the benchmarks.

- image noise in source-free regions (robust rms, pixels near any true source excluded);
- flux and position of a compact source (fit of the restoring beam);
- recovered DD phases against the true gains (both referenced to the first station, circular
  difference, truth averaged over each solution interval).
"""

from __future__ import annotations

import math

import numpy as np
from astropy.stats import mad_std
from astropy.io import fits
from astropy.wcs import WCS

from .h5parm import read_soltab
from .skymodel import read_skymodel


def _load(path: str) -> tuple[np.ndarray, WCS, fits.Header]:
    header = fits.getheader(path)
    return np.squeeze(fits.getdata(path)).astype(float), WCS(header).celestial, header


def source_free_rms(image: str, skymodel: str, exclude_arcsec: float = 180.0, min_flux_jy: float = 0.0,
                    within: str | None = None) -> float:
    """Robust rms (1.4826 MAD) of finite pixels farther than ``exclude_arcsec`` from every true source.

    ``within``: another image; only pixels whose sky position is finite (not blanked) there
    count, so two images are compared over the same area (e.g. a DI image over a pbcut mosaic's
    area)."""
    data, wcs, _ = _load(image)
    ny, nx = data.shape
    keep = np.isfinite(data)
    if within is not None:
        other, owcs, _ = _load(within)
        yy, xx = np.mgrid[0:ny, 0:nx]
        ra, dec = wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
        ox, oy = owcs.wcs_world2pix(ra, dec, 0)
        ox, oy = np.rint(ox).astype(int), np.rint(oy).astype(int)
        inside = (ox >= 0) & (oy >= 0) & (ox < other.shape[1]) & (oy < other.shape[0])
        finite = np.zeros(ox.shape, dtype=bool)
        finite[inside] = np.isfinite(other[oy[inside], ox[inside]])
        keep &= finite.reshape(ny, nx)
    scale = abs(wcs.wcs.cdelt[1]) * 3600.0
    r = int(math.ceil(exclude_arcsec / scale))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = (xx**2 + yy**2) <= r * r
    for c in read_skymodel(skymodel):
        if c.flux_jy < min_flux_jy:
            continue
        px, py = wcs.wcs_world2pix([c.ra_deg], [c.dec_deg], 0)
        x0, y0 = int(round(px[0])), int(round(py[0]))
        ys, xs = yy[disc] + y0, xx[disc] + x0
        ok = (ys >= 0) & (ys < ny) & (xs >= 0) & (xs < nx)
        keep[ys[ok], xs[ok]] = False
    values = data[keep]
    if values.size < 100:
        raise ValueError(f"{image}: fewer than 100 source-free pixels")
    return float(mad_std(values))


def fitted_flux(image: str, ra_deg: float, dec_deg: float, box_beams: float = 1.5) -> tuple[float, float]:
    """Flux and position offset (arcsec) of a compact source from a fit of the restoring beam.

    A 2-D Gaussian with the image's BMAJ/BMIN/BPA, free amplitude, centre and background is
    fitted within ±``box_beams`` major axes; for an unresolved source the amplitude (Jy/beam)
    is its integrated flux.  Unlike a pixel sum, this does not pick up the dirty-beam
    sidelobes of the residual, and unlike the peak pixel it is not biased by pixelisation.
    """
    from scipy.optimize import curve_fit

    data, wcs, header = _load(image)
    scale = abs(wcs.wcs.cdelt[1]) * 3600.0
    bmaj, bmin, bpa = header["BMAJ"] * 3600.0 / scale, header["BMIN"] * 3600.0 / scale, math.radians(header.get("BPA", 0.0))
    px, py = wcs.wcs_world2pix([ra_deg], [dec_deg], 0)
    half = int(math.ceil(box_beams * bmaj))
    x0, y0 = int(round(px[0])), int(round(py[0]))
    cut = data[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1]
    yy, xx = np.mgrid[y0 - half : y0 + half + 1, x0 - half : x0 + half + 1]
    sx, sy = bmin / 2.3548, bmaj / 2.3548  # BPA is measured from north (y) towards east (-x)
    cos, sin = math.cos(bpa), math.sin(bpa)

    def model(coords, amp, xc, yc, bg):
        x, y = coords
        u = (x - xc) * cos + (y - yc) * sin
        v = -(x - xc) * sin + (y - yc) * cos
        return amp * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)) + bg

    ok = np.isfinite(cut)
    start = (float(np.nanmax(cut)), float(px[0]), float(py[0]), 0.0)
    popt, _ = curve_fit(model, (xx[ok], yy[ok]), cut[ok], p0=start)
    return float(popt[0]), float(math.hypot(popt[1] - px[0], popt[2] - py[0]) * scale)


def integrated_flux(image: str, ra_deg: float, dec_deg: float, radius_arcsec: float) -> float:
    """Flux within ``radius_arcsec`` of a position: the pixel sum over the restoring beam's
    area (pixels), for a resolved source (a double) that a single beam fit underestimates."""
    data, wcs, header = _load(image)
    scale = abs(wcs.wcs.cdelt[1]) * 3600.0
    beam_pixels = math.pi * header["BMAJ"] * header["BMIN"] * (3600.0 / scale) ** 2 / (4.0 * math.log(2.0))
    yy, xx = np.mgrid[: data.shape[0], : data.shape[1]]
    px, py = wcs.wcs_world2pix([ra_deg], [dec_deg], 0)
    inside = np.hypot(xx - px[0], yy - py[0]) * scale <= radius_arcsec
    return float(np.nansum(data[inside]) / beam_pixels)


def _ordered(table, names=("time", "freq", "ant")) -> np.ndarray:
    """Values as (time, freq, ant), the first direction and polarisation."""
    axes = list(table.axes)
    values = table.values
    for extra in [a for a in axes if a not in names]:
        values = np.take(values, 0, axis=axes.index(extra))
        axes.remove(extra)
    return np.moveaxis(values, [axes.index(n) for n in names], [0, 1, 2])


def phase_errors(solutions_h5: str, truth_h5: str, direction: str) -> np.ndarray:
    """Phase error (rad) of the solved phases (fast TEC + phase, plus slow phases if the file
    has them: a combined solution file, or one DDECal fast solve) vs the true phases, per
    (fast time, freq, station), at the fast solutions' frequencies.

    Both are referenced to the first station; the truth is taken at the nearest frequency and
    averaged (as a complex mean) over each fast solution interval.  A TEC solution is evaluated
    at that truth frequency, not at its block's centre: between 146 and 145 MHz, 0.05 TECU
    alone changes the phase by 0.02 rad, which would count as an error.
    """
    from .calibration import TEC_TO_PHASE, has_soltab

    fast = read_soltab(solutions_h5, "phase000")
    truth = read_soltab(truth_h5, "phase000")
    tdir = list(truth.axes["dir"]).index(f"[{direction}]")
    truth_ants = list(truth.axes["ant"])
    idx = [truth_ants.index(a) for a in fast.axes["ant"]]
    t_fast, f_fast = fast.axes["time"], fast.axes["freq"]
    fast_values = _ordered(fast)
    tf = np.argmin(np.abs(truth.axes["freq"][None, :] - f_fast[:, None]), axis=1)
    if has_soltab(solutions_h5, "tec000"):
        tec = read_soltab(solutions_h5, "tec000")
        jt = np.argmin(np.abs(tec.axes["freq"][None, :] - f_fast[:, None]), axis=1)
        fast_values = fast_values + (TEC_TO_PHASE * _ordered(tec)[:, jt] / truth.axes["freq"][tf][None, :, None])
    true = np.exp(1j * truth.values[:, tf][:, :, idx, tdir])  # (truth time, fast freq, ant)
    edges = np.concatenate([[-np.inf], (t_fast[1:] + t_fast[:-1]) / 2, [np.inf]])
    which = np.searchsorted(edges, truth.axes["time"]) - 1
    true_avg = np.angle(np.array([true[which == k].mean(axis=0) for k in range(len(t_fast))]))
    solved = fast_values
    if has_soltab(solutions_h5, "phase001"):
        slow = read_soltab(solutions_h5, "phase001")
        it = np.clip(np.searchsorted(slow.axes["time"], t_fast), 0, len(slow.axes["time"]) - 1)
        jf = np.argmin(np.abs(slow.axes["freq"][None, :] - f_fast[:, None]), axis=1)
        solved = fast_values + _ordered(slow)[it][:, jf]
    err = (solved - solved[:, :, :1]) - (true_avg - true_avg[:, :, :1])
    return np.angle(np.exp(1j * err))


def amplitude_errors(solutions_h5: str, truth_h5: str, direction: str) -> np.ndarray:
    """log(solved / true) of the slow amplitudes (amplitude001) per (slow time, freq, station),
    both normalised to a geometric mean of 1 (selfcal fixes gains only up to a scale), the
    truth averaged over each slow interval and taken at the nearest frequency."""
    solved = read_soltab(solutions_h5, "amplitude001")
    truth = read_soltab(truth_h5, "amplitude000")
    tdir = list(truth.axes["dir"]).index(f"[{direction}]")
    idx = [list(truth.axes["ant"]).index(a) for a in solved.axes["ant"]]
    t_slow, f_slow = solved.axes["time"], solved.axes["freq"]
    tf = np.argmin(np.abs(truth.axes["freq"][None, :] - f_slow[:, None]), axis=1)
    true = truth.values[:, tf][:, :, idx, tdir]
    edges = np.concatenate([[-np.inf], (t_slow[1:] + t_slow[:-1]) / 2, [np.inf]])
    which = np.searchsorted(edges, truth.axes["time"]) - 1
    true_avg = np.array([true[which == k].mean(axis=0) for k in range(len(t_slow))])
    ratio = np.log(_ordered(solved)) - np.log(true_avg)
    return ratio - np.mean(ratio)


def residual_near(ms: list[str], ra_deg: float, dec_deg: float, work: str, size: int = 256, cell_arcsec: float = 8.0,
                  threads: int = 2) -> tuple[float, float]:
    """(robust rms, brightest |pixel| within 1') in Jy/beam of a dirty image (Briggs -0.5,
    baselines > 80 lambda) of the DATA of ``ms`` centred on (ra, dec), ``size`` x ``cell``: how
    much a peeled source left of itself and around itself.  The data are phase-shifted with DP3
    first (into ``work``), so any position can be imaged."""
    from pathlib import Path

    from .engines import run_wsclean
    from .steps.facetdata import prepare_band

    out = Path(work)
    out.mkdir(parents=True, exist_ok=True)
    shifted = [str(out / f"shifted_{i}.ms") for i in range(len(ms))]
    for m, copy in zip(ms, shifted):  # phase-shifted only: no model, no solutions, no averaging
        prepare_band(m, copy, (ra_deg, dec_deg), 1, 1, None, None, None, "", None, threads)
    run_wsclean(["-name", str(out / "near"), "-size", str(size), str(size), "-scale", f"{cell_arcsec}asec",
                 "-weight", "briggs", "-0.5", "-minuv-l", "80", "-use-wgridder", *shifted], threads=threads)
    data = np.squeeze(fits.getdata(str(out / "near-dirty.fits")))
    r = int(math.ceil(60.0 / cell_arcsec))
    c = size // 2
    return float(mad_std(data, ignore_nan=True)), float(np.nanmax(np.abs(data[c - r : c + r + 1, c - r : c + r + 1])))
