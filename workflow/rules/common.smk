import json

from snakemake.utils import validate


validate(config, workflow.source_path("../schemas/config.schema.yaml"))

STEPS = config["steps"]
DIRECTIONS = [d["name"] for d in config["directions"]]
CHUNK_BAND = {c: b for b, chunks in config["chunks"].items() for c in chunks}


wildcard_constraints:
    direction="|".join(DIRECTIONS) or "NONE",
    chunk="|".join(CHUNK_BAND) or "NONE",
    band="|".join(config["bands"]) or "NONE",


def step_params(kind, *keys):
    """The step's parameters as one JSON string (deterministic, so params changes are detected)."""

    def get(wildcards):
        entry = STEPS[kind]
        for key in keys:
            entry = entry[wildcards[key]]
        return json.dumps(entry, sort_keys=True)

    return get


def selfcal_outputs(name):
    return {
        "solutions": f"results/facetselfcal/{name}/solutions.h5",
        "model": f"results/facetselfcal/{name}/facet_model.skymodel",
        "summary": f"results/facetselfcal/{name}/selfcal.json",
    }


def band_skymodels(name):
    return [
        f"results/skymodels/{band}/{name}.{kind}.skymodel"
        for band in config["bands"]
        for kind in ("facet", "cal")
    ]


def flat_residual(matrix):
    return [ms for row in matrix for ms in row if ms]
