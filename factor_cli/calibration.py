"""DDECal solves and solution bookkeeping for one direction's self-calibration.

The model of a solve is the MODEL_DATA column WSClean writes while cleaning the calibrator
image (``modeldatacolumns``), so the solve uses exactly the sky the image contains.  The
solutions of the time chunks are concatenated in time and written as one H5parm per
direction with Factor's soltab names: ``phase000`` (fast phases), ``amplitude000`` and
``phase001`` (slow complex gains), the direction named ``[<direction>]`` at the direction's
position, so DP3 h5parmpredict/applycal and WSClean find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engines import run_dp3
from .h5parm import SolutionTable, read_soltab, write_h5parm


@dataclass(frozen=True)
class SolverSettings:
    maxiter: int = 75
    tolerance: float = 1e-8
    stepsize: float = 0.02
    propagatesolutions: bool = True
    uvlambdamin: float = 80.0


def solve(ms: str, h5: str, mode: str, solint: int, nchan: int, s: SolverSettings, data_column: str,
          smoothness_hz: float = 0.0, log: Path | None = None, threads: int = 1) -> None:
    """One DDECal solve of ``data_column`` against MODEL_DATA."""
    args = {
        "msin": ms, "msin.datacolumn": data_column, "msout": ".", "steps": ["solve"],
        "solve.type": "ddecal", "solve.mode": mode, "solve.modeldatacolumns": ["MODEL_DATA"],
        "solve.h5parm": h5, "solve.solint": solint, "solve.nchan": nchan,
        "solve.maxiter": s.maxiter, "solve.tolerance": s.tolerance, "solve.stepsize": s.stepsize,
        "solve.propagatesolutions": s.propagatesolutions, "solve.uvlambdamin": s.uvlambdamin,
    }
    if smoothness_hz > 0:
        args["solve.smoothnessconstraint"] = smoothness_hz
    if Path(h5).exists():
        Path(h5).unlink()
    run_dp3(args, log=log, threads=threads)


def predict(ms: str, skymodel: str, out_column: str, operation: str = "replace", data_column: str = "DATA",
            log: Path | None = None, threads: int = 1) -> None:
    """Predict ``skymodel`` (uncorrupted) into ``out_column``: the model itself (``replace``) or
    ``data_column`` minus the model (``subtract``)."""
    args = {
        "msin": ms, "msin.datacolumn": data_column, "msout": ".", "msout.datacolumn": out_column,
        "steps": ["predict"], "predict.type": "predict", "predict.sourcedb": skymodel, "predict.operation": operation,
    }
    run_dp3(args, log=log, threads=threads)


def applycal_settings(prefix: str, h5: str, soltabs: list[str] | None = None, direction: str | None = None) -> dict[str, object]:
    """DP3 applycal keys (under ``prefix``, e.g. ``apply.`` or ``sub.applycal.``) applying the
    given soltabs of ``h5`` (default: all of a combined solution file) for ``direction``."""
    soltabs = soltabs or SOLTABS
    names = [f"s{i}" for i in range(len(soltabs))]
    args: dict[str, object] = {f"{prefix}parmdb": h5, f"{prefix}correction": soltabs[0], f"{prefix}steps": names}
    args.update({f"{prefix}{n}.correction": t for n, t in zip(names, soltabs)})
    if direction is not None:
        args[f"{prefix}direction"] = f"[{direction}]"
    return args


def apply(ms: str, h5: str, soltabs: list[str], data_column: str, out_column: str,
          log: Path | None = None, threads: int = 1) -> None:
    """Apply (invert) the given soltabs of ``h5`` from ``data_column`` into ``out_column``."""
    args: dict[str, object] = {
        "msin": ms, "msin.datacolumn": data_column, "msout": ".", "msout.datacolumn": out_column,
        "steps": ["apply"], "apply.type": "applycal", **applycal_settings("apply.", h5, soltabs),
    }
    run_dp3(args, log=log, threads=threads)


def _concat_time(paths: list[str], soltab: str) -> SolutionTable:
    tables = [read_soltab(p, soltab) for p in paths]
    first = tables[0]
    if len(tables) == 1:
        return first
    axis = list(first.axes).index("time")
    axes = dict(first.axes)
    axes["time"] = np.concatenate([t.axes["time"] for t in tables])
    order = np.argsort(axes["time"])
    axes["time"] = axes["time"][order]
    values = np.take(np.concatenate([t.values for t in tables], axis=axis), order, axis=axis)
    weights = np.take(np.concatenate([t.weights for t in tables], axis=axis), order, axis=axis)
    return SolutionTable(first.name, first.soltype, axes, values, weights)


def combine(fast: list[str], slow: list[str], out: str, direction: str, ra_deg: float, dec_deg: float) -> None:
    """Fast phases + slow gains of all time chunks → one H5parm for ``direction``."""
    tables = []
    for source, soltab, name in ((fast, "phase000", "phase000"), (slow, "amplitude000", "amplitude000"), (slow, "phase000", "phase001")):
        table = _concat_time(source, soltab)
        table.name = name
        table.axes = {k: (np.array([direction]) if k == "dir" else v) for k, v in table.axes.items()}
        # Flagged solutions (weight 0) carry NaN or stale values: make them neutral.
        neutral = 1.0 if table.soltype == "amplitude" else 0.0
        bad = (table.weights == 0) | ~np.isfinite(table.values)
        table.values = np.where(bad, neutral, table.values)
        if table.soltype == "amplitude" and (~bad).any():
            # Selfcal fixes the gains only up to an overall scale (the model can absorb it);
            # normalise so the geometric mean amplitude is 1, as Factor's smooth_amps did.
            table.values = table.values / np.exp(np.mean(np.log(table.values[~bad])))
        tables.append(table)
    import h5py

    with h5py.File(fast[0], "r") as fh:
        ant = fh["sol000/antenna"][:]
    antennas = {row[0].decode() if isinstance(row[0], bytes) else str(row[0]): np.asarray(row[1]) for row in ant}
    write_h5parm(out, tables, antennas, {direction: (ra_deg, dec_deg)})


SOLTABS = ["phase000", "amplitude000", "phase001"]
