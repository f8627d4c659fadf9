"""Malformed input through the real CLI (issue: run control, errors and safety): every case is
one line on stderr naming the file and the key/row/column, exit code 2, and no working
directory.  The MS cases modify copies of the `tiny` observation with python-casacore."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from casacore import tables as pt

from conftest import cli

PARSET = ("[global]\ndir_working = work\ndir_ms = data\n[imaging]\nwsclean_use_idg = False\n"
          "[directions]\ndirections_file = directions.txt\n")


@pytest.fixture(scope="module")
def good(tiny_obs, tmp_path_factory) -> Path:
    """A valid input folder: data/sim.ms + data/sim.merge, directions.txt, factor.parset."""
    base = tmp_path_factory.mktemp("good")
    (base / "data").mkdir()
    shutil.copytree(tiny_obs / "sim.ms", base / "data" / "sim.ms")
    shutil.copy(tiny_obs / "sim.merge", base / "data" / "sim.merge")
    shutil.copy(tiny_obs / "directions.txt", base / "directions.txt")
    (base / "factor.parset").write_text(PARSET)
    return base


def second_band(data: Path, shift_hz: float = 2e6) -> Path:
    """A copy of sim.ms moved to another frequency: a valid second band."""
    ms = data / "sim2.ms"
    shutil.copytree(data / "sim.ms", ms)
    shutil.copy(data / "sim.merge", data / "sim2.merge")
    with pt.table(str(ms / "SPECTRAL_WINDOW"), readonly=False, ack=False) as spw:
        spw.putcol("CHAN_FREQ", spw.getcol("CHAN_FREQ") + shift_hz)
        spw.putcol("REF_FREQUENCY", spw.getcol("REF_FREQUENCY") + shift_hz)
    return ms


def edit_table(path: Path, column: str, fn) -> None:
    with pt.table(str(path), readonly=False, ack=False) as t:
        t.putcol(column, fn(t.getcol(column)))


def no_data_column(b):
    with pt.table(str(b / "data/sim.ms"), readonly=False, ack=False) as t:
        t.removecols(["DATA"])


def channel_gap(b):
    def gap(f):
        f = f.copy()
        f[0, len(f[0]) // 2:] += 5e6
        return f
    edit_table(b / "data/sim.ms/SPECTRAL_WINDOW", "CHAN_FREQ", gap)


def other_phase_centre(b):
    ms = second_band(b / "data")
    for col in ("REFERENCE_DIR", "PHASE_DIR", "DELAY_DIR"):
        edit_table(ms / "FIELD", col, lambda d: d + np.array([0.0, 0.01]))


def other_time_range(b):
    ms = second_band(b / "data")
    edit_table(ms, "TIME", lambda t: t + 3600.0)


def same_band_twice(b):
    second_band(b / "data", shift_hz=0.0)


def all_flagged(b):
    edit_table(b / "data/sim.ms", "FLAG", lambda f: np.ones_like(f))


def not_a_table(b):
    (b / "data/junk.ms").mkdir()
    (b / "data/junk.ms/README").write_text("not a table")


def no_spectral_window(b):
    import shutil as sh

    sh.rmtree(b / "data/sim.ms/SPECTRAL_WINDOW")


def no_skymodel(b):
    (b / "data/sim.merge").unlink()


def directions(text):
    def apply(b):
        (b / "directions.txt").write_text(text)
    return apply


def parset(text):
    def apply(b):
        (b / "factor.parset").write_text(text)
    return apply


def add_line(header: str, line: str):
    return parset(PARSET.replace(header + "\n", header + "\n" + line + "\n"))


def both(*mutations):
    def apply(b):
        for m in mutations:
            m(b)
    return apply


ROW = "dir00 12h17m20.359s,+53d14m08.84s empty empty 0 0 0 LD empty empty empty False 0.1 4511.7"
CASES = {
    # Measurement Sets
    "MS without DATA column": (no_data_column, "column DATA missing"),
    "channels with a gap": (channel_gap, "not contiguous"),
    "bands with different phase centres": (other_phase_centre, "phase centre differs"),
    "bands covering different times": (other_time_range, "time range differs"),
    "two MSs in one band": (same_band_twice, "several MSs in one band"),
    "fully flagged MS": (all_flagged, "unflagged"),
    "a folder that is not an MS": (not_a_table, "not a readable Measurement Set"),
    "MS without SPECTRAL_WINDOW table": (no_spectral_window, "SPECTRAL_WINDOW"),
    "no DI sky model": (no_skymodel, "DI sky model"),
    # directions file
    "duplicate direction names": (directions(f"{ROW}\n{ROW}\n"), "appears twice"),
    "bad position": (directions(ROW.replace("12h17m20.359s", "25h00m00s") + "\n"), "position"),
    "wrong column count": (directions(" ".join(ROW.split()[:10]) + "\n"), "expected 14 columns"),
    "bad dynamic range": (directions(ROW.replace(" LD ", " XD ") + "\n"), "dynamic_range"),
    "bad boolean": (directions(ROW.replace(" False ", " maybe ") + "\n"), "outlier_source"),
    "negative cal_size_deg": (directions(ROW.replace(" 0.1 ", " -0.1 ") + "\n"), "cal_size_deg"),
    "empty directions file": (directions("# nothing\n"), "no directions"),
    # parset
    "not an INI file": (parset("dir_working = work\n"), "not an INI parset"),
    "no [global] section": (parset("[imaging]\ncellsize = 1\n"), "[global]"),
    "dir_working missing": (parset(PARSET.replace("dir_working = work\n", "")), "dir_working"),
    "dir_ms does not exist": (parset(PARSET.replace("dir_ms = data", "dir_ms = nowhere")), "dir_ms"),
    "directions file does not exist": (parset(PARSET.replace("directions.txt", "nosuch.txt")), "directions_file"),
    "integer expected": (add_line("[global]", "chunk_size_sec = long"), "chunk_size_sec"),
    "negative chunk size": (add_line("[global]", "chunk_size_sec = -5"), "chunk_size_sec"),
    "boolean expected": (add_line("[imaging]", "make_mosaic = perhaps"), "make_mosaic"),
    "list expected": (add_line("[imaging]", "facet_cellsize_arcsec = [1.5, x]"), "facet_cellsize_arcsec"),
    "ndir_process zero": (add_line("[directions]", "ndir_process = 0"), "ndir_process"),
    "unsupported feature set": (add_line("[global]", "keep_unavg_facet_data = True"), "keep_unavg_facet_data"),
    "bad groupings": (add_line("[directions]", "groupings = 1:x"), "groupings"),
    "target position unreadable": (add_line("[directions]", "target_ra = 12h99m\ntarget_dec = +52d"), "target_ra"),
    "target facet without radius": (add_line("[directions]", "target_ra = 12h20m\ntarget_dec = +52d30m\n"
                                             "target_has_own_facet = True"), "target_has_own_facet"),
    "image_target_only without target": (add_line("[imaging]", "image_target_only = True"), "image_target_only"),
    "a direction already named target": (both(directions(ROW.replace("dir00", "target") + "\n"),
                                              add_line("[directions]", "target_ra = 12h20m\ntarget_dec = +52d30m\n"
                                                       "target_radius_arcmin = 5\ntarget_has_own_facet = True")),
                                         "already named 'target'"),
    "the same imaging set twice": (add_line("[imaging]", "facet_cellsize_arcsec = [3.0, 3.0]\nfacet_robust = [0, 0]\n"
                                            "facet_taper_arcsec = [0, 0]\nfacet_min_uv_lambda = [80, 80]"),
                                   "sets 1 and 2 are the same"),
    "negative taper": (add_line("[imaging]", "facet_taper_arcsec = [-10]"), "facet_taper_arcsec"),
    # [cluster]
    "partition on a local run": (parset(PARSET + "[cluster]\npartition = normal\n"), "partition"),
    "generic without a scheduler": (parset(PARSET + "[cluster]\ncluster_type = generic\nncpu = 4\n"
                                           "mem_per_node_gb = 16\n"), "generic_scheduler"),
    "more directions per node than CPUs": (parset(PARSET + "[cluster]\nncpu = 2\nndir_per_node = 4\n"), "ndir_per_node"),
    "more facet images per node than CPUs": (parset(PARSET + "[cluster]\nncpu = 2\nnimage_per_node = 3\n"), "nimage_per_node"),
    "scratch that does not exist": (parset(PARSET + "[cluster]\ndir_local = /nonexistent/scratch\n"), "dir_local"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(good, tmp_path, case):
    base = tmp_path / "in"
    shutil.copytree(good, base)
    mutate, expected = CASES[case]
    mutate(base)
    # -d: should a case not be caught, nothing runs (the check is the same as for a real run)
    out = subprocess.run([cli("runfactor"), str(base / "factor.parset"), "-d"], capture_output=True, text=True,
                         timeout=120)
    lines = out.stderr.strip().splitlines()
    errors = [line for line in lines if "error" in line]
    assert out.returncode == 2, out.stderr[-2000:]
    assert len(errors) == 1 and errors[-1].startswith("runfactor: error: "), out.stderr
    assert expected in errors[-1], errors[-1]
    assert str(base) in errors[-1]  # names the file
    assert not (base / "work").exists()
