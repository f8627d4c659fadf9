"""What model of a direction is currently subtracted from the residual data.

A direction's history is a list of stages, oldest first: the DI facet model (no solutions),
then one entry per selfcal pass.  A pass replaced the previous model only if its selfcal
passed its check (or the check is skipped); otherwise facetsub passed the data on unchanged.
So the model in the residual is the one of the latest passing stage.
"""

from __future__ import annotations

import json
from pathlib import Path


def passed(stage: dict, skip_check: bool) -> bool:
    if stage.get("selfcal_json") is None:
        return True  # the DI model: subtracted before the pipeline started
    return skip_check or bool(json.loads(Path(stage["selfcal_json"]).read_text())["ok"])


def subtracted(history: list[dict], skip_check: bool) -> dict:
    """The latest stage whose model is in the residual: {'models': [per band], 'h5': path|None}."""
    return next(stage for stage in reversed(history) if passed(stage, skip_check))


def latest_solutions(history: list[dict], skip_check: bool) -> str | None:
    """Solutions of the latest selfcal pass that passed its check (None if none did)."""
    for stage in reversed(history):
        if stage.get("selfcal_json") is not None and passed(stage, skip_check):
            return stage["h5"]
    return None
