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
