"""Cores of this machine that no job holds, lent to the engine call that starts while they are idle.

Snakemake gives each job a fixed number of threads, its share of ``ncpu``, and the job runs its
DP3 and WSClean calls with them even when a neighbour's cores sit idle: with two directions
self-calibrated side by side (``groupings = 2:0``, ``ndir_per_node = 2``) the pair ends unevenly
and the second runs on one thread beside an idle core until it ends; the last of the facet
images side by side runs alone the same way.  Measured on ``small`` seed 1 (grouped, session
22): an engine ran 96.5 % of the wall time but at 1.69 cores, the single-thread tails ~27 % of
the wall time.

So, on the local executor, every running job records the threads Snakemake gave it and every
engine call the threads it runs with, one small file each in a folder of the run
(``state/cores``; runfactor names it and the machine's cores in the environment).  A call that
starts when the machine has cores that no job holds and no call uses takes them on top of its
own share.  A job's own threads are never lent within it (calls side by side already share them).
A lent core is returned when the call ends: a job that Snakemake starts meanwhile gets its
threads at its first call, so the machine is oversubscribed by the lent cores for the rest of one
call at most.  Through a scheduler nothing is lent (a job owns its allocation, and the folder
would not see the other jobs on its node).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .runlock import process_alive

FOLDER_ENV = "FACTOR_CORE_FOLDER"
CORES_ENV = "FACTOR_CORES"

_calls = itertools.count()
_calls_lock = threading.Lock()


def _holdings(folder: Path) -> tuple[dict[int, int], dict[int, int]]:
    """(threads each live job holds, threads each live process's calls use), by pid; files of
    processes that died (a job killed outright) are removed."""
    jobs: dict[int, int] = {}
    calls: dict[int, int] = {}
    for f in folder.iterdir():
        kind, _, rest = f.name.partition("-")
        if kind not in ("job", "call"):
            continue
        pid = int(rest.split("-")[0])
        if not process_alive(pid):
            f.unlink(missing_ok=True)
            continue
        threads = int(f.read_text() or 0)
        if kind == "job":
            jobs[pid] = threads
        else:
            calls[pid] = calls.get(pid, 0) + threads
    return jobs, calls


def threads_to_use(cores: int, own: int, jobs: dict[int, int], calls: dict[int, int], pid: int) -> int:
    """Threads for a call asking for ``own`` in process ``pid``: ``own`` plus the cores that no job
    holds and no call uses (``jobs``/``calls``: threads by pid, this call not yet counted).  A
    process uses the larger of what its job holds and what its calls use."""
    used = sum(max(jobs.get(p, 0), calls.get(p, 0)) for p in set(jobs) | set(calls) if p != pid)
    mine = max(jobs.get(pid, 0), calls.get(pid, 0) + own)
    return own + max(0, cores - used - mine)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _setup() -> tuple[Path, int] | None:
    folder, cores = os.environ.get(FOLDER_ENV), os.environ.get(CORES_ENV)
    if not folder or not cores:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path, int(cores)


@contextmanager
def job_holding(threads: int) -> Iterator[None]:
    """Record for the duration of a job (a factor-step process) the threads Snakemake gave it."""
    setup = _setup()
    if setup is None:
        yield
        return
    f = setup[0] / f"job-{os.getpid()}"
    f.write_text(str(threads))
    try:
        yield
    finally:
        f.unlink(missing_ok=True)


@contextmanager
def engine_threads(own: int) -> Iterator[int]:
    """The threads an engine call asking for ``own`` runs with (``own`` plus idle cores lent to
    it), recorded until the call ends; ``own`` itself where nothing is lent."""
    setup = _setup()
    if setup is None:
        yield own
        return
    folder, cores = setup
    with _calls_lock:
        n = next(_calls)
    f = folder / f"call-{os.getpid()}-{n}"
    with _locked(folder):
        jobs, calls = _holdings(folder)
        threads = threads_to_use(cores, own, jobs, calls, os.getpid())
        f.write_text(str(threads))
    try:
        yield threads
    finally:
        f.unlink(missing_ok=True)
