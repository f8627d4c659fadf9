"""facetimage: the final image of one facet from the final residual data.

The improved facet model, corrupted by the direction's solutions (or, for a direction whose
selfcal failed or was not done, by the nearest successful direction's), is added back to the
phase-shifted residual, the same solutions are applied, and WSClean images the facet with a
mask restricted to the facet polygon.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..facets import polygon_mask
from ..imaging import ImagingSettings, image_wcs, optimum_size, wsclean, wsclean_memory_gb, write_mask
from ..engines import run_dp3
from ..side_by_side import run_side_by_side
from .facetdata import prepare
from .workspace import move_tree, work_folder
from .state import latest_solutions, subtracted


def run(p: dict, log: Path) -> None:
    out = Path(p["out_image"]).parent
    with work_folder(out, p.get("scratch")) as work:
        _image(p, log, out, work)


def calibrated_facet_data(p: dict, log: Path, work: Path) -> tuple[list[str], str]:
    """One averaged, calibrated MS per time chunk of the facet, and the direction whose
    solutions were applied: the improved facet model, corrupted by those solutions, is added
    back to the phase-shifted final residual, then the solutions are applied."""
    d = p["direction"]
    facet = d["facet"]
    skip = p["skip_selfcal_check"]
    state = subtracted(p["own"], skip)
    solutions, solution_direction = latest_solutions(p["own"], skip), d["name"]
    if solutions is None:
        # Selfcal failed or was not done: the nearest direction that passed lends its
        # solutions (Factor's find_nearest).
        donor = next((c for c in p["candidates"] if latest_solutions(c["history"], skip)), None)
        if donor is None:
            raise RuntimeError("no direction passed self-calibration: nothing to image the facet with")
        solutions, solution_direction = latest_solutions(donor["history"], skip), donor["name"]
    ms = prepare(p["residual"], state["models"], work, "facet", (facet["ra_deg"], facet["dec_deg"]), p["freqstep"],
                 p["timestep"], state["h5"], solutions, d["name"], log, p["threads"], apply_direction=solution_direction)
    return ms, solution_direction


def _shared_facet_data(p: dict, log: Path, work: Path) -> tuple[list[str], str]:
    """The facet's shared calibrated data (the facetdata rule), averaged further for this set."""
    solution_direction = json.loads(Path(p["facet_data_json"]).read_text())["solutions_from"]
    if p["freqstep"] == 1 and p["timestep"] == 1:
        return list(p["facet_data"]), solution_direction  # read only: WSClean does not write the MS here
    out = [str(work / f"facet_t{i}.ms") for i in range(len(p["facet_data"]))]
    run_side_by_side([lambda n, ms=ms, avg=avg: run_dp3(
        {"msin": ms, "msin.datacolumn": "DATA", "msout": avg, "msout.overwrite": True, "steps": ["avg"],
         "avg.type": "averager", "avg.freqstep": p["freqstep"], "avg.timestep": p["timestep"]}, log=log, threads=n)
        for ms, avg in zip(p["facet_data"], out)], p["threads"])
    return out, solution_direction


def _image(p: dict, log: Path, out: Path, work: Path) -> None:
    d = p["direction"]
    facet = d["facet"]
    centre = (facet["ra_deg"], facet["dec_deg"])
    ms, solution_direction = (_shared_facet_data if "facet_data" in p else calibrated_facet_data)(p, log, work)
    cell = p["cellsize_arcsec"]
    size = optimum_size(facet["width_deg"] * 3600.0 / cell * p["padding"], minimum=256)
    wcs = image_wcs(centre, size, cell)
    mask = polygon_mask([tuple(v) for v in facet["vertices"]], wcs, (size, size))
    write_mask(work / "mask.fits", mask, wcs)
    settings = ImagingSettings(size=size, scale_arcsec=cell, robust=p["robust"], min_uv_lambda=p["min_uv_lambda"],
                               abs_mem_gb=wsclean_memory_gb(p), temp_dir=str(work), taper_arcsec=p["taper_arcsec"], channels_out=p["channels_out"], auto_mask=3.0,
                               auto_threshold=1.0, multiscale=p["multiscale"],
                               multiscale_scales=tuple(p["multiscale_scales"]) if p["multiscale_scales"] else None,
                               baseline_averaging_wavelengths=p["bl_avg_wavelengths"])
    products = wsclean(ms, str(work / "image"), settings, fits_mask=str(work / "mask.fits"),
                       log=log, threads=p["threads"], update_model=False)
    shutil.move(products["image"], p["out_image"])
    shutil.move(products["residual"], str(Path(p["out_image"]).with_name("residual.fits")))
    (out / "facetimage.json").write_text(json.dumps({"direction": d["name"], "solutions_from": solution_direction,
                                                     "size": size, "cellsize_arcsec": cell,
                                                     "robust": p["robust"], "taper_arcsec": p["taper_arcsec"],
                                                     "min_uv_lambda": p["min_uv_lambda"]}, indent=1))
    if p["keep_avg_facet_data"]:
        for i, m in enumerate(ms):
            move_tree(Path(m), out / f"facet_data_t{i}.ms")

