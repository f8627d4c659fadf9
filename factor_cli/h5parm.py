"""H5parm solution files, written and read through LoSoTo's own h5parm module.

Going through LoSoTo guarantees the files are LoSoTo-readable; DP3 (h5parmpredict, applycal)
and WSClean read them too.  Two engine conventions are enforced here:
- direction names are bracketed patch lists (``[dir00]``), which is how DP3 maps sky-model
  patches to H5parm directions;
- source RAs are written in [0, 2π): WSClean 3.1 assigns facets to the wrong direction when an
  RA is negative, as DDECal writes them (feasibility.md, problem 3).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class SolutionTable:
    """One soltab: values with named axes, e.g. ('time', 'freq', 'ant', 'dir')."""

    name: str          # e.g. phase000
    soltype: str       # phase, amplitude, tec, ...
    axes: dict[str, np.ndarray]
    values: np.ndarray
    weights: np.ndarray | None = None


def direction_name(patch: str) -> str:
    return patch if patch.startswith("[") else f"[{patch}]"


@contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def write_h5parm(
    path: Path | str,
    soltabs: list[SolutionTable],
    antennas: dict[str, np.ndarray],
    directions: dict[str, tuple[float, float]],
    solset: str = "sol000",
) -> None:
    """Write ``soltabs`` plus the antenna table (name → ITRF m) and source table (name → RA, Dec deg)."""
    from losoto.h5parm import h5parm

    path = Path(path)
    if path.exists():
        path.unlink()
    with _quiet():
        h5 = h5parm(str(path), readonly=False)
        try:
            ss = h5.makeSolset(solset)
            ant_table = ss.obj._f_get_child("antenna")
            ant_table.append([(name.encode(), np.asarray(pos, dtype=np.float32)) for name, pos in antennas.items()])
            src_table = ss.obj._f_get_child("source")
            src_table.append(
                [
                    (direction_name(name).encode(), np.array([np.radians(ra) % (2 * np.pi), np.radians(dec)], dtype=np.float32))
                    for name, (ra, dec) in directions.items()
                ]
            )
            for st in soltabs:
                axes_vals = []
                for axis, vals in st.axes.items():
                    if axis == "dir":
                        vals = np.array([direction_name(str(v)) for v in vals])
                    axes_vals.append(vals)
                weights = np.ones_like(st.values, dtype=float) if st.weights is None else st.weights
                ss.makeSoltab(
                    st.soltype, st.name, axesNames=list(st.axes), axesVals=axes_vals,
                    vals=st.values, weights=weights,
                )
        finally:
            h5.close()


def read_soltab(path: Path | str, soltab: str, solset: str = "sol000") -> SolutionTable:
    """Values, weights and axes of one soltab."""
    from losoto.h5parm import h5parm

    with _quiet():
        h5 = h5parm(str(path), readonly=True)
        try:
            st = h5.getSolset(solset).getSoltab(soltab)
            axes = {name: np.array(st.getAxisValues(name)) for name in st.getAxesNames()}
            if "dir" in axes or "ant" in axes:
                axes = {k: (v.astype(str) if v.dtype.kind in "SU" else v) for k, v in axes.items()}
            return SolutionTable(
                name=soltab, soltype=st.getType(), axes=axes,
                values=np.array(st.getValues(retAxesVals=False)), weights=np.array(st.getValues(retAxesVals=False, weight=True)),
            )
        finally:
            h5.close()


def soltab_names(path: Path | str, solset: str = "sol000") -> list[str]:
    """The soltabs of ``solset`` (its groups; the antenna and source tables are datasets)."""
    import h5py

    with h5py.File(path, "r") as fh:
        group = fh[solset]
        return [name for name in group if isinstance(group[name], h5py.Group)]


def read_antennas(path: Path | str, solset: str = "sol000") -> dict[str, np.ndarray]:
    """The antenna table: name → ITRF position (m)."""
    import h5py

    with h5py.File(path, "r") as fh:
        rows = fh[f"{solset}/antenna"][:]
    return {_text(row[0]): np.asarray(row[1]) for row in rows}


def read_directions(path: Path | str, solset: str = "sol000") -> dict[str, tuple[float, float]]:
    """The source table: direction name → (RA, Dec) in degrees."""
    import h5py

    with h5py.File(path, "r") as fh:
        rows = fh[f"{solset}/source"][:]
    return {_text(row[0]): (float(np.degrees(row[1][0])), float(np.degrees(row[1][1]))) for row in rows}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
