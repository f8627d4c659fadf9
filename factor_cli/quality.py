"""Measurements of a run against the simulated truth, shared by the tests and the benchmarks.

- image noise in source-free regions (robust rms, pixels near any true source excluded);
- integrated flux of a compact source (pixel sum in a circle / beam area);
- recovered DD phases against the true gains (both referenced to the first station, circular
  difference, truth averaged over each solution interval).
"""

from __future__ import annotations

import math

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from .h5parm import read_soltab
from .skymodel import read_skymodel


def _load(path: str) -> tuple[np.ndarray, WCS, fits.Header]:
    header = fits.getheader(path)
    return np.squeeze(fits.getdata(path)).astype(float), WCS(header).celestial, header


def source_free_rms(image: str, skymodel: str, exclude_arcsec: float = 180.0, min_flux_jy: float = 0.0,
                    region_mask: np.ndarray | None = None) -> float:
    """Robust rms (1.4826 MAD) of finite pixels farther than ``exclude_arcsec`` from every true source."""
    data, wcs, _ = _load(image)
    ny, nx = data.shape
    keep = np.isfinite(data)
    if region_mask is not None:
        keep &= region_mask
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
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def integrated_flux(image: str, ra_deg: float, dec_deg: float, radius_arcsec: float) -> float:
    """Sum of pixels within ``radius_arcsec`` divided by the restoring-beam area in pixels."""
    data, wcs, header = _load(image)
    scale = abs(wcs.wcs.cdelt[1]) * 3600.0
    bmaj, bmin = header["BMAJ"] * 3600.0, header["BMIN"] * 3600.0
    beam_pixels = math.pi * bmaj * bmin / (4.0 * math.log(2.0)) / scale**2
    px, py = wcs.wcs_world2pix([ra_deg], [dec_deg], 0)
    yy, xx = np.mgrid[0 : data.shape[0], 0 : data.shape[1]]
    inside = ((xx - px[0]) ** 2 + (yy - py[0]) ** 2) * scale**2 <= radius_arcsec**2
    values = data[inside]
    return float(np.nansum(values) / beam_pixels)


def peak_position_offset_arcsec(image: str, ra_deg: float, dec_deg: float, radius_arcsec: float) -> float:
    """Distance of the brightest pixel within ``radius_arcsec`` from the true position."""
    data, wcs, _ = _load(image)
    scale = abs(wcs.wcs.cdelt[1]) * 3600.0
    px, py = wcs.wcs_world2pix([ra_deg], [dec_deg], 0)
    yy, xx = np.mgrid[0 : data.shape[0], 0 : data.shape[1]]
    inside = ((xx - px[0]) ** 2 + (yy - py[0]) ** 2) * scale**2 <= radius_arcsec**2
    masked = np.where(inside & np.isfinite(data), data, -np.inf)
    y, x = np.unravel_index(np.argmax(masked), data.shape)
    return float(math.hypot(x - px[0], y - py[0]) * scale)


def phase_errors(solutions_h5: str, truth_h5: str, direction: str) -> np.ndarray:
    """Per (time, station) phase error (rad) of fast+slow solved phases vs the true phases."""
    fast = read_soltab(solutions_h5, "phase000")
    slow = read_soltab(solutions_h5, "phase001")
    truth = read_soltab(truth_h5, "phase000")
    tdir = list(truth.axes["dir"]).index(f"[{direction}]")
    t_truth = truth.axes["time"]
    ants = list(fast.axes["ant"])
    truth_ants = list(truth.axes["ant"])
    idx = [truth_ants.index(a) for a in ants]
    # Truth averaged over frequency (solutions are per band) and over each fast interval.
    true_phase = np.angle(np.mean(np.exp(1j * truth.values[:, :, :, tdir]), axis=1))[:, idx]  # (time, ant)
    t_fast = fast.axes["time"]
    edges = np.concatenate([[-np.inf], (t_fast[1:] + t_fast[:-1]) / 2, [np.inf]])
    which = np.searchsorted(edges, t_truth) - 1
    true_avg = np.array([np.angle(np.mean(np.exp(1j * true_phase[which == k]), axis=0)) for k in range(len(t_fast))])
    fv = fast.values[..., 0].mean(axis=1) if fast.values.ndim == 4 else fast.values
    sv = slow.values[..., 0]
    slow_on_fast = sv[np.clip(np.searchsorted(slow.axes["time"], t_fast), 0, len(slow.axes["time"]) - 1)].mean(axis=1)
    solved = fv + slow_on_fast
    solved = solved - solved[:, :1]
    true_avg = true_avg - true_avg[:, :1]
    return np.angle(np.exp(1j * (solved - true_avg)))
