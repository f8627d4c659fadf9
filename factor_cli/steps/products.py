"""products: ``results/products.json``, the manifest users and later tools rely on.

Keys: mosaic_pbcor, mosaic_pbcut, mosaic, primary_beam (paths), solutions (direction →
H5parm), facet_images (direction → FITS), residual_ms (the visibilities after all
subtractions, DATA column), residual_column, directions (name → RA, Dec, facet polygon) and
image_sets (one entry per imaging parameter set, by its facetimage operation name, with the
same image keys and its cellsize_arcsec, robust, taper_arcsec, min_uv_lambda).  The top-level
image keys are those of the first set.  Paths are absolute.
"""

from __future__ import annotations

import json
from pathlib import Path


def _absolute(path: str | Path) -> str:
    return str(Path(path).resolve())


def image_set_products(s: dict, make_mosaic: bool) -> dict:
    mosaic_dir = Path(s["mosaic_dir"])

    def mosaic(name: str) -> str | None:
        return _absolute(mosaic_dir / name) if make_mosaic else None

    return {
        "mosaic": mosaic("mosaic.fits"), "mosaic_pbcor": mosaic("mosaic.pbcor.fits"),
        "mosaic_pbcut": mosaic("mosaic.pbcut.fits"), "primary_beam": mosaic("mosaic.pb.fits"),
        "facet_images": {k: _absolute(v) for k, v in s["facet_images"].items()},
    }


def run(p: dict, log: Path) -> None:
    sets = {s["image_op"]: {**image_set_products(s, p["make_mosaic"]),
                            **{k: s[k] for k in ("cellsize_arcsec", "robust", "taper_arcsec", "min_uv_lambda")}}
            for s in p["image_sets"]}
    first = image_set_products(p["image_sets"][0], p["make_mosaic"])
    manifest = {
        **first,
        "solutions": {k: _absolute(v) for k, v in p["solutions"].items()},
        "residual_ms": [_absolute(m) for m in p["residual_ms"]],
        "residual_column": "DATA",
        "directions": p["directions"],
        "image_sets": sets,
    }
    Path(p["out"]).write_text(json.dumps(manifest, indent=1))
