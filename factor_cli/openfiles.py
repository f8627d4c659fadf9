"""The open-files limit (Factor issue #80: "Too many open files" with many bands and chunks).

A job that reads every chunk of every band (facetselfcal, facetimage) has each of those
Measurement Sets open at once, and casacore keeps every table file of an MS open: about
``FILES_PER_MS`` for the main table, its columns and subtables.  runfactor raises the soft
limit of its own process before starting Snakemake, which every local job inherits and which
SLURM hands to the jobs it starts from this process (``PropagateResourceLimits``, default ALL).
Above the hard limit only an administrator can help: the warning says how far short it is.
"""

from __future__ import annotations

import resource

FILES_PER_MS = 60
BASE = 1024   # Python, Snakemake, WSClean's images and temporary files


def files_needed(ms_per_job: int) -> int:
    return BASE + FILES_PER_MS * ms_per_job


def raise_limit(needed: int) -> str | None:
    """Raise the soft limit to ``needed`` if it is lower; a warning when the hard limit forbids it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        return (f"open files: jobs may open about {needed} files but the hard limit is {hard} "
                f"(soft limit raised from {soft} to {target}); ask for a higher 'nofile' limit "
                "or use fewer, longer chunks (chunk_size_sec)")
    return None
