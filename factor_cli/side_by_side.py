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

import threading
from concurrent.futures import ThreadPoolExecutor
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


class Background:
    """Python work that nothing in the step waits for (the PNG plots), done on one thread
    beside the step's engine calls instead of between them: while an engine runs the step's
    own thread only waits for it.  One thread, so matplotlib is never used from two at once.
    Leaving the block waits for the work and raises its first failure."""

    def __enter__(self) -> "Background":
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._futures: list = []
        return self

    def submit(self, fn: Callable[..., object], *args) -> None:
        self._futures.append(self._pool.submit(fn, *args))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for f in self._futures:
                f.cancel()
        self._pool.shutdown(wait=True)
        if exc_type is None:
            for f in self._futures:
                f.result()
