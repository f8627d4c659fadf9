"""Pure logic: facets, groups, averaging and solution-interval formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.ops import unary_union

from factor_cli.averaging import averaging_steps, bandwidth_peak, fast_solint_slots, slow_solint_slots
from factor_cli.facets import facet_of_sources, field_of_view, make_facets
from factor_cli.groups import make_groups


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0)), min_size=2, max_size=8, unique=True))
def test_facets_partition_the_field(offsets):
    pts = [(x, y) for x, y in offsets if min(math.hypot(x - a, y - b) for a, b in offsets if (a, b) != (x, y)) > 0.05]
    if len(pts) < 2:
        return
    ra = [185.0 + x / math.cos(math.radians(52.0)) for x, _ in pts]
    dec = [52.0 + y for _, y in pts]
    names = [f"d{i}" for i in range(len(pts))]
    facets = make_facets(names, ra, dec, (185.0, 52.0), 2.6, 1.02)
    inner = [f.polygon for f in facets.values() if not f.is_patch]
    fov = field_of_view(2.6, 1.02)
    if len(inner) == len(pts):
        assert sum(p.area for p in inner) == pytest.approx(fov.area, rel=1e-6)
    assert unary_union(inner).area == pytest.approx(sum(p.area for p in inner), rel=1e-9)  # no overlaps
    # Every random source inside the field lies in exactly one facet.
    rng = np.random.default_rng(0)
    sx, sy = rng.uniform(-2, 2, 50), rng.uniform(-2, 2, 50)
    sra, sdec = 185.0 + sx / math.cos(math.radians(52.0)), 52.0 + sy
    owner = facet_of_sources({n: f.vertices_radec for n, f in facets.items() if not f.is_patch}, (185.0, 52.0), sra, sdec)
    for o, x, y in zip(owner, sx, sy):
        if math.hypot(x, y / 1.02) < 2.4 and len(inner) == len(pts):
            assert o is not None


def test_direction_outside_field_becomes_patch():
    facets = make_facets(["in", "out"], [185.0, 192.0], [52.0, 52.0], (185.0, 52.0), 2.0, 1.0)
    assert not facets["in"].is_patch and facets["out"].is_patch


def test_groupings_and_reordering():
    names = [f"d{i}" for i in range(6)]
    pos = {n: (185.0 + i, 52.0) for i, n in enumerate(names)}
    flux = {n: 1.0 for n in names}
    assert make_groups(names, pos, flux, [(1, 0)], True) == [[n] for n in names]
    assert make_groups(names, pos, flux, [(1, 1), (2, 0)], False) == [["d0"], ["d1", "d2"], ["d3", "d4"], ["d5"]]
    # Reordering puts the farthest direction with the first one.
    assert make_groups(names, pos, flux, [(2, 0)], True)[0] == ["d0", "d5"]


def test_averaging_formulas():
    assert bandwidth_peak(0.0, 150e6, 1.0, 0.01) == 1.0
    assert bandwidth_peak(1e6, 150e6, 1.0, 0.01) < bandwidth_peak(0.5e6, 150e6, 1.0, 0.01) < 1.0
    timestep, freqstep = averaging_steps(0.85, 0.05, 1.5, 146e6, 0.05e6, 40, 2.0)
    assert timestep == 60 and 40 % freqstep == 0  # capped at 120 s; freqstep divides the channels
    assert averaging_steps(0.85, 1.5, 1.5, 146e6, 0.05e6, 40, 2.0) < (timestep, freqstep)


def test_solution_intervals():
    assert fast_solint_slots(10.0, 4, 8.0) == 1  # bright: 16 (1.4/10)^2 s < one slot
    assert fast_solint_slots(0.7, 4, 2.0) == 8  # faint: capped at 16 s
    assert slow_solint_slots(0.1, 10.0, 1000) <= 120  # at most 1200 s
    slots = slow_solint_slots(1.4, 10.0, 250)
    assert slots <= 120 and (250 % slots == 0 or 250 % slots >= slots / 2)


def test_discs_mask_marks_pixels_within_the_radius_only():
    from factor_cli.facets import discs_mask
    from factor_cli.imaging import image_wcs

    wcs = image_wcs((150.0, 50.0), 100, 10.0)
    ra, dec = wcs.wcs_pix2world([[30.0, 60.0], [90.0, 10.0]], 0).T
    mask = discs_mask(list(ra), list(dec), [25.0, 95.0], wcs, (100, 100))
    yy, xx = np.mgrid[0:100, 0:100]
    inside = ((xx - 30) ** 2 + (yy - 60) ** 2 <= 2.5**2) | ((xx - 90) ** 2 + (yy - 10) ** 2 <= 9.5**2)
    assert (mask == inside).all()
    assert not discs_mask([], [], [], wcs, (100, 100)).any()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)), min_size=2, max_size=7, unique=True),
       st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.01, 3.0), st.floats(0, 4)), max_size=15))
def test_edge_adjustment_keeps_a_partition_and_clears_sources_or_says_why(dirs, sources):
    """check_edges: facets still partition the field, every calibrator stays in its own facet,
    every source lies in exactly one facet, and no facet but one comes within the avoidance
    radius of a source unless a note names that source; deterministic."""
    from shapely.geometry import Point

    from factor_cli.edges import avoidance_radius_deg
    from factor_cli.facets import sky_coordinates

    centre = (150.0, 40.0)
    if any(math.hypot(a[0] - b[0], a[1] - b[1]) < 0.2 for i, a in enumerate(dirs) for b in dirs[i + 1:]):
        return
    dra, ddec = sky_coordinates(centre, [d[0] for d in dirs], [d[1] for d in dirs])
    names = [f"d{i}" for i in range(len(dirs))]
    sra, sdec = sky_coordinates(centre, [s[0] for s in sources], [s[1] for s in sources])
    avoid = [(f"s{i}", float(r), float(d), avoidance_radius_deg(s[3], s[2])) for i, (r, d, s) in enumerate(zip(sra, sdec, sources))]
    notes: list[str] = []
    facets = make_facets(names, list(dra), list(ddec), centre, 2.5, 1.3, avoid=avoid, notes=notes)
    polys = {n: f.polygon for n, f in facets.items() if not f.is_patch}
    fov = field_of_view(2.5, 1.3)
    assert sum(p.area for p in polys.values()) == pytest.approx(fov.area, rel=2e-3)
    assert unary_union(list(polys.values())).area == pytest.approx(fov.area, rel=2e-3)
    for n, (x, y) in zip(names, dirs):
        if n in polys:
            assert polys[n].contains(Point(x, y)), n
    for (name, *_), (x, y, *_rest) in zip(avoid, sources):
        p = Point(x, y)
        if not fov.buffer(-1e-6).contains(p):
            continue
        owners = [n for n, poly in polys.items() if poly.buffer(1e-9).contains(p)]
        assert len(owners) >= 1
        if not any(f"source {name}:" in note for note in notes):
            radius = next(a[3] for a in avoid if a[0] == name)
            near = [n for n, poly in polys.items() if poly.intersects(p.buffer(radius * 0.99))]
            assert len(near) == 1, (name, near)
    again = make_facets(names, list(dra), list(ddec), centre, 2.5, 1.3, avoid=avoid, notes=[])
    assert all(again[n].vertices_radec == facets[n].vertices_radec for n in names)


def test_facet_polygon_mask_holds_exactly_the_pixels_inside_also_off_the_image_edge():
    from shapely.geometry import Point, Polygon

    from factor_cli.facets import polygon_mask
    from factor_cli.imaging import image_wcs

    wcs = image_wcs((186.0, 51.0), 64, 60.0)
    for centre in ((32.0, 30.0), (60.0, -5.0)):  # inside; half beyond a corner
        ang = np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False)
        pix = np.column_stack([centre[0] + 20 * np.cos(ang), centre[1] + 15 * np.sin(ang)])
        verts = [tuple(v) for v in wcs.wcs_pix2world(pix, 0)]
        mask = polygon_mask(verts, wcs, (64, 64))
        poly = Polygon(np.column_stack(wcs.wcs_world2pix(*np.array(verts).T, 0)))
        expected = np.array([[poly.contains(Point(x, y)) for x in range(64)] for y in range(64)])
        assert mask.any() and (mask == expected).all()
