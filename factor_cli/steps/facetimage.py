"""facetimage: the final image of one facet from the final residual data.

The improved facet model, corrupted by the direction's solutions (or, for a direction whose
selfcal failed or was not done, by the nearest successful direction's), is added back to the
phase-shifted residual, the same solutions are applied, and WSClean images the facet with a
mask restricted to the facet polygon.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from ..facets import polygon_mask
from ..imaging import ImagingSettings, image_wcs, optimum_size, wsclean, write_mask
from ..skymodel import read_skymodel
from .facetdata import prepare


def run(p: dict, log: Path) -> None:
    out = Path(p["out_image"]).parent
    work = out / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    d = p["direction"]
    facet = d["facet"]
    centre = (facet["ra_deg"], facet["dec_deg"])
    own = p["own"]
    if own is not None and _passed(own, p["skip_selfcal_check"]):
        # Its improved model was subtracted with its own solutions: add it back the same way.
        solution_direction, solutions = d["name"], own["solutions"]
        model = own["model"] if read_skymodel(own["model"]) else None
        models, add_h5 = [model] * len(p["residual"][0]), (solutions if model else None)
    else:
        # Selfcal failed or was not done: its DI facet model is still the one subtracted, and
        # the nearest direction that passed lends its solutions (Factor's find_nearest).
        donor = next((c for c in p["candidates"] if _passed(c, p["skip_selfcal_check"])), None)
        if donor is None:
            raise RuntimeError("no direction passed self-calibration: nothing to image the facet with")
        solution_direction, solutions = donor["name"], donor["solutions"]
        models, add_h5 = p["di_facet_models"], None
    ms = prepare(p["residual"], models, work, "facet", centre, p["freqstep"], p["timestep"], add_h5,
                 solutions, d["name"], log, p["threads"], apply_direction=solution_direction)
    cell = p["cellsize_arcsec"]
    size = optimum_size(facet["width_deg"] * 3600.0 / cell * p["padding"], minimum=256)
    wcs = image_wcs(centre, size, cell)
    mask = polygon_mask([tuple(v) for v in facet["vertices"]], wcs, (size, size))
    write_mask(work / "mask.fits", mask, wcs)
    settings = ImagingSettings(size=size, scale_arcsec=cell, robust=p["robust"], min_uv_lambda=p["min_uv_lambda"],
                               taper_arcsec=p["taper_arcsec"], channels_out=p["channels_out"], auto_mask=3.0,
                               auto_threshold=1.0)
    products = wsclean(ms, str(work / "image"), replace(settings), fits_mask=str(work / "mask.fits"),
                       log=log, threads=p["threads"], update_model=False)
    shutil.move(products["image"], p["out_image"])
    shutil.move(products["residual"], str(Path(p["out_image"]).with_name("residual.fits")))
    (out / "facetimage.json").write_text(json.dumps({"direction": d["name"], "solutions_from": solution_direction,
                                                     "size": size, "cellsize_arcsec": cell}, indent=1))
    if p["keep_avg_facet_data"]:
        for i, m in enumerate(ms):
            target = out / f"facet_data_t{i}.ms"
            if target.exists():
                shutil.rmtree(target)
            shutil.move(m, target)
    shutil.rmtree(work, ignore_errors=True)


def _passed(entry: dict, skip_check: bool) -> bool:
    return skip_check or bool(json.loads(Path(entry["selfcal_json"]).read_text())["ok"])
