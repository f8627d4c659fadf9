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
    return timestep, largest_divisor(nchan, lambda step: step * chan_width_hz <= bw)


def largest_divisor(n: int, fits) -> int:
    """The largest step dividing ``n`` for which ``fits(step)`` holds (1 if none): a frequency
    averaging step that leaves no output channel with fewer inputs than the others."""
    return max((step for step in range(1, n + 1) if n % step == 0 and fits(step)), default=1)


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


def tec_blocks(slots_present: list[bool], band_width_hz: float, block_mhz: float) -> list[list[int]]:
    """Band slots (indices into the frequency grid, gaps included) of each TEC block: Factor's
    ``num_cal_blocks = ceil(total bandwidth / TEC_block_MHz)``, one fewer when the last block
    would be less than half full, bands split evenly; blocks holding only gaps are dropped."""
    nslots = len(slots_present)
    block_hz = max(2.0, block_mhz) * 1e6
    total = nslots * band_width_hz
    nblocks = max(1, math.ceil(total / block_hz - 1e-9))
    if nblocks > 1 and total - (nblocks - 1) * block_hz < block_hz / 2:
        nblocks -= 1
    per_block = math.ceil(nslots / nblocks)
    blocks = []
    for i in range(0, nslots, per_block):
        present = [k for k in range(i, min(nslots, i + per_block)) if slots_present[k]]
        if present:  # gaps at a block's ends are trimmed; one inside stays as flagged filler
            blocks.append(list(range(present[0], present[-1] + 1)))
    return blocks


def fast_solve_mode(blocks: list[list[int]], slots_present: list[bool], channels_per_band: int,
                    band_width_hz: float) -> str:
    """TEC+phase when every block has the bandwidth (>= 2 MHz) and channels (>= 3) to separate
    a dispersive delay from a constant phase; otherwise a scalar phase per channel."""
    for block in blocks:
        present = sum(slots_present[k] for k in block)
        if present * channels_per_band < 3 or present * band_width_hz < 2e6:
            return "scalarphase"
    return "tecandphase"


def verify_steps(chan_width_hz: float, nchan: int, timestep_s: float) -> tuple[int, int]:
    """(freqstep, timestep) of the verification data: about 2 MHz per channel and 120 s."""
    freqstep = largest_divisor(nchan, lambda step: step * chan_width_hz <= 2e6 + 1)
    return freqstep, max(1, int(round(120.0 / timestep_s)))


def central_channels(nchan: int, fraction: float, freqstep: int) -> tuple[int, int, int] | None:
    """Factor's ``fractional_bandwidth_selfcal_facet_image``: the central ``fraction`` of a band's
    ``nchan`` channels, as (first channel, number of channels, frequency step), the step the
    largest divisor of that number up to ``freqstep`` (so no output channel averages fewer
    inputs than the others); None for the whole band.  Why only part of the band: the facet
    image made inside selfcal is among a direction's longest engine calls, and its model is used
    for subtraction, where a quarter of the bandwidth (Factor's default) halves the S/N."""
    n = min(nchan, max(1, int(round(fraction * nchan))))
    if n == nchan:
        return None
    return (nchan - n) // 2, n, largest_divisor(n, lambda step: step <= freqstep)
