import json
import re

from snakemake.utils import validate


validate(config, workflow.source_path("../schemas/config.schema.yaml"))

STEPS = config["steps"]
DIRECTIONS = [d["name"] for d in config["directions"]]
STAGES = config["order"]  # selfcal stages: a direction name, or <name>.p<N> for later passes
CHUNK_BAND = {c: b for b, chunks in config["chunks"].items() for c in chunks}
RESOURCES = config["resources"]
NCHUNKS = len(next(iter(config["chunks"].values()), []))  # time chunks (every band has the same)
IMAGE_OPS = list(STEPS["facetimage"])  # facetimage, facetimage_c…: one per imaging parameter set
MOSAIC_OPS = list(STEPS["mosaic"])


def _one_of(names):
    return "|".join(re.escape(n) for n in names) or "NONE"


wildcard_constraints:
    direction=_one_of(DIRECTIONS),
    stage=_one_of(STAGES),
    chunk=_one_of(CHUNK_BAND),
    band=_one_of(config["bands"]),
    imageop=_one_of(IMAGE_OPS),
    mosaicop=_one_of(MOSAIC_OPS),
    peelop="outlierpeel|facetpeel",


def step_params(kind, *keys):
    """The step's parameters as one JSON string (deterministic, so params changes are detected)."""

    def get(wildcards):
        entry = STEPS[kind]
        for key in keys:
            entry = entry[wildcards[key]]
        return json.dumps(entry, sort_keys=True)

    return get


def stage_outputs(out_dir):
    """What a selfcal (or peel) stage leaves for facetsub and later stages."""
    return {
        "solutions": f"{out_dir}/solutions.h5",
        "model": f"{out_dir}/facet_model.skymodel",
        "summary": f"{out_dir}/selfcal.json",
    }


def selfcal_outputs(stage):
    return stage_outputs(STEPS["selfcal"][stage]["out_dir"])


def history_files(history):
    """Every file a direction's subtraction history refers to (see factor_cli/steps/state.py)."""
    files = []
    for stage in history:
        files += [m for m in stage["models"] if m]
        files += [stage[k] for k in ("h5", "selfcal_json") if stage[k]]
    return files


def flat_residual(matrix):
    return [ms for row in matrix for ms in row if ms]


def calibration_inputs(p):
    """What a facet's calibrated data are made from: the final residual and the solution
    and model files of the direction and of its nearest stand-ins."""
    files = history_files(p["own"])
    for candidate in p["candidates"]:
        files += history_files(candidate["history"])
    return {"residual": flat_residual(p["residual"]), "history": sorted(set(files))}


def facetdata_inputs(wc):
    return calibration_inputs(STEPS["facetdata"][wc.direction])


def facetimage_inputs(wc):
    p = STEPS["facetimage"][wc.imageop][wc.direction]
    if "facet_data" in p:  # several imaging parameter sets share the facet's calibrated data
        return {"facet_data": p["facet_data"], "summary": p["facet_data_json"]}
    return calibration_inputs(p)


def _job_resources(rule, wc):
    """The job's own resources where they differ per job (facet images side by side)."""
    r = RESOURCES[rule]
    if "by_job" not in r:
        return r
    return r["by_job"][f"{wc.imageop}/{wc.direction}" if "imageop" in wc.keys() else wc.direction]


def _per_job(rule, key, default):
    """``key`` of each job's own resources where the rule has them per job, else ``default``."""
    if "by_job" in RESOURCES[rule]:
        return lambda wc: _job_resources(rule, wc)[key]
    return default


def threads_of(rule):
    return _per_job(rule, "threads", RESOURCES[rule]["threads"])


def job_priority(rule):
    """Independent image jobs start largest first (factor_cli/cluster.py: largest_first)."""
    return _per_job(rule, "priority", 0)


def job_resources(rule):
    """What one job of ``rule`` asks of a node (factor_cli/cluster.py); a retried job
    (``--retries``) asks for ``attempt`` times the memory (at most the node's) and runtime."""
    node_mb = RESOURCES["node"]["mem_mb"]
    return {
        "mem_mb": lambda wc, attempt: min(_job_resources(rule, wc)["mem_mb"] * attempt, node_mb),
        "runtime": lambda wc, attempt: _job_resources(rule, wc)["runtime"] * attempt,
        "wsclean_mem_mb": lambda wc, attempt: min(_job_resources(rule, wc)["wsclean_mem_mb"] * attempt, node_mb),
        "scratch": RESOURCES[rule]["scratch"],
    }
