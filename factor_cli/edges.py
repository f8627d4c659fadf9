"""Moving facet edges around sources (Factor's ``check_edges``, factor.md §3.5).

A facet edge through a source splits it between two facets, and neither facet image nor
facet model then holds the whole source.  Each source gets an avoidance circle of radius
1.2/2 × max(its size, 25" × min(10, max(2, sqrt(S / 10 mJy)))) (bright sources need room for
their artefacts).  For a source whose circle crosses an edge, the facet containing it takes
the circle (clipped to the field) and the neighbours give it up.  Factor silently skipped a
move that split a facet in two; here the other side is tried (the neighbour that holds most
of the circle takes it, the owner gives it up), and if that splits a facet too, or would
take a calibrator out of its own facet, the edge is kept and a note says so.  Up to three
passes, as Factor, because one move can bring an edge close to another source.

Works on tangent-plane polygons (degrees, see ``facets.plane_coordinates``); the facets stay
a partition of the field: what one facet gains, the others lose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import Point, Polygon


@dataclass(frozen=True)
class Avoid:
    name: str
    x: float
    y: float
    radius_deg: float


def avoidance_radius_deg(size_arcmin: float, flux_jy: float) -> float:
    minimum = 25.0 * min(10.0, max(2.0, math.sqrt(max(flux_jy, 0.0) / 0.01))) / 3600.0
    return 1.2 * max(size_arcmin / 60.0, minimum) / 2.0


def _single(geom) -> bool:
    return geom.geom_type == "Polygon" and not geom.is_empty


def _crossing(polygons: dict[str, Polygon], circle: Polygon) -> list[str]:
    return [n for n, p in polygons.items() if p.intersects(circle) and not p.contains(circle)]


def _move(polygons: dict[str, Polygon], circle: Polygon, to: str, field: Polygon,
          anchors: dict[str, Point]) -> dict[str, Polygon] | None:
    """``to`` takes the circle, every other facet gives it up; None if a facet would split or
    lose its own calibrator."""
    area = circle.intersection(field)
    out = {}
    for name, poly in polygons.items():
        new = poly.union(area) if name == to else poly.difference(circle)
        if name == to:
            new = new.buffer(0)
        if not _single(new) or not new.contains(anchors[name]):
            return None
        out[name] = new
    return out


def adjust_edges(polygons: dict[str, Polygon], field: Polygon, sources: list[Avoid],
                 anchors: dict[str, tuple[float, float]], passes: int = 3) -> tuple[dict[str, Polygon], list[str]]:
    """(adjusted polygons, notes about edges that could not be moved)."""
    points = {n: Point(*xy) for n, xy in anchors.items()}
    current = dict(polygons)
    for _ in range(passes):
        moved = False
        for s in sources:
            circle = Point(s.x, s.y).buffer(s.radius_deg, quad_segs=16)
            if len(_crossing(current, circle)) < 2:
                continue
            here = Point(s.x, s.y)
            owner = next((n for n, p in current.items() if p.contains(here)), None)
            others = sorted((n for n in current if n != owner and current[n].intersects(circle)),
                            key=lambda n: -current[n].intersection(circle).area)
            for target in [owner, *others[:1]] if owner else others[:1]:
                result = _move(current, circle, target, field, points)
                if result is not None:
                    current, moved = result, True
                    break
        if not moved:
            break
    notes = []
    for s in sources:
        circle = Point(s.x, s.y).buffer(s.radius_deg * 0.999, quad_segs=16)
        cut = [n for n, p in current.items() if p.intersects(circle)]
        if len(cut) > 1:
            notes.append(f"check_edges: source {s.name}: the edge between facets {', '.join(sorted(cut))} could not be moved around it; it is split between the facets")
    return current, notes
