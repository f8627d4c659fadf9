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


def process_alive(pid: int, command: bytes | None = None) -> bool:
    """Whether process ``pid`` runs, and (where /proc tells) runs ``command``: a PID recorded by a
    process killed long ago may have been given to another."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if command is not None and cmdline.exists():
        try:
            return command in cmdline.read_bytes()
        except OSError:  # ended meanwhile
            return False
    return True


def running_pid(dir_working: Path) -> int | None:
    """PID of a live runfactor in ``dir_working`` (other than this process), else None."""
    path = dir_working / PID_FILE
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid != os.getpid() and process_alive(pid, b"runfactor") else None


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
