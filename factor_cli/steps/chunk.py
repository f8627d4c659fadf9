"""chunk: one time chunk of one input MS, written as a new MS with DP3.

The chunk's DATA column holds the DI-subtracted ("empty") data: SUBTRACTED_DATA_ALL when LINC
made it, otherwise DATA minus the DI sky model, predicted here.  The parset's flag_* keys are
applied with DP3's preflagger.  The user's MS is only read.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..compression import msout_settings
from ..engines import run_dp3


def preflag_args(p: dict) -> dict[str, object]:
    """DP3 preflagger settings for Factor's flag_abstime/flag_baseline/flag_freqrange/flag_expr."""
    given = {k: p[k] for k in ("flag_abstime", "flag_baseline", "flag_freqrange") if p.get(k)}
    if not given:
        return {}
    args: dict[str, object] = {"flag.type": "preflagger"}
    expr = p["flag_expr"]
    for key, value in given.items():
        sub = key  # the sub-step names are the parset key names, as Factor's flag_expr uses them
        field = key.split("_", 1)[1]
        args[f"flag.{sub}.{field}"] = value
    args["flag.expr"] = expr
    return args


def run(p: dict, log: Path) -> None:
    out = p["out_ms"]
    if Path(out).exists():
        shutil.rmtree(out)
    args: dict[str, object] = {
        "msin": p["ms"], "msin.datacolumn": "SUBTRACTED_DATA_ALL" if p["has_subtracted"] else "DATA",
        "msin.starttimeslot": p["start_slot"], "msin.ntimes": p["ntimes"],
        "msout": out, "msout.datacolumn": "DATA", **msout_settings(p.get("compress", False)),
    }
    steps = []
    flag = preflag_args(p)
    if flag:
        steps.append("flag")
        args.update(flag)
    with tempfile.TemporaryDirectory(prefix="factor-chunk-") as tmp:
        if not p["has_subtracted"]:
            model = Path(tmp) / "di.skymodel"  # DP3 only reads .skymodel/.txt names
            shutil.copyfile(p["di_skymodel"], model)
            steps.append("sub")
            args.update({"sub.type": "predict", "sub.sourcedb": str(model), "sub.operation": "subtract"})
        args["steps"] = steps
        run_dp3(args, log=log, threads=p["threads"])
