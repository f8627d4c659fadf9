"""The facet model is restored onto the image of the facet's residual (facetimage.py): a
facet-peeled source at the flux it has in the corrected data, the rest as it is, each component
convolved with the image's beam as WSClean restores it, but at its exact position."""

from __future__ import annotations

import numpy as np
import pytest

from factor_cli.engines import run_wsclean
from factor_cli.h5parm import SolutionTable, write_h5parm
from factor_cli.quality import fitted_flux
from factor_cli.restore import restore_components
from factor_cli.skymodel import Component, format_dec, format_ra, read_skymodel, write_skymodel
from factor_cli.steps.facetimage import model_to_restore
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


def test_the_restore_model_holds_the_facet_model_with_the_peeled_source_scaled(tmp_path):
    _facet_model(tmp_path / "facet.skymodel")
    _solutions(tmp_path / "sol.h5", 0.9)
    restore = model_to_restore([None, str(tmp_path / "facet.skymodel")], str(tmp_path / "sol.h5"), "bright00", tmp_path)
    flux = {c.name: c.flux_jy for c in read_skymodel(restore)}
    assert flux["peel_A"] == pytest.approx(39.0 * 0.81, rel=1e-4) and flux["peel_B"] == pytest.approx(21.0 * 0.81, rel=1e-4)
    assert flux["s1"] == pytest.approx(0.05) and flux["s2"] == pytest.approx(0.02)
    # A self-calibrated facet: its model as it is.
    plain = tmp_path / "plain.skymodel"
    write_skymodel(plain, [Component("s1", 184.9, 50.5, 0.05, patch="dir00")])
    assert read_skymodel(model_to_restore([str(plain)], str(tmp_path / "sol.h5"), "dir00", tmp_path)) == read_skymodel(plain)
    assert model_to_restore([None], str(tmp_path / "sol.h5"), "dir00", tmp_path) is None


def _wsclean_list(path, components):
    """WSClean's own component-list format (its -restore-list does not read makesourcedb's)."""
    rows = ["Format = Name, Type, Ra, Dec, I, SpectralIndex, LogarithmicSI, ReferenceFrequency='146000000.0', "
            "MajorAxis, MinorAxis, Orientation"]
    for c in components:
        shape = f"{c.major_arcsec},{c.minor_arcsec},{c.orientation_deg}" if c.kind == "GAUSSIAN" else ",,"
        rows.append(f"{c.name},{c.kind},{format_ra(c.ra_deg)},{format_dec(c.dec_deg)},{c.flux_jy},[],true,146000000.0,{shape}")
    path.write_text("\n".join(rows) + "\n")


def test_components_restored_as_wsclean_does_but_where_they_are(tiny_obs, tmp_path):
    """On pixel centres, a point and a Gaussian restored with an elliptical beam equal WSClean's
    own -restore-list (to 1e-4 of the peak); half a pixel off, WSClean puts the point on the
    nearest pixel centre, restore_components where it is (fitted position to 0.1")."""
    from astropy.io import fits
    from astropy.wcs import WCS

    run_wsclean(["-size", "256", "256", "-scale", "12asec", "-niter", "1", "-beam-shape", "40asec", "20asec", "30deg",
                 "-no-dirty", "-name", str(tmp_path / "noise"), str(tiny_obs / "truth" / "noise.ms")], threads=2)
    image = tmp_path / "noise-image.fits"
    wcs = WCS(fits.getheader(image)).celestial
    (ra0, dec0), (ra1, dec1), (ra2, dec2) = wcs.wcs_pix2world([[150.0, 100.0], [60.0, 190.0], [100.5, 60.3]], 0)
    on_pixels = [Component("p", ra0 % 360, dec0, 1.0, ref_freq_hz=146e6),
                 Component("g", ra1 % 360, dec1, 2.0, kind="GAUSSIAN", major_arcsec=90.0, minor_arcsec=40.0,
                           orientation_deg=-50.0, ref_freq_hz=146e6)]
    _wsclean_list(tmp_path / "list.txt", on_pixels)
    run_wsclean(["-restore-list", str(image), str(tmp_path / "list.txt"), str(tmp_path / "wsclean.fits")], threads=2)
    restore_components(image, on_pixels, tmp_path / "ours.fits")
    theirs, ours = (np.squeeze(fits.getdata(tmp_path / f)) for f in ("wsclean.fits", "ours.fits"))
    assert np.abs(theirs - ours).max() < 1e-4
    assert ours[100, 150] - np.squeeze(fits.getdata(image))[100, 150] == pytest.approx(1.0, abs=1e-4)
    off = Component("h", ra2 % 360, dec2, 1.0, ref_freq_hz=146e6)
    restore_components(image, [off], tmp_path / "off.fits")
    flux, offset = fitted_flux(str(tmp_path / "off.fits"), off.ra_deg, off.dec_deg)
    assert flux == pytest.approx(1.0, rel=0.01) and offset < 0.1
    _wsclean_list(tmp_path / "off.txt", [off])
    run_wsclean(["-restore-list", str(image), str(tmp_path / "off.txt"), str(tmp_path / "off_ws.fits")], threads=2)
    assert fitted_flux(str(tmp_path / "off_ws.fits"), off.ra_deg, off.dec_deg)[1] > 3.0   # the pixel centre is 6" away
