"""The simulator against independent checks: if any of these fail, every later science test
would be measuring against a wrong truth."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from factor_cli.directions import read_directions_file
from factor_cli.engines import run_dp3, run_wsclean
from factor_cli.h5parm import read_soltab
from factor_cli.simulation.ionosphere import TEC_TO_PHASE
from factor_cli.simulation.measurement_set import create_ms
from factor_cli.simulation.observation import make_bands, transit_centred_times
from factor_cli.simulation.sky import offset_position
from factor_cli.simulation.stations import select_stations
from factor_cli.skymodel import Component, read_skymodel, write_skymodel

from conftest import cli

casacore_tables = pytest.importorskip("casacore.tables")
pt = casacore_tables


def test_point_source_predicted_by_dp3_lands_in_wsclean_image(tmp_path):
    """DP3's predict, the MS's UVW and WSClean's gridder agree on position and flux."""
    ms = tmp_path / "pt.ms"
    band = make_bands(142e6, 8e6, 4, [0])[0]
    times = transit_centred_times(185.0, "2024-03-20", 90, 40.0)
    create_ms(ms, select_stations(4, 4), band, times, 40.0, (185.0, 52.0))
    scale_arcsec, npix = 10.0, 512
    # On a pixel centre of WSClean's SIN grid, 23 and -17 pixels from the phase centre.
    step = math.radians(scale_arcsec / 3600.0)
    ra, dec = offset_position(185.0, 52.0, np.array([-23 * step]), np.array([-17 * step]))
    flux = 2.5
    sky = tmp_path / "pt.skymodel"
    write_skymodel(sky, [Component("src", float(ra[0]), float(dec[0]), flux, patch="P0", ref_freq_hz=146e6)])
    run_dp3([f"msin={ms}", "msout=.", "msout.datacolumn=DATA", "steps=[predict]", f"predict.sourcedb={sky}"], threads=2)
    run_wsclean(["-size", str(npix), str(npix), "-scale", f"{scale_arcsec}asec", "-weight", "natural",
                 "-name", str(tmp_path / "img"), "-no-dirty", str(ms)], threads=2)
    image = fits.getdata(tmp_path / "img-image.fits")[0, 0]
    wcs = WCS(fits.getheader(tmp_path / "img-image.fits")).celestial
    x_true, y_true = wcs.world_to_pixel_values(ra[0], dec[0])
    y, x = np.unravel_index(np.argmax(image), image.shape)
    # Sub-pixel peak from a parabola through the peak and its neighbours.
    dx = 0.5 * (image[y, x - 1] - image[y, x + 1]) / (image[y, x - 1] - 2 * image[y, x] + image[y, x + 1])
    dy = 0.5 * (image[y - 1, x] - image[y + 1, x]) / (image[y - 1, x] - 2 * image[y, x] + image[y + 1, x])
    assert math.hypot(x + dx - x_true, y + dy - y_true) < 0.1
    assert image[y, x] == pytest.approx(flux, rel=0.01)


@pytest.mark.parametrize("obs", ["tiny_obs", "bright_obs"])
def test_corrupted_data_equal_sum_of_gain_corrupted_patch_models(obs, request, tmp_path):
    """DATA − noise = Σ_d g_i,d g*_j,d M_d, with M_d predicted by DP3 per patch, gains from truth
    (in ``bright``, the two sources to be peeled are patches with gains of their own)."""
    tiny_obs = request.getfixturevalue(obs)
    ms = tmp_path / "copy.ms"
    shutil.copytree(tiny_obs / "sim.ms", ms)
    sky = tiny_obs / "truth" / "apparent.skymodel"
    patches = sorted({c.patch for c in read_skymodel(sky)})
    for patch in patches:
        run_dp3([f"msin={ms}", "msout=.", f"msout.datacolumn=M_{patch}", "steps=[predict]",
                 f"predict.sourcedb={sky}", f"predict.sources=[{patch}]"], threads=2)
    phase = read_soltab(tiny_obs / "truth" / "gains.h5", "phase000")
    amp = read_soltab(tiny_obs / "truth" / "gains.h5", "amplitude000")
    assert list(phase.axes) == ["time", "freq", "ant", "dir"]
    gains = amp.values * np.exp(1j * phase.values)  # (time, freq, ant, dir)
    dirs = [d.strip("[]") for d in phase.axes["dir"]]

    rng = np.random.default_rng(0)
    with pt.table(str(ms), ack=False) as t, pt.table(str(tiny_obs / "truth" / "noise.ms"), ack=False) as n:
        times = np.unique(t.getcol("TIME"))
        assert np.allclose(times, phase.axes["time"])
        names = pt.table(t.getkeyword("ANTENNA"), ack=False).getcol("NAME")
        a2_all = t.getcol("ANTENNA2")
        # Baselines to remote stations: there the DD phases differ enough to tell conventions apart.
        remote_rows = np.flatnonzero([names[a].startswith("RS") for a in a2_all])
        for row in rng.choice(remote_rows, 6, replace=False):
            row = int(row)
            a1, a2 = t.getcell("ANTENNA1", row), t.getcell("ANTENNA2", row)
            it = int(np.searchsorted(times, t.getcell("TIME", row)))
            signal = t.getcell("DATA", row) - n.getcell("DATA", row)
            expected = np.zeros_like(signal)
            for patch in patches:
                d = dirs.index(patch)
                g = gains[it, :, a1, d] * np.conj(gains[it, :, a2, d])
                expected += g[:, None] * t.getcell(f"M_{patch}", row)
            scale = np.abs(expected).max()
            assert np.abs(signal - expected).max() < 1e-5 * scale + 1e-6
            # The opposite convention (g_i* g_j) must not fit: this test can tell them apart.
            wrong = sum(
                (np.conj(gains[it, :, a1, dirs.index(p)]) * gains[it, :, a2, dirs.index(p)])[:, None] * t.getcell(f"M_{p}", row)
                for p in patches
            )
            assert np.abs(signal - wrong).max() > 1e-2 * scale


def test_noise_sigma_matches_truth(tiny_obs, tiny_truth):
    with pt.table(str(tiny_obs / "truth" / "noise.ms"), ack=False) as n:
        noise = n.getcol("DATA")
    sigma = tiny_truth["noise_sigma_jy"]
    assert np.std(noise.real) == pytest.approx(sigma, rel=0.02)
    assert np.std(noise.imag) == pytest.approx(sigma, rel=0.02)
    assert abs(np.mean(noise.real)) < 0.02 * sigma


def test_noise_image_rms_matches_expected_thermal_rms(tiny_obs, tiny_truth, tmp_path):
    run_wsclean(["-size", "1024", "1024", "-scale", "20asec", "-weight", "natural", "-no-dirty",
                 "-name", str(tmp_path / "noise"), str(tiny_obs / "truth" / "noise.ms")], threads=2)
    image = fits.getdata(tmp_path / "noise-image.fits")[0, 0]
    assert np.std(image) == pytest.approx(tiny_truth["thermal_image_rms_jy"]["value"], rel=0.05)


def test_noise_ms_has_layout_and_flags_of_input(tiny_obs):
    with pt.table(str(tiny_obs / "sim.ms"), ack=False) as t, pt.table(str(tiny_obs / "truth" / "noise.ms"), ack=False) as n:
        assert t.nrows() == n.nrows()
        for col in ("TIME", "ANTENNA1", "ANTENNA2", "UVW", "FLAG"):
            assert np.array_equal(t.getcol(col), n.getcol(col)), col
        assert t.getcol("FLAG").mean() == pytest.approx(0.01, abs=0.005)


def test_ms_is_a_lofar_hba_ms(tiny_obs):
    ms = tiny_obs / "sim.ms"
    with pt.table(str(ms), ack=False) as t:
        a1, a2, uvw = t.getcol("ANTENNA1"), t.getcol("ANTENNA2"), t.getcol("UVW")
        assert np.all(a1 < a2)  # no autocorrelations, each baseline once
        assert "SUBTRACTED_DATA_ALL" in t.colnames()
        names = pt.table(t.getkeyword("ANTENNA"), ack=False).getcol("NAME")
        positions = pt.table(t.getkeyword("ANTENNA"), ack=False).getcol("POSITION")
        obs = pt.table(t.getkeyword("OBSERVATION"), ack=False)
        assert obs.getcell("TELESCOPE_NAME", 0) == "LOFAR"
        assert obs.getcell("LOFAR_ANTENNA_SET", 0) == "HBA_DUAL_INNER"
        assert "LOFAR_TILE_BEAM_DIR" in pt.table(t.getkeyword("FIELD"), ack=False).colnames()
        field = pt.table(t.getkeyword("LOFAR_ANTENNA_FIELD"), ack=False)
        assert field.nrows() == len(names)
        times = t.getcol("TIME")
    assert {n[:5] for n in names if n.endswith("HBA0")} == {n[:5] for n in names if n.endswith("HBA1")}
    assert any(n.startswith("RS") for n in names)
    # Exact UVW: a rotation of the baseline vector, so lengths equal the ITRF baseline lengths,
    # and baselines close: uvw(0,2) = uvw(0,1) + uvw(1,2) at each time.
    lengths = np.linalg.norm(positions[a2] - positions[a1], axis=1)
    assert np.allclose(np.linalg.norm(uvw, axis=1), lengths, atol=1e-3)
    first = times == times[0]
    lookup = {(i, j): k for k, (i, j) in enumerate(zip(a1[first], a2[first]))}
    u = uvw[first]
    assert np.allclose(u[lookup[(0, 2)]], u[lookup[(0, 1)]] + u[lookup[(1, 2)]], atol=1e-3)


def test_everybeam_recognises_the_ms(tiny_obs):
    code = (
        "import os, sys; from factor_cli.engines import engine_environment; os.environ.update(engine_environment());"
        "import everybeam; t = everybeam.load_telescope(sys.argv[1]); print(type(t).__name__)"
    )
    import sys as _sys

    out = subprocess.run([_sys.executable, "-c", code, str(tiny_obs / "sim.ms")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "LOFAR"


def test_gains_are_referenced_and_follow_tec(tiny_obs):
    phase = read_soltab(tiny_obs / "truth" / "gains.h5", "phase000")
    tec = read_soltab(tiny_obs / "truth" / "gains.h5", "tec000")
    assert np.all(phase.values[:, :, 0, :] == 0)
    expected = TEC_TO_PHASE * tec.values[:, None, :, :] / phase.axes["freq"][None, :, None, None]
    assert np.allclose(phase.values, expected)
    # Differential phases of order a radian: calibratable, but far from negligible.
    rms = np.sqrt(np.mean(phase.values[:, :, 1:, :] ** 2))
    assert 0.1 < rms < 3.0


def test_di_model_differs_from_truth_as_documented(tiny_obs, tiny_truth):
    truth = {c.name: c for c in read_skymodel(tiny_obs / "truth" / "apparent.skymodel")}
    intrinsic = {c.name: c for c in read_skymodel(tiny_obs / "truth" / "sky.txt")}
    model = {c.name: c for c in read_skymodel(tiny_obs / "sim.merge")}
    doc = tiny_truth["di_model"]
    cut = doc["omitted_below_jy"]
    omitted = {n for n, c in intrinsic.items() if c.flux_jy < cut}
    assert omitted, "the tiny sky must have faint sources the DI model misses"
    assert set(model) == set(truth) - omitted
    factors = doc["flux_factors"]
    for name, comp in model.items():
        assert comp.flux_jy == pytest.approx(truth[name].flux_jy * factors[name], rel=1e-4, abs=2e-6)
        assert comp.ra_deg == pytest.approx(truth[name].ra_deg, abs=1e-5)
    logf = np.log(list(factors.values()))
    assert 0.3 * doc["flux_scatter_lognormal_sigma"] < np.std(logf) < 3 * doc["flux_scatter_lognormal_sigma"]


def test_subtracted_column_is_data_minus_di_model(tiny_obs, tmp_path):
    ms = tmp_path / "copy.ms"
    shutil.copytree(tiny_obs / "sim.ms", ms)
    sky = tmp_path / "di.skymodel"
    shutil.copyfile(tiny_obs / "sim.merge", sky)
    run_dp3([f"msin={ms}", "msout=.", "msout.datacolumn=MODEL_DATA", "steps=[predict]", f"predict.sourcedb={sky}"], threads=2)
    with pt.table(str(ms), ack=False) as t:
        data, sub, model = t.getcol("DATA"), t.getcol("SUBTRACTED_DATA_ALL"), t.getcol("MODEL_DATA")
    assert np.allclose(data - model, sub, atol=1e-4)
    assert np.abs(sub).mean() < 0.8 * np.abs(data).mean()


def test_directions_file_parses_back(tiny_obs, tiny_truth):
    directions = read_directions_file(tiny_obs / "directions.txt")
    cals = {c["direction"]: c for c in tiny_truth["calibrators"]}
    assert sorted(d.name for d in directions) == sorted(cals)
    for d in directions:
        assert d.ra_deg == pytest.approx(cals[d.name]["ra_deg"], abs=1e-5)
        assert d.dec_deg == pytest.approx(cals[d.name]["dec_deg"], abs=1e-5)
        assert d.cal_flux_mjy == pytest.approx(1e3 * np.mean(cals[d.name]["apparent_flux_jy"]), abs=0.1)
    fluxes = [d.cal_flux_mjy for d in directions]
    assert fluxes == sorted(fluxes, reverse=True)  # Factor processes brightest first


def test_truth_is_kept_out_of_the_input_glob(tiny_obs, tiny_truth):
    top_level_ms = sorted(p.name for p in tiny_obs.glob("*.ms"))
    assert top_level_ms == ["sim.ms"]
    assert tiny_truth["noise_ms"] == {"sim.ms": "truth/noise.ms"}
    assert tiny_truth["preset"] == "tiny" and tiny_truth["seed"] == 7
    assert (tiny_obs / "factor.parset").is_file()


def test_simulation_is_deterministic_per_seed(tiny_obs, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    subprocess.run([cli("factor-simulate"), str(again), "--preset", "tiny", "--seed", "7", "-q"], check=True)
    subprocess.run([cli("factor-simulate"), str(other), "--preset", "tiny", "--seed", "8", "-q"], check=True)
    with pt.table(str(tiny_obs / "sim.ms"), ack=False) as a, pt.table(str(again / "sim.ms"), ack=False) as b, \
            pt.table(str(other / "sim.ms"), ack=False) as c:
        assert np.array_equal(a.getcol("DATA"), b.getcol("DATA"))
        assert not np.allclose(a.getcol("DATA"), c.getcol("DATA"))
    assert (tiny_obs / "truth" / "sky.txt").read_text() == (again / "truth" / "sky.txt").read_text()
    ta = json.loads((tiny_obs / "truth" / "truth.json").read_text())
    tb = json.loads((again / "truth" / "truth.json").read_text())
    assert ta == tb


def test_bright_preset_has_an_infield_source_to_peel_and_an_outlier(bright_obs):
    """Issue 7's data: a 3C-class source inside the faceted area whose apparent flux is above
    Factor's peel_flux_jy, one outside it (outlier_source), each with a peel model that is
    the truth (intrinsic fluxes) and a DD patch of its own; the outlier's errors are strong (TEC
    unlike any calibrator's: the screen's differences across the field are ~0.007 TECU rms,
    the outlier's >= 0.03)."""
    from factor_cli.bands import fwhm_deg
    from factor_cli.facets import separation_deg

    truth = json.loads((bright_obs / "truth" / "truth.json").read_text())
    dirs = {d.name: d for d in read_directions_file(bright_obs / "directions.txt")}
    peeled = {p["name"]: p for p in truth["peeled"]}
    assert set(peeled) == {"bright00", "outlier00"}
    assert dirs["outlier00"].outlier_source and not dirs["bright00"].outlier_source
    with pt.table(str(bright_obs / "sim.ms" / "ANTENNA"), ack=False) as t:
        dish = float(np.mean(t.getcol("DISH_DIAMETER")))
    elevation = truth["mean_elevation_deg"]
    radius = 1.25 * fwhm_deg(truth["bands"][0]["ref_freq_hz"], dish, elevation) / 2.0  # Factor's faceting radius
    centre = tuple(truth["phase_centre_deg"])
    sep = {n: separation_deg(centre, (p["ra_deg"], p["dec_deg"])) for n, p in peeled.items()}
    assert sep["outlier00"] > radius / math.sin(math.radians(elevation))  # beyond the stretched ellipse
    assert sep["bright00"] < radius
    assert peeled["bright00"]["apparent_flux_jy"][0] > 25.0  # peel_flux_jy's default
    assert peeled["outlier00"]["apparent_flux_jy"][0] > 15.0  # bright enough to wreck the field
    sky = {c.name: c for c in read_skymodel(bright_obs / "truth" / "sky.txt")}
    for name, p in peeled.items():
        model = read_skymodel(bright_obs / dirs[name].peel_skymodel)
        assert {c.patch for c in model} == {name}
        assert sum(c.flux_jy for c in model) == pytest.approx(p["flux_jy"], rel=1e-6)
        for c in model:
            assert (c.ra_deg, c.dec_deg, c.flux_jy) == pytest.approx((sky[c.name].ra_deg, sky[c.name].dec_deg, sky[c.name].flux_jy))
    tec = read_soltab(bright_obs / "truth" / "gains.h5", "tec000")
    d = [x.strip("[]") for x in tec.axes["dir"]]
    remote = [i for i, a in enumerate(tec.axes["ant"]) if str(a).startswith("RS")]
    for name in ("outlier00",):
        for cal in [c["direction"] for c in truth["calibrators"]] + ["bright00"]:
            diff = tec.values[:, remote, d.index(name)] - tec.values[:, remote, d.index(cal)]
            assert np.sqrt(np.mean(diff ** 2)) > 0.03, (name, cal)  # TECU; 0.03 TECU is 1.7 rad at 146 MHz
