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
    assert apparent_flux_jy(150.0, str(h5)) == pytest.approx(150.0 * 0.3 * 0.2)


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


def test_outlier_is_peeled_first_and_bright_calibrator_refused_until_facetpeel(bright_obs, tmp_path):
    refused = runfactor_dry(bright_obs, tmp_path / "a", lambda w: None)
    assert refused.returncode == 2 and "facetpeel" in refused.stderr and "bright00" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    ok = runfactor_dry(bright_obs, tmp_path / "b", set_peel_flux(100))
    assert ok.returncode == 0, ok.stderr
    lines = [line.split() for line in ok.stdout.splitlines() if line.startswith("  ")]
    assert lines[2][:2] == ["outlierpeel", "outlier00"]  # after chunk and skymodels, before any facetselfcal
    assert ["facetselfcal", "outlier00"] not in [line[:2] for line in lines]


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
