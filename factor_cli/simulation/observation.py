"""When and at what frequencies a simulated observation is made.

The observation is centred on the transit of the phase centre over the LOFAR core, so the
field is high in the sky (as a scheduled HBA observation would be) and the mean elevation that
Factor uses for the FWHM and the facet-ellipse stretch is well defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, Longitude
from astropy.time import Time
from astropy.utils import iers

# No network: use the IERS data shipped with astropy; the sidereal time needs no more precision.
iers.conf.auto_download = False

LOFAR_CORE_ITRF_M = (3826577.066, 461022.948, 5064892.786)  # CS002 area, reference position
MJD_SECONDS = 86400.0


@dataclass(frozen=True)
class Band:
    """One LINC-style frequency band (one MS)."""

    index: int
    chan_freqs_hz: np.ndarray
    chan_width_hz: float

    @property
    def ref_freq_hz(self) -> float:
        return float(np.mean(self.chan_freqs_hz))

    @property
    def nchan(self) -> int:
        return len(self.chan_freqs_hz)


def make_bands(start_hz: float, band_width_hz: float, nchan: int, band_indices: list[int]) -> list[Band]:
    """Bands on a regular grid; a missing index leaves a gap between bands, as real data can have."""
    width = band_width_hz / nchan
    bands = []
    for k in band_indices:
        lo = start_hz + k * band_width_hz
        bands.append(Band(index=k, chan_freqs_hz=lo + width * (np.arange(nchan) + 0.5), chan_width_hz=width))
    return bands


def transit_centred_times(ra_deg: float, date: str, ntimes: int, dt_s: float) -> np.ndarray:
    """Centres of ``ntimes`` integrations (MJD seconds, UTC), centred on the transit of ``ra_deg``."""
    location = EarthLocation.from_geocentric(*LOFAR_CORE_ITRF_M, unit=u.m)
    midnight = Time(date + "T00:00:00", scale="utc")
    lst0 = midnight.sidereal_time("mean", longitude=location.lon).deg
    hour_angle_deg = (lst0 - ra_deg) % 360.0
    # Sidereal rate: 360 deg per 86164.0905 s.
    wait_s = ((360.0 - hour_angle_deg) % 360.0) * 86164.0905 / 360.0
    transit_mjd_s = midnight.mjd * MJD_SECONDS + wait_s
    offsets = (np.arange(ntimes) - (ntimes - 1) / 2.0) * dt_s
    return transit_mjd_s + offsets


def local_sidereal_time_deg(times_mjd_s: np.ndarray) -> np.ndarray:
    location = EarthLocation.from_geocentric(*LOFAR_CORE_ITRF_M, unit=u.m)
    t = Time(np.asarray(times_mjd_s) / MJD_SECONDS, format="mjd", scale="utc")
    return t.sidereal_time("mean", longitude=location.lon).deg


def hour_angle_deg(times_mjd_s: np.ndarray, ra_deg: float) -> np.ndarray:
    lst = local_sidereal_time_deg(times_mjd_s)
    return Longitude((lst - ra_deg) * u.deg, wrap_angle=180 * u.deg).deg


def core_location() -> tuple[float, float]:
    """Geodetic latitude and longitude of the LOFAR core (radians)."""
    location = EarthLocation.from_geocentric(*LOFAR_CORE_ITRF_M, unit=u.m)
    return float(location.lat.rad), float(location.lon.rad)


def elevation_deg(times_mjd_s: np.ndarray, ra_deg: float, dec_deg: float) -> np.ndarray:
    """Elevation of (ra, dec) over the LOFAR core (geodetic latitude), ignoring refraction."""
    location = EarthLocation.from_geocentric(*LOFAR_CORE_ITRF_M, unit=u.m)
    lat = np.radians(location.lat.deg)
    ha = np.radians(hour_angle_deg(times_mjd_s, ra_deg))
    dec = np.radians(dec_deg)
    sin_el = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(ha)
    return np.degrees(np.arcsin(sin_el))
