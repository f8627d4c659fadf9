"""DDECal solves and solution bookkeeping for one direction's self-calibration.

The model of a solve is the MODEL_DATA column WSClean writes while cleaning the calibrator
image (``modeldatacolumns``), or the sky model predicted into it, so the solve uses exactly
the sky the image contains.  Solutions of the time chunks and TEC blocks are joined in time
and frequency into one H5parm per direction with Factor's soltab names:

  tec000        fast TEC (TEC+phase mode), one value per TEC block
  phase000      fast phases: the common phase of the TEC+phase solve, or scalar phases
  amplitude000  slow gain amplitudes as solved
  amplitude001  the same smoothed and normalised (what is applied; amplitudes.py)
  phase001      slow gain phases

the direction named ``[<direction>]`` at the direction's position, so DP3
h5parmpredict/applycal and WSClean find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .engines import run_dp3
from .h5parm import SolutionTable, read_antennas, read_directions, read_soltab, soltab_names, write_h5parm
from .skymodel import read_skymodel


# The TEC solves' first, approximating stage ends only after ``maxapproxiter`` iterations, as it
# did with Factor's tolerance (1e-8; DP3 ends that stage at 10 x tolerance).  Ended at 1e-3
# (DP3's default with tolerance 1e-4), the full TEC fit ran longer and split TEC and phase
# differently (tiny: 0.04 TECU rms, 3.5x the CPU); with this the TEC solves are bit-identical
# to the ones every measurement in bench/RESULTS.md was made with.
APPROX_TOLERANCE = 1e-7


@dataclass(frozen=True)
class SolverSettings:
    maxiter: int = 50
    tolerance: float = 1e-4
    stepsize: float = 0.2
    propagatesolutions: bool = True
    uvlambdamin: float = 80.0
    approximatetec: bool = True
    maxapproxiter: int = 50


def solve(ms: str, h5: str, mode: str, solint: int, nchan: int, s: SolverSettings, data_column: str,
          smoothness_hz: float = 0.0, log: Path | None = None, threads: int = 1,
          model_columns: tuple[str, ...] = ("MODEL_DATA",), time_slots: tuple[int, int] | None = None) -> None:
    """One DDECal solve of ``data_column`` against MODEL_DATA (or several model columns, one
    direction each, the first the direction of interest); ``time_slots`` (first, number):
    a piece of the time range only (solve_pieces.py)."""
    args = {
        "msin": ms, "msin.datacolumn": data_column, "msout": ".", "steps": ["solve"],
        "solve.type": "ddecal", "solve.mode": mode, "solve.modeldatacolumns": list(model_columns),
        "solve.h5parm": h5, "solve.solint": solint, "solve.nchan": nchan,
        "solve.maxiter": s.maxiter, "solve.tolerance": s.tolerance, "solve.stepsize": s.stepsize,
        "solve.propagatesolutions": s.propagatesolutions, "solve.uvlambdamin": s.uvlambdamin,
    }
    if time_slots is not None:
        args.update({"msin.starttimeslot": time_slots[0], "msin.ntimes": time_slots[1]})
    if smoothness_hz > 0:
        args["solve.smoothnessconstraint"] = smoothness_hz
    if mode in ("tec", "tecandphase"):
        args.update({"solve.approximatetec": s.approximatetec, "solve.maxapproxiter": s.maxapproxiter})
        if s.approximatetec:
            args["solve.approxtolerance"] = APPROX_TOLERANCE
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
    soltabs = soltabs or correction_soltabs(h5)
    names = [f"s{i}" for i in range(len(soltabs))]
    args: dict[str, object] = {f"{prefix}parmdb": h5, f"{prefix}correction": soltabs[0], f"{prefix}steps": names}
    args.update({f"{prefix}{n}.correction": t for n, t in zip(names, soltabs)})
    if direction is not None:
        args[f"{prefix}direction"] = f"[{direction}]"
    return args


def predict_step(name: str, model: str, operation: str, h5: str | None = None,
                 direction: str | None = None) -> dict[str, object]:
    """DP3 keys of a step ``name`` that adds or subtracts ``model``: corrupted by the
    solutions in ``h5`` for ``direction`` (h5parmpredict), or as it is (predict)."""
    if h5:
        # Every patch of the model is a direction of the solutions: a facet peel's model holds
        # the peeled source (``<direction>_peel``) beside the rest of the facet (peeling.py).
        patches = list(dict.fromkeys(c.patch for c in read_skymodel(model) if c.patch)) or [direction]
        return {f"{name}.type": "h5parmpredict", f"{name}.sourcedb": model, f"{name}.operation": operation,
                f"{name}.directions": [f"[{p}]" for p in patches], **applycal_settings(f"{name}.applycal.", h5)}
    return {f"{name}.type": "predict", f"{name}.sourcedb": model, f"{name}.operation": operation}


def apply(ms: str, h5: str, soltabs: list[str], data_column: str, out_column: str,
          log: Path | None = None, threads: int = 1) -> None:
    """Apply (invert) the given soltabs of ``h5`` from ``data_column`` into ``out_column``."""
    args: dict[str, object] = {
        "msin": ms, "msin.datacolumn": data_column, "msout": ".", "msout.datacolumn": out_column,
        "steps": ["apply"], "apply.type": "applycal", **applycal_settings("apply.", h5, soltabs),
    }
    run_dp3(args, log=log, threads=threads)


def _concat(tables: list[SolutionTable], axis_name: str) -> SolutionTable:
    """Join soltabs along ``axis_name`` (time: chunks; freq: TEC blocks), sorted."""
    first = tables[0]
    if len(tables) == 1:
        return first
    axis = list(first.axes).index(axis_name)
    axes = dict(first.axes)
    values = np.concatenate([t.axes[axis_name] for t in tables])
    order = np.argsort(values, kind="stable")
    axes[axis_name] = values[order]
    joined = np.take(np.concatenate([t.values for t in tables], axis=axis), order, axis=axis)
    weights = np.take(np.concatenate([t.weights for t in tables], axis=axis), order, axis=axis)
    return SolutionTable(first.name, first.soltype, axes, joined, weights)


def merge_in_time(parts: list[str], out: str) -> None:
    """The solution files of consecutive time pieces of one solve (solve_pieces.py) → the one
    file the whole solve would have written."""
    tables = [_concat([read_soltab(part, name) for part in parts], "time") for name in soltab_names(parts[0])]
    write_h5parm(out, tables, read_antennas(parts[0]), read_directions(parts[0]))


def _joined(files: list[list[str]], soltab: str) -> SolutionTable:
    """``files[i][b]``: solutions of time chunk i, TEC block b."""
    per_block = [_concat([read_soltab(f[b], soltab) for f in files], "time") for b in range(len(files[0]))]
    return _concat(per_block, "freq")


def _neutral(table: SolutionTable) -> np.ndarray:
    """Flagged solutions (weight 0) carry NaN or stale values: make them neutral."""
    return (table.weights == 0) | ~np.isfinite(table.values)


def _smoothed(table: SolutionTable, spline: bool, normalise: bool = True) -> np.ndarray:
    """Smoothed (normalised) amplitudes of ``table`` (flagged solutions ignored, then filled)."""
    # Imported here: scipy's splines and filters take half a second to import, paid at every
    # job start (facetsub, facet data) that only predicts or applies.
    from .amplitudes import smooth

    bad = _neutral(table)
    return smooth(np.where(bad, np.nan, table.values), np.where(bad, 0.0, table.weights), list(table.axes), spline=spline,
                  normalise=normalise)


def has_soltab(h5: str, soltab: str) -> bool:
    return soltab in soltab_names(h5)


def _on_axes(table: SolutionTable, axes: dict[str, np.ndarray]) -> np.ndarray:
    """``table``'s values (weights 0 → 0) sampled onto ``axes`` (nearest time and frequency,
    stations by name, the first direction/polarisation), in the order of ``axes``."""
    values = np.where(_neutral(table), 0.0, table.values)
    names = list(table.axes)
    index = []
    for axis in names:
        have = table.axes[axis]
        if axis in ("time", "freq") and axis in axes:
            index.append(np.argmin(np.abs(have[None, :] - axes[axis][:, None]), axis=1))
        elif axis == "ant" and axis in axes:
            where = {str(a): i for i, a in enumerate(have)}
            index.append(np.array([where[str(a)] for a in axes[axis]]))
        elif axis in axes and len(axes[axis]) == len(have):
            index.append(np.arange(len(have)))
        else:
            index.append(np.array([0]))
    sampled = values[np.ix_(*index)]
    missing = [a for a in axes if a not in names]
    sampled = sampled.reshape(sampled.shape + (1,) * len(missing))
    order = [names.index(a) if a in names else len(names) + missing.index(a) for a in axes]
    return np.broadcast_to(np.transpose(sampled, order), tuple(len(v) for v in axes.values()))


def _fold_preapply(tables: list[SolutionTable], pre_h5: str) -> None:
    """Add the pre-applied phases of the first calibrator (``preapply_first_cal_phases``) to
    this direction's own, so the solution file holds the full correction."""
    pre_tec = read_soltab(pre_h5, "tec000") if has_soltab(pre_h5, "tec000") else None
    pre_fast = read_soltab(pre_h5, "phase000")
    pre_slow = read_soltab(pre_h5, "phase001")
    # The sum must be on the finer of the two time grids: the first calibrator (brightest)
    # usually has the shorter solution interval, and its fine time structure was applied.
    for i, t in enumerate(tables):
        if t.name in ("tec000", "phase000"):
            tables[i] = _on_finer_time(t, pre_fast)
        elif t.name == "phase001":
            tables[i] = _on_finer_time(t, pre_slow)
    own = {t.name: t for t in tables}
    fast = own["phase000"]
    if "tec000" in own and pre_tec is not None:
        own["tec000"].values = own["tec000"].values + _on_axes(pre_tec, own["tec000"].axes)
        fast.values = fast.values + _on_axes(pre_fast, fast.axes)
    else:  # one side per-channel phases: the other's TEC as phase at these frequencies
        extra = _on_axes(pre_fast, fast.axes)
        if pre_tec is not None:
            freq = fast.axes["freq"].reshape([-1 if a == "freq" else 1 for a in fast.axes])
            extra = extra + TEC_TO_PHASE * _on_axes(pre_tec, fast.axes) / freq
        fast.values = fast.values + extra
    own["phase001"].values = own["phase001"].values + _on_axes(pre_slow, own["phase001"].axes)


def _on_finer_time(table: SolutionTable, other: SolutionTable) -> SolutionTable:
    """``table`` sampled (nearest, as applycal interpolates) on ``other``'s time axis when that
    is finer; otherwise unchanged."""
    if len(other.axes["time"]) <= len(table.axes["time"]):
        return table
    axes = dict(table.axes)
    axes["time"] = other.axes["time"]
    weights = SolutionTable(table.name, table.soltype, table.axes, np.asarray(table.weights, float), np.ones_like(table.weights))
    return SolutionTable(table.name, table.soltype, axes, np.array(_on_axes(table, axes)), np.array(_on_axes(weights, axes)))


TEC_TO_PHASE = -8.44797245e9  # rad Hz / TECU, DP3's convention


def combine(fast: list[list[str]], slow: list[list[str]], out: str, direction: str, ra_deg: float, dec_deg: float,
            spline: bool = True, preapply: str | None = None, normalise: bool = True,
            peel_direction: str | None = None) -> None:
    """Fast (TEC+)phases and slow gains of all time chunks and TEC blocks → one H5parm;
    ``preapply``: solutions whose phases were applied to the data before solving;
    ``normalise`` False keeps the amplitudes' scale (peeling against a model in absolute flux);
    ``peel_direction``: a second direction with the same solutions but unnormalised amplitudes,
    for a facet peel's source model (its own flux scale) beside the rest of the facet."""
    fast_tabs = ["tec000", "phase000"] if has_soltab(fast[0][0], "tec000") else ["phase000"]
    tables = []
    for source, soltab, name in ([(fast, t, t) for t in fast_tabs]
                                 + [(slow, "amplitude000", "amplitude000"), (slow, "phase000", "phase001")]):
        table = _joined(source, soltab)
        table.name = name
        table.axes = {k: (np.array([direction]) if k == "dir" else v) for k, v in table.axes.items()}
        if name == "amplitude000":
            # Applied: smoothed and normalised (selfcal fixes the gains only up to an overall
            # scale the model can absorb).
            smoothed = SolutionTable("amplitude001", "amplitude", dict(table.axes), _smoothed(table, spline, normalise),
                                     table.weights)
            unnormalised = _smoothed(table, spline, False) if peel_direction else None
        bad = _neutral(table)
        table.values = np.where(bad, 1.0 if table.soltype == "amplitude" else 0.0, table.values)
        tables.append(table)
        if name == "amplitude000":
            tables.append(smoothed)
    if preapply:
        _fold_preapply(tables, preapply)
    antennas = read_antennas(fast[0][0])
    directions = {direction: (ra_deg, dec_deg)}
    if peel_direction:
        tables = [_with_direction(t, peel_direction, unnormalised if t.name == "amplitude001" else t.values)
                  for t in tables]
        directions[peel_direction] = (ra_deg, dec_deg)
    write_h5parm(out, tables, antennas, directions)


def _with_direction(table: SolutionTable, direction: str, values: np.ndarray) -> SolutionTable:
    """``table`` with a second direction holding ``values`` (same weights)."""
    axis = list(table.axes).index("dir")
    axes = {k: (np.array([*v, direction]) if k == "dir" else v) for k, v in table.axes.items()}
    weights = table.weights if table.weights is not None else np.ones_like(table.values)
    return SolutionTable(table.name, table.soltype, axes, np.concatenate([table.values, values], axis=axis),
                         np.concatenate([weights, weights], axis=axis))


APPLY_ORDER = ["tec000", "phase000", "amplitude001", "phase001"]


def correction_soltabs(h5: str) -> list[str]:
    """The soltabs applied from a combined solution file (amplitude000, the raw slow
    amplitudes, is kept for inspection only)."""
    present = soltab_names(h5)
    return [t for t in APPLY_ORDER if t in present]


def add_smoothed_amplitudes(h5: str, spline: bool = True, normalise: bool = True) -> None:
    """Add ``amplitude001`` (smoothed, normalised ``amplitude000``) to a DDECal solution file,
    so the applied slow gains inside the selfcal loop are the ones the final file holds."""
    from losoto.h5parm import h5parm

    table = read_soltab(h5, "amplitude000")
    values = _smoothed(table, spline, normalise)
    handle = h5parm(h5, readonly=False)
    try:
        solset = handle.getSolset("sol000")
        if "amplitude001" in solset.getSoltabNames():
            solset.getSoltab("amplitude001").delete()
        solset.makeSoltab("amplitude", "amplitude001", axesNames=list(table.axes), axesVals=list(table.axes.values()),
                          vals=values, weights=table.weights)
    finally:
        handle.close()
