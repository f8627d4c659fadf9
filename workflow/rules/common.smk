from snakemake.utils import validate


configfile_schema = workflow.source_path("../schemas/config.schema.yaml")
validate(config, configfile_schema)


def all_targets():
    """Final products of the run (filled in by the facet chain)."""
    return []
