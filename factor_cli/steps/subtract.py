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

from ..calibration import predict_step
from ..compression import msout_settings
from ..engines import run_dp3
from ..skymodel import read_skymodel
from .state import subtracted
from .workspace import copy_tree, move_tree, work_folder


class SelfcalFailed(RuntimeError):
    pass


def run(p: dict, log: Path) -> None:
    out = Path(p["out_ms"])
    if out.exists():
        shutil.rmtree(out)
    if not p.get("scratch"):
        _subtract(p, p["in_ms"], str(out), log)
        return
    # dir_local: copy the residual in, subtract on the node's disk, copy the new residual back.
    with work_folder(out.parent, p["scratch"]) as work:
        local_in = work / "in.ms"
        copy_tree(Path(p["in_ms"]), local_in)
        _subtract(p, str(local_in), str(work / "out.ms"), log)
        move_tree(work / "out.ms", out)


def _subtract(p: dict, in_ms: str, out: str, log: Path) -> None:
    summary = json.loads(Path(p["selfcal_json"]).read_text())
    direction = p["direction"]
    steps: list[str] = []
    args: dict[str, object] = {"msin": in_ms, "msin.datacolumn": "DATA", "msout": out,
                               "msout.datacolumn": "DATA", **msout_settings(p.get("compress", False))}
    if not summary["ok"] and not p["skip_selfcal_check"]:
        if p.get("peel"):
            raise SelfcalFailed(
                f"the peel of {direction} failed its check ({summary['check']}): a badly peeled outlier would wreck every "
                "facet, so the run stops (as Factor); see its verify_pre/post images and solution plots")
        if p["exit_on_selfcal_failure"]:
            raise SelfcalFailed(
                f"selfcal of {direction} failed its check ({summary['check']}); set "
                "exit_on_selfcal_failure = False to continue with the nearest successful solutions")
        with open(log, "a") as fh:
            fh.write(f"selfcal of {direction} failed its check: the residual is passed on unchanged\n")
    else:
        state = subtracted(p["history"], p["skip_selfcal_check"])
        steps, more = replacement(state["models"][p["slot"]], state["h5"], p["new_model"], p["solutions"], direction)
        args.update(more)
    args["steps"] = steps
    run_dp3(args, log=log, threads=p["threads"])


def replacement(old_model: str | None, old_h5: str | None, new_model: str, new_h5: str,
                direction: str) -> tuple[list[str], dict[str, object]]:
    """DP3 steps adding back the old model (corrupted by its solutions, if any) and
    subtracting the new one corrupted by the new solutions."""
    steps: list[str] = []
    args: dict[str, object] = {}
    if old_model and read_skymodel(old_model):
        steps.append("add")
        args.update(predict_step("add", old_model, "add", old_h5, direction))
    if read_skymodel(new_model):
        steps.append("sub")
        args.update(predict_step("sub", new_model, "subtract", new_h5, direction))
    return steps, args
