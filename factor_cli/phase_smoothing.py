"""Smoothing of fast (TEC+)phase solutions along time.

A fast solve of a 40-s interval against a bright source is limited less by the thermal noise
than by what the rest of the field leaves in the data (other directions' subtraction errors),
which changes from one interval to the next like noise, while the ionosphere over a station
changes smoothly on scales of minutes.  A local polynomial fit over a few intervals
(Savitzky–Golay) therefore averages the first down without flattening the second.  How many
intervals depends on how fast the phases change against their noise, which differs between
directions (a 48-Jy source against a 3-Jy calibrator) and between stations (core against
remote), so the window and order are chosen per station and solve by generalised
cross-validation.  A fixed window is not safe: on the `bright` simulation 200 s lowered every
error, 280 s already made the bright peels' worse than no smoothing (bench/RESULTS.md).

TEC+phase solutions cannot be smoothed one soltab at a time: TEC and the common phase are
nearly degenerate across a narrow band, and DDECal's values jump between intervals by
amounts that cancel in the total phase (0.05 TECU against ~3 rad).  What is continuous is the
total phase at the block's centre frequency, up to 2π.  So the common phase is first shifted by
whole turns until that total phase is continuous in time; then TEC and phase are both linear
in the total phase at every frequency, and the same linear filter applied to each smooths the
phase at every frequency alike, keeping Factor's ``tec000`` / ``phase000`` layout.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .calibration import TEC_TO_PHASE, _neutral

# A solution interval is an outlier of its station's smooth curve (smooth_fast_phases) when it
# is more than REJECT_SIGMA robust standard deviations (1.4826 × median absolute misfit) and more
# than REJECT_MIN_RAD from what the other intervals predict.  Only gross failures are meant: one
# interval radians off (1.5–2.7 rad measured) where the rest agree to mrad (79 sigma, 1.5 rad in the
# fifth pass of `bright`'s outlier peel).  The prediction at either end of a series is an
# extrapolation, so looser tests replaced good or merely noisy end intervals by worse ones:
# with 5 sigma and no floor, bright00's error rose 0.005 -> 0.018 rad (remote stations' last
# intervals); with 5 sigma and 1 rad, the outlier's first peel 0.105 -> 0.133 rad (its first
# four intervals all bad, so the extrapolation from them was too).
REJECT_SIGMA = 20.0
REJECT_MIN_RAD = 1.0


def total_phase(phase: np.ndarray, tec: np.ndarray | None, freq_hz: float | np.ndarray) -> np.ndarray:
    """The phase a TEC+phase solution applies at ``freq_hz`` (broadcast against the values);
    without ``tec`` (scalar phases), ``phase`` itself."""
    return phase + TEC_TO_PHASE * tec / freq_hz if tec is not None else phase


def continuous_phase(phase: np.ndarray, tec: np.ndarray | None, freq_hz: float | np.ndarray, axis: int = 0) -> np.ndarray:
    """``phase`` shifted by whole turns per sample so that the total phase (with ``tec`` at
    ``freq_hz``, broadcast against the values) never jumps by more than π along ``axis``."""
    steps = np.diff(total_phase(phase, tec, freq_hz), axis=axis)
    turns = np.round(steps / (2 * np.pi))
    shift = -2 * np.pi * np.cumsum(turns, axis=axis)
    first = np.zeros_like(np.take(phase, [0], axis=axis))
    return phase + np.concatenate([first, shift], axis=axis)


def savitzky_golay(values: np.ndarray, window: int, order: int = 2, axis: int = 0) -> np.ndarray:
    """Local polynomial fit of ``order`` (2 or 4) over ``window`` samples (odd, > order + 2)
    along ``axis``; the ends are fitted with the nearest full window, so a trend is kept to the
    end.  (Three samples would be a plain running mean, which flattens the curvature: measured
    on bright00's solutions it doubled their error.)  ``window`` 0 or a series shorter than
    the window: unchanged."""
    from scipy.signal import savgol_filter

    if window == 0 or values.shape[axis] < window:
        return values
    return savgol_filter(values, window, order, axis=axis, mode="interp")


def filters(max_window: int) -> list[tuple[int, int]]:
    """The candidate (window, order) pairs: quadratic fits over 5 … ``max_window`` intervals and
    quartic ones over 7 … (less smoothing, less bias where the phases change fast)."""
    return [(w, o) for w in range(5, max_window + 1, 2) for o in (2, 4) if w >= o + 3]


@lru_cache(maxsize=None)
def filter_trace(n: int, window: int, order: int) -> float:
    """tr S of the (window, order) filter on n samples, without the n × n matrix (a 3-hour
    observation has ~1350 intervals): the ends from a short series, the interior from the
    filter's centre coefficient."""
    from scipy.signal import savgol_coeffs

    m = min(n, 2 * window + 1)
    ends = float(np.trace(savitzky_golay(np.eye(m), window, order)))
    return ends + (n - m) * float(savgol_coeffs(window, order)[window // 2])


def gcv_filter(series: np.ndarray, max_window: int) -> tuple[int, int]:
    """The (window, order) with the smallest generalised cross-validation score
    n·RSS / (n − tr S)² over all columns of ``series`` (time first); (0, 0) if none fits.
    GCV weighs how closely the fit follows the data against the degrees of freedom it uses, so
    the smoothing shrinks where the phases change fast for their noise (bright sources, remote
    stations) and grows where they are noisy (faint calibrators)."""
    return gcv_filters(series.reshape(len(series), 1, -1), max_window)[0]


def gcv_filters(series: np.ndarray, max_window: int) -> list[tuple[int, int]]:
    """``gcv_filter`` of each group ``series[:, g, :]`` (time, group, columns), every candidate
    filter run once over all groups: per station and solve one at a time, the filters' ~1-ms
    calls added up to ~0.3 s per solve with no engine running (24 stations on `small`)."""
    n, groups = series.shape[:2]
    best, best_score = [(0, 0)] * groups, np.full(groups, np.inf)
    for window, order in filters(min(max_window, n)):
        fit = savitzky_golay(series, window, order)
        trace = filter_trace(n, window, order)
        score = n * np.mean((series - fit) ** 2, axis=(0, 2)) / (n - trace) ** 2
        for g in np.flatnonzero(score < best_score):
            best[g] = (window, order)
        best_score = np.minimum(score, best_score)
    return best


def smooth_fast_phases(phase: np.ndarray, tec: np.ndarray | None, freq_hz: float | np.ndarray, max_window: int,
                       axis: int = 0, reject_sigma: float = REJECT_SIGMA, chosen: tuple[int, int] | None = None
                       ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int], np.ndarray]:
    """Smoothed (phase, tec, (window, order), outlying) along the time ``axis``, the filter
    chosen by ``gcv_filter`` on the total phase at ``freq_hz`` (the TEC blocks' centres,
    broadcast against the values) made continuous.

    ``outlying`` marks intervals whose total phase is more than ``reject_sigma`` robust standard
    deviations (and REJECT_MIN_RAD) from what the others predict (``outliers``): they are left
    out of the fit (``fit_without``) and come back as the smooth curve.  Why: a TEC+phase solve
    now and then lands one interval in a wrong minimum, most often its first (no propagated
    start; bench/RESULTS.md), radians off on one station.  Smoothed with the rest it still pulls its neighbours and stays wrong, and one such
    interval of a 30-Jy peel is enough to fail its verification (measured: `bright`, fifth pass).
    ``chosen``: the first GCV choice, made already (``series_per_station``, ``gcv_filters``)."""
    cont = continuous_phase(phase, tec, freq_hz, axis)
    n = cont.shape[axis]
    series = np.moveaxis(total_phase(cont, tec, freq_hz), axis, 0).reshape(n, -1)
    window, order = chosen if chosen is not None else gcv_filter(series, max_window)
    outlying = outliers(series, window, order, reject_sigma)
    if outlying.any():
        window, order = gcv_filter(np.where(outlying[:, None], fit_without(series, outlying, window, order), series),
                                   max_window)
    smoothed_tec = fit_without(tec, outlying, window, order, axis) if tec is not None else None
    return fit_without(cont, outlying, window, order, axis), smoothed_tec, (window, order), outlying


@lru_cache(maxsize=None)
def filter_diagonal(n: int, window: int, order: int) -> np.ndarray:
    """The diagonal of the (window, order) filter on n samples: how much each sample's own value
    makes its fitted one (near 1 at the ends, where a polynomial follows its last points)."""
    from scipy.signal import savgol_coeffs

    m = min(n, 2 * window + 1)
    ends = np.diag(savitzky_golay(np.eye(m), window, order))
    diag = np.full(n, float(savgol_coeffs(window, order)[window // 2]))
    diag[: m // 2], diag[n - (m - m // 2):] = ends[: m // 2], ends[m // 2:]
    return diag


def outliers(series: np.ndarray, window: int, order: int, reject_sigma: float,
             min_rad: float = REJECT_MIN_RAD) -> np.ndarray:
    """Samples (time first) whose leave-one-out misfit is more than ``reject_sigma`` robust
    standard deviations and more than ``min_rad``, found one at a time (the worst first, then the
    fit again without it, so that an outlier's pull on its neighbours does not flag them too); at
    most a tenth of them.
    Leave-one-out, because a fit over few intervals follows a lone outlier at the end of a
    series almost all the way (the filter's weight of a sample on itself is ~0.98 there): its
    plain misfit is small, its misfit against the others' prediction is not."""
    n = len(series)
    left_out = np.zeros(n, dtype=bool)
    if window == 0:
        return left_out
    own = np.clip(1.0 - filter_diagonal(n, window, order), 1e-6, None)
    for _ in range(n // 10):
        fit = fit_without(series, left_out, window, order)
        misfit = np.abs(series - fit).max(axis=1)
        # Leave-one-out misfit e / (1 − h); its noise scales as 1 / sqrt(1 − h).
        standardised = misfit / np.sqrt(own)
        sigma = 1.4826 * float(np.median(standardised[~left_out]))
        candidate = (standardised > reject_sigma * sigma) & (misfit / own > min_rad) & ~left_out
        if sigma <= 1e-9 or not candidate.any():
            break
        worst = int(np.argmax(np.where(candidate, standardised, 0.0)))
        trial = left_out.copy()
        trial[worst] = True
        if not _well_posed(n, trial, window, order):
            break
        left_out = trial
    return left_out


def _well_posed(n: int, left_out: np.ndarray, window: int, order: int) -> bool:
    """Whether the others still fix the left-out samples' values (fit_without's system)."""
    idx = np.flatnonzero(left_out)
    unit = np.zeros((n, idx.size))
    unit[idx, np.arange(idx.size)] = 1.0
    return bool(np.linalg.svd(np.eye(idx.size) - savitzky_golay(unit, window, order)[idx], compute_uv=False).min() > 1e-3)


def fit_without(values: np.ndarray, left_out: np.ndarray, window: int, order: int, axis: int = 0) -> np.ndarray:
    """``savitzky_golay`` of ``values`` with the samples ``left_out`` (a mask along ``axis``)
    given no say: each takes the value the filter itself puts there, the fixed point
    x_M = (S x)_M, solved exactly as a small linear system (only the filter's rows and columns of
    the left-out samples are formed).  Interpolating over them instead holds the ends constant,
    which on a drifting phase (DDECal's common-phase gauge drifts by ~0.5 rad per interval)
    makes the first intervals radians wrong."""
    idx = np.flatnonzero(left_out)
    if window == 0 or idx.size == 0 or values.shape[axis] < window:
        return savitzky_golay(values, window, order, axis)
    moved = np.moveaxis(values, axis, 0)
    flat = moved.reshape(len(moved), -1).copy()
    flat[idx] = 0.0
    unit = np.zeros((len(flat), idx.size))
    unit[idx, np.arange(idx.size)] = 1.0
    s_mm = savitzky_golay(unit, window, order)[idx]
    flat[idx] = np.linalg.lstsq(np.eye(idx.size) - s_mm, savitzky_golay(flat, window, order)[idx], rcond=None)[0]
    return savitzky_golay(np.moveaxis(flat.reshape(moved.shape), 0, axis), window, order, axis)


def _filled(values: np.ndarray, bad: np.ndarray, axis: int) -> np.ndarray:
    """Flagged samples replaced by linear interpolation along ``axis`` from the good ones
    (series with no good sample: zeros), so they do not spoil the filter."""
    moved, mask = np.moveaxis(values, axis, 0).copy(), np.moveaxis(bad, axis, 0)
    flat, flat_mask = moved.reshape(len(moved), -1), mask.reshape(len(mask), -1)
    x = np.arange(len(moved))
    for j in np.flatnonzero(flat_mask.any(axis=0)):
        good = ~flat_mask[:, j]
        flat[:, j] = np.interp(x, x[good], flat[good, j]) if good.any() else 0.0
    return np.moveaxis(flat.reshape(moved.shape), 0, axis)


def smooth_solution_file(h5: str, max_window: int) -> dict[str, tuple[int, int, int]]:
    """Smooth a DDECal fast-phase file (``tec000`` + ``phase000``, or ``phase000`` alone) in
    place along time, each station with its own window of up to ``max_window`` intervals
    (remote stations' phases change faster than the core's: measured on bright's solutions,
    per-station windows lower the calibrators' errors by another 5-12 %); flagged solutions
    stay flagged with their values unchanged, outlying ones (``smooth_fast_phases``) are replaced
    by the curve.  Returns (window, order, intervals replaced) per station ((0, 0, 0): none)."""
    from losoto.h5parm import h5parm

    from .h5parm import _quiet, read_soltab, soltab_names

    phase = read_soltab(h5, "phase000")
    stations = [str(a) for a in phase.axes["ant"]]
    if max_window < 5:
        return dict.fromkeys(stations, (0, 0, 0))
    tec = read_soltab(h5, "tec000") if "tec000" in soltab_names(h5) else None
    axes = list(phase.axes)
    if tec is not None and list(tec.axes) != axes:
        raise ValueError(f"{h5}: tec000 and phase000 have different axes ({list(tec.axes)} / {axes})")
    if tec is not None and "freq" not in axes:
        raise ValueError(f"{h5}: tec000 without a frequency axis")
    time, ant = axes.index("time"), axes.index("ant")
    bad = _neutral(phase) if tec is None else _neutral(phase) | _neutral(tec)
    freq = phase.axes["freq"].reshape([-1 if a == "freq" else 1 for a in axes]) if tec is not None else 1.0
    filled_phase = _filled(phase.values, bad, time)
    filled_tec = None if tec is None else _filled(tec.values, bad, time)
    new_phase = filled_phase.copy()
    new_tec = None if tec is None else filled_tec.copy()
    windows = {}
    chosen = gcv_filters(series_per_station(filled_phase, filled_tec, freq, time, ant), max_window)
    for i, station in enumerate(stations):
        at = [slice(None)] * len(axes)
        at[ant] = slice(i, i + 1)
        at = tuple(at)
        p_i, t_i, (window, order), outlying = smooth_fast_phases(filled_phase[at], None if tec is None else filled_tec[at],
                                                                  freq, max_window, time, chosen=chosen[i])
        windows[station] = (window, order, int(np.count_nonzero(outlying)))
        new_phase[at] = p_i
        if tec is not None:
            new_tec[at] = t_i
    if not any(w for w, _, _ in windows.values()):
        return windows
    with _quiet():
        handle = h5parm(h5, readonly=False)
        try:
            solset = handle.getSolset("sol000")
            solset.getSoltab("phase000").setValues(np.where(bad, phase.values, new_phase))
            if tec is not None:
                solset.getSoltab("tec000").setValues(np.where(bad, tec.values, new_tec))
        finally:
            handle.close()
    return windows


def series_per_station(phase: np.ndarray, tec: np.ndarray | None, freq_hz: float | np.ndarray, time: int, ant: int
                       ) -> np.ndarray:
    """The continuous total phases ``smooth_fast_phases`` chooses a station's filter on, for
    every station at once: (time, station, the other axes flattened)."""
    total = total_phase(continuous_phase(phase, tec, freq_hz, time), tec, freq_hz)
    moved = np.moveaxis(total, (time, ant), (0, 1))
    return moved.reshape(moved.shape[0], moved.shape[1], -1)


def smoothing_window(span_s: float, interval_s: float) -> int:
    """The largest window: the odd number of solution intervals of ``interval_s`` that fits in
    ``span_s``; 0 (no smoothing) when fewer than five fit."""
    n = int(span_s / interval_s + 1e-9) if interval_s > 0 else 0
    n -= (n + 1) % 2
    return n if n >= 5 else 0
