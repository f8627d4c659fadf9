"""The thermal reference of a mosaic: the noise alone, imaged facet by facet exactly as the
pipeline images the facets, and mosaicked as it mosaics them.

Why not a dirty image of the noise: the final facet images are cleaned into the noise
(auto-mask at 3 sigma, then 1 sigma inside that mask, as Factor and Rapthor do), which takes
part of the noise into clean components and restores it with the clean beam.  Measured on
`small` seed 1: inside the facets (where the clean runs) the facet images' source-free rms was
0.72-0.81 mJy/beam, outside them 0.86-0.92, and a dirty image of the noise 0.87; against it a
perfectly calibrated mosaic scored 0.86.  Against the noise cleaned the same way, the excess
over 1 is what calibration and subtraction left.  The mosaic's resampling lowers the rms of a
noise image by a further ~2 % (cubic interpolation at sub-pixel offsets), which imaging at each
facet's own centre reproduces too.  The noise is not averaged first as the facet data are:
averaging changes neither the noise per image pixel nor the Briggs weights, which are formed
from the summed weights per uv cell.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .imaging import wsclean, write_mask
from .steps.facetdata import prepare_band
from .steps.facetimage import facet_grid, facet_imaging_settings
from .steps.mosaic import build_mosaic, write_image


def reference_key(noise_ms: list[str], config: dict, image_op: str) -> str:
    """What the noise mosaic depends on: the noise (its resolved path: a run folder reached
    through a link is the same run), the mosaic's centre and every imaged facet's parameters in
    the imaging set."""
    entries = config["steps"]["facetimage"][image_op]
    return json.dumps({"noise_ms": [str(Path(m).resolve()) for m in noise_ms], "centre_deg": list(config["centre_deg"]),
                       "facets": {name: entries[name] for name in config["imaged"]}}, sort_keys=True, default=str)


def noise_mosaic(noise_ms: list[str], config: dict, image_op: str, work: str | Path, threads: int = 2) -> str:
    """Image ``noise_ms`` (DATA: noise only) for every facet of the imaging set ``image_op`` of a
    run (its ``config.yaml``), as facetimage does, mosaic the images as fieldmosaic does, and
    return the mosaic's path (``work/noise_mosaic.fits``).  Only the mosaic is left in ``work``:
    the facet images (with their PSFs, residuals and models) of `benchmark` take 1.8 GB.
    A mosaic made earlier for the same noise and the same facets' imaging parameters is reused
    (``work/noise_mosaic.json`` records them): on `benchmark` it takes ~20 min, and it does not
    change when a run is measured again or continued."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    entries = config["steps"]["facetimage"][image_op]
    mosaic_path = work / "noise_mosaic.fits"
    key = reference_key(noise_ms, config, image_op)
    made = work / "noise_mosaic.json"
    if mosaic_path.is_file() and made.is_file() and made.read_text() == key:
        return str(mosaic_path)
    images = []
    for name in config["imaged"]:
        p = {**entries[name], "wsclean_mem_mb": 0}
        facet = p["direction"]["facet"]
        folder = work / name
        folder.mkdir(exist_ok=True)
        shifted = [str(folder / f"noise_{i}.ms") for i in range(len(noise_ms))]
        for ms, shifted_ms in zip(noise_ms, shifted):  # phase-shifted only: no model, no solutions, no averaging
            prepare_band(ms, shifted_ms, (facet["ra_deg"], facet["dec_deg"]), 1, 1, None, None, None, name, None, threads)
        size, wcs, mask = facet_grid(p)
        write_mask(folder / "mask.fits", mask, wcs)
        products = wsclean(shifted, str(folder / "image"), facet_imaging_settings(p, size, folder),
                           fits_mask=str(folder / "mask.fits"), threads=threads, update_model=False)
        for ms in shifted:  # a full-resolution copy of the noise per facet: 2 GB each on `benchmark`
            shutil.rmtree(ms)
        images.append((products["image"], [tuple(v) for v in facet["vertices"]]))
    mosaic, wcs, meta = build_mosaic(images, tuple(config["centre_deg"]))
    write_image(mosaic_path, mosaic, wcs, meta)
    made.write_text(key)
    for name in config["imaged"]:
        shutil.rmtree(work / name)
    return str(mosaic_path)
