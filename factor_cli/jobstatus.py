"""``factor-jobstatus SCHEDULER JOBID``: the state of one batch job as cluster-generic wants it
(``running``, ``success`` or ``failed`` on stdout).

Without a status command the cluster-generic executor waits for marker files that the job
writes when it ends, so a job the scheduler kills (time limit, memory, node failure) before
that would keep the run waiting forever.  This asks the scheduler instead:
SLURM ``squeue``/``sacct``, PBS ``qstat -x -f``, LSF ``bjobs``.  A job the scheduler no longer
knows is ``running`` while the marker files may still say how it ended, which the executor
checks too; a query that fails is ``running`` (the executor asks again).
"""

from __future__ import annotations

import re
import subprocess
import sys

SLURM_FAILED = {"FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def _query(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def slurm_state(jobid: str) -> str:
    out = _query(["squeue", "--noheader", "--states=all", "--format=%T", "--jobs", jobid])
    state = out.split()[0] if out and out.split() else None
    if state is None:
        out = _query(["sacct", "--noheader", "-X", "--parsable2", "--format=State", "--jobs", jobid])
        state = out.split()[0] if out and out.split() else None
    if state is None:
        return "running"
    state = state.rstrip("+")
    if state == "COMPLETED":
        return "success"
    return "failed" if state.split()[0] in SLURM_FAILED else "running"


def pbs_state(jobid: str) -> str:
    out = _query(["qstat", "-x", "-f", jobid])
    if not out:
        return "running"
    state = re.search(r"job_state = (\w)", out)
    code = re.search(r"[Ee]xit_status = (-?\d+)", out)
    if state and state.group(1) in ("F", "C"):
        return "success" if code and code.group(1) == "0" else "failed"
    return "running"


def lsf_state(jobid: str) -> str:
    out = _query(["bjobs", "-noheader", "-o", "stat", jobid])
    state = out.strip() if out else ""
    return {"DONE": "success", "EXIT": "failed"}.get(state, "running")


STATES = {"slurm": slurm_state, "pbs": pbs_state, "lsf": lsf_state}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in STATES:
        print("usage: factor-jobstatus {slurm,pbs,lsf} JOBID", file=sys.stderr)
        return 2
    scheduler, jobid = argv
    # LSF prints "Job <123> is submitted to queue <q>."; PBS "123.server".
    match = re.search(r"<(\d+)>", jobid)
    print(STATES[scheduler](match.group(1) if match else jobid.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
