"""PNG products of a selfcal: every selfcal and verification image, and the solutions with
one panel per station (as LoSoTo's plot operation draws them), so a direction can be judged
without opening FITS or H5parm files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import mad_std

from .h5parm import read_soltab, soltab_names

UNITS = {"tec": "TECU", "phase": "rad", "amplitude": ""}
DISPLAY_PIXELS = 1080  # twice the PNG's width


def selfcal_images(paths: list[Path]) -> list[Path]:
    """``<image>.png`` beside every existing FITS image, linear scale -3σ..+15σ."""
    plt = _pyplot()
    written = []
    for path in paths:
        if not Path(path).is_file():
            continue
        data = np.squeeze(fits.getdata(path)).astype(float)
        finite = data[np.isfinite(data)]
        if finite.size == 0:
            continue
        sigma = float(mad_std(finite)) or float(np.std(finite)) or 1.0
        peak = float(np.nanmax(data))
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.imshow(display_binned(data), origin="lower", cmap="gray_r", vmin=-3 * sigma, vmax=15 * sigma)
        ax.set_title(f"{Path(path).stem}  (peak {peak:.3g} Jy/beam, rms {sigma:.2g})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        png = Path(path).with_suffix(".png")
        fig.savefig(png, dpi=90, bbox_inches="tight")
        plt.close(fig)
        written.append(png)
    return written


def display_binned(data: np.ndarray, max_pixels: int = DISPLAY_PIXELS) -> np.ndarray:
    """``data`` averaged in square blocks of a whole number of pixels so that neither side is
    above ``max_pixels``: the PNG is 540 pixels wide, and matplotlib resampling a 2048-px image
    down to that took twice as long as drawing the binned one."""
    factor = int(np.ceil(max(data.shape) / max_pixels))
    if factor <= 1:
        return data
    ny, nx = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    return data[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor).mean(axis=(1, 3))


def solutions(h5: str, prefix: Path) -> list[Path]:
    """``<prefix>_<soltab>.png``: each soltab against time, a panel per station, a line per
    frequency (channel or TEC block)."""
    plt = _pyplot()
    written = []
    for name in sorted(soltab_names(h5)):
        table = read_soltab(h5, name)
        axes = list(table.axes)
        values = np.moveaxis(table.values, [axes.index("time"), axes.index("ant")], [0, 1])
        values = values.reshape(values.shape[0], values.shape[1], -1)  # time, ant, rest (freq × dir × pol)
        times = (table.axes["time"] - table.axes["time"][0]) / 3600.0
        ants = table.axes["ant"]
        ncol = min(4, len(ants))
        nrow = math.ceil(len(ants) / ncol)
        fig, axs = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.2 * nrow), sharex=True, sharey=True, squeeze=False)
        for k, ant in enumerate(ants):
            ax = axs[k // ncol][k % ncol]
            ax.plot(times, values[:, k, :], ".", ms=2)
            ax.set_title(str(ant), fontsize=8)
        for ax in axs.flat[len(ants):]:
            ax.set_visible(False)
        fig.supxlabel("time since start (h)")
        fig.supylabel(f"{name} {UNITS.get(table.soltype, '')}")
        png = Path(f"{prefix}_{name}.png")
        fig.savefig(png, dpi=80, bbox_inches="tight")
        plt.close(fig)
        written.append(png)
    return written


def _pyplot():
    """matplotlib, loaded when the first plot is drawn (on the step's plotting thread, not in
    the 0.35 s every job spends starting up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
