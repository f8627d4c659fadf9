"""facetdata: the calibrated, averaged data of one facet, shared by the facet images of
several imaging parameter sets (imagesets.py).

The same preparation as a single set's facetimage job does inside its work folder (the
solutions applied to the residual, facetimage.py), averaged
for the finest set and kept in ``results/facetdata/<direction>/``; ``facetdata.json`` says
whose solutions were applied, for facetimage.json and checkfactor, and where the sky-model
file of the facet model to restore onto every set's image is (``model_restore.skymodel``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .facetimage import calibrated_facet_data
from .workspace import move_tree, work_folder


def run(p: dict, log: Path) -> None:
    out = Path(p["out_dir"])
    with work_folder(out, p.get("scratch")) as work:
        ms, solution_direction, restore = calibrated_facet_data(p, log, work)
        for i, m in enumerate(ms):
            move_tree(Path(m), out / f"facet_data_t{i}.ms")
        if restore:
            restore = str(shutil.copyfile(restore, out / "model_restore.skymodel"))
    (out / "facetdata.json").write_text(json.dumps({"direction": p["direction"]["name"], "solutions_from": solution_direction,
                                                    "freqstep": p["freqstep"], "timestep": p["timestep"],
                                                    "model_restore": restore}, indent=1))
