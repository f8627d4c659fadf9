"""Calibrator selection, pure logic (issue: automatic calibrator selection): grouping of the
sky model into sources, Factor's cuts and merges, and the integer program."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factor_cli.calibrators import (
    Cuts,
    SelectionError,
    coverage_points,
    group_sources,
    merged_candidates,
    select_factor,
    select_optimal,
)
from factor_cli.facets import plane_coordinates, separation_deg, sky_coordinates
from factor_cli.skymodel import Component

CENTRE = (150.0, 50.0)
FREQ = 150e6


def comp(name, x_deg, y_deg, flux, major=0.0):
    ra, dec = sky_coordinates(CENTRE, [x_deg], [y_deg])
    kind = "GAUSSIAN" if major else "POINT"
    return Component(name, float(ra[0]), float(dec[0]), flux, kind=kind, major_arcsec=major, minor_arcsec=major,
                     ref_freq_hz=FREQ)


CUTS = Cuts(max_radius_deg=4.0, size_max_arcmin=3.0, flux_min_for_merging_jy=0.1, separation_max_arcmin=10.0,
            flux_min_jy=0.5, ndir_max=None)


def test_grouping_links_components_within_60_arcsec_and_drops_the_faintest():
    comps = [comp("a1", 0, 0, 1.0), comp("a2", 30 / 3600, 0, 0.5), comp("b", 0.5, 0.5, 0.3),
             comp("c", -1, 0, 0.001)]
    sources = group_sources(comps, FREQ)
    assert [len(s.components) for s in sources] == [2, 1]  # c is below 1 % of a
    assert sources[0].flux_jy == 1.5 and sources[0].name == "facet_patch_0"
    x, _ = plane_coordinates(CENTRE, [sources[0].ra_deg], [sources[0].dec_deg])
    assert abs(x[0] * 3600 - 10.0) < 0.01  # flux-weighted centre


def test_factor_selection_applies_cuts_merges_and_absorbs_extended_sources():
    sources = group_sources([
        comp("far", 5.0, 0, 10.0),                        # outside max_radius
        comp("m1", 1.0, 1.0, 0.4), comp("m2", 1.05, 1.0, 0.3),  # merge (3' apart) into 0.7 Jy
        comp("faint", -1.0, -1.0, 0.2),                    # below flux_min after merging
        comp("bright", -2.0, 0.5, 2.0),
        comp("ext", -2.1, 0.5, 0.5, major=600.0),          # extended, near 'bright'
    ], FREQ)
    chosen = select_factor(sources, CENTRE, CUTS, FREQ)
    assert [round(s.flux_jy, 3) for s in chosen] == [2.5, 0.7]
    assert all(separation_deg(CENTRE, (s.ra_deg, s.dec_deg)) <= CUTS.max_radius_deg for s in chosen)
    limited = select_factor(sources, CENTRE, Cuts(**{**CUTS.__dict__, "ndir_max": 1}), FREQ)
    assert len(limited) == 1 and limited[0].flux_jy == 2.5


def test_optimal_selection_spreads_calibrators_where_greedy_clusters_them():
    # Four bright sources in one corner, fainter ones spread over the field.
    comps = [comp(f"c{i}", 1.5 + 0.3 * (i % 2), 1.5 + 0.3 * (i // 2), 5.0) for i in range(4)]
    comps += [comp(f"s{i}", 1.8 * math.cos(a), 1.8 * math.sin(a), 1.0) for i, a in enumerate(np.linspace(0, 2 * np.pi, 8, endpoint=False))]
    sources = group_sources(comps, FREQ)
    cuts = Cuts(**{**CUTS.__dict__, "ndir_max": 5})
    greedy = select_factor(sources, CENTRE, cuts, FREQ)
    best = select_optimal(sources, CENTRE, cuts, FREQ, field_radius_deg=2.5, ns_stretch=1.0, coverage_radius_deg=1.6)

    def uncovered(sel):
        pts = coverage_points(CENTRE, 2.5, 1.0)
        x, y = plane_coordinates(CENTRE, [s.ra_deg for s in sel], [s.dec_deg for s in sel])
        return sum(1 for px, py in pts if np.min(np.hypot(x - px, y - py)) > 1.6)

    assert len(best) <= 5 and uncovered(best) < uncovered(greedy)
    assert sum(s.flux_jy for s in greedy) > sum(s.flux_jy for s in best)  # greedy maximises flux only


fields = st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(0.01, 5.0)), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None)
@given(fields, st.integers(1, 6))
def test_selections_respect_every_cut_and_are_deterministic(field, ndir_max):
    sources = group_sources([comp(f"c{i}", x, y, f) for i, (x, y, f) in enumerate(field)], FREQ)
    cuts = Cuts(**{**CUTS.__dict__, "ndir_max": ndir_max})
    candidates, _ = merged_candidates(sources, CENTRE, cuts, FREQ)
    factor = lambda: select_factor(sources, CENTRE, cuts, FREQ)  # noqa: E731
    optimal = lambda: select_optimal(sources, CENTRE, cuts, FREQ, 2.5, 1.2, 1.0, min_separation_arcmin=20.0)  # noqa: E731
    if not candidates:
        for select in (factor, optimal):
            with pytest.raises(SelectionError):
                select()
        return
    for select in (factor, optimal):
        chosen = select()
        assert 1 <= len(chosen) <= ndir_max
        assert all(s.flux_jy > cuts.flux_min_jy for s in chosen)
        assert {s.name for s in chosen} <= {c.name for c in candidates}
        assert [s.name for s in select()] == [s.name for s in chosen]
    best = optimal()
    for i, a in enumerate(best):
        for b in best[i + 1:]:
            assert separation_deg((a.ra_deg, a.dec_deg), (b.ra_deg, b.dec_deg)) >= 20.0 / 60.0 - 1e-6


AUTO_PARSET = ("[global]\ndir_working = work\ndir_ms = {ms}\n[imaging]\nwsclean_use_idg = False\n"
               "[directions]\nsize_max_arcmin = 3.0\nseparation_max_arcmin = 10.0\nflux_min_jy = {flux}\n{extra}")


@pytest.mark.parametrize("extra", ["", "selection_method = optimal\nndir_max = 6\n"])
def test_runfactor_without_directions_file_selects_the_simulated_calibrators(tiny_obs, tiny_truth, tmp_path, extra):
    """Selection + chunking only (-s 0): recall of the true calibrators brighter (apparent) than
    flux_min_jy, the file Factor writes, and a rerun that reuses it (same facets, no change)."""
    import subprocess

    from conftest import cli
    from factor_cli.directions import read_directions_file

    flux_min = 1.0
    parset = tmp_path / "factor.parset"
    parset.write_text(AUTO_PARSET.format(ms=tiny_obs, flux=flux_min, extra=extra))
    out = subprocess.run([cli("runfactor"), str(parset), "-q", "-s", "0"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    chosen = read_directions_file(tmp_path / "work" / "factor_directions.txt")
    truth = [c for c in tiny_truth["calibrators"] if c["apparent_flux_jy"][0] > flux_min]
    found = [c for c in truth if any(separation_deg((c["ra_deg"], c["dec_deg"]), (d.ra_deg, d.dec_deg)) < 1 / 60 for d in chosen)]
    assert len(found) >= 0.9 * len(truth) and truth
    assert [d.cal_flux_mjy for d in chosen] == sorted((d.cal_flux_mjy for d in chosen), reverse=True)
    regions = (tmp_path / "work" / "regions" / "calimages_ds9.reg").read_text()
    assert regions.count("box(") == 2 * len(chosen) and all(f"text={{{d.name}}}" in regions for d in chosen)
    again = subprocess.run([cli("runfactor"), str(parset), "-d"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "facetselfcal" in again.stdout and "chunk " not in again.stdout


def test_selection_keys_are_required_without_directions_file(tmp_path):
    from factor_cli.parset import ParsetError, read_parset

    (tmp_path / "ms").mkdir()
    parset = tmp_path / "p.parset"
    parset.write_text("[global]\ndir_working = w\ndir_ms = ms\n[directions]\nsize_max_arcmin = 3\nflux_min_jy = 1\n")
    with pytest.raises(ParsetError, match=r"\[directions\] separation_max_arcmin: required"):
        read_parset(parset)
    parset.write_text("[global]\ndir_working = w\ndir_ms = ms\n[directions]\nsize_max_arcmin = 3\nflux_min_jy = 1\n"
                      "separation_max_arcmin = 5\nminimize_nonuniformity = True\n")
    with pytest.raises(ParsetError, match="minimize_nonuniformity: needs ndir_max"):
        read_parset(parset)
    parset.write_text(parset.read_text() + "ndir_max = 4\n")
    assert read_parset(parset)["directions"]["selection_method"] == "optimal"
