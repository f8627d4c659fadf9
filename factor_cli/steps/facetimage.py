"""facetimage: the final image of one facet from the final residual data.

The direction's solutions are applied to the phase-shifted final residual (from which the
improved facet model, corrupted by those same solutions, was subtracted), WSClean cleans what is
left with a mask restricted to the facet polygon, and the facet model is restored onto that
image (restore.py: each component convolved with the image's beam at its exact position): the
model at its flux in the corrected data (a facet-peeled source scaled by its own amplitudes,
``corrected_flux_scale``).
This is the same image as adding the model back and cleaning everything again, as Factor did,
except where that second clean does not reach the noise, which on the simulations was
everywhere: a 48-Jy peeled source stopped WSClean at 30× the thermal noise (its sidelobes set
the auto-threshold; without ``-local-rms`` the clean diverged), and a self-calibrated facet
with a 4-Jy calibrator came out at 2.3× thermal against 0.93× restored (`bright`, seed 3,
bench/RESULTS.md).  A facet imaged with other solutions than its model was subtracted with (a
stand-in direction's, or none self-calibrated) has its model added back and is cleaned whole.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..facets import polygon_mask
from ..imaging import ImagingSettings, image_wcs, optimum_size, wsclean, wsclean_memory_gb, write_mask
from ..engines import run_dp3
from ..restore import restore_components
from ..skymodel import read_skymodel, write_skymodel
from ..side_by_side import run_side_by_side
from .facetdata import prepare
from .peel import corrected_flux_scale
from .workspace import move_tree, work_folder
from .state import latest_solutions, subtracted


def run(p: dict, log: Path) -> None:
    out = Path(p["out_image"]).parent
    with work_folder(out, p.get("scratch")) as work:
        _image(p, log, out, work)


def model_to_restore(models: list[str | None], h5: str, direction: str, work: Path) -> str | None:
    """The facet model (the first band's file: every band holds the same one) at its flux in the
    corrected data, as a sky-model file: a peeled source (patch ``<direction>_peel``, absolute
    flux) scaled by its own amplitudes; None without a model."""
    model = next((m for m in models if m), None)
    if model is None:
        return None
    comps = read_skymodel(model)
    patch = f"{direction}_peel"
    if any(c.patch == patch for c in comps):
        scale = corrected_flux_scale(h5, direction, patch)
        comps = [c.with_flux(c.flux_jy * scale) if c.patch == patch else c for c in comps]
    write_skymodel(work / "model_restore.skymodel", comps)
    return str(work / "model_restore.skymodel")


def calibrated_facet_data(p: dict, log: Path, work: Path) -> tuple[list[str], str, str | None]:
    """One averaged, calibrated MS per time chunk of the facet, the direction whose solutions
    were applied, and the sky-model file of the facet model to restore onto its image: the
    phase-shifted final residual with those solutions applied.  Where they are not the ones the
    model was subtracted with, the model is added back (corrupted by the subtracting ones) and
    there is nothing to restore."""
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
    models, restore = state["models"], None
    if state["h5"] is not None and solutions == state["h5"]:
        models, restore = [None] * len(models), model_to_restore(models, state["h5"], d["name"], work)
    ms = prepare(p["residual"], models, work, "facet", (facet["ra_deg"], facet["dec_deg"]), p["freqstep"],
                 p["timestep"], state["h5"], solutions, d["name"], log, p["threads"], apply_direction=solution_direction)
    return ms, solution_direction, restore


def _shared_facet_data(p: dict, log: Path, work: Path) -> tuple[list[str], str, str | None]:
    """The facet's shared calibrated data (the facetdata rule), averaged further for this set."""
    shared = json.loads(Path(p["facet_data_json"]).read_text())
    solution_direction, restore = shared["solutions_from"], shared.get("model_restore")
    if p["freqstep"] == 1 and p["timestep"] == 1:
        return list(p["facet_data"]), solution_direction, restore  # read only: WSClean does not write the MS here
    out = [str(work / f"facet_t{i}.ms") for i in range(len(p["facet_data"]))]
    run_side_by_side([lambda n, ms=ms, avg=avg: run_dp3(
        {"msin": ms, "msin.datacolumn": "DATA", "msout": avg, "msout.overwrite": True, "steps": ["avg"],
         "avg.type": "averager", "avg.freqstep": p["freqstep"], "avg.timestep": p["timestep"]}, log=log, threads=n)
        for ms, avg in zip(p["facet_data"], out)], p["threads"])
    return out, solution_direction, restore


def facet_grid(p: dict) -> tuple[int, object, object]:
    """(size, WCS, mask inside the facet polygon) of a facet image: centred on the facet, its
    width padded, the set's cell."""
    facet = p["direction"]["facet"]
    cell = p["cellsize_arcsec"]
    size = optimum_size(facet["width_deg"] * 3600.0 / cell * p["padding"], minimum=256)
    wcs = image_wcs((facet["ra_deg"], facet["dec_deg"]), size, cell)
    return size, wcs, polygon_mask([tuple(v) for v in facet["vertices"]], wcs, (size, size))


def facet_imaging_settings(p: dict, size: int, work: Path) -> ImagingSettings:
    """How a facet is cleaned (Factor's and Rapthor's final imaging: auto-mask 3 sigma, then
    1 sigma inside that mask); also what the benchmarks image the noise alone with, since this
    clean reaches into the noise and so sets the thermal reference of the mosaic."""
    return ImagingSettings(size=size, scale_arcsec=p["cellsize_arcsec"], robust=p["robust"], min_uv_lambda=p["min_uv_lambda"],
                           abs_mem_gb=wsclean_memory_gb(p), temp_dir=str(work), taper_arcsec=p["taper_arcsec"],
                           channels_out=p["channels_out"], auto_mask=3.0, auto_threshold=1.0, multiscale=p["multiscale"],
                           multiscale_scales=tuple(p["multiscale_scales"]) if p["multiscale_scales"] else None,
                           baseline_averaging_wavelengths=p["bl_avg_wavelengths"])


def _image(p: dict, log: Path, out: Path, work: Path) -> None:
    d = p["direction"]
    ms, solution_direction, restore = (_shared_facet_data if "facet_data" in p else calibrated_facet_data)(p, log, work)
    cell = p["cellsize_arcsec"]
    size, wcs, mask = facet_grid(p)
    write_mask(work / "mask.fits", mask, wcs)
    settings = facet_imaging_settings(p, size, work)
    products = wsclean(ms, str(work / "image"), settings, fits_mask=str(work / "mask.fits"),
                       log=log, threads=p["threads"], update_model=False)
    image = products["image"]
    if restore:
        image = str(work / "image-with-model.fits")
        restore_components(products["image"], read_skymodel(restore), image)
    shutil.move(image, p["out_image"])
    shutil.move(products["residual"], str(Path(p["out_image"]).with_name("residual.fits")))
    (out / "facetimage.json").write_text(json.dumps({"direction": d["name"], "solutions_from": solution_direction,
                                                     "size": size, "cellsize_arcsec": cell,
                                                     "robust": p["robust"], "taper_arcsec": p["taper_arcsec"],
                                                     "min_uv_lambda": p["min_uv_lambda"],
                                                     "model_restored": restore is not None}, indent=1))
    if p["keep_avg_facet_data"]:
        for i, m in enumerate(ms):
            move_tree(Path(m), out / f"facet_data_t{i}.ms")

