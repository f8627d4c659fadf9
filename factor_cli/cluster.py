"""Where the jobs run: the parset's ``[cluster]`` section → per-rule threads, memory, runtime
and scratch, and the Snakemake profile that runs the workflow locally or through a scheduler.

Factor split one node between ``ndir_per_node`` directions (CPUs and WSClean memory) and ran
``nthread_io`` I/O-heavy jobs per node.  Here every job asks for its share of one node, so the
same numbers hold whether Snakemake starts the jobs itself (the node is this machine; the
profile gives it ``--cores ncpu`` and ``--resources mem_mb=<node memory>``, so concurrent jobs
never ask for more memory than the node has) or a scheduler packs them onto nodes (SLURM
through snakemake-executor-plugin-slurm; PBS, LSF or a plain ``sbatch`` through
snakemake-executor-plugin-cluster-generic, with submit commands built here so that parset
values reach them only shell-quoted).

Per rule (``rule_resources``):
  facetselfcal               threads ncpu/ndir_per_node, memory node/ndir_per_node, WSClean gets
                             ``wsclean_fmem`` of that memory (``-abs-mem``), never the node's
  facetdata, facetimage      ``nimage_per_node`` side by side (default 2 × ndir_per_node): each
                             ncpu/nimage_per_node threads and that share of the memory; when the
                             jobs do not fill whole rounds, the largest share a node among
                             themselves (``side_by_side_threads``)
  chunk, facetsub            threads ncpu/nthread_io, memory node/nthread_io (DP3 only)
  skymodels, fieldmosaic     one thread; fieldmosaic the selfcal share of memory
  runtime                    from the data a job reads (``RUNTIME_MODEL``), times ``SAFETY``;
                             a retried job (``retries``) gets ``attempt`` times the runtime and
                             memory (at most the node's)
Scratch: ``dir_local`` for facetsub/facetimage, ``dir_local_selfcal`` (default ``dir_local``)
for facetselfcal: see steps/workspace.py.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path


class ClusterError(ValueError):
    """One-line message: the [cluster] key and why the node size could not be found."""


# Factor's keyword forms of clusterdesc_file / cluster_type → (cluster_type, generic_scheduler).
KEYWORDS = {"local": ("local", None), "localhost": ("local", None), "slurm": ("slurm", None),
            "juropa_slurm": ("slurm", None), "pbs": ("generic", "pbs"), "lsf": ("generic", "lsf"),
            "generic": ("generic", None)}
SCHEDULER_ONLY = ("partition", "account", "max_jobs")

HEAVY = ("facetselfcal", "facetdata", "facetimage")     # WSClean or many DP3 calls per direction
IMAGE_STAGE = ("facetdata", "facetimage")  # independent per direction once the field is subtracted
IO_BOUND = ("chunk", "facetsub")           # nthread_io of them per node
RULES = ("chunk", "skymodels", "facetselfcal", "facetsub", "facetdata", "facetimage", "fieldmosaic")
# Runtime model per rule: (fixed minutes, CPU-core minutes per GB of visibilities the job
# reads).  facetselfcal from two sizes on 2 cores: tiny (0.004 GB, 1 min) and small (0.17 GB,
# 4-7.5 min per direction); facetsub and chunk from small (1.6 and 0.3 core-min/GB), rounded
# up; facetimage not yet measured at scale (half of selfcal, which images more often).
RUNTIME_MODEL = {
    "chunk": (1.0, 1.0),
    "skymodels": (2.0, 0.0),
    "facetselfcal": (2.0, 80.0),
    "facetsub": (1.0, 2.0),
    "facetdata": (2.0, 40.0),
    "facetimage": (2.0, 40.0),
    "fieldmosaic": (5.0, 0.0),
}
SAFETY = 3.0
MIN_RUNTIME_MIN = 30


def check_cluster(c: dict) -> tuple[str, str] | None:
    """Normalise the [cluster] settings in place; (key, reason) for the first contradiction."""
    kind, scheduler = KEYWORDS[c["cluster_type"]]
    desc = c["clusterdesc_file"]
    if desc is not None:
        word = desc.strip().lower()
        if word == "mpirun":
            return "clusterdesc_file", "mpirun is not supported: use cluster_type = local, slurm or generic"
        if word not in KEYWORDS:
            return ("clusterdesc_file", "clusterdesc files belonged to LOFAR's old pipeline framework; "
                    "give the keyword (SLURM, PBS, localhost) or set cluster_type")
        if kind != "local" and KEYWORDS[word][0] != kind:
            return "clusterdesc_file", f"'{desc}' contradicts cluster_type = {c['cluster_type']}"
        if kind == "local":
            kind, scheduler = KEYWORDS[word]
    if c["generic_scheduler"] is not None:
        if kind != "generic":
            return "generic_scheduler", "only used with cluster_type = generic"
        if scheduler is not None and scheduler != c["generic_scheduler"]:
            return "generic_scheduler", f"contradicts cluster_type = {c['cluster_type']}"
        scheduler = c["generic_scheduler"]
    if kind == "generic" and scheduler is None:
        return "generic_scheduler", "required with cluster_type = generic (pbs, lsf or slurm)"
    c["cluster_type"], c["generic_scheduler"] = kind, scheduler
    if kind == "local":
        for key in SCHEDULER_ONLY:
            if c[key] is not None:
                return key, "only used with a scheduler (cluster_type = slurm or generic)"
    if kind == "generic":
        for key in ("ncpu", "mem_per_node_gb"):
            if c[key] is None:
                return key, "required with cluster_type = generic (the node size cannot be asked of the scheduler)"
    if c["ncpu"] is not None:
        for key in ("ndir_per_node", "nimage_per_node", "nthread_io"):
            if c[key] is not None and c[key] > c["ncpu"]:
                return key, f"{c[key]} jobs per node but ncpu = {c['ncpu']}"
    if c["dir_local_selfcal"] is None:
        c["dir_local_selfcal"] = c["dir_local"]
    if kind == "local":
        for key in ("dir_local", "dir_local_selfcal"):
            path = c[key]
            if path is not None and not (Path(path).is_dir() and os.access(path, os.W_OK)):
                return key, f"'{path}' is not a writable folder"
    if c["nimage_per_node"] is None:
        c["nimage_per_node"] = 2 * c["ndir_per_node"] if c["ncpu"] is None else min(2 * c["ndir_per_node"], c["ncpu"])
    if c["retries"] is None:
        c["retries"] = 0 if kind == "local" else 1
    if kind != "local" and c["max_jobs"] is None:
        c["max_jobs"] = 100
    return None


def node_budget(c: dict) -> tuple[int, int]:
    """(CPUs, memory in MB) of one node: the parset's values, else this machine's (local) or
    the smallest node of the partition as ``sinfo`` reports it (slurm)."""
    ncpu, mem_gb = c["ncpu"], c["mem_per_node_gb"]
    if c["cluster_type"] == "local":
        ncpu = ncpu or os.cpu_count() or 1
        mem_mb = int(mem_gb * 1024) if mem_gb else physical_memory_mb()
        return ncpu, mem_mb
    if ncpu is None or mem_gb is None:
        sinfo_cpus, sinfo_mem = _sinfo_node(c["partition"])
        ncpu = ncpu or sinfo_cpus
        mem_gb = mem_gb or sinfo_mem / 1024
    for key in ("ndir_per_node", "nthread_io"):
        if c[key] is not None and c[key] > ncpu:
            raise ClusterError(f"[cluster] {key}: {c[key]} jobs per node but the nodes have {ncpu} CPUs")
    return ncpu, int(mem_gb * 1024)


def physical_memory_mb() -> int:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)


def _sinfo_node(partition: str | None) -> tuple[int, int]:
    cmd = ["sinfo", "--noheader", "--format", "%c %m"] + (["--partition", partition] if partition else [])
    if shutil.which("sinfo") is None:
        raise ClusterError("[cluster] ncpu: sinfo is not available to ask the node size; give ncpu and mem_per_node_gb")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    try:
        sizes = [(int(cpus.rstrip("+")), int(mem.rstrip("+"))) for cpus, mem in rows]
    except ValueError:
        sizes = []
    if proc.returncode != 0 or not sizes:
        where = f"partition '{partition}'" if partition else "the default partition"
        raise ClusterError(f"[cluster] partition: sinfo reports no nodes for {where}; "
                           "give ncpu and mem_per_node_gb, or another partition")
    return min(s[0] for s in sizes), min(s[1] for s in sizes)


def rule_resources(c: dict, ncpu: int, mem_mb: int, job_gb: dict[str, float],
                   image_jobs: dict[str, dict[str, float]] | None = None) -> dict[str, dict]:
    """Threads, memory (MB), runtime (minutes) and scratch folder of each rule's jobs, for
    jobs reading ``job_gb[rule]`` GB of visibilities.  ``image_jobs[rule]`` (facetdata,
    facetimage) gives each job's relative size (its key: the job's wildcards joined by '/'),
    for the per-job threads in ``by_job``."""
    share_dir = c["ndir_per_node"]
    share_img = max(1, min(c["nimage_per_node"] or 2 * share_dir, ncpu))
    share_io = c["nthread_io"] or math.ceil(math.sqrt(ncpu))
    out = {}
    for rule in RULES:
        share = share_img if rule in IMAGE_STAGE else share_dir
        if rule in HEAVY:
            threads, mem = max(1, ncpu // share), mem_mb // share
        elif rule in IO_BOUND:
            threads, mem = max(1, ncpu // share_io), mem_mb // share_io
        elif rule == "fieldmosaic":
            threads, mem = 1, mem_mb // share_dir
        else:
            threads, mem = 1, min(2000, mem_mb)
        scratch = c["dir_local_selfcal"] if rule == "facetselfcal" else c["dir_local"] if rule in ("facetsub", *IMAGE_STAGE) else None
        out[rule] = _job(c, rule, threads, mem, job_gb.get(rule, 0.0), scratch)
        if rule in IMAGE_STAGE and image_jobs and image_jobs.get(rule):
            per_job = side_by_side_threads(image_jobs[rule], ncpu, share_img)
            order = largest_first(image_jobs[rule])
            out[rule]["by_job"] = {key: {**_job(c, rule, t, mem_mb * t // ncpu, job_gb.get(rule, 0.0), scratch),
                                         "priority": order[key]}
                                   for key, t in per_job.items()}
    out["node"] = {"ncpu": ncpu, "mem_mb": int(mem_mb)}
    return out


def _job(c: dict, rule: str, threads: int, mem: int, gb: float, scratch: str | None) -> dict:
    fixed, per_gb = RUNTIME_MODEL[rule]
    runtime = max(MIN_RUNTIME_MIN, math.ceil(SAFETY * (fixed + per_gb * gb / threads)))
    return {"threads": threads, "mem_mb": int(mem), "runtime": runtime,
            "wsclean_mem_mb": int(mem * c["wsclean_fmem"]) if rule in HEAVY else 0,
            "scratch": scratch or ""}


def side_by_side_threads(sizes: dict[str, float], ncpu: int, per_node: int) -> dict[str, int]:
    """Threads of each of a stage's independent jobs (key → relative size), run ``per_node``
    at a time on a node of ``ncpu`` cores.

    A WSClean facet image fills two threads only ~1.5-fold (issue 8's per-call measurements),
    so the facet images run side by side on fewer threads each rather than one after another
    on all of them.  When the jobs do not make whole rounds of ``per_node``, the
    ``len(sizes) % per_node`` largest get the node's cores between them instead: otherwise one
    job of the last round would run alone on a fraction of the node."""
    k = max(1, min(per_node, ncpu))
    threads = {key: max(1, ncpu // k) for key in sizes}
    rest = len(sizes) % k
    if rest:
        for key in sorted(sizes, key=lambda key: (-sizes[key], key))[:rest]:
            threads[key] = max(1, ncpu // rest)
    return threads


def largest_first(sizes: dict[str, float]) -> dict[str, float]:
    """Snakemake priorities (0 < p <= 1, below the selfcal chain's 10) that start a stage's
    independent jobs largest first.  Measured on `small`: in the order Snakemake chose, the
    largest facet image (3200 px, 108 s on one thread) started last and ran alone while the
    other core idled; started first, the smaller ones fill the other core beside it."""
    largest = max(sizes.values(), default=0.0)
    return {key: max(1e-4, round(size / largest, 4)) if largest > 0 else 1.0 for key, size in sizes.items()}


def retry_scaled(value: int, attempt: int, cap: int | None = None) -> int:
    """A retried job (Snakemake's ``attempt`` > 1) asks for ``attempt`` times as much."""
    scaled = value * attempt
    return min(scaled, cap) if cap else scaled


def generic_submit_command(c: dict) -> str:
    """The cluster-generic submit command for ``generic_scheduler``; parset values are quoted."""
    q = shlex.quote
    s = c["generic_scheduler"]
    if s == "pbs":
        cmd = ("qsub -V -j oe -o logs/cluster -N factor-{rule} -l nodes=1:ppn={threads} "
               "-l mem={resources.mem_mb}mb -l walltime={resources.runtime}:00")
        cmd += f" -q {q(c['partition'])}" if c["partition"] else ""
        cmd += f" -A {q(c['account'])}" if c["account"] else ""
    elif s == "lsf":
        cmd = ("bsub -J factor-{rule} -o logs/cluster/%J.log -n {threads} -R 'span[hosts=1] rusage[mem={resources.mem_mb}]' "
               "-M {resources.mem_mb} -W {resources.runtime}")
        cmd += f" -q {q(c['partition'])}" if c["partition"] else ""
        cmd += f" -P {q(c['account'])}" if c["account"] else ""
    else:  # a plain sbatch, for SLURM sites whose accounting the slurm executor cannot query
        cmd = ("sbatch --parsable --job-name factor-{rule} --output logs/cluster/%j.log --cpus-per-task {threads} "
               "--mem {resources.mem_mb} --time {resources.runtime}")
        cmd += f" --partition {q(c['partition'])}" if c["partition"] else ""
        cmd += f" --account {q(c['account'])}" if c["account"] else ""
    return cmd


CANCEL = {"pbs": "qdel", "lsf": None, "slurm": "scancel"}  # bsub prints more than the job id


def status_program() -> str:
    """factor-jobstatus beside this interpreter (a venv need not be activated on the head node)."""
    path = Path(sys.executable).parent / "factor-jobstatus"
    return shlex.quote(str(path)) if path.exists() else "factor-jobstatus"


def slurm_status_command() -> str:
    """``sacct`` where SLURM keeps accounting, else ``squeue`` (which sees finished jobs for
    MinJobAge seconds; the executor falls back to sacct when that is too short)."""
    if shutil.which("sacct") is None:
        return "squeue"
    probe = subprocess.run(["sacct", "--noheader", "-X", "--format", "JobIdRaw", "--starttime", "now"],
                           capture_output=True, text=True, check=False)
    return "sacct" if probe.returncode == 0 else "squeue"


def profile(c: dict, ncpu: int, mem_mb: int, status_command: str = "sacct") -> dict:
    """The Snakemake profile (``config.yaml``; keys are long option names)."""
    conf: dict = {"rerun-incomplete": True, "retries": c["retries"]}
    if c["cluster_type"] == "local":
        conf.update({"cores": ncpu, "resources": [f"mem_mb={mem_mb}"]})
        return conf
    conf.update({"jobs": c["max_jobs"], "latency-wait": 60, "local-cores": 1})
    if c["cluster_type"] == "slurm":
        defaults = []
        if c["partition"]:
            defaults.append(f"slurm_partition={c['partition']}")
        if c["account"]:
            defaults.append(f"slurm_account={c['account']}")
        conf.update({"executor": "slurm", "default-resources": defaults, "slurm-keep-successful-logs": True,
                     "slurm-logdir": "logs/slurm", "slurm-status-command": status_command})
        if not c["account"]:
            conf["slurm-no-account"] = True
        return conf
    conf.update({"executor": "cluster-generic", "cluster-generic-submit-cmd": generic_submit_command(c),
                 "cluster-generic-status-cmd": f"{status_program()} {c['generic_scheduler']}"})
    cancel = CANCEL[c["generic_scheduler"]]
    if cancel:
        conf["cluster-generic-cancel-cmd"] = cancel
    return conf
