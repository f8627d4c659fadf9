"""Choosing DDE calibrators from a sky model when no directions file is given.

Two methods, both working on *sources*: the faceting sky model's components grouped into
sources first (``group_sources``).

``select_factor`` follows Factor's make_directions_file_from_skymodel step by step
(factor.md §3.3): radius cut, size split, merging-flux cut, merging of neighbours within
``separation_max_arcmin``, total-flux cut, ``ndir_max`` brightest, absorption of nearby
extended sources.

``select_optimal`` (beyond Factor) chooses among the same merged candidates with an integer
linear program (pulp + CBC)::

    maximise   sum_i F_i x_i  -  M sum_k s_k
    subject to sum_i x_i <= ndir_max
               x_i + x_j <= 1                  for candidates i, j closer than min_separation
               sum_{i near k} x_i + s_k >= 1   for every coverage point k of the field
               x_i in {0, 1},  s_k >= 0

F_i is the candidate's flux (calibrator S/N scales with it), the coverage points sample the
faceted field, "near" means within ``coverage_radius_deg``, and M = 1 + sum_i F_i makes
coverage take precedence over flux: the program first leaves as little of the field as
possible farther than the coverage radius from a calibrator (slack s_k counts the uncovered
points; Factor's greedy choice can leave whole regions without a calibrator, #51/#63), and
among the best-covering sets takes the brightest.  Factor's ``minimize_nonuniformity`` asked
for the same thing (an even spread) and maps onto this method.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .facets import plane_coordinates, separation_deg, sky_coordinates
from .skymodel import Component


class SelectionError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    size_arcmin: float
    components: tuple[Component, ...]


def _source(name: str, comps: list[Component], freq_hz: float, position: str = "flux") -> Source:
    flux = np.array([max(float(c.flux_at(freq_hz)), 0.0) for c in comps])
    ra = np.array([c.ra_deg for c in comps])
    dec = np.array([c.dec_deg for c in comps])
    ref = (float(ra[0]), float(dec[0]))
    x, y = plane_coordinates(ref, ra, dec)
    w = flux if flux.sum() > 0 else np.ones_like(flux)
    if position == "mid":  # Factor's 'mid': the middle of the extent
        cx, cy = (x.min() + x.max()) / 2.0, (y.min() + y.max()) / 2.0
    else:
        cx, cy = float(np.average(x, weights=w)), float(np.average(y, weights=w))
    # Flux-weighted size: twice the weighted mean distance from the centre, plus the
    # components' own extent (Gaussian major axes).
    dist = np.hypot(x - cx, y - cy) * 60.0
    extent = np.array([c.major_arcsec / 60.0 for c in comps])
    size = float(2.0 * np.average(dist, weights=w) + np.average(extent, weights=w))
    cra, cdec = sky_coordinates(ref, [cx], [cy])
    return Source(name, float(cra[0]), float(cdec[0]), float(flux.sum()), size, tuple(comps))


def group_sources(components: list[Component], freq_hz: float, link_arcsec: float = 60.0,
                  threshold: float = 0.01) -> list[Source]:
    """Components into sources, as Factor's LSMTool ``threshold`` grouping (60" FWHM, 1 %):
    components closer than ``link_arcsec`` to each other (single linkage) form one source,
    and sources fainter than ``threshold`` × the brightest are dropped (they would not rise
    above the threshold of the smoothed model).  Sorted by flux, brightest first."""
    if not components:
        return []
    ra = np.array([c.ra_deg for c in components])
    dec = np.array([c.dec_deg for c in components])
    x, y = plane_coordinates((float(np.mean(ra)), float(np.mean(dec))), ra, dec)
    link = link_arcsec / 3600.0
    parent = list(range(len(components)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.argsort(x)
    for a in range(len(order)):  # sweep in x: only neighbours within the link length in x
        i = order[a]
        for b in range(a + 1, len(order)):
            j = order[b]
            if x[j] - x[i] > link:
                break
            if math.hypot(x[j] - x[i], y[j] - y[i]) <= link:
                parent[find(i)] = find(j)
    groups: dict[int, list[Component]] = {}
    for i, c in enumerate(components):
        groups.setdefault(find(i), []).append(c)
    sources = [_source("", comps, freq_hz) for comps in groups.values()]
    brightest = max(s.flux_jy for s in sources)
    sources = [s for s in sources if s.flux_jy >= threshold * brightest]
    sources.sort(key=lambda s: (-s.flux_jy, s.ra_deg, s.dec_deg))
    return [Source(f"facet_patch_{k}", s.ra_deg, s.dec_deg, s.flux_jy, s.size_arcmin, s.components)
            for k, s in enumerate(sources)]


@dataclass(frozen=True)
class Cuts:
    max_radius_deg: float
    size_max_arcmin: float
    flux_min_for_merging_jy: float
    separation_max_arcmin: float
    flux_min_jy: float
    ndir_max: int | None = None


def merged_candidates(sources: list[Source], centre: tuple[float, float], cuts: Cuts,
                      freq_hz: float) -> tuple[list[Source], list[Source]]:
    """Factor's steps 1-5: (calibrator candidates after merging and the flux cut, large sources)."""
    near = [s for s in sources if separation_deg(centre, (s.ra_deg, s.dec_deg)) <= cuts.max_radius_deg]
    small = [s for s in near if s.size_arcmin < cuts.size_max_arcmin and s.flux_jy > cuts.flux_min_for_merging_jy]
    large = [s for s in near if s.size_arcmin >= cuts.size_max_arcmin and s.flux_jy > cuts.flux_min_for_merging_jy]
    merged: list[Source] = []
    taken: set[str] = set()
    sep = cuts.separation_max_arcmin / 60.0
    for s in sorted(small, key=lambda s: -s.flux_jy):
        if s.name in taken:
            continue
        group = [t for t in small if t.name not in taken and separation_deg((s.ra_deg, s.dec_deg), (t.ra_deg, t.dec_deg)) <= sep]
        taken.update(t.name for t in group)
        merged.append(_source(s.name, [c for t in group for c in t.components], freq_hz, position="mid"))
    return [m for m in merged if m.flux_jy > cuts.flux_min_jy], large


def _absorb_large(chosen: list[Source], large: list[Source], cuts: Cuts, freq_hz: float) -> list[Source]:
    """Factor's step 7: an extended source within separation_max of a calibrator joins it
    (the calibrator keeps its name and position)."""
    sep = cuts.separation_max_arcmin / 60.0
    out = []
    for cal in chosen:
        extra = [c for s in large if separation_deg((cal.ra_deg, cal.dec_deg), (s.ra_deg, s.dec_deg)) <= sep
                 for c in s.components]
        if extra:
            grown = _source(cal.name, [*cal.components, *extra], freq_hz)
            cal = Source(cal.name, cal.ra_deg, cal.dec_deg, grown.flux_jy, grown.size_arcmin, grown.components)
        out.append(cal)
    return sorted(out, key=lambda s: -s.flux_jy)


def select_factor(sources: list[Source], centre: tuple[float, float], cuts: Cuts, freq_hz: float) -> list[Source]:
    candidates, large = merged_candidates(sources, centre, cuts, freq_hz)
    if not candidates:
        raise SelectionError("no calibrator candidate is brighter than flux_min_jy after merging")
    chosen = sorted(candidates, key=lambda s: -s.flux_jy)[: cuts.ndir_max or None]
    return _absorb_large(chosen, large, cuts, freq_hz)


def coverage_points(centre: tuple[float, float], radius_deg: float, ns_stretch: float, n: int = 24) -> np.ndarray:
    """A grid of (x, y) tangent-plane points (degrees) inside the faceted field's ellipse."""
    g = np.linspace(-1.0, 1.0, n)
    gx, gy = np.meshgrid(g * radius_deg, g * radius_deg * ns_stretch)
    inside = (gx / radius_deg) ** 2 + (gy / (radius_deg * ns_stretch)) ** 2 <= 1.0
    return np.column_stack([gx[inside], gy[inside]])


def select_optimal(sources: list[Source], centre: tuple[float, float], cuts: Cuts, freq_hz: float,
                   field_radius_deg: float, ns_stretch: float, coverage_radius_deg: float,
                   min_separation_arcmin: float | None = None) -> list[Source]:
    """The integer linear program of the module docstring, solved with CBC."""
    import pulp

    candidates, large = merged_candidates(sources, centre, cuts, freq_hz)
    if not candidates:
        raise SelectionError("no calibrator candidate is brighter than flux_min_jy after merging")
    x, y = plane_coordinates(centre, [s.ra_deg for s in candidates], [s.dec_deg for s in candidates])
    pts = coverage_points(centre, field_radius_deg, ns_stretch)
    flux = np.array([s.flux_jy for s in candidates])
    big_m = 1.0 + float(flux.sum())
    with warnings.catch_warnings():
        # PuLP 3.x deprecates its constructors and the bundled CBC in favour of 4.0 APIs;
        # these still work from pulp 2.7 on, which is our lower bound.
        warnings.simplefilter("ignore", DeprecationWarning)
        prob = pulp.LpProblem("calibrators", pulp.LpMaximize)
        pick = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(len(candidates))]
        slack = [pulp.LpVariable(f"s{k}", lowBound=0) for k in range(len(pts))]
        prob += pulp.lpSum(float(f) * v for f, v in zip(flux, pick)) - big_m * pulp.lpSum(slack)
        if cuts.ndir_max:
            prob += pulp.lpSum(pick) <= cuts.ndir_max
        min_sep = (min_separation_arcmin if min_separation_arcmin is not None else cuts.separation_max_arcmin) / 60.0
        for i in range(len(candidates)):
            for j in range(i + 1, len(candidates)):
                if math.hypot(x[i] - x[j], y[i] - y[j]) < min_sep:
                    prob += pick[i] + pick[j] <= 1
        for k, (px, py) in enumerate(pts):
            near = [pick[i] for i in range(len(candidates)) if math.hypot(x[i] - px, y[i] - py) <= coverage_radius_deg]
            prob += pulp.lpSum(near) + slack[k] >= 1
        status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=120))
        if pulp.LpStatus[status] != "Optimal":
            raise SelectionError(f"calibrator selection: the integer program ended as {pulp.LpStatus[status]}")
    chosen = [s for s, v in zip(candidates, pick) if (v.value() or 0) > 0.5]
    return _absorb_large(chosen, large, cuts, freq_hz)


def sources_by_patch(components: list[Component], freq_hz: float) -> list[Source]:
    """A user's faceting sky model, already grouped by source: one source per patch."""
    patches: dict[str, list[Component]] = {}
    for c in components:
        patches.setdefault(c.patch or c.name, []).append(c)
    sources = [_source(name, comps, freq_hz) for name, comps in patches.items()]
    return sorted(sources, key=lambda s: (-s.flux_jy, s.name))


def select_directions(d: dict, components: list[Component], grouped: bool, centre: tuple[float, float],
                      fwhm_deg: float, faceting_radius_deg: float, ns_stretch: float, freq_hz: float) -> list:
    """The directions for a run without a directions file, from the ``[directions]`` settings:
    Factor's selection or the integer program; brightest first, as Factor wrote them."""
    from .directions import Direction

    sources = sources_by_patch(components, freq_hz) if grouped else group_sources(components, freq_hz)
    if not sources:
        raise SelectionError("the faceting sky model has no sources")
    cuts = Cuts(max_radius_deg=d["max_radius_deg"] or fwhm_deg, size_max_arcmin=d["size_max_arcmin"],
                flux_min_for_merging_jy=d["flux_min_for_merging_jy"], separation_max_arcmin=d["separation_max_arcmin"],
                flux_min_jy=d["flux_min_jy"], ndir_max=d["ndir_max"])
    if d["selection_method"] == "optimal":
        n = d["ndir_max"] or max(1, len(merged_candidates(sources, centre, cuts, freq_hz)[0]))
        coverage = d["coverage_radius_deg"] or 1.2 * faceting_radius_deg / math.sqrt(n)
        chosen = select_optimal(sources, centre, cuts, freq_hz, faceting_radius_deg, ns_stretch, coverage,
                                d["min_separation_arcmin"])
    else:
        chosen = select_factor(sources, centre, cuts, freq_hz)
    return [Direction(name=s.name, ra_deg=s.ra_deg, dec_deg=s.dec_deg, cal_size_deg=max(s.size_arcmin, 3.0) / 60.0,
                      cal_flux_mjy=round(1000.0 * s.flux_jy, 1)) for s in chosen]
