"""Primary-beam attenuation of the simulated sky, from EveryBeam's LOFAR station model.

The simulator multiplies each source by its Stokes-I station power response averaged over the
observation, the stations and each band (evaluated at the band centre), so the visibilities
carry a static, station-independent beam.  That is exactly what a mosaic corrected with the
time- and station-averaged beam inverts, so primary-beam-corrected fluxes can be compared with
the truth without a modelling error of our own making.  The time-variable part of the real
beam is not simulated (the DD gains stand in for it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engines import use_engine_data_in_this_process
from ..skymodel import Component


def band_attenuation(
    ms_path: Path, comps: list[Component], freq_hz: float, times_mjd_s: np.ndarray, ntime_samples: int = 3,
    max_stations: int = 8,
) -> dict[str, float]:
    """Mean Stokes-I power response, per component, for one band.

    An evenly spread subset of ``max_stations`` keeps the cost bounded (EveryBeam takes ~0.5 ms
    per call); the truth records the attenuation actually applied, so data and truth agree
    exactly whatever the subset.
    """
    use_engine_data_in_this_process()
    import everybeam

    telescope = everybeam.load_telescope(str(ms_path))
    stations = np.unique(np.linspace(0, telescope.nr_stations - 1, min(max_stations, telescope.nr_stations)).astype(int))
    sample_times = np.linspace(times_mjd_s[0], times_mjd_s[-1], ntime_samples)
    result = {}
    for c in comps:
        ra, dec = np.radians(c.ra_deg), np.radians(c.dec_deg)
        total = 0.0
        for t in sample_times:
            for s in stations:
                jones = telescope.station_response(float(t), int(s), float(freq_hz), ra, dec)
                total += 0.5 * float(np.sum(np.abs(jones) ** 2))
        result[c.name] = total / (len(sample_times) * len(stations))
    return result
