"""facetsub: in one band-chunk of the residual data, replace the direction's DI facet model by
its improved model corrupted by the direction's solutions.

residual_new = residual + previous model − corrupt(improved facet model)

where the previous model is the DI facet model (first pass) or the previous pass's model
corrupted by its solutions.

The result is a new MS (the previous residual is never modified), so a subtraction killed
half-way is simply redone.  A direction whose selfcal failed its check passes the residual on
unchanged (or stops the run when ``exit_on_selfcal_failure`` is set).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..calibration import applycal_settings
from ..engines import run_dp3
from ..skymodel import read_skymodel
from .state import subtracted


class SelfcalFailed(RuntimeError):
    pass


def run(p: dict, log: Path) -> None:
    out = p["out_ms"]
    if Path(out).exists():
        shutil.rmtree(out)
    summary = json.loads(Path(p["selfcal_json"]).read_text())
    direction = p["direction"]
    steps: list[str] = []
    args: dict[str, object] = {"msin": p["in_ms"], "msin.datacolumn": "DATA", "msout": out,
                               "msout.datacolumn": "DATA"}
    if not summary["ok"] and not p["skip_selfcal_check"]:
        if p["exit_on_selfcal_failure"]:
            raise SelfcalFailed(
                f"selfcal of {direction} failed its check ({summary['check']}); set "
                "exit_on_selfcal_failure = False to continue with the nearest successful solutions")
    else:
        state = subtracted(p["history"], p["skip_selfcal_check"])
        old_model = state["models"][p["slot"]]
        if old_model and read_skymodel(old_model):
            steps.append("add")
            if state["h5"]:
                args.update({"add.type": "h5parmpredict", "add.sourcedb": old_model, "add.operation": "add",
                             "add.directions": [f"[{direction}]"], **applycal_settings("add.applycal.", state["h5"])})
            else:
                args.update({"add.type": "predict", "add.sourcedb": old_model, "add.operation": "add"})
        if read_skymodel(p["new_model"]):
            steps.append("sub")
            args.update({"sub.type": "h5parmpredict", "sub.sourcedb": p["new_model"], "sub.operation": "subtract",
                         "sub.directions": [f"[{direction}]"], **applycal_settings("sub.applycal.", p["solutions"])})
    args["steps"] = steps
    run_dp3(args, log=log, threads=p["threads"])

