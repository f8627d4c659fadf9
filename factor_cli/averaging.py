"""Factor's averaging and solution-interval formulas (factor.md §5.1).

Averaging is chosen so that time and bandwidth smearing at the edge of the region of
interest (radius δθ, resolution θ ≈ 3 pixels) keep the peak above a target fraction.
"""

from __future__ import annotations

import math

from scipy.special import erf


def time_smearing_width_s(peak_reduction: float, delta_theta_deg: float, resolution_deg: float) -> float:
    """Averaging time that reduces the peak at δθ to ``1 - peak_reduction`` (Factor's approximation)."""
    return math.sqrt(peak_reduction / (1.22e-9 * (delta_theta_deg / resolution_deg) ** 2))


def bandwidth_peak(delta_nu_hz: float, freq_hz: float, delta_theta_deg: float, resolution_deg: float) -> float:
    """Peak reduction by bandwidth smearing for a Gaussian beam (Bridle & Schwab 1999, eq. 18-24)."""
    beta = (delta_nu_hz / freq_hz) * (delta_theta_deg / resolution_deg)
    if beta == 0:
        return 1.0
    gamma = 2.0 * math.sqrt(math.log(2.0))
    return erf(beta * gamma / 2.0) * math.sqrt(math.pi) / (beta * gamma)


def bandwidth_for_peak(target: float, freq_hz: float, delta_theta_deg: float, resolution_deg: float) -> float:
    lo, hi = 0.0, freq_hz
    for _ in range(80):
        mid = (lo + hi) / 2
        if bandwidth_peak(mid, freq_hz, delta_theta_deg, resolution_deg) > target:
            lo = mid
        else:
            hi = mid
    return lo


def averaging_steps(
    peak_factor: float, delta_theta_deg: float, cellsize_arcsec: float, freq_hz: float,
    chan_width_hz: float, nchan: int, timestep_s: float, max_time_s: float = 120.0, max_bw_hz: float = 2e6,
) -> tuple[int, int]:
    """(timestep, freqstep) in samples; ``peak_factor`` is the total allowed peak (e.g. 0.85),
    split evenly between time and bandwidth smearing; freqstep divides ``nchan``."""
    per_axis = math.sqrt(peak_factor)
    resolution = 3.0 * cellsize_arcsec / 3600.0
    width_s = min(max_time_s, time_smearing_width_s(1.0 - per_axis, delta_theta_deg, resolution))
    timestep = max(1, int(round(width_s / timestep_s)))
    bw = min(max_bw_hz, bandwidth_for_peak(per_axis, freq_hz, delta_theta_deg, resolution))
    freqstep = 1
    for step in range(1, nchan + 1):
        if nchan % step == 0 and step * chan_width_hz <= bw:
            freqstep = step
    return timestep, freqstep


def fast_solint_slots(flux_eff_jy: float, nbands: int, timestep_s: float) -> int:
    """Factor's fast (phase) solution interval in time slots of the averaged data."""
    ref = 1.4 * math.sqrt(4.0 / max(1, nbands))
    if flux_eff_jy <= 0:
        width = 16.0
    else:
        width = min(16.0, 16.0 * (ref / flux_eff_jy) ** 2)
    return max(1, int(round(width / timestep_s)))


def slow_solint_slots(flux_eff_jy: float, timestep_s: float, ntimes_chunk: int) -> int:
    """Factor's slow-gain interval: 1200·(1.4/S)² s clipped to [240, 1200] s, moved so that the last
    partial interval of the chunk is at least half an interval."""
    width = 1200.0 if flux_eff_jy <= 0 else min(1200.0, max(240.0, 1200.0 * (1.4 / flux_eff_jy) ** 2))
    slots = max(1, int(round(width / timestep_s)))
    slots = min(slots, max(1, ntimes_chunk))
    for candidate in range(slots, 0, -1):
        remainder = ntimes_chunk % candidate
        if remainder == 0 or remainder >= candidate / 2:
            return candidate
    return slots
