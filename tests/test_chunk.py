"""The chunk step with the real DP3: time selection, and the DI subtraction the pipeline does
itself when the input has no SUBTRACTED_DATA_ALL (modern LINC output)."""

from __future__ import annotations

import numpy as np
import pytest

from factor_cli.steps import chunk

pt = pytest.importorskip("casacore.tables")


def params(obs, out, has_subtracted, start, ntimes):
    return {"ms": str(obs / "sim.ms"), "has_subtracted": has_subtracted, "di_skymodel": str(obs / "sim.merge"),
            "start_slot": start, "ntimes": ntimes, "out_ms": str(out), "threads": 2,
            "flag_abstime": None, "flag_baseline": None, "flag_freqrange": None, "flag_expr": None}


def test_chunk_selects_times_and_makes_the_subtracted_column(tiny_obs, tmp_path):
    from_column = tmp_path / "a.ms"
    subtracted_here = tmp_path / "b.ms"
    chunk.run(params(tiny_obs, from_column, True, 10, 30), tmp_path / "a.log")
    chunk.run(params(tiny_obs, subtracted_here, False, 10, 30), tmp_path / "b.log")
    with pt.table(str(tiny_obs / "sim.ms"), ack=False) as src:
        times = np.unique(src.getcol("TIME"))
        nbl = src.nrows() // len(times)
        expected = src.getcol("SUBTRACTED_DATA_ALL", startrow=10 * nbl, nrow=30 * nbl)
    with pt.table(str(from_column), ack=False) as a, pt.table(str(subtracted_here), ack=False) as b:
        assert np.allclose(np.unique(a.getcol("TIME")), times[10:40])
        assert np.allclose(a.getcol("DATA"), expected)
        # DATA minus the DI model predicted by DP3 = the subtracted column, to float precision.
        assert np.allclose(b.getcol("DATA"), expected, atol=1e-4)
