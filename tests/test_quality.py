"""The measurements against the truth that the tests and benchmarks rely on."""

from __future__ import annotations

import numpy as np

from factor_cli.calibration import TEC_TO_PHASE
from factor_cli.h5parm import SolutionTable, write_h5parm
from factor_cli.quality import phase_errors


def test_phase_errors_of_a_fast_solve_alone_and_of_a_combined_file(tmp_path):
    """The truth is a TEC per station and time; a fast TEC+phase solve that has station 2 off
    by 0.1 rad gives exactly that error (its TEC evaluated at the truth's channel, not at 146 MHz),
    and a combined file's slow phases are added to it."""
    rng = np.random.default_rng(1)
    ants = np.array(["CS001", "CS002", "RS003"])
    times = np.arange(6) * 40.0
    freqs = np.array([143e6, 145e6, 147e6, 149e6])
    tec = rng.normal(0, 0.05, (6, 3))
    truth_phase = TEC_TO_PHASE * tec[:, None, :, None] / freqs[None, :, None, None]
    truth = tmp_path / "truth.h5"
    write_h5parm(truth, [SolutionTable("phase000", "phase", {"time": times, "freq": freqs, "ant": ants, "dir": np.array(["[d]"])},
                                       truth_phase)], {a: np.zeros(3) for a in ants}, {"d": (185.0, 52.0)})
    fast_axes = {"time": times, "freq": np.array([146e6]), "ant": ants, "dir": np.array(["[d]"])}
    offset = np.zeros((6, 1, 3, 1))
    offset[:, :, 2] = 0.1
    tables = [SolutionTable("tec000", "tec", fast_axes, tec[:, None, :, None]),
              SolutionTable("phase000", "phase", fast_axes, offset)]
    fast = tmp_path / "fast.h5"
    write_h5parm(fast, tables, {a: np.zeros(3) for a in ants}, {"d": (185.0, 52.0)})
    err = phase_errors(str(fast), str(truth), "d")
    assert err.shape == (6, 1, 3)
    np.testing.assert_allclose(err[..., 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(err[..., 2], 0.1, atol=1e-9)

    slow_axes = {"time": times[::3], "freq": np.array([146e6]), "ant": ants, "dir": np.array(["[d]"])}
    slow = np.zeros((2, 1, 3, 1))
    slow[:, :, 1] = -0.05
    combined = tmp_path / "combined.h5"
    write_h5parm(combined, [*tables, SolutionTable("phase001", "phase", slow_axes, slow)], {a: np.zeros(3) for a in ants},
                 {"d": (185.0, 52.0)})
    err = phase_errors(str(combined), str(truth), "d")
    np.testing.assert_allclose(err[..., 1], -0.05, atol=1e-9)
    np.testing.assert_allclose(err[..., 2], 0.1, atol=1e-9)
