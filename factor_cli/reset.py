"""``runfactor -r DIRS [-o OPS]``: reset operations of directions, persistently.

A reset deletes the products of the named operations *and everything computed from them*
(Snakemake's own view of the DAG: ``--summary --forcerun``), so a crash after the reset cannot
bring old products back, and the next run recomputes exactly those jobs.  Deleting only the
named outputs would not do: Snakemake does not remake a missing intermediate whose
downstream products still exist.  Because every subtraction writes a new residual, resetting
``facetsub`` (or ``facetselfcal``) of a direction removes the residuals from that direction
on; the directions after it are then recomputed from a residual with its model back in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .workflow_state import Output, summary

OPERATIONS = ("outlierpeel", "facetpeel", "facetpeelimage", "facetselfcal", "facetsub", "facetimage", "fieldmosaic")
MOSAIC_OUTPUT = "results/fieldmosaic/field/mosaic.fits"


class ResetError(ValueError):
    pass


def parse_names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def reset_targets(config: dict, directions: list[str], operations: list[str]) -> list[str]:
    """The outputs whose recomputation the reset asks for (before adding their downstream)."""
    valid = [d["name"] for d in config["directions"]]
    unknown = [d for d in directions if d not in valid and d != "field"]
    if unknown:
        raise ResetError(f"-r: unknown direction(s) {', '.join(unknown)}; valid names: {', '.join(valid + ['field'])}")
    bad_ops = [o for o in operations if o not in OPERATIONS]
    if bad_ops:
        raise ResetError(f"-o: unknown operation(s) {', '.join(bad_ops)}; valid operations: {', '.join(OPERATIONS)}")
    ops = operations or list(OPERATIONS)
    steps = config["steps"]
    targets: list[str] = []
    for name in directions:
        if name == "field":
            if not operations or "fieldmosaic" in ops:
                targets.append(MOSAIC_OUTPUT if config["make_mosaic"] else steps["products"]["out"])
            continue
        stages = [s for s in config["order"] if s == name or s.startswith(name + ".p")]
        if "facetselfcal" in ops:
            targets += [f"results/facetselfcal/{s}/selfcal.json" for s in stages]
        if "facetsub" in ops:
            targets += [c["out_ms"] for s in stages for c in steps["subtract"][s].values()]
        if "facetimage" in ops and name in steps["facetimage"]:
            targets.append(steps["facetimage"][name]["out_image"])
        if "fieldmosaic" in ops and operations:
            targets.append(MOSAIC_OUTPUT if config["make_mosaic"] else steps["products"]["out"])
    return list(dict.fromkeys(targets))


def plan_reset(dir_working: Path, config_path: Path, targets: list[str]) -> list[Output]:
    """Existing outputs the reset would delete (the targets and everything downstream)."""
    if not targets:
        return []
    outputs = summary(dir_working, config_path, forcerun=targets)
    return [o for o in outputs if o.pending and (dir_working / o.path).exists()]


def delete_outputs(dir_working: Path, outputs: list[Output]) -> None:
    for o in outputs:
        for rel in (o.path, *o.logs):
            path = dir_working / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
