"""products: ``results/products.json``, the manifest users and later tools rely on.

Keys: mosaic_pbcor, mosaic_pbcut, mosaic (paths), solutions (direction → H5parm), facet_images
(direction → FITS), residual_ms (the visibilities after all subtractions, DATA column),
residual_column, directions (name → RA, Dec, facet polygon).  Paths are absolute.
"""

from __future__ import annotations

import json
from pathlib import Path


def run(p: dict, log: Path) -> None:
    def absolute(path: str) -> str:
        return str(Path(path).resolve())

    mosaic_dir = Path(p["mosaic_dir"])
    manifest = {
        "mosaic": absolute(mosaic_dir / "mosaic.fits") if p["make_mosaic"] else None,
        "mosaic_pbcor": absolute(mosaic_dir / "mosaic.pbcor.fits") if p["make_mosaic"] else None,
        "mosaic_pbcut": absolute(mosaic_dir / "mosaic.pbcut.fits") if p["make_mosaic"] else None,
        "primary_beam": absolute(mosaic_dir / "mosaic.pb.fits") if p["make_mosaic"] else None,
        "solutions": {k: absolute(v) for k, v in p["solutions"].items()},
        "facet_images": {k: absolute(v) for k, v in p["facet_images"].items()},
        "residual_ms": [absolute(m) for m in p["residual_ms"]],
        "residual_column": "DATA",
        "directions": p["directions"],
    }
    Path(p["out"]).write_text(json.dumps(manifest, indent=1))
