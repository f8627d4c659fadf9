"""fieldmosaic: facet images → one mosaic, and its primary-beam corrected and cut versions.

Each facet image is blanked outside its polygon and resampled (bilinear) onto a common SIN
grid about the phase centre covering all facets; facets do not overlap, so the mosaic is
their sum.  The primary beam is the LOFAR station power response from EveryBeam for the
actual MS (stations, pointing, times), averaged over the observation, a spread subset of the
stations and the bands' centre frequencies; it is evaluated on a coarse grid and interpolated.

  mosaic.pbcor.fits  = mosaic / beam                (fluxes)
  mosaic.pbcut.fits  = mosaic where beam >= 0.4      (flat noise, for detection)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.ndimage import map_coordinates

from ..engines import use_engine_data_in_this_process
from ..facets import polygon_mask, tangent_wcs
from ..imaging import image_wcs

PB_CUT = 0.4


def _celestial(path: str) -> tuple[np.ndarray, WCS, fits.Header]:
    header = fits.getheader(path)
    return np.squeeze(fits.getdata(path)).astype(np.float64), WCS(header).celestial, header


def build_mosaic(images: list[tuple[str, list[tuple[float, float]]]], centre: tuple[float, float]) -> tuple[np.ndarray, WCS, dict]:
    pieces = []
    scale = None
    extent = 0.0
    beams = []
    for path, vertices in images:
        data, wcs, header = _celestial(path)
        mask = polygon_mask(vertices, wcs, data.shape)
        pieces.append((np.where(mask, data, np.nan), wcs))
        step = abs(wcs.wcs.cdelt[1])
        scale = step if scale is None else min(scale, step)
        ra, dec = np.array(vertices).T
        x, y = tangent_wcs(centre).wcs_world2pix(ra, dec, 0)  # projected degrees
        extent = max(extent, float(np.max(np.abs(np.concatenate([x, y])))))
        if "BMAJ" in header:
            beams.append((header["BMAJ"], header["BMIN"], header.get("BPA", 0.0), header.get("CRVAL3", np.nan)))
    size = int(np.ceil(2 * extent / scale)) + 4
    size += size % 2
    wcs = image_wcs(centre, size, scale * 3600.0)
    total = np.zeros((size, size))
    covered = np.zeros((size, size), dtype=bool)
    for (data, pwcs), (_, vertices) in zip(pieces, images):
        # Only the mosaic pixels within the facet's bounding box can receive it.
        vx, vy = wcs.wcs_world2pix(*np.array(vertices).T, 0)
        x0, x1 = max(0, int(np.floor(vx.min())) - 1), min(size, int(np.ceil(vx.max())) + 2)
        y0, y1 = max(0, int(np.floor(vy.min())) - 1), min(size, int(np.ceil(vy.max())) + 2)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        ra, dec = wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
        px, py = pwcs.wcs_world2pix(ra, dec, 0)
        inside = (px >= 0) & (py >= 0) & (px <= data.shape[1] - 1) & (py <= data.shape[0] - 1)
        filled = np.nan_to_num(data, nan=0.0)
        known = np.isfinite(data).astype(float)
        # Cubic interpolation: bilinear lowers the peaks of sources sampled by few pixels per beam.
        vals = map_coordinates(filled, [py[inside], px[inside]], order=3)
        weight = map_coordinates(known, [py[inside], px[inside]], order=1)
        use = weight > 0.5
        flat = np.flatnonzero(inside)[use]
        ty, tx = yy.ravel()[flat], xx.ravel()[flat]
        total[ty, tx] += vals[use] / weight[use]
        covered[ty, tx] = True
    mosaic = np.where(covered, total, np.nan)
    meta = {}
    if beams:
        b = np.array(beams, dtype=float)
        meta = {"BMAJ": float(np.mean(b[:, 0])), "BMIN": float(np.mean(b[:, 1])), "BPA": float(np.mean(b[:, 2]))}
        if np.isfinite(b[:, 3]).any():
            meta["RESTFRQ"] = float(np.nanmean(b[:, 3]))
    return mosaic, wcs, meta


def primary_beam(ms: str, wcs: WCS, shape: tuple[int, int], freqs_hz: list[float], times_s: list[float],
                 grid: int = 32, max_stations: int = 4) -> np.ndarray:
    """Mean Stokes-I station power response on the image grid (see module docstring)."""
    use_engine_data_in_this_process()
    import everybeam

    telescope = everybeam.load_telescope(ms)
    stations = np.unique(np.linspace(0, telescope.nr_stations - 1, min(max_stations, telescope.nr_stations)).astype(int))
    gy = np.linspace(0, shape[0] - 1, grid)
    gx = np.linspace(0, shape[1] - 1, grid)
    GX, GY = np.meshgrid(gx, gy)
    ra, dec = wcs.wcs_pix2world(GX.ravel(), GY.ravel(), 0)
    ra, dec = np.radians(ra), np.radians(dec)
    coarse = np.zeros(GX.size)
    count = 0
    for t in times_s:
        for f in freqs_hz:
            for s in stations:
                for k in range(GX.size):
                    jones = telescope.station_response(float(t), int(s), float(f), float(ra[k]), float(dec[k]))
                    coarse[k] += 0.5 * float(np.sum(np.abs(jones) ** 2))
                count += 1
    coarse = (coarse / count).reshape(grid, grid)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return map_coordinates(coarse, [yy * (grid - 1) / (shape[0] - 1), xx * (grid - 1) / (shape[1] - 1)], order=1)


def write_image(path: Path, data: np.ndarray, wcs: WCS, meta: dict) -> None:
    header = wcs.to_header()
    for k, v in meta.items():
        header[k] = v
    header["BUNIT"] = "JY/BEAM"
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path, overwrite=True)


def run(p: dict, log: Path) -> None:
    out = Path(p["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    images = [(img, [tuple(v) for v in verts]) for img, verts in zip(p["images"], p["vertices"])]
    mosaic, wcs, meta = build_mosaic(images, tuple(p["centre_deg"]))
    beam = primary_beam(p["beam_ms"], wcs, mosaic.shape, p["freqs_hz"], p["times_s"])
    write_image(out / "mosaic.fits", mosaic, wcs, meta)
    write_image(out / "mosaic.pb.fits", beam, wcs, {})
    write_image(out / "mosaic.pbcor.fits", mosaic / beam, wcs, meta)
    write_image(out / "mosaic.pbcut.fits", np.where(beam >= PB_CUT, mosaic, np.nan), wcs, meta)
    with open(log, "a") as fh:
        fh.write(json.dumps({"mosaic_shape": list(mosaic.shape), "pb_min": float(beam.min()), "pb_max": float(beam.max())}) + "\n")
