"""Baseline-dependent pre-averaging of a faint calibrator's data (Factor's pre_average_time.py
and pre_average_freq.py, factor.md §5.4 step 4; ``preaverage_flux_jy``).

A faint calibrator gives too little signal per short solution interval.  Factor solved every
time slot, but on data smoothed per baseline with a Gaussian whose width shrinks with baseline
length: the ionospheric phase changes more slowly on short baselines (the two stations see
nearly the same ionosphere), so they can be averaged longer without decorrelating, while long
baselines keep their time resolution.  Widths (Factor's, ionfactor 0.1):

    sigma_t = 30 s * 0.1 * sqrt(25 km / B) * (nu / 60 MHz)
    sigma_nu = min(3 MHz, calibrator-region bandwidth) / 4 * sqrt(0.5 km / B)

The smoothed data go to column PREAVG_DATA, which only the fast solves read.  Flagged samples
do not contribute; weights are carried.  This runs on the averaged calibrator data with
python-casacore in its own process (never together with DP3 in one interpreter).
"""

from __future__ import annotations

import numpy as np

COLUMN = "PREAVG_DATA"
IONFACTOR = 0.1


def time_sigma_s(baseline_km: np.ndarray, freq_hz: float) -> np.ndarray:
    return 30.0 * IONFACTOR * np.sqrt(25.0 / np.maximum(baseline_km, 1e-3)) * (freq_hz / 60e6)


def freq_sigma_hz(baseline_km: np.ndarray, max_bandwidth_hz: float) -> np.ndarray:
    return min(3e6, max_bandwidth_hz) / 4.0 * np.sqrt(0.5 / np.maximum(baseline_km, 1e-3))


def _smooth_axis(data: np.ndarray, weight: np.ndarray, coord: np.ndarray, sigma: float, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Gaussian smoothing of ``data`` along ``axis`` (sample positions ``coord``)."""
    if sigma <= 0 or coord.size < 2:
        return data, weight
    kernel = np.exp(-0.5 * ((coord[:, None] - coord[None, :]) / sigma) ** 2)  # (out, in)
    wd = np.moveaxis(data * weight, axis, -1) @ kernel.T
    w = np.moveaxis(weight, axis, -1) @ kernel.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(w > 0, wd / w, 0.0)
    return np.moveaxis(out, -1, axis), np.moveaxis(w, -1, axis)


def smooth_baseline(data: np.ndarray, flags: np.ndarray, weights: np.ndarray, times: np.ndarray, freqs: np.ndarray,
                    baseline_km: float, max_bandwidth_hz: float) -> np.ndarray:
    """One baseline's (time, chan, pol) data smoothed in time then frequency."""
    w = np.where(flags, 0.0, weights)
    sigma_t = float(time_sigma_s(np.array(baseline_km), float(np.mean(freqs))))
    out, w2 = _smooth_axis(data, w, times - times[0], sigma_t, axis=0)
    sigma_f = float(freq_sigma_hz(np.array(baseline_km), max_bandwidth_hz))
    out, _ = _smooth_axis(out, w2, freqs - freqs[0], sigma_f, axis=1)
    return np.where(flags, data, out)


def preaverage(ms: str, max_bandwidth_hz: float) -> None:
    """Write PREAVG_DATA (smoothed DATA) into ``ms``."""
    from casacore import tables as ct

    with ct.table(ms, readonly=False, ack=False) as t:
        if COLUMN not in t.colnames():
            desc = t.getcoldesc("DATA")
            desc["name"] = COLUMN
            t.addcols(ct.maketabdesc(ct.makecoldesc(COLUMN, desc)))
        data = t.getcol("DATA")
        flags = t.getcol("FLAG")
        weights = t.getcol("WEIGHT_SPECTRUM") if "WEIGHT_SPECTRUM" in t.colnames() else np.ones(data.shape)
        uvw = t.getcol("UVW")
        times = t.getcol("TIME")
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        with ct.table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
            freqs = spw.getcol("CHAN_FREQ")[0]
        out = data.copy()
        for p, q in set(zip(a1.tolist(), a2.tolist())):
            if p == q:
                continue
            rows = np.flatnonzero((a1 == p) & (a2 == q))
            rows = rows[np.argsort(times[rows])]
            length = float(np.median(np.linalg.norm(uvw[rows], axis=1))) / 1000.0
            out[rows] = smooth_baseline(data[rows], flags[rows], weights[rows], times[rows], freqs, length, max_bandwidth_hz)
        t.putcol(COLUMN, out)
