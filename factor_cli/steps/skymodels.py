"""skymodels: split one band's DI sky model by direction.

For each direction: the DI components inside its facet polygon (added back before the facet
is re-imaged, and again when its improved model replaces it) and those inside its
calibrator box (side ``cal_size_deg``, added back for self-calibration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..facets import facet_of_sources, plane_coordinates
from ..skymodel import read_skymodel, write_skymodel


def run(p: dict, log: Path) -> None:
    comps = read_skymodel(p["di_skymodel"])
    centre = tuple(p["centre_deg"])
    ra = np.array([c.ra_deg for c in comps])
    dec = np.array([c.dec_deg for c in comps])
    vertices = {d["name"]: [tuple(v) for v in d["facet"]["vertices"]] for d in p["directions"]}
    owner = facet_of_sources(vertices, centre, ra, dec) if comps else []
    x, y = plane_coordinates(centre, ra, dec) if comps else (np.array([]), np.array([]))
    for d in p["directions"]:
        name = d["name"]
        write_skymodel(Path(p["out_dir"]) / f"{name}.facet.skymodel", [c for c, o in zip(comps, owner) if o == name])
        cx, cy = plane_coordinates(centre, [d["ra_deg"]], [d["dec_deg"]])
        half = d["cal_size_deg"] / 2.0
        in_box = (np.abs(x - cx[0]) <= half) & (np.abs(y - cy[0]) <= half)
        write_skymodel(Path(p["out_dir"]) / f"{name}.cal.skymodel", [c for c, k in zip(comps, in_box) if k])
