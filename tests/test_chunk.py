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


def test_compressed_chunks_and_a_dysco_input(tiny_obs, tmp_path):
    """use_compression writes the chunk with Dysco (Factor's 16-bit data, 12-bit weights);
    a Dysco-compressed input (LINC writes them) is read like any other and chunked
    uncompressed.  The compression error is far below the visibilities' noise."""
    compressed = tmp_path / "c.ms"
    chunk.run({**params(tiny_obs, compressed, True, 0, 90), "compress": True}, tmp_path / "c.log")
    with pt.table(str(tiny_obs / "sim.ms"), ack=False) as src, pt.table(str(compressed), ack=False) as c:
        assert c.getdminfo("DATA")["TYPE"] == "DyscoStMan"
        assert c.getdminfo("DATA")["SPEC"]["dataBitCount"] == 16
        flags = src.getcol("FLAG")
        expected, got = src.getcol("SUBTRACTED_DATA_ALL"), c.getcol("DATA")
        error = np.sqrt(np.mean(np.abs(got - expected)[~flags] ** 2))
        # The noise of one visibility (the truth's noise-only MS), against the error.
        with pt.table(str(tiny_obs / "truth" / "noise.ms"), ack=False) as n:
            noise = np.std(n.getcol("DATA")[~flags])
        assert error < 1e-3 * noise
        assert np.array_equal(c.getcol("WEIGHT_SPECTRUM")[~flags], src.getcol("WEIGHT_SPECTRUM")[~flags])
    # The compressed chunk as an input gives what the same data uncompressed give.
    plain, from_plain, from_dysco = tmp_path / "p.ms", tmp_path / "e.ms", tmp_path / "f.ms"
    chunk.run(params(tiny_obs, plain, True, 0, 90), tmp_path / "p.log")
    chunk.run({**params(tiny_obs, from_plain, False, 0, 90), "ms": str(plain)}, tmp_path / "e.log")
    chunk.run({**params(tiny_obs, from_dysco, False, 0, 90), "ms": str(compressed)}, tmp_path / "f.log")
    with pt.table(str(from_plain), ack=False) as e, pt.table(str(from_dysco), ack=False) as f:
        assert f.getdminfo("DATA")["TYPE"] != "DyscoStMan"
        assert np.sqrt(np.mean(np.abs(f.getcol("DATA") - e.getcol("DATA"))[~flags] ** 2)) < 1e-3 * noise


def test_use_compression_reaches_the_chunks_and_residuals_only_when_set(tiny_obs, tmp_path):
    from factor_cli.runfactor import prepare

    def plan(extra):
        parset = tmp_path / "factor.parset"
        parset.write_text(f"[global]\ndir_working = {tmp_path / 'work'}\ndir_ms = {tiny_obs}\n{extra}"
                          f"[imaging]\nwsclean_use_idg = False\n[directions]\ndirections_file = {tiny_obs}/directions.txt\n")
        return prepare(str(parset))[1]["steps"]

    def jobs(steps):
        return [*steps["chunk"].values(), *(j for s in steps["subtract"].values() for j in s.values())]

    on, off = plan("use_compression = True\n"), plan("")
    assert jobs(on) and all(j["compress"] for j in jobs(on))
    # Without it the jobs' parameters are what they were, so existing runs are not redone.
    assert not any("compress" in j for j in jobs(off))
    assert [{k: v for k, v in j.items() if k != "compress"} for j in jobs(on)] == jobs(off)
