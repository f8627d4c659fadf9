"""Pictures of a run for checkfactor: the facet map coloured by state, the selfcal images and
the solutions of each direction, and an HTML page that shows them with the status table."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import mad_std

from .h5parm import read_soltab
from .imaging import image_wcs

COLOURS = {"done": "#2ca02c", "running": "#1f77b4", "pending": "#bbbbbb", "interrupted": "#ff7f0e",
           "failed": "#d62728", "selfcal failed": "#9467bd", "-": "#eeeeee"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def direction_state(states: dict[str, str]) -> str:
    """One state for a direction from its operations' states (the most urgent wins)."""
    for s in ("failed", "selfcal failed", "running", "interrupted"):
        if s in states.values():
            return s
    if states and all(v in ("done", "-") for v in states.values()):
        return "done"
    return "pending"


def facet_map(config: dict, states: dict[str, str], out: Path) -> None:
    """The field in a TAN-like SIN projection about the phase centre: facet polygons filled by
    state, calibrators marked and named."""
    plt = _pyplot()
    wcs = image_wcs(tuple(config["centre_deg"]), 1000, 3600.0 * 3.0 * config["fwhm_deg"] / 1000)
    fig = plt.figure(figsize=(7, 7))
    ax = fig.add_subplot(projection=wcs)
    for d in config["directions"]:
        ra, dec = np.array(d["facet"]["vertices"]).T
        x, y = wcs.wcs_world2pix(ra, dec, 0)
        state = states.get(d["name"], "-") if d.get("processed", True) else "-"
        ax.fill(x, y, facecolor=COLOURS[state], edgecolor="k", alpha=0.6, lw=0.8)
        cx, cy = wcs.wcs_world2pix([d["ra_deg"]], [d["dec_deg"]], 0)
        ax.plot(cx, cy, "k*", ms=9)
        ax.annotate(d["name"], (cx[0], cy[0]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, fc=c, alpha=0.6) for c in COLOURS.values()]
    ax.legend(handles, list(COLOURS), loc="lower left", fontsize=7)
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    fig.savefig(out, dpi=90, bbox_inches="tight")
    plt.close(fig)


def image_png(fits_path: Path, out: Path, title: str) -> None:
    plt = _pyplot()
    data = np.squeeze(fits.getdata(fits_path))
    finite = data[np.isfinite(data)]
    rms = float(mad_std(finite)) if finite.size else 1.0
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(data, origin="lower", cmap="gray_r", vmin=-3 * rms, vmax=15 * rms)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    fig.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(fig)


def solutions_png(h5: Path, out: Path, title: str) -> None:
    """Fast phases (first channel) against time, one line per station."""
    plt = _pyplot()
    table = read_soltab(str(h5), "phase000")
    axes = list(table.axes)
    values = np.moveaxis(table.values, [axes.index("time"), axes.index("ant")], [0, 1])
    values = values.reshape(values.shape[0], values.shape[1], -1)[:, :, 0]
    t = (table.axes["time"] - table.axes["time"][0]) / 60.0
    fig, ax = plt.subplots(figsize=(6, 3))
    for k in range(values.shape[1]):
        ax.plot(t, np.angle(np.exp(1j * (values[:, k] - values[:, 0]))), lw=0.6)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("phase rel. to station 1 (rad)")
    ax.set_title(title, fontsize=8)
    fig.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(fig)


def html_page(out_dir: Path, dir_working: Path, config: dict, table_lines: list[str], states: dict[str, str]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    facet_map(config, states, out_dir / "facets.png")
    parts = ["<html><head><meta charset='utf-8'><title>Factor run</title></head><body>",
             f"<h1>Factor run in {html.escape(str(dir_working))}</h1>",
             "<pre>" + html.escape("\n".join(table_lines)) + "</pre>", "<img src='facets.png'>"]
    for stage in config["order"]:
        sdir = dir_working / config["steps"]["selfcal"][stage]["out_dir"]
        if not sdir.is_dir():
            continue
        parts.append(f"<h2>{html.escape(stage)}</h2>")
        for img in sorted(sdir.glob("selfcal_image_c*.fits")):
            png = f"{stage}_{img.stem}.png"
            image_png(img, out_dir / png, f"{stage} {img.stem}")
            parts.append(f"<img src='{html.escape(png)}'>")
        if (sdir / "solutions.h5").is_file():
            png = f"{stage}_solutions.png"
            solutions_png(sdir / "solutions.h5", out_dir / png, f"{stage} fast phases")
            parts.append(f"<br><img src='{html.escape(png)}'>")
    parts.append("</body></html>")
    page = out_dir / "index.html"
    page.write_text("\n".join(parts))
    return page
