"""makesourcedb sky-model text: round trip, LSMTool spellings, spectral indices."""

from __future__ import annotations

import pytest

from factor_cli.skymodel import Component, read_skymodel, write_skymodel


def test_round_trip_point_and_gaussian(tmp_path):
    comps = [
        Component("a", 185.123456, 52.654321, 3.5, patch="P0", spectral_index=(-0.8,), ref_freq_hz=146e6),
        Component("b", 0.001, -5.5, 0.01, patch="P1", kind="GAUSSIAN", major_arcsec=40.0, minor_arcsec=20.0,
                  orientation_deg=33.0, spectral_index=(-0.7, 0.1), ref_freq_hz=146e6),
    ]
    path = tmp_path / "m.skymodel"
    write_skymodel(path, comps)
    back = read_skymodel(path)
    for a, b in zip(comps, back):
        assert (b.name, b.kind, b.patch) == (a.name, a.kind, a.patch)
        assert b.ra_deg == pytest.approx(a.ra_deg, abs=2e-6) and b.dec_deg == pytest.approx(a.dec_deg, abs=2e-6)
        assert b.flux_jy == pytest.approx(a.flux_jy) and b.spectral_index == pytest.approx(a.spectral_index)
        assert b.major_arcsec == pytest.approx(a.major_arcsec)


def test_reads_lsmtool_style_without_sign_and_with_defaults(tmp_path):
    path = tmp_path / "lsm.skymodel"
    path.write_text(
        "format = Name, Type, Patch, Ra, Dec, I, SpectralIndex='[]', ReferenceFrequency='150000000.0'\n"
        "s1, POINT, , 10:00:00.0, 50.00.00.0, 2.0, [-0.5]\n"
        "s2, POINT, , 10:00:00.0, -1.30.00.0, 1.0,\n"
    )
    s1, s2 = read_skymodel(path)
    assert s1.ra_deg == pytest.approx(150.0) and s1.dec_deg == pytest.approx(50.0)
    assert s2.dec_deg == pytest.approx(-1.5) and s2.ref_freq_hz == 150e6 and s2.spectral_index == ()
    assert s1.flux_at(300e6) == pytest.approx(2.0 * 2.0 ** -0.5)
