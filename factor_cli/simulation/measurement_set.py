"""Write an empty LOFAR HBA Measurement Set from scratch with python-casacore.

Besides the standard MS, DP3 and EveryBeam recognise LOFAR data only with the LOFAR-specific
parts written here: OBSERVATION.TELESCOPE_NAME='LOFAR' and LOFAR_ANTENNA_SET, FIELD.
LOFAR_TILE_BEAM_DIR, ANTENNA.LOFAR_STATION_ID/LOFAR_PHASE_REFERENCE and the LOFAR_ANTENNA_FIELD
subtable (feasibility.md §2).  UVW are computed exactly by casacore's derived MS columns.
Rows are time-major with every cross-correlation (no autocorrelations), like LINC output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .observation import Band
from .stations import AntennaField

_DIR_MEASINFO = {"type": "direction", "Ref": "J2000"}
_POS_MEASINFO = {"type": "position", "Ref": "ITRF"}
_EPOCH_MEASINFO = {"type": "epoch", "Ref": "UTC"}
_FREQ_MEASINFO = {"type": "frequency", "Ref": "TOPO"}


def _column_units(table, column: str, units: list[str], measinfo: dict | None = None) -> None:
    table.putcolkeyword(column, "QuantumUnits", units)
    if measinfo is not None:
        table.putcolkeyword(column, "MEASINFO", measinfo)


def create_ms(
    path: Path,
    stations: list[AntennaField],
    band: Band,
    times_mjd_s: np.ndarray,
    dt_s: float,
    phase_centre_deg: tuple[float, float],
    flag_mask: np.ndarray | None = None,
) -> None:
    """Create ``path`` with zero DATA; ``flag_mask`` is (nrow, nchan) or None (nothing flagged)."""
    from casacore import tables as pt

    path = Path(path)
    nant = len(stations)
    nchan = band.nchan
    ant1, ant2 = np.triu_indices(nant, k=1)
    nbl = len(ant1)
    ntime = len(times_mjd_s)
    nrow = nbl * ntime

    data_desc = pt.maketabdesc(
        [
            pt.makearrcoldesc("DATA", 0j, shape=[nchan, 4], valuetype="complex"),
            pt.makearrcoldesc("WEIGHT_SPECTRUM", 0.0, shape=[nchan, 4], valuetype="float"),
        ]
    )
    ms = pt.default_ms(str(path), data_desc)
    # default_ms leaves FLAG without a fixed shape; give it one by adding rows after shaping.
    ms.addrows(nrow)

    time_col = np.repeat(times_mjd_s, nbl)
    ms.putcol("TIME", time_col)
    ms.putcol("TIME_CENTROID", time_col)
    ms.putcol("INTERVAL", np.full(nrow, dt_s))
    ms.putcol("EXPOSURE", np.full(nrow, dt_s))
    ms.putcol("ANTENNA1", np.tile(ant1, ntime).astype(np.int32))
    ms.putcol("ANTENNA2", np.tile(ant2, ntime).astype(np.int32))
    for col in ("FEED1", "FEED2", "DATA_DESC_ID", "FIELD_ID", "ARRAY_ID", "OBSERVATION_ID",
                "PROCESSOR_ID", "SCAN_NUMBER", "STATE_ID"):
        ms.putcol(col, np.zeros(nrow, dtype=np.int32))
    ms.putcol("FLAG_ROW", np.zeros(nrow, dtype=bool))
    ms.putcol("WEIGHT", np.ones((nrow, 4), dtype=np.float32))
    ms.putcol("SIGMA", np.ones((nrow, 4), dtype=np.float32))
    flags = np.zeros((nrow, nchan, 4), dtype=bool)
    if flag_mask is not None:
        flags[:] = flag_mask[:, :, None]
    ms.putcol("FLAG", flags)
    ms.putcol("WEIGHT_SPECTRUM", np.ones((nrow, nchan, 4), dtype=np.float32))
    ms.putcol("DATA", np.zeros((nrow, nchan, 4), dtype=np.complex64))
    ms.putcol("UVW", np.zeros((nrow, 3)))

    _fill_antenna(ms, stations)
    _fill_feed(ms, nant, times_mjd_s)
    _fill_spectral_window(ms, band)
    _fill_polarization(ms)
    _fill_data_description(ms)
    _fill_field(ms, phase_centre_deg, times_mjd_s[0])
    _fill_observation(ms, times_mjd_s, dt_s)
    _fill_antenna_field(ms, path, stations)
    ms.flush()
    ms.close()

    _compute_uvw(path)


def _fill_antenna(ms, stations: list[AntennaField]) -> None:
    from casacore import tables as pt

    ant = pt.table(ms.getkeyword("ANTENNA"), readonly=False, ack=False)
    ant.addcols(pt.makescacoldesc("LOFAR_STATION_ID", 0))
    ant.addcols(pt.makearrcoldesc("LOFAR_PHASE_REFERENCE", 0.0, shape=[3]))
    n = len(stations)
    ant.addrows(n)
    ant.putcol("NAME", [s.name for s in stations])
    ant.putcol("STATION", ["LOFAR"] * n)
    ant.putcol("TYPE", ["GROUND-BASED"] * n)
    ant.putcol("MOUNT", ["X-Y"] * n)
    positions = np.array([s.position for s in stations])
    ant.putcol("POSITION", positions)
    ant.putcol("OFFSET", np.zeros((n, 3)))
    ant.putcol("DISH_DIAMETER", np.array([s.diameter_m for s in stations]))
    ant.putcol("FLAG_ROW", np.zeros(n, dtype=bool))
    station_ids = {name: i for i, name in enumerate(dict.fromkeys(s.station for s in stations))}
    ant.putcol("LOFAR_STATION_ID", np.array([station_ids[s.station] for s in stations], dtype=np.int32))
    ant.putcol("LOFAR_PHASE_REFERENCE", positions)
    _column_units(ant, "LOFAR_PHASE_REFERENCE", ["m", "m", "m"], _POS_MEASINFO)
    ant.close()


def _fill_feed(ms, nant: int, times: np.ndarray) -> None:
    from casacore import tables as pt

    feed = pt.table(ms.getkeyword("FEED"), readonly=False, ack=False)
    feed.addrows(nant)
    feed.putcol("ANTENNA_ID", np.arange(nant, dtype=np.int32))
    feed.putcol("FEED_ID", np.zeros(nant, dtype=np.int32))
    feed.putcol("SPECTRAL_WINDOW_ID", np.full(nant, -1, dtype=np.int32))
    feed.putcol("TIME", np.full(nant, times.mean()))
    feed.putcol("INTERVAL", np.full(nant, 1e30))
    feed.putcol("NUM_RECEPTORS", np.full(nant, 2, dtype=np.int32))
    feed.putcol("BEAM_ID", np.full(nant, -1, dtype=np.int32))
    feed.putcol("BEAM_OFFSET", np.zeros((nant, 2, 2)))
    feed.putcol("POLARIZATION_TYPE", np.array([["X", "Y"]] * nant))
    feed.putcol("POL_RESPONSE", np.tile(np.eye(2, dtype=np.complex64), (nant, 1, 1)))
    feed.putcol("POSITION", np.zeros((nant, 3)))
    feed.putcol("RECEPTOR_ANGLE", np.tile([-np.pi / 4, np.pi / 4], (nant, 1)))
    feed.close()


def _fill_spectral_window(ms, band: Band) -> None:
    from casacore import tables as pt

    spw = pt.table(ms.getkeyword("SPECTRAL_WINDOW"), readonly=False, ack=False)
    spw.addrows(1)
    nchan = band.nchan
    widths = np.full((1, nchan), band.chan_width_hz)
    spw.putcell("NUM_CHAN", 0, nchan)
    spw.putcell("NAME", 0, f"SB-band{band.index}")
    spw.putcol("CHAN_FREQ", band.chan_freqs_hz[None, :])
    spw.putcol("CHAN_WIDTH", widths)
    spw.putcol("EFFECTIVE_BW", widths)
    spw.putcol("RESOLUTION", widths)
    spw.putcell("REF_FREQUENCY", 0, band.ref_freq_hz)
    spw.putcell("TOTAL_BANDWIDTH", 0, band.chan_width_hz * nchan)
    spw.putcell("MEAS_FREQ_REF", 0, 5)  # TOPO
    spw.putcell("NET_SIDEBAND", 0, 1)
    spw.putcell("FREQ_GROUP", 0, 0)
    spw.putcell("FREQ_GROUP_NAME", 0, "")
    spw.putcell("IF_CONV_CHAIN", 0, 0)
    spw.putcell("FLAG_ROW", 0, False)
    spw.close()


def _fill_polarization(ms) -> None:
    from casacore import tables as pt

    pol = pt.table(ms.getkeyword("POLARIZATION"), readonly=False, ack=False)
    pol.addrows(1)
    pol.putcell("NUM_CORR", 0, 4)
    pol.putcol("CORR_TYPE", np.array([[9, 10, 11, 12]], dtype=np.int32))  # XX XY YX YY
    pol.putcol("CORR_PRODUCT", np.array([[[0, 0, 1, 1], [0, 1, 0, 1]]], dtype=np.int32))
    pol.putcell("FLAG_ROW", 0, False)
    pol.close()


def _fill_data_description(ms) -> None:
    from casacore import tables as pt

    dd = pt.table(ms.getkeyword("DATA_DESCRIPTION"), readonly=False, ack=False)
    dd.addrows(1)
    dd.putcell("SPECTRAL_WINDOW_ID", 0, 0)
    dd.putcell("POLARIZATION_ID", 0, 0)
    dd.putcell("FLAG_ROW", 0, False)
    dd.close()


def _fill_field(ms, centre_deg: tuple[float, float], time0: float) -> None:
    from casacore import tables as pt

    field = pt.table(ms.getkeyword("FIELD"), readonly=False, ack=False)
    field.addcols(pt.makearrcoldesc("LOFAR_TILE_BEAM_DIR", 0.0, ndim=2))
    field.addrows(1)
    direction = np.radians(np.array([[list(centre_deg)]]))  # (1, 1, 2)
    for col in ("DELAY_DIR", "PHASE_DIR", "REFERENCE_DIR", "LOFAR_TILE_BEAM_DIR"):
        field.putcol(col, direction)
        _column_units(field, col, ["rad", "rad"], _DIR_MEASINFO)
    field.putcell("NAME", 0, "SIM_FIELD")
    field.putcell("CODE", 0, "")
    field.putcell("TIME", 0, time0)
    field.putcell("NUM_POLY", 0, 0)
    field.putcell("SOURCE_ID", 0, -1)
    field.putcell("FLAG_ROW", 0, False)
    field.close()


def _fill_observation(ms, times: np.ndarray, dt: float) -> None:
    from casacore import tables as pt

    obs = pt.table(ms.getkeyword("OBSERVATION"), readonly=False, ack=False)
    obs.addcols(pt.makescacoldesc("LOFAR_ANTENNA_SET", ""))
    obs.addrows(1)
    obs.putcell("TELESCOPE_NAME", 0, "LOFAR")
    obs.putcell("OBSERVER", 0, "factor-simulate")
    obs.putcell("PROJECT", 0, "SIMULATION")
    obs.putcell("SCHEDULE_TYPE", 0, "LOFAR")
    obs.putcell("RELEASE_DATE", 0, 0.0)
    obs.putcell("FLAG_ROW", 0, False)
    obs.putcell("LOFAR_ANTENNA_SET", 0, "HBA_DUAL_INNER")
    obs.putcol("TIME_RANGE", np.array([[times[0] - dt / 2, times[-1] + dt / 2]]))
    obs.close()


def _fill_antenna_field(ms, path: Path, stations: list[AntennaField]) -> None:
    from casacore import tables as pt

    desc = pt.maketabdesc(
        [
            pt.makescacoldesc("ANTENNA_ID", 0),
            pt.makescacoldesc("NAME", ""),
            pt.makearrcoldesc("POSITION", 0.0, shape=[3]),
            pt.makearrcoldesc("COORDINATE_AXES", 0.0, shape=[3, 3]),
            pt.makearrcoldesc("TILE_ELEMENT_OFFSET", 0.0, shape=[16, 3]),
            pt.makearrcoldesc("ELEMENT_OFFSET", 0.0, ndim=2),
            pt.makearrcoldesc("ELEMENT_RCU", 0, ndim=2),
            pt.makearrcoldesc("ELEMENT_FLAG", False, ndim=2),
            pt.makescacoldesc("TILE_ROTATION", 0.0),
        ]
    )
    subpath = str(path / "LOFAR_ANTENNA_FIELD")
    af = pt.table(subpath, desc, nrow=len(stations), ack=False)
    for i, st in enumerate(stations):
        ntile = len(st.tile_offsets)
        af.putcell("ANTENNA_ID", i, i)
        af.putcell("NAME", i, st.field)
        af.putcell("POSITION", i, st.position)
        af.putcell("COORDINATE_AXES", i, st.pqr_to_etrs.T)
        af.putcell("TILE_ELEMENT_OFFSET", i, st.tile_element_offsets)
        af.putcell("ELEMENT_OFFSET", i, st.tile_offsets)
        af.putcell("ELEMENT_RCU", i, np.tile(np.arange(ntile, dtype=np.int32)[:, None] * 2, (1, 2)) + [0, 1])
        af.putcell("ELEMENT_FLAG", i, np.repeat(st.tile_flags[:, None], 2, axis=1))
        af.putcell("TILE_ROTATION", i, st.tile_rotation)
    _column_units(af, "POSITION", ["m", "m", "m"], _POS_MEASINFO)
    _column_units(af, "COORDINATE_AXES", ["m", "m", "m"])
    _column_units(af, "TILE_ELEMENT_OFFSET", ["m", "m", "m"])
    _column_units(af, "ELEMENT_OFFSET", ["m", "m", "m"])
    _column_units(af, "TILE_ROTATION", ["rad"])
    af.flush()
    ms.putkeyword("LOFAR_ANTENNA_FIELD", "Table: " + subpath)
    af.close()


def _compute_uvw(path: Path) -> None:
    """UVW from casacore's derived MS columns (exact J2000 UVW for each baseline and time)."""
    from casacore import tables as pt

    pt.addDerivedMSCal(str(path))
    ms = pt.table(str(path), readonly=False, ack=False)
    uvw = ms.getcol("UVW_J2000")
    ms.close()
    pt.removeDerivedMSCal(str(path))
    ms = pt.table(str(path), readonly=False, ack=False)
    ms.putcol("UVW", uvw)
    _column_units(ms, "UVW", ["m", "m", "m"], {"type": "uvw", "Ref": "J2000"})
    ms.close()
