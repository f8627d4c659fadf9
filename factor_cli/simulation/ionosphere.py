"""Direction-dependent errors: a frozen-flow ionospheric TEC screen plus slow station gains.

The screen is a sum of plane waves with scales of 8–80 km and a Kolmogorov-like amplitude
spectrum (amplitude ∝ scale^(5/6)), blown over the array at ~50 m/s; it is sampled at each
station's pierce point towards each direction at 300 km height, with the slant factor
1/cos(zenith).  Its strength is set by the rms TEC difference of two points 10 km apart.
Realistic scales and speeds matter: a fast 4-km screen is not calibratable by any pipeline
(feasibility.md §10), which would test nothing.

Phases are −8.4479745e9·dTEC/ν (rad, dTEC in TECU), referenced to the first station, as DP3
writes TEC solutions.  Amplitudes are a constant per station and direction times a slow
sinusoid (periods of 1–3 h), normalised to a geometric mean of 1 per direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEC_TO_PHASE = -8.4479745e9  # rad·Hz per TECU


@dataclass(frozen=True)
class IonosphereParameters:
    height_m: float = 300e3
    speed_m_s: float = 50.0
    scale_range_m: tuple[float, float] = (8e3, 80e3)
    nwaves: int = 40
    dtec_rms_at_10km: float = 0.015   # TECU
    amp_scatter: float = 0.08         # rms of the constant amplitude error
    amp_variation: float = 0.05       # fractional amplitude of the slow sinusoid
    amp_period_range_s: tuple[float, float] = (3600.0, 10800.0)
    # Directions of sources to be peeled (``strong``): far from the pointing centre the station
    # beam's errors and the ionosphere decorrelate from the field's, so on top of the screen
    # they get a station-independent TEC wander and larger amplitude errors.
    strong_dtec_rms: float = 0.05     # TECU, per station, periods strong_period_range_s
    strong_period_range_s: tuple[float, float] = (600.0, 3600.0)
    strong_amp_scatter: float = 0.2


@dataclass
class Corruptions:
    tec: np.ndarray        # (time, ant, dir), TECU, referenced to antenna 0
    phase: np.ndarray      # (time, freq, ant, dir), rad
    amplitude: np.ndarray  # (time, freq, ant, dir)


def enu_matrix(lat_rad: float, lon_rad: float) -> np.ndarray:
    """Rows: unit vectors east, north, up in ITRF at (lat, lon)."""
    sl, cl, so, co = np.sin(lat_rad), np.cos(lat_rad), np.sin(lon_rad), np.cos(lon_rad)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


def direction_enu(hour_angle_rad: np.ndarray, dec_rad: float, lat_rad: float) -> np.ndarray:
    """(…, 3) unit vectors (east, north, up) towards a source at the given hour angles."""
    east = -np.cos(dec_rad) * np.sin(hour_angle_rad)
    north = np.sin(dec_rad) * np.cos(lat_rad) - np.cos(dec_rad) * np.cos(hour_angle_rad) * np.sin(lat_rad)
    up = np.sin(dec_rad) * np.sin(lat_rad) + np.cos(dec_rad) * np.cos(hour_angle_rad) * np.cos(lat_rad)
    return np.stack([east, north, up], axis=-1)


class TECScreen:
    """Frozen-flow sum of plane waves; ``tec(x, y, t)`` in TECU with x, y in metres (east, north)."""

    def __init__(self, rng: np.random.Generator, p: IonosphereParameters):
        n = p.nwaves
        scales = np.exp(rng.uniform(np.log(p.scale_range_m[0]), np.log(p.scale_range_m[1]), n))
        angles = rng.uniform(0, 2 * np.pi, n)
        self.k = (2 * np.pi / scales)[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        self.phi = rng.uniform(0, 2 * np.pi, n)
        self.amp = scales ** (5.0 / 6.0)
        flow = rng.uniform(0, 2 * np.pi)
        self.velocity = p.speed_m_s * np.array([np.cos(flow), np.sin(flow)])
        # Normalise: rms difference of points 10 km apart.
        x = rng.uniform(-50e3, 50e3, (4000, 2))
        ang = rng.uniform(0, 2 * np.pi, 4000)
        y = x + 10e3 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        diff = self._raw(x[:, 0], x[:, 1], 0.0) - self._raw(y[:, 0], y[:, 1], 0.0)
        self.amp *= p.dtec_rms_at_10km / np.sqrt(np.mean(diff**2))

    def _raw(self, x, y, t):
        x = np.asarray(x, float) - self.velocity[0] * np.asarray(t, float)
        y = np.asarray(y, float) - self.velocity[1] * np.asarray(t, float)
        arg = self.k[:, 0] * x[..., None] + self.k[:, 1] * y[..., None] + self.phi
        return np.sum(self.amp * np.sin(arg), axis=-1)

    def tec(self, x, y, t):
        return self._raw(x, y, t)


def make_corruptions(
    rng: np.random.Generator,
    p: IonosphereParameters,
    station_itrf: np.ndarray,
    reference_itrf: np.ndarray,
    lat_rad: float,
    lon_rad: float,
    dir_radec_deg: np.ndarray,
    lst_deg: np.ndarray,
    times_s: np.ndarray,
    freqs_hz: np.ndarray,
    strong: np.ndarray | None = None,
) -> Corruptions:
    """TEC, phases and amplitudes for every (time, freq, station, direction); ``strong`` marks
    directions with the stronger errors of sources to be peeled."""
    screen = TECScreen(rng, p)
    enu = (station_itrf - reference_itrf) @ enu_matrix(lat_rad, lon_rad).T  # (ant, 3)
    ndir = len(dir_radec_deg)
    ntime, nant = len(times_s), len(station_itrf)
    t_rel = times_s - times_s[0]
    tec = np.empty((ntime, nant, ndir))
    for d, (ra, dec) in enumerate(dir_radec_deg):
        ha = np.radians(lst_deg - ra)
        s = direction_enu(ha, np.radians(dec), lat_rad)  # (time, 3)
        slant = 1.0 / s[:, 2]
        ppx = enu[None, :, 0] + p.height_m * (s[:, 0] / s[:, 2])[:, None]
        ppy = enu[None, :, 1] + p.height_m * (s[:, 1] / s[:, 2])[:, None]
        tec[:, :, d] = screen.tec(ppx, ppy, t_rel[:, None]) * slant[:, None]
    strong = np.zeros(ndir, dtype=bool) if strong is None else np.asarray(strong, dtype=bool)

    scatter = np.where(strong, p.strong_amp_scatter, p.amp_scatter)
    base = 1.0 + scatter[None, :] * rng.standard_normal((nant, ndir))
    base = np.clip(base, 1.0 - 3.75 * scatter, 1.0 + 3.75 * scatter)
    period = rng.uniform(*p.amp_period_range_s, (nant, ndir))
    offset = rng.uniform(0, 2 * np.pi, (nant, ndir))
    slow = 1.0 + p.amp_variation * np.sin(2 * np.pi * t_rel[:, None, None] / period + offset)
    amp_t = base[None] * slow  # (time, ant, dir)
    # A DD amplitude error is relative: per direction, the geometric mean over stations and time
    # is 1.  Otherwise each direction's flux scale would be off by a factor that no calibration
    # can recover (it is degenerate with the source fluxes).
    amp_t /= np.exp(np.mean(np.log(amp_t), axis=(0, 1), keepdims=True))
    # Drawn last, so presets without strong directions keep their random stream.
    for d in np.flatnonzero(strong):
        periods = rng.uniform(*p.strong_period_range_s, (3, nant))
        phases = rng.uniform(0, 2 * np.pi, (3, nant))
        wander = np.sin(2 * np.pi * t_rel[None, :, None] / periods[:, None, :] + phases[:, None, :]).sum(axis=0)
        tec[:, :, d] += p.strong_dtec_rms * wander / np.sqrt(1.5)  # three unit sinusoids: rms sqrt(1.5)
    tec -= tec[:, :1, :]
    phase = TEC_TO_PHASE * tec[:, None, :, :] / freqs_hz[None, :, None, None]
    amplitude = np.broadcast_to(amp_t[:, None, :, :], phase.shape).copy()
    return Corruptions(tec=tec, phase=phase, amplitude=amplitude)
