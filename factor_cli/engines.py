"""How the pipeline calls its engines: DP3 (PyPI wheel) and WSClean (Debian package).

DP3 is only ever run as a subprocess (``DP3.py``): its bundled casacore and python-casacore
crash when loaded in one interpreter (feasibility.md §8).  The DP3 wheel's casacore does not
find the measures tables on its own, so every engine call gets ``CASARCFILES`` pointing at
python-casacore's bundled measures data, ``EVERYBEAM_DATADIR`` for the beam element
responses, and ``OPENBLAS_NUM_THREADS=1`` (DP3 threads itself; OpenBLAS threads on top of
that oversubscribe the cores).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Mapping

from .side_by_side import in_worker


class EngineError(RuntimeError):
    """An engine could not be found or exited non-zero."""


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def casacore_measures_dir() -> Path | None:
    """python-casacore's bundled measures data (ephemerides, geodetic), if present."""
    pkg = _package_dir("casacore")
    if pkg is not None and (pkg / "data" / "geodetic").is_dir():
        return pkg / "data"
    system = Path("/usr/share/casacore/data")
    return system if (system / "geodetic").is_dir() else None


def casarc_file() -> Path | None:
    """A casarc file naming the measures directory; written once per user cache."""
    measures = casacore_measures_dir()
    if measures is None:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "factor"
    line = f"measures.directory: {measures}\n"
    target = cache / f"casarc-{hashlib.sha1(str(measures).encode()).hexdigest()[:12]}"
    try:
        if not target.is_file() or target.read_text() != line:
            cache.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=cache, delete=False) as tmp:
                tmp.write(line)
            os.replace(tmp.name, target)
    except OSError:
        return None
    return target


def engine_environment(base: Mapping[str, str] | None = None, threads: int | None = None) -> dict[str, str]:
    """Environment for DP3/WSClean subprocesses (see module docstring)."""
    env = dict(os.environ if base is None else base)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.setdefault("OMP_NUM_THREADS", str(threads or 1))
    rc = casarc_file()
    if rc is not None and "CASARCFILES" not in env:
        env["CASARCFILES"] = str(rc)
    everybeam_data = Path(sys.prefix) / "share" / "everybeam"
    if everybeam_data.is_dir():
        env.setdefault("EVERYBEAM_DATADIR", str(everybeam_data))
    # Commands installed beside this interpreter (DP3.py in a venv that is not activated).
    bindir = str(Path(sys.executable).parent)
    if bindir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def use_engine_data_in_this_process() -> None:
    """Set CASARCFILES/EVERYBEAM_DATADIR here, before EveryBeam's Python module loads a telescope
    (EveryBeam's wheel cannot find its element-response data otherwise)."""
    for key, value in engine_environment().items():
        if key in ("EVERYBEAM_DATADIR", "CASARCFILES"):
            os.environ.setdefault(key, value)


def find_executable(name: str) -> str:
    """Locate an engine on PATH or beside the running interpreter."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        hints = {
            "DP3.py": "pip install dp3",
            "wsclean": "apt-get install wsclean",
        }
        raise EngineError(f"{name} not found on PATH ({hints.get(name, 'install it')})")
    return found


LEDGER_ENV = "FACTOR_ENGINE_LEDGER"


def _record(cmd: list[str], cpu_s: float, wall_s: float, start_epoch: float) -> None:
    """Append the engine's CPU time, wall time, start and what the call did to the ledger file
    named in $FACTOR_ENGINE_LEDGER (the benchmark splits the run's time into engine and
    pipeline time with it, finds when no engine was running, and how well each kind of call
    used its threads)."""
    ledger = os.environ.get(LEDGER_ENV)
    if not ledger:
        return
    try:
        with open(ledger, "a") as fh:
            fh.write(f"{Path(cmd[0]).name}\t{cpu_s:.3f}\t{wall_s:.3f}\t{start_epoch:.3f}\t{call_kind(cmd)}\n")
    except OSError:
        pass


def call_kind(cmd: list[str]) -> str:
    """A short label of an engine call: DP3's step types (``ddecal+applycal``), WSClean's image
    size and thread count."""
    name = Path(cmd[0]).name
    if name == "DP3.py":
        types = [a.split("=", 1)[1] for a in cmd[1:] if "=" in a and a.split("=", 1)[0].endswith(".type")]
        threads = next((a.split("=", 1)[1] for a in cmd[1:] if a.startswith("numthreads=")), "?")
        return f"{'+'.join(types) or 'copy'} j{threads}"
    if name == "wsclean":
        size = cmd[cmd.index("-size") + 1] if "-size" in cmd[:-1] else "?"
        threads = cmd[cmd.index("-j") + 1] if "-j" in cmd[:-1] else "?"
        return f"{size}px j{threads}"
    return name


_lock = threading.Lock()  # the job's log and the set of running engines
_running: set[subprocess.Popen] = set()


def _wait(proc: subprocess.Popen) -> float:
    """Wait for ``proc``; its own CPU time (with its waited-for descendants).  Per process, not
    the change of RUSAGE_CHILDREN, which counts every other call ending meanwhile when a job
    runs calls side by side.  Interrupted (SIGTERM turned into SystemExit by factor-step), the
    engine is killed rather than left running."""
    with _lock:
        _running.add(proc)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        stop_running()
        raise
    finally:
        with _lock:
            _running.discard(proc)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def stop_running() -> None:
    """Kill every engine this process is running (a job interrupted while calls run side by
    side: only the main thread sees the signal)."""
    import signal

    with _lock:
        for proc in _running:  # not yet waited for (so the pid is still theirs)
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _captured(cmd: list[str], env: dict[str, str], folder: Path | None = None,
              header: str = "") -> tuple[subprocess.Popen, float, str]:
    """Run ``cmd`` with its output in a temporary file (in ``folder``); the process, its CPU
    time and ``header`` + its output."""
    with tempfile.TemporaryFile("w+", dir=folder) as out:
        out.write(header)
        out.flush()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        cpu = _wait(proc)
        out.seek(0)
        return proc, cpu, out.read()


def _run(cmd: list[str], log: Path | None, threads: int | None) -> None:
    import time

    env = engine_environment(threads=threads)
    start, start_epoch = time.monotonic(), time.time()
    if log is None:
        proc, cpu, output = _captured(cmd, env)
    elif in_worker():
        # Side by side with other calls: the output goes to the job's log whole, at the end.
        log.parent.mkdir(parents=True, exist_ok=True)
        proc, cpu, output = _captured(cmd, env, folder=log.parent, header="$ " + " ".join(cmd) + "\n")
        with _lock, open(log, "a") as fh:
            fh.write(output)
        output = output[-4000:]
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
            cpu = _wait(proc)
        output = log.read_text()[-4000:]
    _record(cmd, cpu, time.monotonic() - start, start_epoch)
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise EngineError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}):\n{tail}")


def run_dp3(args: Iterable[str] | Mapping[str, object], log: Path | None = None, threads: int = 1) -> None:
    """Run ``DP3.py key=value ...``.

    A mapping is turned into ``key=value`` arguments (lists as ``[a,b]``); each argument is a
    separate argv element, so values are never interpreted by a shell.
    """
    if isinstance(args, Mapping):
        argv = [f"{k}={_dp3_value(v)}" for k, v in args.items()]
    else:
        argv = list(args)
    if not any(a.startswith("numthreads=") for a in argv):
        argv.append(f"numthreads={threads}")
    _run([find_executable("DP3.py"), *argv], log, threads)


def _dp3_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_dp3_value(v) for v in value) + "]"
    return str(value)


def run_wsclean(args: Iterable[str], log: Path | None = None, threads: int = 1) -> None:
    """Run ``wsclean`` with the given arguments (``-j`` added from ``threads``).

    Without IDG every image uses the w-gridder: WSClean 3.1's default w-stacking gridder took
    139 s for a 3200-pixel facet model image that the w-gridder (accuracy 1e-4) made in 75 s
    on 2 cores, and it departs from the w-gridder's image only towards the image edges.
    """
    argv = list(args)
    if "-use-idg" not in argv and "-use-wgridder" not in argv:
        argv = ["-use-wgridder", *argv]
    if "-j" not in argv:
        argv = ["-j", str(threads), *argv]
    _run([find_executable("wsclean"), *argv], log, threads)
