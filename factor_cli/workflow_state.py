"""What Snakemake knows about a working directory: which outputs are done, which would be
(re)made and why, which jobs are running.

Read-only (``--summary --nolock``), so runfactor's dry run, its reset and checkfactor can all
ask while another run is going.  Outputs are mapped back to Factor's (operation, direction)
from their paths (``results/<operation>/<stage>/...``; a stage is a direction or
``<direction>.p<N>`` for a later selfcal pass).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .engines import engine_environment
from .workflow_files import snakefile

# Rule name → Factor operation name shown to the user.
OPERATION_OF_RULE = {
    "chunk": "chunk", "skymodels": "skymodels", "facetselfcal": "facetselfcal",
    "facetsub": "facetsub",
    "facetdata": "facetimage", "facetimage": "facetimage", "fieldmosaic": "fieldmosaic", "products": "fieldmosaic",
}

# Operations in processing order (the peel rule's outputs name theirs: results/<op>/<stage>/).
OPERATIONS_IN_ORDER = ("chunk", "skymodels", "outlierpeel", "facetpeel", "facetselfcal", "facetsub", "facetimage",
                       "fieldmosaic")


class WorkflowStateError(RuntimeError):
    pass


@dataclass(frozen=True)
class Output:
    path: str
    rule: str
    logs: tuple[str, ...]
    status: str   # ok, missing, params changed, updated input files, ...
    pending: bool  # Snakemake would (re)make it

    @property
    def operation(self) -> str:
        if self.rule == "peel":  # one rule for outlierpeel and facetpeel: results/<operation>/<stage>/
            return Path(self.path).parts[1]
        return OPERATION_OF_RULE.get(self.rule, self.rule)

    @property
    def direction(self) -> str:
        return direction_of(self.path)


def direction_of(path: str) -> str:
    """The direction an output belongs to: ``dir01`` for results/facetselfcal/dir01.p2/... (and
    results/facetimage_c…/dir01/... of a further imaging parameter set), the
    band for chunks and sky models, ``field`` for the mosaic and the manifest."""
    parts = Path(path).parts
    if parts[0] == "chunks" or (len(parts) > 2 and parts[1] == "skymodels"):
        return parts[1] if parts[0] == "chunks" else parts[2]
    per_direction = ("outlierpeel", "facetpeel", "facetselfcal", "facetsub", "facetimage", "facetdata")
    if len(parts) > 2 and parts[0] == "results" and parts[1].split("_")[0] in per_direction:
        return stage_direction(parts[2])
    return "field"


def stage_direction(stage: str) -> str:
    head, _, tail = stage.rpartition(".p")
    return head if head and tail.isdigit() else stage


def snakemake_command(dir_working: Path, config: Path, cores: int | None, *extra: str) -> list[str]:
    """``cores`` None: a scheduler runs the jobs (the profile gives ``jobs``)."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile()), "--directory", str(dir_working),
            "--configfile", str(config), *(["--cores", str(cores)] if cores else []), *extra]


def summary(dir_working: Path, config: Path, forcerun: list[str] | None = None) -> list[Output]:
    """Every output of the workflow with its status, as ``snakemake --summary`` reports it;
    with ``forcerun``, as if those outputs were to be remade (their downstream is pending)."""
    cmd = snakemake_command(dir_working, config, 1, "--summary", "--nolock")
    if forcerun:
        cmd += ["--forcerun", *forcerun]
    with _no_trace(dir_working / ".snakemake" / "log"):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=engine_environment(), check=False)
    if proc.returncode != 0:
        raise WorkflowStateError(f"snakemake --summary failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    rows = [line.split("\t") for line in proc.stdout.splitlines() if "\t" in line]
    if not rows or rows[0][0] != "output_file":
        raise WorkflowStateError("snakemake --summary printed no table")
    header = rows[0]
    col = {name: i for i, name in enumerate(header)}
    outputs = []
    for row in rows[1:]:
        logs = tuple(x for x in row[col["log-file(s)"]].split(",") if x and x != "-")
        outputs.append(Output(row[col["output_file"]], row[col["rule"]], logs, row[col["status"]],
                              row[col["plan"]] == "update pending"))
    return outputs


@contextmanager
def _no_trace(log_dir: Path):
    """Snakemake writes a log file even for ``--summary``; remove it again (and restore the
    folder's mtime) so that a query leaves the working directory exactly as it was."""
    existed = log_dir.is_dir()
    before = set(log_dir.iterdir()) if existed else set()
    stat = log_dir.stat() if existed else None
    try:
        yield
    finally:
        if log_dir.is_dir():
            for path in set(log_dir.iterdir()) - before:
                path.unlink(missing_ok=True)
            if stat is not None:
                os.utime(log_dir, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            else:
                log_dir.rmdir()


def incomplete_outputs(dir_working: Path) -> set[str]:
    """Outputs of jobs that started and have not finished: running now, or killed."""
    markers = dir_working / ".snakemake" / "incomplete"
    found = set()
    if markers.is_dir():
        for m in markers.iterdir():
            try:
                found.add(base64.urlsafe_b64decode(m.name.encode()).decode())
            except (ValueError, UnicodeDecodeError):
                continue
    return found


def is_locked(dir_working: Path) -> bool:
    locks = dir_working / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())
