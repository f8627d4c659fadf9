"""Outlier peeling: the plan's rules for peel directions, the peel's verification near its
source, the flux its solutions give the source (the engines run in test_peel_run.py)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from factor_cli.h5parm import SolutionTable, write_h5parm
from factor_cli.steps.peel import apparent_flux_jy
from factor_cli.verification import verify

from conftest import cli


def image(path, centre, sources, size=200, cell_deg=0.05, noise=0.1, seed=0):
    """A residual image with point-like peaks (RA, Dec, value) on Gaussian noise."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = centre
    w.wcs.crpix = [size / 2 + 1, size / 2 + 1]
    w.wcs.cdelt = [-cell_deg, cell_deg]
    data = np.random.default_rng(seed).normal(0, noise, (size, size))
    for ra, dec, value in sources:
        x, y = w.wcs_world2pix(ra, dec, 0)
        data[int(round(float(y))), int(round(float(x)))] = value
    fits.writeto(path, data.astype(np.float32), w.to_header(), overwrite=True)
    return str(path)


def test_peel_verification_looks_near_the_source_above_the_fields_noise_floor(tmp_path):
    centre = [185.0, 52.0]
    source, other = (190.0, 53.0), (184.3, 50.9)
    # Before: the outlier at 11 Jy/beam and another bright residual at 50; after: 0.3 left.
    pre = image(tmp_path / "pre.fits", centre, [(*source, 11.0), (*other, 50.0)])
    post = image(tmp_path / "post.fits", centre, [(*source, 0.3), (*other, 38.0)], noise=0.7, seed=1)
    whole = verify(pre, post, 0.75, 4.0)
    assert not whole.ok and whole.peak_post_jy == pytest.approx(38.0)  # Factor's field-wide test
    local = verify(pre, post, 0.75, 4.0, local=source)
    assert local.peak_pre_jy == pytest.approx(11.0) and local.peak_post_jy < 3.5
    assert local.max_peak_jy == pytest.approx(5 * 0.7, rel=0.05) and local.ok
    bad = image(tmp_path / "bad.fits", centre, [(*source, 9.0), (*other, 38.0)], noise=0.7, seed=1)
    assert not verify(pre, bad, 0.75, 4.0, local=source).ok  # a peel that left the source


def test_apparent_flux_is_model_times_squared_geometric_mean_amplitude(tmp_path):
    times, ants = np.arange(5.0), np.array(["CS001HBA0", "RS106HBA"])
    amp = np.array([0.3, 0.2])[None, :, None] * np.ones((5, 2, 1))
    h5 = tmp_path / "s.h5"
    write_h5parm(h5, [SolutionTable("amplitude001", "amplitude", {"time": times, "ant": ants, "dir": np.array(["o"])},
                                    amp, np.ones_like(amp))],
                 {a: np.zeros(3) for a in ants}, {"o": (190.0, 53.0)})
    assert apparent_flux_jy(150.0, str(h5), "o") == pytest.approx(150.0 * 0.3 * 0.2)


def runfactor_dry(obs, tmp_path, edit) -> subprocess.CompletedProcess:
    work = tmp_path / "obs"
    shutil.copytree(obs, work, ignore=shutil.ignore_patterns("truth", "work*"))
    edit(work)
    return subprocess.run([cli("runfactor"), str(work / "factor.parset"), "-d"], capture_output=True, text=True)


def set_peel_flux(value):
    def edit(work):
        p = work / "factor.parset"
        p.write_text(p.read_text().replace("[calibration]\n", f"[calibration]\npeel_flux_jy = {value}\n"))
    return edit


def test_peels_come_first_and_peel_flux_decides_facetpeel(bright_obs, tmp_path):
    """bright00 (48 Jy apparent, inside the field, with a peel model) is above the default
    peel_flux_jy (25): peeled after the outlier, before any selfcal, never self-calibrated.
    With peel_flux_jy above its flux it is self-calibrated like any calibrator."""
    peel = runfactor_dry(bright_obs, tmp_path / "a", lambda w: None)
    assert peel.returncode == 0, peel.stderr
    lines = [line.split()[:2] for line in peel.stdout.splitlines() if line.startswith("  ")]
    assert lines[2:5] == [["outlierpeel", "outlier00"], ["facetpeel", "bright00"], ["facetselfcal", "dir00"]]
    assert ["facetselfcal", "bright00"] not in lines and ["facetselfcal", "outlier00"] not in lines
    assert ["facetimage", "bright00"] in lines and ["facetimage", "outlier00"] not in lines
    selfcal = runfactor_dry(bright_obs, tmp_path / "b", set_peel_flux(100))
    assert selfcal.returncode == 0, selfcal.stderr
    lines = [line.split()[:2] for line in selfcal.stdout.splitlines() if line.startswith("  ")]
    assert ["facetselfcal", "bright00"] in lines and ["facetpeel", "bright00"] not in lines


def test_facetpeel_plan(bright_obs, tmp_path):
    """The peeled facet: peeled at the start of each selfcal pass (bright: 4), verified near the
    source, a failed peel stops the run, and its imaging and stand-in solutions use the last
    peel."""
    from factor_cli.runfactor import prepare

    work = tmp_path / "obs"
    shutil.copytree(bright_obs, work, ignore=shutil.ignore_patterns("truth", "work*"))
    plan = prepare(str(work / "factor.parset"))[1]
    assert plan["facet_peels"] == ["bright00"] and plan["passes"] == 4
    second = plan["order"].index("outlier00.p2")
    assert plan["order"][:2] == ["outlier00", "bright00"] and plan["order"][second:second + 3] == [
        "outlier00.p2", "bright00.p2", "dir00.p2"]
    assert plan["steps"]["selfcal"]["outlier00.p2"]["residual"][0][0].startswith("results/facetsub/dir03/")
    assert all("bright00" not in g for g in plan["groups"])
    step = plan["steps"]["selfcal"]["bright00"]
    assert step["operation"] == "facetpeel" and step["out_dir"] == "results/facetpeel/bright00" and step["verify"]["local"]
    assert all(s["peel"] and s["exit_on_selfcal_failure"] for s in plan["steps"]["subtract"]["bright00"].values())
    own = plan["steps"]["facetimage"]["facetimage"]["bright00"]["own"]
    assert [h["h5"] for h in own] == [None, "results/facetpeel/bright00/solutions.h5"] + [
        f"results/facetpeel/bright00.p{k}/solutions.h5" for k in (2, 3, 4)]
    assert plan["steps"]["products"]["solutions"]["bright00"] == "results/facetpeel/bright00.p4/solutions.h5"


def test_outlier_without_model_or_inside_the_field_is_an_error(bright_obs, tmp_path):
    def drop_model(work):
        d = work / "directions.txt"
        d.write_text(d.read_text().replace("peel_outlier00.skymodel True", "empty True"))
    r = runfactor_dry(bright_obs, tmp_path / "a", lambda w: (set_peel_flux(100)(w), drop_model(w)))
    assert r.returncode == 2 and "outlier_source" in r.stderr and "peel_skymodel" in r.stderr

    def inner_outlier(work):
        d = work / "directions.txt"
        d.write_text(d.read_text().replace("peel_bright00.skymodel False", "peel_bright00.skymodel True"))
    r = runfactor_dry(bright_obs, tmp_path / "b", lambda w: (set_peel_flux(100)(w), inner_outlier(w)))
    assert r.returncode == 2 and "inside the faceted area" in r.stderr


def test_integrated_flux_of_a_resolved_double(tmp_path):
    """A 20" double (2 + 3 Jy) restored with a 30" x 24" beam: the pixel sum over the beam
    area gives 5 Jy; a single beam fit (fitted_flux) would miss the second component."""
    from factor_cli.quality import fitted_flux, integrated_flux

    cell, size = 4.0, 128
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [185.0, 52.0]
    w.wcs.crpix = [size / 2 + 1, size / 2 + 1]
    w.wcs.cdelt = [-cell / 3600, cell / 3600]
    yy, xx = np.mgrid[:size, :size]
    sx, sy = 24.0 / 2.3548 / cell, 30.0 / 2.3548 / cell
    data = np.zeros((size, size))
    for dx, flux in ((0.0, 2.0), (5.0, 3.0)):  # 5 pixels = 20" apart in x
        data += flux * np.exp(-0.5 * (((xx - size / 2 - dx) / sx) ** 2 + ((yy - size / 2) / sy) ** 2))
    header = w.to_header()
    header.update({"BMAJ": 30.0 / 3600, "BMIN": 24.0 / 3600, "BPA": 0.0})
    fits.writeto(tmp_path / "d.fits", data, header)
    ra, dec = w.wcs_pix2world([size / 2 + 2.5], [size / 2], 0)
    assert integrated_flux(str(tmp_path / "d.fits"), float(ra[0]), float(dec[0]), 90.0) == pytest.approx(5.0, rel=0.01)
    assert fitted_flux(str(tmp_path / "d.fits"), float(ra[0]), float(dec[0]))[0] < 4.5
