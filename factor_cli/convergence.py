"""When to stop self-calibrating: Factor's image comparison (factor.md §5.8,
compare_image_stats).

Each selfcal image is summarised by its dynamic range (|max| / robust rms) and its min/max
ratio (|min / max|: negative artefacts around a badly calibrated source).  Another loop is
worth it while either improves by more than the factor (1.25 % for the amplitude loop, 5 %
for multires_selfcal's phase loop): the
dynamic range rises, or the negative artefacts shrink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.stats import biweight_scale, sigma_clip

AMPLITUDE_LOOP_FACTOR = 1.0125
PHASE_LOOP_FACTOR = 1.05   # multires_selfcal's phase-only loop


@dataclass(frozen=True)
class ImageStats:
    rms_jy: float
    peak_jy: float
    dynamic_range: float
    minmax: float


def robust_rms(values: np.ndarray) -> float:
    """Tukey biweight scale of the 4-sigma-clipped pixels: the noise without the sources."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    clipped = sigma_clip(values, sigma=4.0, maxiters=10, masked=False)
    if clipped.size < 2:
        return float("nan")
    return float(biweight_scale(clipped))


def image_stats(path: str) -> ImageStats:
    data = np.squeeze(fits.getdata(path)).astype(float)
    finite = data[np.isfinite(data)]
    rms = robust_rms(finite)
    top, bottom = float(np.max(finite)), float(np.min(finite))
    peak = top if abs(top) >= abs(bottom) else bottom
    dr = abs(peak) / rms if rms > 0 else 0.0
    minmax = abs(bottom / top) if top != 0 else float("inf")
    return ImageStats(rms, peak, dr, minmax)


def improved(new: ImageStats, previous: ImageStats, factor: float = AMPLITUDE_LOOP_FACTOR) -> bool:
    """True while the loop should go on (Factor: break when neither improved by ``factor``)."""
    return new.dynamic_range / factor > previous.dynamic_range or new.minmax * factor < previous.minmax
