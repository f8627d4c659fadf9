"""Smoothing and normalisation of the slow gain amplitudes (factor.md §5.5).

Slow amplitude solutions are noisy and can have outliers where the solver latched onto noise
or RFI; applied as they are, they imprint that noise on the image.  Factor smoothed them per
station in log space (robust spline in time, 2-D median over time x frequency) and normalised
them, because selfcal fixes the gains only up to an overall scale the model can absorb.

``smooth`` does the same with scipy: per station, log10 amplitudes; flagged values (weight 0,
NaN, <= 0) are ignored and then filled from the smooth curve; points deviating by more than
3x the robust scatter from a running median are replaced; with ``spline`` (Factor's
``spline_smooth2D``) a smoothing spline follows in time (smoothing set by the scatter) and a
3x5 median in time x frequency when there are more than 5 channels, otherwise the running
median is the result (Factor's 1-D fallback).  Normalisation: the geometric mean of the
unflagged amplitudes is 1.
"""

from __future__ import annotations

import numpy as np
from astropy.stats import mad_std
from scipy.interpolate import UnivariateSpline
from scipy.ndimage import generic_filter

OUTLIER_SIGMA = 3.0


def _scatter(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return 0.0
    return float(mad_std(x))


def _running_median(y: np.ndarray, half: int) -> np.ndarray:
    out = np.full_like(y, np.nan)
    for i in range(y.size):
        window = y[max(0, i - half): i + half + 1]
        window = window[np.isfinite(window)]
        if window.size:
            out[i] = np.median(window)
    return out


def _smooth_series(y: np.ndarray, spline: bool) -> np.ndarray:
    """One station and channel, log10 amplitudes in time (NaN = flagged)."""
    good = np.isfinite(y)
    if good.sum() == 0:
        return np.zeros_like(y)  # log10(1)
    if good.sum() < 3:
        return np.full_like(y, np.nanmedian(y))
    t = np.arange(y.size, dtype=float)
    med = _running_median(y, half=2)
    med = np.interp(t, t[np.isfinite(med)], med[np.isfinite(med)])
    scatter = max(_scatter(y - med), 0.005)
    clean = np.where(good & (np.abs(y - med) <= OUTLIER_SIGMA * scatter), y, np.nan)
    ok = np.isfinite(clean)
    if not spline or ok.sum() <= 5:
        return med
    fit = UnivariateSpline(t[ok], clean[ok], k=3, s=ok.sum() * scatter ** 2)
    return fit(t)


def _nanmedian_filter(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return generic_filter(values, lambda w: np.nanmedian(w) if np.isfinite(w).any() else np.nan, size=size, mode="nearest")


def smooth(values: np.ndarray, weights: np.ndarray, axes: list[str], spline: bool = True,
           normalise: bool = True) -> np.ndarray:
    """Smoothed (and normalised) amplitudes, same shape as ``values``; axes include 'time'
    and 'ant', optionally 'freq', 'pol', 'dir'."""
    amp = np.where((weights > 0) & np.isfinite(values) & (values > 0), values, np.nan)
    logs = np.log10(amp)
    order = [axes.index("time")] + ([axes.index("freq")] if "freq" in axes else [])
    rest = [i for i in range(len(axes)) if i not in order]
    moved = np.moveaxis(logs, order + rest, list(range(len(axes))))
    shape = moved.shape
    if "freq" not in axes:
        moved = moved[:, None]
    flat = moved.reshape(moved.shape[0], moved.shape[1], -1)
    out = np.empty_like(flat)
    for k in range(flat.shape[2]):
        plane = flat[:, :, k]  # time x freq
        smoothed = np.stack([_smooth_series(plane[:, f], spline) for f in range(plane.shape[1])], axis=1)
        if spline and plane.shape[1] > 5:
            filtered = _nanmedian_filter(smoothed, (3, 5))
            scatter = max(_scatter(smoothed - filtered), 0.005)
            smoothed = np.where(np.abs(smoothed - filtered) > OUTLIER_SIGMA * scatter, filtered, smoothed)
        out[:, :, k] = smoothed
    out = out.reshape(moved.shape)
    if "freq" not in axes:
        out = out[:, 0]
    out = np.moveaxis(out.reshape(shape), list(range(len(axes))), order + rest)
    result = 10.0 ** out
    if normalise and np.isfinite(amp).any():
        result = result / np.exp(np.mean(np.log(result[np.isfinite(amp)])))
    return result
