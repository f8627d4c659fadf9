"""Facets: Voronoi cells of the directions in the tangent plane, clipped to the field of view.

The field of view is Factor's ellipse (factor.md §3.5): radius ``faceting_radius_deg`` east–west,
stretched north–south by 1/sin(mean elevation) because the station beam is elongated
towards the horizon.  Directions outside it become small square patches that are calibrated
but not mosaicked.  Geometry is done with shapely in a gnomonic (TAN) projection about the
phase centre, in projected degrees; polygons are densified before conversion back to RA/Dec
so that edges stay accurate on the sky.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from astropy.coordinates import angular_separation
from astropy.wcs import WCS
from shapely.geometry import MultiPoint, Point, Polygon, box
from shapely.ops import unary_union

from .edges import Avoid, adjust_edges


@dataclass
class Facet:
    name: str
    polygon: Polygon             # projected degrees (x east, y north) about the phase centre
    vertices_radec: list[tuple[float, float]]
    is_patch: bool
    ra_deg: float                # centre of the bounding box (Factor's facet_ra/facet_dec)
    dec_deg: float
    width_deg: float             # largest extent of the bounding box


def tangent_wcs(centre_deg: tuple[float, float]) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(centre_deg)
    w.wcs.crpix = [1.0, 1.0]  # FITS 1-based: the reference lands on 0-based (0, 0)
    w.wcs.cdelt = [1.0, 1.0]  # x grows east (with RA), y north, in degrees
    return w


def _plane(wcs: WCS, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    px, py = wcs.wcs_world2pix(np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float)), 0)
    return np.asarray(px), np.asarray(py)


def _sky(wcs: WCS, x, y) -> tuple[np.ndarray, np.ndarray]:
    ra, dec = wcs.wcs_pix2world(np.asarray(x, float), np.asarray(y, float), 0)
    return np.asarray(ra) % 360.0, np.asarray(dec)


def field_of_view(radius_deg: float, ns_stretch: float, npoints: int = 360) -> Polygon:
    t = np.linspace(0, 2 * np.pi, npoints, endpoint=False)
    return Polygon(np.column_stack([radius_deg * np.cos(t), ns_stretch * radius_deg * np.sin(t)]))


def make_facets(
    names: list[str],
    ra_deg: list[float],
    dec_deg: list[float],
    centre_deg: tuple[float, float],
    radius_deg: float,
    ns_stretch: float,
    patch_size_deg: float = 0.2,
    avoid: list[tuple[str, float, float, float]] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Facet]:
    """Voronoi facets clipped to the field-of-view ellipse; outside directions become patches.

    ``avoid``: sources (name, RA, Dec, avoidance radius in degrees) whose facet edges are moved
    around them (edges.py); what could not be moved is appended to ``notes``."""
    wcs = tangent_wcs(centre_deg)
    x, y = _plane(wcs, ra_deg, dec_deg)
    fov = field_of_view(radius_deg, ns_stretch)
    inside = [fov.contains(Point(px, py)) for px, py in zip(x, y)]
    points = [(px, py) for px, py, ok in zip(x, y, inside) if ok]
    facets: dict[str, Facet] = {}
    if points:
        extent = box(*fov.buffer(5 * radius_deg).bounds)
        if len(points) == 1:
            cells = [extent]
        else:
            regions = shapely.voronoi_polygons(MultiPoint(points), extend_to=extent)
            cells = list(regions.geoms)
        inside_names = [n for n, ok in zip(names, inside) if ok]
        polygons = {name: next(c for c in cells if c.contains(Point(px, py))).intersection(fov)
                    for name, (px, py) in zip(inside_names, points)}
        if avoid:
            sx, sy = _plane(wcs, [a[1] for a in avoid], [a[2] for a in avoid])
            sources = [Avoid(a[0], float(x0), float(y0), a[3]) for a, x0, y0 in zip(avoid, sx, sy)]
            polygons, moved_notes = adjust_edges(polygons, fov, sources, dict(zip(inside_names, points)))
            if notes is not None:
                notes.extend(moved_notes)
        for name in inside_names:
            facets[name] = _facet(name, polygons[name], wcs, is_patch=False)
    taken = unary_union([f.polygon for f in facets.values()]) if facets else Polygon()
    for name, px, py, ok in zip(names, x, y, inside):
        if ok:
            continue
        square = box(px - patch_size_deg / 2, py - patch_size_deg / 2, px + patch_size_deg / 2, py + patch_size_deg / 2)
        square = square.difference(taken)
        taken = taken.union(square)
        facets[name] = _facet(name, square, wcs, is_patch=True)
    return {n: facets[n] for n in names}


def _facet(name: str, polygon, wcs: WCS, is_patch: bool) -> Facet:
    if polygon.geom_type != "Polygon":
        polygon = max(getattr(polygon, "geoms", [polygon]), key=lambda g: g.area)
    dense = shapely.segmentize(polygon, max_segment_length=0.02)
    xs, ys = np.array(dense.exterior.coords).T
    ra, dec = _sky(wcs, xs[:-1], ys[:-1])
    minx, miny, maxx, maxy = polygon.bounds
    cra, cdec = _sky(wcs, [(minx + maxx) / 2], [(miny + maxy) / 2])
    return Facet(
        name=name, polygon=polygon,
        vertices_radec=[(float(a), float(b)) for a, b in zip(ra, dec)],
        is_patch=is_patch, ra_deg=float(cra[0]), dec_deg=float(cdec[0]),
        width_deg=float(max(maxx - minx, maxy - miny)),
    )


def facet_of_sources(vertices: dict[str, list[tuple[float, float]]], centre_deg: tuple[float, float], ra, dec) -> list[str | None]:
    """Name of the facet (given by its RA/Dec vertices) containing each source; None outside all."""
    wcs = tangent_wcs(centre_deg)
    x, y = _plane(wcs, ra, dec)
    out: list[str | None] = [None] * len(x)
    for name, verts in vertices.items():
        vx, vy = _plane(wcs, *np.array(verts).T)
        hits = shapely.contains_xy(Polygon(np.column_stack([vx, vy])), x, y)
        for i in np.flatnonzero(hits):
            if out[i] is None:
                out[i] = name
    return out


def plane_coordinates(centre_deg: tuple[float, float], ra, dec) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (x east, y north) coordinates in degrees about ``centre_deg``."""
    return _plane(tangent_wcs(centre_deg), ra, dec)


def sky_coordinates(centre_deg: tuple[float, float], x, y) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``plane_coordinates``: RA, Dec (degrees) of gnomonic (x, y)."""
    return _sky(tangent_wcs(centre_deg), x, y)


def polygon_mask(vertices_radec: list[tuple[float, float]], image_wcs: WCS, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (ny, nx) mask of the image pixels inside a facet polygon given in RA/Dec."""
    ra, dec = np.array(vertices_radec).T
    px, py = image_wcs.celestial.wcs_world2pix(ra, dec, 0)
    poly = Polygon(np.column_stack([px, py]))
    # Prepared (edge-indexed) and only over the polygon's bounding box: a facet image of
    # 3200^2 pixels took 1.3 s per mask with a plain polygon over the whole image.
    shapely.prepare(poly)
    mask = np.zeros(shape, dtype=bool)
    x0, y0 = max(0, int(np.floor(px.min()))), max(0, int(np.floor(py.min())))
    x1, y1 = min(shape[1], int(np.ceil(px.max())) + 1), min(shape[0], int(np.ceil(py.max())) + 1)
    if x0 < x1 and y0 < y1:
        yy, xx = np.mgrid[y0:y1, x0:x1]
        mask[y0:y1, x0:x1] = shapely.contains_xy(poly, xx.ravel(), yy.ravel()).reshape(yy.shape)
    return mask


def discs_mask(ra_deg: list[float], dec_deg: list[float], radius_arcsec: list[float], image_wcs: WCS,
               shape: tuple[int, int]) -> np.ndarray:
    """Boolean (ny, nx) mask of the pixels within ``radius_arcsec`` of each position (a clean
    mask around known sources)."""
    mask = np.zeros(shape, dtype=bool)
    if not len(ra_deg):
        return mask
    px, py = image_wcs.celestial.wcs_world2pix(np.asarray(ra_deg), np.asarray(dec_deg), 0)
    scale = abs(image_wcs.celestial.wcs.cdelt[1]) * 3600.0
    for x, y, r in zip(px, py, np.asarray(radius_arcsec) / scale):
        x0, x1 = max(0, int(np.floor(x - r))), min(shape[1], int(np.ceil(x + r)) + 1)
        y0, y1 = max(0, int(np.floor(y - r))), min(shape[0], int(np.ceil(y + r)) + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        mask[y0:y1, x0:x1] |= (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    return mask


def write_ds9_regions(path, facets: dict[str, Facet]) -> None:
    lines = ["# Region file format: DS9 version 4.1", "global color=green font=\"helvetica 10 normal\"", "fk5"]
    for facet in facets.values():
        coords = ",".join(f"{ra:.6f},{dec:.6f}" for ra, dec in facet.vertices_radec)
        lines.append(f"polygon({coords}) # text={{{facet.name}}}")
        lines.append(f"point({facet.ra_deg:.6f},{facet.dec_deg:.6f}) # point=cross text={{{facet.name}}}")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def write_calimage_regions(path, boxes: list[tuple[str, float, float, float]]) -> None:
    """ds9 regions of the selfcal images: per direction (name, RA, Dec, image width in degrees)
    the whole image and its inner 60 % (the part selfcal cleans, as Factor's calimages file)."""
    lines = ["# Region file format: DS9 version 4.1", "global color=yellow font=\"helvetica 10 normal\"", "fk5"]
    for name, ra, dec, width in boxes:
        lines.append(f"box({ra:.6f},{dec:.6f},{width * 3600:.1f}\",{width * 3600:.1f}\",0) # text={{{name}}}")
        lines.append(f"box({ra:.6f},{dec:.6f},{0.6 * width * 3600:.1f}\",{0.6 * width * 3600:.1f}\",0) # dash=1")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def separation_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Angular separation in degrees of two (RA, Dec) positions in degrees."""
    return math.degrees(angular_separation(*map(math.radians, (*a, *b))))


def ns_stretch(mean_elevation_deg: float) -> float:
    return 1.0 / math.sin(math.radians(mean_elevation_deg))
