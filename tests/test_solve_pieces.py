"""A solve split in time pieces (solve_pieces.py) gives the solutions of the whole solve."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from factor_cli import calibration as cal
from factor_cli.calibration import TEC_TO_PHASE
from factor_cli.h5parm import SolutionTable, read_directions, read_soltab, soltab_names, write_h5parm
from factor_cli.side_by_side import run_side_by_side
from factor_cli.solve_pieces import ms_ntimes, time_pieces


@pytest.mark.parametrize("ntimes,solint,most", [(360, 24, 2), (360, 34, 4), (360, 72, 2), (360, 80, 2), (90, 1, 4),
                                                (7, 1, 4), (361, 2, 3)])
def test_pieces_start_on_interval_boundaries_cover_the_range_and_are_balanced(ntimes, solint, most):
    pieces = time_pieces(ntimes, solint, most)
    starts = [s for s, _ in pieces]
    assert 1 < len(pieces) <= most
    assert starts[0] == 0 and all(s % solint == 0 for s in starts)
    assert [s + n for s, n in pieces[:-1]] == starts[1:] and sum(n for _, n in pieces) == ntimes
    assert all(n >= 2 * solint for _, n in pieces[:-1])  # the last one may end in a partial interval
    assert max(n for _, n in pieces) <= ntimes / len(pieces) + solint  # as even as the boundaries allow


@pytest.mark.parametrize("ntimes,solint,most", [(360, 120, 2), (360, 24, 1), (3, 2, 4), (90, 45, 2)])
def test_solves_of_few_intervals_or_one_thread_stay_whole(ntimes, solint, most):
    assert time_pieces(ntimes, solint, most) == [(0, ntimes)]


def test_merging_pieces_gives_back_the_whole_file(tmp_path):
    rng = np.random.default_rng(3)
    ants = np.array(["CS001", "CS002", "RS003"])
    times = np.arange(10) * 8.0
    axes = {"time": times, "freq": np.array([140e6, 150e6]), "ant": ants, "dir": np.array(["[MODEL_DATA]"])}
    amp = SolutionTable("amplitude000", "amplitude", axes, rng.uniform(0.8, 1.2, (10, 2, 3, 1)), rng.uniform(0, 1, (10, 2, 3, 1)))
    phase = SolutionTable("phase000", "phase", axes, rng.normal(0, 1, (10, 2, 3, 1)), np.ones((10, 2, 3, 1)))
    antennas = {a: np.array([3.8e6 + i, 4.6e5, 5.1e6]) for i, a in enumerate(ants)}
    parts = []
    for k, sl in enumerate((slice(0, 4), slice(4, 10))):
        part_axes = {**axes, "time": times[sl]}
        part = tmp_path / f"p{k}.h5"
        write_h5parm(part, [SolutionTable(t.name, t.soltype, part_axes, t.values[sl], t.weights[sl]) for t in (amp, phase)],
                     antennas, {"MODEL_DATA": (185.0, 52.0)})
        parts.append(str(part))
    merged = tmp_path / "merged.h5"
    cal.merge_in_time(parts, str(merged))
    assert soltab_names(merged) == ["amplitude000", "phase000"]
    for table in (amp, phase):
        got = read_soltab(merged, table.name)
        np.testing.assert_array_equal(got.axes["time"], times)
        np.testing.assert_allclose(got.values, table.values)
        np.testing.assert_allclose(got.weights, table.weights)
    ra, dec = read_directions(merged)["[MODEL_DATA]"]
    assert ra == pytest.approx(185.0, abs=1e-4) and dec == pytest.approx(52.0, abs=1e-4)


def test_a_ddecal_solve_in_two_pieces_gives_the_whole_solves_phases(tiny_obs, tmp_path):
    """DDECal on the two halves of tiny's hour (msin.starttimeslot/ntimes), side by side, joined:
    the same intervals and the same TEC and phases as one solve of the hour (the later half's
    first intervals, started from zero instead of the solution before, are allowed a little more)."""
    ms = str(tmp_path / "sim.ms")
    shutil.copytree(tiny_obs / "sim.ms", ms)
    cal.predict(ms, str(tiny_obs / "truth" / "apparent.skymodel"), "MODEL_DATA", threads=2)
    solver = cal.SolverSettings()
    whole = str(tmp_path / "whole.h5")
    cal.solve(ms, whole, "tecandphase", 1, 1, solver, "DATA", threads=2)
    pieces = time_pieces(ms_ntimes(ms), 1, 2)
    assert pieces == [(0, 45), (45, 45)]
    parts = [str(tmp_path / f"p{k}.h5") for k in range(2)]
    run_side_by_side([lambda n, part=part, slots=slots: cal.solve(ms, part, "tecandphase", 1, 1, solver, "DATA", threads=n,
                                                                  time_slots=slots) for part, slots in zip(parts, pieces)], 2)
    merged = str(tmp_path / "merged.h5")
    cal.merge_in_time(parts, merged)

    def phases(h5: str) -> np.ndarray:  # TEC + phase at 146 MHz, referenced to the first station
        tec, phase = read_soltab(h5, "tec000"), read_soltab(h5, "phase000")
        total = np.squeeze(TEC_TO_PHASE * tec.values / 146e6 + phase.values)
        return np.angle(np.exp(1j * (total - total[:, :1])))

    assert np.array_equal(read_soltab(merged, "tec000").axes["time"], read_soltab(whole, "tec000").axes["time"])
    diff = np.abs(np.angle(np.exp(1j * (phases(merged) - phases(whole)))))
    settled = np.r_[0:45, 47:90]  # measured: all within 1e-4 rad, the later half's first interval too
    assert np.max(diff[settled]) < 1e-3, np.max(diff, axis=1)
    assert np.max(diff) < 0.05, np.max(diff, axis=1)
