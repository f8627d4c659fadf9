"""The facet model is restored onto the image of the facet's residual (facetimage.py): a
facet-peeled source at the flux it has in the corrected data, the rest as it is, in a component
list that the real WSClean restores."""

from __future__ import annotations

import numpy as np
import pytest

from factor_cli.engines import run_wsclean
from factor_cli.h5parm import SolutionTable, write_h5parm
from factor_cli.quality import integrated_flux
from factor_cli.skymodel import Component, write_component_list, write_skymodel
from factor_cli.steps.facetimage import model_restore_list
from factor_cli.steps.peel import corrected_flux_scale


def _facet_model(path):
    write_skymodel(path, [
        Component("peel_A", 184.35, 50.87, 39.0, patch="bright00_peel", spectral_index=(-0.7,), ref_freq_hz=146e6),
        Component("peel_B", 184.36, 50.87, 21.0, patch="bright00_peel", spectral_index=(-0.7,), ref_freq_hz=146e6),
        Component("s1", 184.9, 50.5, 0.05, patch="bright00", ref_freq_hz=146e6),
        Component("s2", 185.2, 51.0, 0.02, patch="bright00", kind="GAUSSIAN", major_arcsec=60.0, minor_arcsec=20.0,
                  orientation_deg=30.0, ref_freq_hz=146e6),
    ])


def _solutions(path, ratio):
    """Slow amplitudes of the facet (normalised) and of its peeled source (``ratio`` × those)."""
    rng = np.random.default_rng(1)
    times, ants = 1e9 + 240.0 * np.arange(6), np.array(["CS001", "CS002", "RS106"])
    facet = np.exp(0.1 * rng.standard_normal((6, 1, 3, 1)))
    amp = np.concatenate([facet, ratio * facet], axis=3)
    weights = np.ones_like(amp)
    weights[2, 0, 1, 1] = 0.0          # a flagged solution does not count
    amp[2, 0, 1, 1] = 50.0
    write_h5parm(path, [SolutionTable("amplitude001", "amplitude",
                                      {"time": times, "freq": np.array([146e6]), "ant": ants,
                                       "dir": np.array(["bright00", "bright00_peel"])}, amp, weights)],
                 {a: np.zeros(3) for a in ants}, {"bright00": (184.35, 50.87), "bright00_peel": (184.35, 50.87)})


def test_the_peeled_source_is_as_bright_as_its_own_amplitudes_make_it_in_the_corrected_data(tmp_path):
    _solutions(tmp_path / "sol.h5", 0.893)
    assert corrected_flux_scale(str(tmp_path / "sol.h5"), "bright00", "bright00_peel") == pytest.approx(0.893**2)


def test_the_restore_list_holds_the_model_with_the_peeled_source_scaled(tmp_path):
    _facet_model(tmp_path / "facet.skymodel")
    _solutions(tmp_path / "sol.h5", 0.9)
    restore = model_restore_list([None, str(tmp_path / "facet.skymodel")], str(tmp_path / "sol.h5"), "bright00", tmp_path)
    lines = open(restore).read().splitlines()
    assert lines[0].startswith("Format = Name, Type, Ra, Dec, I,") and len(lines) == 5
    flux = {line.split(",")[0]: float(line.split(",")[4]) for line in lines[1:]}
    assert flux["peel_A"] == pytest.approx(39.0 * 0.81, rel=1e-4) and flux["peel_B"] == pytest.approx(21.0 * 0.81, rel=1e-4)
    assert flux["s1"] == pytest.approx(0.05) and flux["s2"] == pytest.approx(0.02)
    assert lines[4].split(",")[1] == "GAUSSIAN" and lines[4].split(",")[-3:] == ["60.000", "20.000", "30.000"]
    # A self-calibrated facet: its model as it is.
    plain = tmp_path / "plain.skymodel"
    write_skymodel(plain, [Component("s1", 184.9, 50.5, 0.05, patch="dir00")])
    lines = open(model_restore_list([str(plain)], str(tmp_path / "sol.h5"), "dir00", tmp_path)).read().splitlines()
    assert len(lines) == 2 and float(lines[1].split(",")[4]) == pytest.approx(0.05)
    assert model_restore_list([None], str(tmp_path / "sol.h5"), "dir00", tmp_path) is None


def test_wsclean_restores_the_component_list(tiny_obs, tmp_path):
    """The list is in WSClean's own format (it does not read makesourcedb's): a 10-Jy point and
    a 2-Jy Gaussian restored onto an image of the noise come out with their fluxes."""
    run_wsclean(["-size", "512", "512", "-scale", "20asec", "-niter", "1", "-beam-size", "60", "-no-dirty", "-name", str(tmp_path / "noise"),
                 str(tiny_obs / "truth" / "noise.ms")], threads=2)
    point = Component("p", 185.3, 52.2, 10.0, ref_freq_hz=146e6, spectral_index=(-0.7,))
    gauss = Component("g", 184.6, 51.8, 2.0, kind="GAUSSIAN", major_arcsec=90.0, minor_arcsec=45.0, orientation_deg=40.0,
                      ref_freq_hz=146e6)
    write_component_list(tmp_path / "list.txt", [point, gauss])
    run_wsclean(["-restore-list", str(tmp_path / "noise-image.fits"), str(tmp_path / "list.txt"),
                 str(tmp_path / "restored.fits")], threads=2)
    from astropy.io import fits
    freq = fits.getheader(tmp_path / "restored.fits")["CRVAL3"]
    assert integrated_flux(str(tmp_path / "restored.fits"), 185.3, 52.2, 180.0) == pytest.approx(point.flux_at(freq), rel=0.05)
    assert integrated_flux(str(tmp_path / "restored.fits"), 184.6, 51.8, 300.0) == pytest.approx(2.0, rel=0.1)
