"""``runfactor -r DIRS [-o OPS]``: reset operations of directions, persistently.

A reset deletes the products of the named operations *and everything computed from them*
(Snakemake's own view of the DAG: ``--summary --forcerun``), so a crash after the reset cannot
bring old products back, and the next run recomputes exactly those jobs.  Deleting only the
named outputs would not do: Snakemake does not remake a missing intermediate whose
downstream products still exist.  Because every subtraction writes a new residual, resetting
``facetsub`` (or ``facetselfcal``, ``outlierpeel``, ``facetpeel``) of a direction removes the residuals from that direction
on; the directions after it are then recomputed from a residual with its model back in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .workflow_state import Output, summary

OPERATIONS = ("outlierpeel", "facetpeel", "facetpeelimage", "facetselfcal", "facetsub", "facetimage", "fieldmosaic")


class ResetError(ValueError):
    pass


def parse_names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def operations_of(config: dict) -> list[str]:
    """Valid ``-o`` names: Factor's operations, and one facetimage_c…/fieldmosaic_c… per further
    imaging parameter set (the plain names stand for every set)."""
    extra = [s[k] for s in config.get("image_sets", [])[1:] for k in ("image_op", "mosaic_op")]
    return [*OPERATIONS, *extra]


def reset_targets(config: dict, directions: list[str], operations: list[str]) -> list[str]:
    """The outputs whose recomputation the reset asks for (before adding their downstream)."""
    valid = [d["name"] for d in config["directions"]]
    unknown = [d for d in directions if d not in valid and d != "field"]
    if unknown:
        raise ResetError(f"-r: unknown direction(s) {', '.join(unknown)}; valid names: {', '.join(valid + ['field'])}")
    known = operations_of(config)
    bad_ops = [o for o in operations if o not in known]
    if bad_ops:
        raise ResetError(f"-o: unknown operation(s) {', '.join(bad_ops)}; valid operations: {', '.join(known)}")
    ops = operations or list(OPERATIONS)
    steps = config["steps"]

    def mosaics() -> list[str]:
        if not config["make_mosaic"]:
            return [steps["products"]["out"]]
        return [f"{m['out_dir']}/mosaic.fits" for op, m in steps["mosaic"].items()
                if "fieldmosaic" in ops or op in ops]

    targets: list[str] = []
    for name in directions:
        if name == "field":
            if not operations or any(o.startswith("fieldmosaic") for o in ops):
                targets += mosaics()
            continue
        stages = [s for s in config["order"] if s == name or s.startswith(name + ".p")]
        for s in stages:  # a stage is a facetselfcal, or an outlierpeel / facetpeel for a peeled source
            step = steps["selfcal"][s]
            op = step.get("operation", "facetselfcal")
            # facetpeelimage (Factor's old name for imaging the rest of a peeled facet) is part of facetpeel here
            if op in ops or (op == "facetpeel" and "facetpeelimage" in ops):
                targets.append(f"{step['out_dir']}/selfcal.json")
        if "facetsub" in ops:
            targets += [c["out_ms"] for s in stages for c in steps["subtract"][s].values()]
        if "facetimage" in ops and name in steps.get("facetdata", {}):
            targets.append(f"{steps['facetdata'][name]['out_dir']}/facetdata.json")
        for op, images in steps["facetimage"].items():
            if ("facetimage" in ops or op in ops) and name in images:
                targets.append(images[name]["out_image"])
        if operations and any(o.startswith("fieldmosaic") for o in ops):
            targets += mosaics()
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
