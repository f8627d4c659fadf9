"""Independent engine calls of one job run side by side, sharing the job's threads.

Neither DP3 nor WSClean fills two cores on one call (measured on ``small``, 2 threads: DDECal
1.64-1.68 cores, predicts and phase shifts less, 512-pixel WSClean images 1.33, facet images
1.53): part of each call is serial (reading and writing the MS, the minor cycles).  Where a
step has calls that do not depend on each other (one per band or time chunk, the
verification's before and after), running them at once with the threads split between them
keeps the cores busy instead of waiting on one call's serial part.  Calls that depend on each
other (solve → apply → image) stay in order: nothing here changes what is computed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

_worker = threading.local()


def in_worker() -> bool:
    """True inside a call started by ``run_side_by_side`` (its engine output is written to the
    job's log whole when it ends, so side-by-side calls do not interleave there)."""
    return getattr(_worker, "active", False)


def share(threads: int, ncalls: int) -> tuple[int, int]:
    """(calls at once, threads per call) for ``ncalls`` independent calls on ``threads``:
    as many calls at once as threads allow, each with a whole share of them."""
    if ncalls <= 0:
        return 0, max(1, threads)
    workers = max(1, min(threads, ncalls))
    return workers, max(1, threads // workers)


def run_side_by_side(calls: Sequence[Callable[[int], T]], threads: int) -> list[T]:
    """Run ``calls`` (each given its thread count) at most ``threads`` at a time; results in
    the order of ``calls``.  Every call runs to its end even if another fails (no engine is
    left writing into a folder the job then removes); the first failure is raised."""
    workers, per_call = share(threads, len(calls))
    if workers <= 1:
        return [call(per_call) for call in calls]

    def run(call: Callable[[int], T]) -> T:
        _worker.active = True
        try:
            return call(per_call)
        finally:
            _worker.active = False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, call) for call in calls]
        try:
            errors = [f.exception() for f in futures]
        except BaseException:  # the job is stopped (SIGTERM): end the engines, start no more
            for f in futures:
                f.cancel()
            from .engines import stop_running

            stop_running()
            raise
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return [f.result() for f in futures]


def _lower_priority() -> None:
    os.nice(19)


class Background:
    """Python work that nothing in the step waits for (the PNG plots), done beside the step's
    engine calls instead of between them.  In one process of its own at the lowest CPU priority:
    as a thread of the step it held the step's interpreter lock, so the Python between two
    engine calls (facet masks, image statistics) waited for it, and it took CPU from the engines
    (measured on small: the solution plots, 3.9 s of CPU, delayed the facet image after them by
    2.1 s).  Niced, it uses what the engines leave of the cores.  One process, so matplotlib
    is never used from two threads at once.  Submitted work must be picklable (module-level
    functions, paths).  Leaving the block waits for the work and raises its first failure."""

    def __enter__(self) -> "Background":
        # Forked at once, while the step has no other thread yet (a fork copies only the
        # calling thread; spawning instead would import the step's main module again).
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                         initializer=_lower_priority)
        self._pool.submit(os.getpid).result()
        self._futures: list = []
        return self

    def submit(self, fn: Callable[..., object], *args) -> None:
        self._futures.append(self._pool.submit(fn, *args))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:  # the step failed or is stopped: draw nothing more
            self._pool.shutdown(wait=False, cancel_futures=True)
            return
        self._pool.shutdown(wait=True)
        for f in self._futures:
            f.result()


def import_beside(*modules: str) -> threading.Thread | None:
    """Import ``modules`` (those not imported yet) on a thread of their own, to be started just
    before a long engine call: the import then runs while the step's threads wait for the
    engine (which releases the interpreter lock), on the CPU the engine leaves.

    The fast-phase smoothing needs scipy.signal, whose import takes 1.3-2.6 s (measured here;
    most of it scipy building its docstrings), and each selfcal job first needs it right after
    its first solve, with no engine running until it is there: on `small` ~16 s of the run's
    ~50 s between the solves and their applies.  At the top of the module, every job that never
    smooths (facetsub) would pay for it before its first engine call; at the start of the job, on
    a thread, it held the interpreter lock while the job's own Python prepared the first calls
    (measured: the facetsub → selfcal hand-over grew by as much, 5 → 20 s).  An import of the
    same module in the main thread waits for this one to finish.  Start it after ``Background``
    has forked (a fork copies only the calling thread)."""
    import importlib
    import sys

    missing = [m for m in modules if m not in sys.modules]
    if not missing:
        return None

    def load() -> None:
        for name in missing:
            try:
                importlib.import_module(name)
            except ImportError:  # the step's own import will raise it where it matters
                continue

    thread = threading.Thread(target=load, name="import_beside", daemon=True)
    thread.start()
    return thread
