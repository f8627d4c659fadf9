"""Parset reader: Factor's keys and defaults, case-insensitivity, one-line errors, exit code 2."""

from __future__ import annotations

import subprocess
import warnings

import pytest

from factor_cli.parset import ParsetError, ParsetWarning, read_parset

from conftest import cli


@pytest.fixture
def base(tmp_path):
    (tmp_path / "ms").mkdir()
    (tmp_path / "dirs.txt").write_text("a 10h00m00,+50d00m00 empty empty 0 0 0 LD empty empty empty False 0.1 10\n")
    return tmp_path


def write(base, body: str, global_extra: str = ""):
    path = base / "factor.parset"
    path.write_text("[global]\ndir_working = work\ndir_ms = ms\n" + global_extra
                    + "\n[directions]\ndirections_file = dirs.txt\n" + body)
    return path


def test_defaults_are_factors_code_defaults(base):
    s = read_parset(write(base, ""))
    assert s["global"]["chunk_size_sec"] == 2400.0 and s["global"]["skymodel_extension"] == ".merge"
    assert s["imaging"]["wsclean_image_padding"] == 1.4  # code default, not the docs' 1.6
    assert s["imaging"]["wsclean_use_idg"] is True
    assert s["calibration"]["preapply_first_cal_phases"] is False  # Factor's comment; measured (parset.py)
    assert s["calibration"]["max_selfcal_loops"] == 10 and s["calibration"]["selfcal_passes"] == 1
    assert s["imaging"]["facet_cellsize_arcsec"] == [1.5] and s["imaging"]["facet_robust"] == [-0.5]
    assert s["directions"]["groupings"] == "1:0"
    assert s["global"]["dir_working"] == str(base / "work")  # relative to the parset's folder


def test_keys_are_case_insensitive_and_lists_parse(base):
    s = read_parset(write(base, "[calibration]\nTEC_block_MHz = 1\n[imaging]\nFacet_Cellsize_Arcsec = [3.0]\n"))
    assert s["calibration"]["tec_block_mhz"] == 2.0  # Factor's 2 MHz minimum
    assert s["imaging"]["facet_cellsize_arcsec"] == [3.0]


def test_unknown_key_warns_with_closest_valid_key(base):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_parset(write(base, "[imaging]\nselfcal_cellsize_arcse = 2\n"))
    messages = [str(w.message) for w in caught if issubclass(w.category, ParsetWarning)]
    assert any("selfcal_cellsize_arcsec" in m and "[imaging]" in m for m in messages)


def test_deprecated_alias_maps_to_new_key(base):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        s = read_parset(write(base, "[directions]\nmax_num = 7\n".replace("[directions]\n", "")))
    assert s["directions"]["ndir_max"] == 7


def test_selfcal_robust_wsclean_sets_the_selfcal_robust(base):
    """Factor accepted it and ignored it; here it is the robust of the (WSClean) selfcal images,
    with a deprecation warning, and a non-number is refused like selfcal_robust's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = read_parset(write(base, "[imaging]\nselfcal_robust_wsclean = 0.25\n"))
    assert s["imaging"]["selfcal_robust"] == 0.25 and s["imaging"]["facet_robust"] == [0.25]
    assert any("selfcal_robust_wsclean" in str(w.message) and "selfcal_robust'" in str(w.message) for w in caught)
    with pytest.raises(ParsetError, match=r"\[imaging\] selfcal_robust_wsclean: 'uniform' is not a number"):
        read_parset(write(base, "[imaging]\nselfcal_robust_wsclean = uniform\n"))


@pytest.mark.parametrize(
    "global_extra, body, section, key",
    [
        ("", "[calibration]\nmaxiter = many\n", "calibration", "maxiter"),
        ("", "[calibration]\nmax_selfcal_loops = 0\n", "calibration", "max_selfcal_loops"),
        ("min_fraction_per_band = 2\n", "", "global", "min_fraction_per_band"),
        ("", "[imaging]\nfacet_robust = [0, 1]\n", "imaging", "facet_cellsize_arcsec"),
        ("keep_unavg_facet_data = True\n", "", "global", "keep_unavg_facet_data"),
        ("", "[cluster]\nlofarroot = /opt/lofar\n", "cluster", "lofarroot"),
        ("flag_abstime = x\nflag_expr = flag_baseline\n", "", "global", "flag_expr"),
        ("", "groupings = 2-3\n", "directions", "groupings"),
    ],
)
def test_invalid_values_are_one_line_errors(base, global_extra, body, section, key):
    path = write(base, body, global_extra)
    with pytest.raises(ParsetError) as err:
        read_parset(path)
    message = str(err.value)
    assert message.startswith(f"{path}: [{section}] {key}") and "\n" not in message


def test_missing_required_key_and_section(base):
    path = base / "p.parset"
    path.write_text("[global]\ndir_ms = ms\n")
    with pytest.raises(ParsetError, match=r"\[global\] dir_working: required key missing"):
        read_parset(path)
    path.write_text("[imaging]\n")
    with pytest.raises(ParsetError, match=r"\[global\]: section missing"):
        read_parset(path)


def test_runfactor_bad_parset_exits_2_and_writes_nothing(base):
    path = write(base, "[calibration]\nstepsize = -1\n")
    before = sorted(p.name for p in base.iterdir())
    out = subprocess.run([cli("runfactor"), str(path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "[calibration] stepsize" in out.stderr
    assert sorted(p.name for p in base.iterdir()) == before


def test_runfactor_missing_ms_exits_2(base):
    path = write(base, "")
    out = subprocess.run([cli("runfactor"), str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and "no Measurement Sets" in out.stderr
    assert not (base / "work").exists()
