"""LOFAR HBA stations for a simulated observation, from the real array geometry (lofarantpos).

Core stations are split into their two HBA ears (HBA0/HBA1, antenna set HBA_DUAL_INNER) as in
LINC output; remote stations are taken nearest first and use their inner 24 tiles (the outer
24 are flagged in LOFAR_ANTENNA_FIELD), which is what HBA_DUAL_INNER means.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Core stations in the order LINC lists them; remote stations nearest to the core first.
CORE_STATIONS = [
    "CS001", "CS002", "CS003", "CS004", "CS005", "CS006", "CS007", "CS011", "CS013", "CS017",
    "CS021", "CS024", "CS026", "CS028", "CS030", "CS031", "CS032", "CS101", "CS103", "CS201",
    "CS301", "CS302", "CS401", "CS501",
]
REMOTE_BY_DISTANCE = [
    "RS503", "RS305", "RS205", "RS306", "RS106", "RS406", "RS307", "RS407", "RS208", "RS508",
    "RS210", "RS509", "RS310", "RS409",
]

# Station diameters as LOFAR writes DISH_DIAMETER (used for the FWHM of the station beam).
HBA_EAR_DIAMETER_M = 30.75
HBA_INNER_DIAMETER_M = 30.75


@dataclass(frozen=True)
class AntennaField:
    """One station as it appears in ANTENNA and LOFAR_ANTENNA_FIELD."""

    name: str            # e.g. CS002HBA0, RS503HBA
    station: str         # e.g. CS002
    field: str           # HBA0, HBA1 or HBA
    position: np.ndarray  # ITRF/ETRS phase centre, m
    pqr_to_etrs: np.ndarray  # 3x3
    tile_offsets: np.ndarray  # (ntile, 3) ETRS offsets of the tiles from the phase centre
    tile_element_offsets: np.ndarray  # (16, 3) ETRS offsets of the dipoles within a tile
    tile_flags: np.ndarray  # (ntile,) True where the tile is not used
    tile_rotation: float
    diameter_m: float


@lru_cache(maxsize=1)
def _database():
    from lofarantpos.db import LofarAntennaDatabase

    return LofarAntennaDatabase()


def select_stations(ncore: int, nremote: int) -> list[AntennaField]:
    """The first ``ncore`` core stations (two ears each) and the ``nremote`` nearest remotes."""
    if not 1 <= ncore <= len(CORE_STATIONS):
        raise ValueError(f"ncore must be 1..{len(CORE_STATIONS)}")
    if not 0 <= nremote <= len(REMOTE_BY_DISTANCE):
        raise ValueError(f"nremote must be 0..{len(REMOTE_BY_DISTANCE)}")
    fields = []
    for station in CORE_STATIONS[:ncore]:
        for ear in ("HBA0", "HBA1"):
            fields.append(_antenna_field(station, ear))
    for station in REMOTE_BY_DISTANCE[:nremote]:
        fields.append(_antenna_field(station, "HBA"))
    return fields


def _antenna_field(station: str, field: str) -> AntennaField:
    db = _database()
    name = station + field
    centre = np.asarray(db.phase_centres[name], dtype=float)
    tiles = np.asarray(db.antenna_etrs(name), dtype=float)
    dipoles = np.asarray(db.hba_dipole_etrs(name), dtype=float)
    flags = np.zeros(len(tiles), dtype=bool)
    if field == "HBA" and len(tiles) == 48:
        # HBA_DUAL_INNER: remote stations use their 24 tiles nearest to the centre.
        order = np.argsort(np.linalg.norm(tiles - centre, axis=1))
        flags[order[24:]] = True
    rotation = db.hba_rotations.get(name, db.hba_rotations.get(station + "HBA0", 0.0))
    return AntennaField(
        name=name,
        station=station,
        field=field,
        position=centre,
        pqr_to_etrs=np.asarray(db.pqr_to_etrs[name], dtype=float),
        tile_offsets=tiles - centre,
        tile_element_offsets=dipoles[:16] - tiles[0],
        tile_flags=flags,
        tile_rotation=float(rotation),
        diameter_m=HBA_EAR_DIAMETER_M if field != "HBA" else HBA_INNER_DIAMETER_M,
    )
