"""One DDECal solve split in time into pieces solved side by side, when a job has more threads
than Measurement Sets to solve.

Why: a DDECal call does not fill its threads (measured on ``small``, 2 threads: 1.5-1.7 cores;
reading the data and the per-interval bookkeeping are serial), and where the calibrator data
are one time chunk and one TEC block the selfcal loop has one solve at a time.  Two halves of
the same solve, each on one thread, fill both cores.

What stays the same: the pieces start at whole solution intervals, so every interval holds
the same time slots as in the single solve, and the pieces' solutions are joined back into
the one solution file the single solve would have written (applied, smoothed and plotted as
before).  What changes: the first interval of a later piece starts from the initial values
instead of the solution propagated from the interval before, as the first interval of every
time chunk already does.  Pieces are at least ``MIN_INTERVALS`` intervals long, so a slow
solve of a few long intervals stays whole.
"""

from __future__ import annotations

from functools import lru_cache

MIN_INTERVALS = 2


def time_pieces(ntimes: int, solint: int, max_pieces: int, min_intervals: int = MIN_INTERVALS) -> list[tuple[int, int]]:
    """(first time slot, number of slots) of each piece: at most ``max_pieces``, each starting
    on a multiple of ``solint`` and at least ``min_intervals`` intervals long, as even as the
    interval boundaries allow.  One piece (the whole) when no split is possible."""
    solint = max(1, int(solint))
    pieces = min(max(1, max_pieces), ntimes // (min_intervals * solint))
    if pieces <= 1:
        return [(0, ntimes)]
    starts = sorted({min(ntimes, round(k * ntimes / pieces / solint) * solint) for k in range(pieces)} | {0})
    bounds = [*starts, ntimes]
    return [(a, b - a) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


@lru_cache(maxsize=None)
def ms_ntimes(ms: str) -> int:
    """Number of time slots of ``ms`` (the calibrator data of a job do not change in time)."""
    import numpy as np
    from casacore import tables as pt

    with pt.table(ms, ack=False) as t:
        return int(np.unique(t.getcol("TIME")).size)
