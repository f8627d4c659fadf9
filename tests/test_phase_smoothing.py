"""Smoothing fast (TEC+)phase solutions along time (phase_smoothing.py): the degenerate
TEC/phase jumps DDECal leaves between intervals must not leak into the smoothed phases."""

from __future__ import annotations

import numpy as np
import pytest

from factor_cli.calibration import TEC_TO_PHASE
from factor_cli.h5parm import SolutionTable, read_soltab, write_h5parm
from factor_cli.phase_smoothing import (
    continuous_phase,
    savitzky_golay,
    filter_diagonal,
    filter_trace,
    filters,
    REJECT_SIGMA,
    gcv_filter,
    gcv_filters,
    outliers,
    smooth_fast_phases,
    smooth_solution_file,
    smoothing_window,
)

FREQS = np.array([143e6, 145e6, 147e6, 149e6])
CENTRE = 146e6


def _total(phase, tec, freqs=FREQS):
    """(time, freq) total phase of (time,) phase and TEC."""
    return phase[:, None] + TEC_TO_PHASE * tec[:, None] / freqs[None, :]


def _degenerate(rng, phase, tec, max_shift=0.1):
    """The same total phases up to 2π at the centre, as DDECal writes them: TEC moved by up to
    ``max_shift`` TECU per interval (which changes the phases away from the centre: noise) and
    the common phase moved to cancel it at the centre frequency, plus whole turns."""
    shift = rng.uniform(-max_shift, max_shift, len(tec))
    turns = rng.integers(-3, 4, len(tec))
    return phase - TEC_TO_PHASE * shift / CENTRE + 2 * np.pi * turns, tec + shift


def _wrapped(x):
    return np.angle(np.exp(1j * x))


def test_smoothing_window_counts_odd_intervals():
    assert smoothing_window(200.0, 40.0) == 5
    assert smoothing_window(240.0, 40.0) == 5
    assert smoothing_window(280.0, 40.0) == 7
    assert smoothing_window(100.0, 40.0) == 0     # two intervals: no smoothing
    assert smoothing_window(0.0, 40.0) == 0
    assert smoothing_window(120.0, 40.0) == 0     # three: a running mean, not used
    assert smoothing_window(600.0, 10.0) == 59
    assert filters(9) == [(5, 2), (7, 2), (7, 4), (9, 2), (9, 4)]


def test_continuous_phase_removes_the_turns_only():
    rng = np.random.default_rng(1)
    t = np.arange(60)
    tec = 0.3 * np.sin(t / 15.0)
    phase = 0.5 * np.cos(t / 9.0)
    p_deg, tec_deg = _degenerate(rng, phase, tec)
    cont = continuous_phase(p_deg, tec_deg, CENTRE)
    # Same total phase (mod 2π) at every frequency, and continuous at the centre.
    assert np.allclose(_wrapped(_total(cont, tec_deg) - _total(p_deg, tec_deg)), 0.0, atol=1e-9)
    centre = cont + TEC_TO_PHASE * tec_deg / CENTRE
    assert np.max(np.abs(np.diff(centre))) < np.pi


def test_smoothing_keeps_a_quadratic_trend_and_lowers_the_noise():
    rng = np.random.default_rng(2)
    t = np.arange(90.0)
    tec_true = 0.05 + 2e-3 * t - 3e-5 * t**2   # ionospheric drift: quadratic over the hour
    phase_true = 0.2 - 0.01 * t
    noise = 0.1
    # Noise in the total phase, as the other directions' leftovers put it there.
    dtec = noise / 8 * rng.standard_normal(len(t))
    dphase = noise * rng.standard_normal(len(t))
    p_solved, tec_solved = _degenerate(rng, phase_true + dphase, tec_true + dtec)
    p_s, tec_s, (window, _), _ = smooth_fast_phases(p_solved, tec_solved, CENTRE, 15)
    assert window >= 7
    truth = _total(phase_true, tec_true)
    err_before = np.sqrt(np.mean(_wrapped(_total(p_solved, tec_solved) - truth) ** 2))
    err_after = np.sqrt(np.mean(_wrapped(_total(p_s, tec_s) - truth) ** 2))
    assert err_after < 0.7 * err_before
    # Without noise the quadratic trend comes through unchanged (to 2π).
    p_clean, tec_clean = _degenerate(rng, phase_true, tec_true, max_shift=0.0)
    p_s, tec_s, _, _ = smooth_fast_phases(p_clean, tec_clean, CENTRE, 7)
    assert np.allclose(_wrapped(_total(p_s, tec_s) - truth), 0.0, atol=1e-6)


def test_filter_trace_without_the_matrix():
    for n, window, order in ((40, 5, 2), (40, 11, 4), (200, 15, 2), (11, 11, 2)):
        assert filter_trace(n, window, order) == pytest.approx(np.trace(savitzky_golay(np.eye(n), window, order)))


def test_gcv_filter_follows_the_signal_against_the_noise():
    rng = np.random.default_rng(4)
    t = np.arange(120.0)
    slow = np.sin(t / 20.0)[:, None] * np.ones((1, 8))
    fast = np.sin(t / 2.0)[:, None] * np.ones((1, 8))
    noisy = slow + 0.3 * rng.standard_normal(slow.shape)
    quiet = fast + 0.01 * rng.standard_normal(fast.shape)
    assert gcv_filter(noisy, 31)[0] >= 11        # slow signal in strong noise: a long window
    window, order = gcv_filter(quiet, 31)        # fast signal, little noise: little smoothing
    assert window / (order + 1) <= 2, (window, order)
    assert gcv_filter(noisy[:4], 31) == (0, 0)   # shorter than any window


def test_gcv_filters_choose_per_group_as_gcv_filter_alone():
    """The filters run once over all stations must pick, per station, what that station's
    series alone picks: slow and noisy, fast and clean, and one in between."""
    rng = np.random.default_rng(5)
    t = np.arange(90.0)
    groups = [np.sin(t / 20.0)[:, None] + 0.3 * rng.standard_normal((90, 3)),
              np.sin(t / 2.0)[:, None] + 0.01 * rng.standard_normal((90, 3)),
              np.sin(t / 6.0)[:, None] + 0.05 * rng.standard_normal((90, 3))]
    chosen = gcv_filters(np.stack(groups, axis=1), 31)
    assert chosen == [gcv_filter(g, 31) for g in groups]
    assert len(set(chosen)) == 3, chosen
    assert gcv_filters(np.stack(groups, axis=1)[:4], 31) == [(0, 0)] * 3


def test_solution_file_smoothed_in_place_per_station_flags_kept(tmp_path):
    rng = np.random.default_rng(3)
    ntime = 40
    t = np.arange(ntime, dtype=float)
    # CS002: slow ionosphere, noisy solutions (a faint direction); RS106: fast, clean.
    tec_true = np.stack([0 * t, 0.1 * np.sin(t / 12.0), 0.05 * np.sin(t / 1.5)], axis=1)
    phase_true = np.zeros((ntime, 3))
    tec_v = tec_true + 0.001 * rng.standard_normal((ntime, 3))
    phase_v = phase_true + np.array([0.0, 0.3, 0.02]) * rng.standard_normal((ntime, 3))
    phase_v[:, 1], tec_v[:, 1] = _degenerate(rng, phase_v[:, 1], tec_v[:, 1])
    weights = np.ones((ntime, 3, 1, 1))
    weights[10, 1] = 0.0
    phase_v[10, 1] = np.nan
    axes = {"time": 1e9 + 40.0 * t, "ant": np.array(["CS001", "CS002", "RS106"]), "dir": np.array(["dir00"]),
            "freq": np.array([CENTRE])}
    h5 = tmp_path / "fast.h5"
    write_h5parm(h5, [SolutionTable("tec000", "tec", axes, tec_v[..., None, None], weights),
                      SolutionTable("phase000", "phase", axes, phase_v[..., None, None], weights)],
                 {a: np.zeros(3) for a in axes["ant"]}, {"dir00": (185.0, 52.0)})
    windows = smooth_solution_file(str(h5), 15)
    assert windows["CS002"][0] >= 9 and windows["RS106"][0] / (windows["RS106"][1] + 1) <= 2, windows
    phase = read_soltab(h5, "phase000")
    tec = read_soltab(h5, "tec000")
    assert np.isnan(phase.values[10, 1, 0, 0]) and phase.weights[10, 1, 0, 0] == 0
    for i, gain in ((1, 0.8), (2, 1.0)):     # the noisy station gains, the fast one does not lose
        good = np.isfinite(phase_v[:, i])
        before = _wrapped(_total(phase_v[good, i], tec_v[good, i]) - _total(phase_true[good, i], tec_true[good, i]))
        after = _wrapped(_total(phase.values[good, i, 0, 0], tec.values[good, i, 0, 0])
                         - _total(phase_true[good, i], tec_true[good, i]))
        assert np.sqrt(np.mean(after**2)) < gain * np.sqrt(np.mean(before**2)), i
    assert smooth_solution_file(str(h5), 3) == dict.fromkeys(["CS001", "CS002", "RS106"], (0, 0, 0))


def test_scalar_phase_file_smoothed_per_channel(tmp_path):
    """Where the band is too narrow for TEC (scalarphase), each channel's phases are smoothed;
    wraps of the phases across ±π do not break the fit."""
    rng = np.random.default_rng(5)
    ntime = 60
    t = np.arange(ntime, dtype=float)
    true = (TEC_TO_PHASE * 0.2 * np.sin(t / 10.0)[:, None, None] / FREQS[None, None, :]) * np.array([0.0, 1.0])[None, :, None]
    solved = _wrapped(true + 0.2 * rng.standard_normal(true.shape) * np.array([0.0, 1.0])[None, :, None])
    axes = {"time": 1e9 + 40.0 * t, "ant": np.array(["CS001", "RS106"]), "dir": np.array(["dir00"]), "freq": FREQS}
    h5 = tmp_path / "fast.h5"
    write_h5parm(h5, [SolutionTable("phase000", "phase", {k: axes[k] for k in ("time", "ant", "dir", "freq")},
                                    solved[:, :, None, :])],
                 {a: np.zeros(3) for a in axes["ant"]}, {"dir00": (185.0, 52.0)})
    windows = smooth_solution_file(str(h5), 15)
    assert windows["RS106"][0] >= 7, windows
    after = read_soltab(h5, "phase000").values[:, 1, 0, :]
    before_err = np.sqrt(np.mean(_wrapped(solved[:, 1] - true[:, 1]) ** 2))
    after_err = np.sqrt(np.mean(_wrapped(after - true[:, 1]) ** 2))
    assert after_err < 0.7 * before_err, (before_err, after_err)


def test_filter_diagonal_without_the_matrix():
    for n, window, order in ((40, 7, 4), (90, 5, 2), (12, 9, 2), (9, 9, 4)):
        assert np.allclose(filter_diagonal(n, window, order), np.diag(savitzky_golay(np.eye(n), window, order)))


def test_a_failed_first_interval_is_replaced_by_the_curve():
    """The failure seen in `bright`'s fifth outlier peel: DDECal's common phase drifts by ~0.5 rad
    per interval (a gauge, the same on every station), one station's first interval lands 2.5 rad
    off, the rest are clean to a few mrad.  A fit over 7 intervals follows that lone end point
    almost all the way (plain smoothing left it 0.77 rad off); left out, it gets the curve."""
    rng = np.random.default_rng(6)
    t = np.arange(90.0)
    truth = 140.0 - 0.55 * t + 2e-3 * t**2
    solved = truth + 0.003 * rng.standard_normal(len(t))
    solved[0] += 2.5
    p_s, _, _, outlying = smooth_fast_phases(solved, None, CENTRE, 15)
    assert np.flatnonzero(outlying).tolist() == [0]
    assert abs(p_s[0] - truth[0]) < 0.05
    assert np.sqrt(np.mean((p_s[1:] - truth[1:]) ** 2)) < 0.005
    # Noise alone, however small, is not an outlier: nothing replaced.
    _, _, _, outlying = smooth_fast_phases(truth + 0.003 * rng.standard_normal(len(t)), None, CENTRE, 15)
    assert outlying.sum() <= 1


def test_an_interval_in_the_middle_is_left_out_without_flagging_its_neighbours():
    rng = np.random.default_rng(7)
    t = np.arange(60.0)
    truth = np.sin(t / 8.0)
    solved = truth + 0.02 * rng.standard_normal(len(t))
    solved[30] -= 1.5
    p_s, _, _, outlying = smooth_fast_phases(solved, None, CENTRE, 15)
    assert np.flatnonzero(outlying).tolist() == [30]
    assert abs(p_s[30] - truth[30]) < 0.05


def test_a_good_end_interval_of_a_fast_turning_phase_is_kept():
    """A remote station's phase turning fast in the last minutes, solved against a bright source
    (mrad noise): the others' prediction of the last interval is an extrapolation a few tenths of
    a radian off, many noise sigmas, yet the interval is right.  Only intervals also more than
    REJECT_MIN_RAD off are replaced (without that floor such end intervals were, and bright00's
    error rose 0.005 -> 0.018 rad)."""
    rng = np.random.default_rng(8)
    t = np.arange(90.0)
    truth = 0.01 * t + 0.2 * np.clip(t - 86, 0, None) ** 2
    solved = (truth + 0.002 * rng.standard_normal(len(t)))[:, None]
    assert 89 in np.flatnonzero(outliers(solved, 7, 4, 5.0, min_rad=0.0))
    assert not outliers(solved, 7, 4, 5.0).any() and not outliers(solved, 7, 4, REJECT_SIGMA).any()
    assert not smooth_fast_phases(solved[:, 0], None, CENTRE, 15)[3].any()
