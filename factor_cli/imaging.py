"""WSClean imaging as the pipeline uses it, and the image geometry it produces.

WSClean 3.1 writes images in SIN projection about the MS phase centre, reference pixel
N/2+1, RA increment −scale; ``image_wcs`` reproduces that so masks can be made before imaging.
CLEAN always has ``-nmiter`` set: WSClean 3.1 can diverge without a cap (feasibility.md §6).
The clean components (``-save-source-list``) become the sky model of the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.stats import mad_std
from astropy.io import fits
from astropy.wcs import WCS

from .engines import run_wsclean
from .skymodel import Component, read_skymodel


@dataclass(frozen=True)
class ImagingSettings:
    size: int
    scale_arcsec: float
    robust: float
    min_uv_lambda: float
    niter: int = 20000
    nmiter: int = 12
    auto_threshold: float = 1.5
    auto_mask: float = 4.0
    mgain: float = 0.8
    channels_out: int = 1
    taper_arcsec: float = 0.0
    multiscale: bool = False
    multiscale_scales: tuple[int, ...] | None = None   # pixels; None = WSClean's own choice
    baseline_averaging_wavelengths: float = 0.0
    idg_mode: str | None = None        # cpu/gpu/hybrid: image with IDG; None: the w-gridder (engines.run_wsclean)
    abs_mem_gb: float | None = None    # WSClean -abs-mem: this job's share of the node (cluster.py)
    temp_dir: str | None = None        # WSClean -temp-dir: the step's work folder (node-local scratch if any)


def wsclean_memory_gb(p: dict) -> float | None:
    """WSClean's memory limit for a step: the job's ``wsclean_mem_mb`` resource (its share of
    the node times ``wsclean_fmem``), not a percentage of the whole node, which every job
    sharing the node would take."""
    mem_mb = p.get("wsclean_mem_mb") or 0
    return mem_mb / 1024.0 if mem_mb > 0 else None


# WSClean pads the image by 1.2 before gridding; a w-gridder holds about two complex-double
# copies of the padded grid.  Used to check that a further gridder fits the job's memory.
GRID_PADDING = 1.2
GRIDDER_BYTES_PER_PIXEL = 32.0


def parallel_gridders(channels_out: int, threads: int, size: int, abs_mem_gb: float | None) -> int:
    """How many output channels WSClean grids at once (``-parallel-gridding``).

    At ``-j 2`` one gridder keeps only ~1.55 of the two cores busy; gridding the output
    channels side by side gives the same images (to 1e-6 of the peak) 11-13 % faster
    (measured: a 3200-px facet image with two channels 55.1 -> 48.8 s, a 512-px selfcal image
    2.5 -> 2.2 s; bench/RESULTS.md).  Each gridder holds its own padded grid, so no more
    run at once than fit in half the job's WSClean memory (half of 8 GB without a limit)."""
    n = max(1, min(channels_out, threads))
    per_gridder_gb = (GRID_PADDING * size) ** 2 * GRIDDER_BYTES_PER_PIXEL / 1024 ** 3
    budget_gb = 0.5 * (abs_mem_gb if abs_mem_gb else 8.0)
    while n > 1 and n * per_gridder_gb > budget_gb:
        n -= 1
    return n


def optimum_size(n: float, minimum: int = 128) -> int:
    """Smallest even size >= n whose prime factors are all <= 7 (fast FFTs), at least ``minimum``."""
    size = max(minimum, int(np.ceil(n)))
    size += size % 2
    while True:
        m = size
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 2


def cal_image_size(min_size: int, cal_size_deg: float, cell_arcsec: float) -> int:
    """Selfcal image width in pixels: the calibrator region fills the inner 60 % (Factor)."""
    return optimum_size(max(min_size, cal_size_deg * 3600.0 / cell_arcsec / 0.6))


def baseline_averaging_wavelengths(cell_arcsec: float, timestep_s: float) -> float:
    """WSClean ``-baseline-averaging`` size in wavelengths (Factor, factor.md §5.1): the
    longest baseline the cell resolves, 1/(3 cell), times the Earth's rotation over one
    integration, over 4, so short baselines are averaged without smearing the image."""
    cell_rad = np.deg2rad(cell_arcsec / 3600.0)
    return float(int(1.0 / (3.0 * cell_rad) * 2.0 * np.pi * timestep_s / 86400.0 / 4.0))


def image_wcs(centre_deg: tuple[float, float], size: int, scale_arcsec: float) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [centre_deg[0], centre_deg[1]]
    w.wcs.crpix = [size / 2 + 1, size / 2 + 1]
    w.wcs.cdelt = [-scale_arcsec / 3600.0, scale_arcsec / 3600.0]
    return w


def write_mask(path: Path, mask: np.ndarray, wcs: WCS) -> None:
    header = wcs.to_header()
    fits.PrimaryHDU(mask.astype(np.float32)[None, None], header=header).writeto(path, overwrite=True)


def wsclean(
    ms_list: list[str],
    name: str,
    settings: ImagingSettings,
    data_column: str = "DATA",
    fits_mask: str | None = None,
    log: Path | None = None,
    threads: int = 1,
    update_model: bool = True,
) -> dict[str, str]:
    """Clean ``ms_list`` into ``name``; returns the paths of the products."""
    s = settings
    args = [
        "-name", name, "-size", str(s.size), str(s.size), "-scale", f"{s.scale_arcsec}asec",
        "-weight", "briggs", str(s.robust), "-minuv-l", str(s.min_uv_lambda),
        "-niter", str(s.niter), "-nmiter", str(s.nmiter), "-mgain", str(s.mgain),
        "-auto-threshold", str(s.auto_threshold), "-data-column", data_column,
        "-save-source-list", "-no-dirty",
    ]
    if s.size > 2048:
        args += ["-parallel-deconvolution", "1024"]
    if s.auto_mask > 0:
        args += ["-auto-mask", str(s.auto_mask), "-local-rms"]
    if fits_mask:
        args += ["-fits-mask", fits_mask]
    if s.channels_out > 1:
        args += ["-channels-out", str(s.channels_out), "-join-channels", "-fit-spectral-pol", str(min(3, s.channels_out))]
        gridders = parallel_gridders(s.channels_out, threads, s.size, s.abs_mem_gb)
        if gridders > 1 and not s.idg_mode:
            args += ["-parallel-gridding", str(gridders)]
    if s.taper_arcsec > 0:
        args += ["-taper-gaussian", f"{s.taper_arcsec}asec"]
    if s.multiscale:
        args += ["-multiscale", "-multiscale-shape", "gaussian"]
        if s.multiscale_scales:
            args += ["-multiscale-scales", ",".join(str(v) for v in s.multiscale_scales)]
    if s.idg_mode:
        args += ["-use-idg", "-idg-mode", s.idg_mode]
    if s.baseline_averaging_wavelengths > 0 and not update_model:
        # WSClean 3.1 cannot write MODEL_DATA with baseline-dependent averaging, so images
        # whose model feeds a solve are made without it.
        args += ["-baseline-averaging", str(s.baseline_averaging_wavelengths)]
    if s.abs_mem_gb:
        args += ["-abs-mem", f"{s.abs_mem_gb:.2f}"]
    if s.temp_dir:
        args += ["-temp-dir", s.temp_dir]
    if not update_model:
        args += ["-no-update-model-required"]
    run_wsclean(args + list(ms_list), log=log, threads=threads)
    prefix = f"{name}-MFS" if s.channels_out > 1 else name
    return {
        "image": f"{prefix}-image.fits",
        "residual": f"{prefix}-residual.fits",
        "model": f"{prefix}-model.fits",
        "sources": f"{name}-sources.txt",
    }


def clean_components(path: str, patch: str) -> list[Component]:
    """WSClean's source list as sky-model components, all in one patch."""
    from dataclasses import replace

    comps = read_skymodel(path)
    return [replace(c, patch=patch, name=f"{patch}_{i}") for i, c in enumerate(comps)]


def image_rms(path: str, mask: np.ndarray | None = None) -> float:
    """Robust rms (1.4826 × MAD) of an image, optionally over a boolean mask."""
    data = np.squeeze(fits.getdata(path))
    return pixel_rms(data[mask] if mask is not None else data)


def pixel_rms(values: np.ndarray) -> float:
    """``image_rms`` of pixels in memory (a difference or sum of images), finite ones only."""
    values = np.ravel(values)
    return float(mad_std(values[np.isfinite(values)]))
