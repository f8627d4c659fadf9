"""One runfactor per working directory, and automatic recovery from a killed run.

Snakemake's lock files list paths, not processes, so after ``kill -9`` (power loss, OOM
killer) they stay and the next run refuses to start.  runfactor records its PID in
``state/runfactor.pid``: a lock with no live runfactor behind it is stale and is removed
(``snakemake --unlock``); a live one means another run is going, and this one stops.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

PID_FILE = Path("state") / "runfactor.pid"


class RunLockError(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # guard against a recycled PID
        return b"runfactor" in cmdline.read_bytes()
    return True


def running_pid(dir_working: Path) -> int | None:
    """PID of a live runfactor in ``dir_working`` (other than this process), else None."""
    path = dir_working / PID_FILE
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid != os.getpid() and _alive(pid) else None


def check_not_running(dir_working: Path) -> None:
    pid = running_pid(dir_working)
    if pid is not None:
        raise RunLockError(f"{dir_working}: another runfactor (pid {pid}) is running in this working directory; "
                           "wait for it to finish or stop it first")


@contextmanager
def run_lock(dir_working: Path):
    check_not_running(dir_working)
    path = dir_working / PID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        try:
            if path.read_text().split()[0] == str(os.getpid()):
                path.unlink()
        except (OSError, IndexError):
            pass
