"""skymodels: split one band's DI sky model by facet.

For each direction, the DI components inside its facet polygon: what is added back when the
direction is self-calibrated (its calibrator box part) and when its improved model replaces it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..facets import facet_of_sources
from ..skymodel import read_skymodel, write_skymodel


def run(p: dict, log: Path) -> None:
    comps = read_skymodel(p["di_skymodel"])
    centre = tuple(p["centre_deg"])
    ra = np.array([c.ra_deg for c in comps])
    dec = np.array([c.dec_deg for c in comps])
    vertices = {d["name"]: [tuple(v) for v in d["facet"]["vertices"]] for d in p["directions"]}
    owner = facet_of_sources(vertices, centre, ra, dec) if comps else []
    for d in p["directions"]:
        name = d["name"]
        write_skymodel(Path(p["out_dir"]) / f"{name}.facet.skymodel", [c for c, o in zip(comps, owner) if o == name])
