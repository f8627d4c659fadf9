"""Did the improved model subtract well?  Factor's verification (factor.md §5.8).

Before facetsub replaces a direction's old model by the improved one in the residual data,
the replacement is tried on the middle band: the residual before ("pre") and after ("post")
are imaged at low resolution over a wide field (30" cells, 2048 pixels, baselines < 2500 m,
10 clean iterations).  If the new model or its solutions are wrong, subtracting them leaves a
bright residual (or adds artefacts).  The selfcal fails when the brightest residual pixel
after replacement exceeds ``max_peak_jy`` (0.75 Jy/beam) or has grown more than
``max_ratio`` (4) times.  The images are kept (``verify_pre.fits``, ``verify_post.fits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from .engines import run_dp3, run_wsclean

MAX_UV_M = 2500.0
IMAGE_SIZE = 2048
CELL_ARCSEC = 30.0


@dataclass(frozen=True)
class Verification:
    peak_pre_jy: float
    peak_post_jy: float
    max_peak_jy: float
    max_ratio: float

    @property
    def ok(self) -> bool:
        return self.peak_post_jy <= self.max_peak_jy and self.peak_post_jy <= self.max_ratio * self.peak_pre_jy

    def as_dict(self) -> dict:
        return {"peak_pre_jy": self.peak_pre_jy, "peak_post_jy": self.peak_post_jy, "max_peak_jy": self.max_peak_jy,
                "max_ratio": self.max_ratio, "ok": self.ok}


def averaged(ms_in: str, ms_out: str, steps: list[str], args: dict, freqstep: int, timestep: int,
             log: Path | None, threads: int) -> None:
    """``ms_in`` through ``steps`` (e.g. the model replacement), baselines longer than 2500 m
    flagged, averaged to about 2 MHz and 120 s, into ``ms_out``."""
    run_dp3({"msin": ms_in, "msin.datacolumn": "DATA", "msout": ms_out, "msout.overwrite": True,
             "msout.datacolumn": "DATA", **args,
             "uvflag.type": "uvwflagger", "uvflag.uvmmax": MAX_UV_M,
             "avg.type": "averager", "avg.freqstep": freqstep, "avg.timestep": timestep,
             "steps": [*steps, "uvflag", "avg"]}, log=log, threads=threads)


def peak(image: str) -> float:
    data = np.squeeze(fits.getdata(image))
    return float(np.nanmax(np.abs(data)))


def image(ms: list[str], name: str, min_uv_lambda: float, log: Path | None, threads: int) -> str:
    run_wsclean(["-name", name, "-size", str(IMAGE_SIZE), str(IMAGE_SIZE), "-scale", f"{CELL_ARCSEC}asec",
                 "-niter", "10", "-threshold", "0", "-weight", "briggs", "-0.5", "-mgain", "0.8", "-gain", "0.1",
                 "-minuv-l", str(min_uv_lambda), "-maxuv-l", str(MAX_UV_M), "-no-update-model-required",
                 "-no-dirty", *ms], log=log, threads=threads)
    return f"{name}-image.fits"


def verify(pre_images: str, post_image: str, max_peak_jy: float, max_ratio: float) -> Verification:
    return Verification(peak(pre_images), peak(post_image), max_peak_jy, max_ratio)
