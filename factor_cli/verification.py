"""Did the improved model subtract well?  Factor's verification (factor.md §5.8).

Before facetsub replaces a direction's old model by the improved one in the residual data,
the replacement is tried on the middle band: the residual before ("pre") and after ("post")
are imaged at low resolution over a wide field (30" cells, 2048 pixels, baselines < 2500 m,
10 clean iterations).  If the new model or its solutions are wrong, subtracting them leaves a
bright residual (or adds artefacts).  The selfcal fails when the brightest residual pixel
after replacement exceeds ``max_peak_jy`` (0.75 Jy/beam) or has grown more than
``max_ratio`` (4) times.  The images are kept (``verify_pre.fits``, ``verify_post.fits``).

A peel is verified near its source (``local``: within ``LOCAL_RADIUS_DEG``), against
``max_peak_jy`` or, if higher, ``NOISE_FLOOR_SIGMA`` times the post image's robust rms: the
peel runs before any facet is calibrated, when the field's other bright residuals (a 3C source
inside the field, before its own calibration) set a noise floor far above 0.75 Jy/beam that no
subtraction of this source can reach; a field-wide peak would measure them, not the peel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from .engines import run_dp3, run_wsclean
from .imaging import image_rms

MAX_UV_M = 2500.0
LOCAL_RADIUS_DEG = 0.25
NOISE_FLOOR_SIGMA = 5.0
IMAGE_SIZE = 2048
CELL_ARCSEC = 30.0


@dataclass(frozen=True)
class Verification:
    peak_pre_jy: float
    peak_post_jy: float
    max_peak_jy: float
    max_ratio: float
    region: str = "image"

    @property
    def ok(self) -> bool:
        return self.peak_post_jy <= self.max_peak_jy and self.peak_post_jy <= self.max_ratio * self.peak_pre_jy

    def as_dict(self) -> dict:
        return {"peak_pre_jy": self.peak_pre_jy, "peak_post_jy": self.peak_post_jy, "max_peak_jy": self.max_peak_jy,
                "max_ratio": self.max_ratio, "region": self.region, "ok": self.ok}


def averaged(ms_in: str, ms_out: str, steps: list[str], args: dict, freqstep: int, timestep: int,
             log: Path | None, threads: int) -> None:
    """``ms_in`` through ``steps`` (e.g. the model replacement), baselines longer than 2500 m
    flagged, averaged to about 2 MHz and 120 s, into ``ms_out``."""
    run_dp3({"msin": ms_in, "msin.datacolumn": "DATA", "msout": ms_out, "msout.overwrite": True,
             "msout.datacolumn": "DATA", **args,
             "uvflag.type": "uvwflagger", "uvflag.uvmmax": MAX_UV_M,
             "avg.type": "averager", "avg.freqstep": freqstep, "avg.timestep": timestep,
             "steps": [*steps, "uvflag", "avg"]}, log=log, threads=threads)


def peak(image: str, centre_deg: tuple[float, float] | None = None, radius_deg: float = LOCAL_RADIUS_DEG) -> float:
    """Brightest |pixel|, in the whole image or within ``radius_deg`` of ``centre_deg``."""
    data = np.squeeze(fits.getdata(image))
    if centre_deg is not None:
        from astropy.coordinates import angular_separation
        from astropy.wcs import WCS

        wcs = WCS(fits.getheader(image)).celestial
        yy, xx = np.mgrid[0 : data.shape[0], 0 : data.shape[1]]
        ra, dec = wcs.wcs_pix2world(xx, yy, 0)
        sep = np.degrees(angular_separation(*np.radians([centre_deg[0], centre_deg[1]]), np.radians(ra), np.radians(dec)))
        data = np.where(sep <= radius_deg, data, np.nan)
    return float(np.nanmax(np.abs(data)))


def image(ms: list[str], name: str, min_uv_lambda: float, log: Path | None, threads: int,
          abs_mem_gb: float | None = None) -> str:
    """The low-resolution check image; ``abs_mem_gb``: WSClean's share of the job's memory."""
    mem = ["-abs-mem", f"{abs_mem_gb:.2f}"] if abs_mem_gb else []
    run_wsclean(["-name", name, "-size", str(IMAGE_SIZE), str(IMAGE_SIZE), "-scale", f"{CELL_ARCSEC}asec",
                 "-niter", "10", "-threshold", "0", "-weight", "briggs", "-0.5", "-mgain", "0.8", "-gain", "0.1",
                 "-minuv-l", str(min_uv_lambda), "-maxuv-l", str(MAX_UV_M), "-no-update-model-required",
                 "-no-dirty", *mem, *ms], log=log, threads=threads)
    return f"{name}-image.fits"


def verify(pre_image: str, post_image: str, max_peak_jy: float, max_ratio: float,
           local: tuple[float, float] | None = None) -> Verification:
    """Factor's test on the whole images, or (``local``: a peeled source's position) near it."""
    if local is None:
        return Verification(peak(pre_image), peak(post_image), max_peak_jy, max_ratio)
    threshold = max(max_peak_jy, NOISE_FLOOR_SIGMA * image_rms(post_image))
    return Verification(peak(pre_image, local), peak(post_image, local), threshold, max_ratio,
                        region=f"within {LOCAL_RADIUS_DEG:g} deg of the source")
