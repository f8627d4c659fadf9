"""Input Measurement Sets: discovery, Factor's checks (factor.md §4.1), bands and time chunks.

Only metadata are read here (python-casacore, read-only): the user's MS is never opened for
writing.  Every failure is an ``InputError`` with a one-line message naming the MS and reason.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .facets import separation_deg

MS_PATTERNS = ("*.MS", "*.ms", "*.dpppaverage", "*.ndppp_prep_target")
SPEED_OF_LIGHT = 299792458.0


class InputError(ValueError):
    pass


@dataclass
class InputMS:
    path: str
    ref_freq_hz: float
    chan_freqs_hz: list[float]
    chan_width_hz: float
    phase_centre_deg: tuple[float, float]
    start_s: float        # first integration centre (MJD s)
    end_s: float          # last integration centre
    timestep_s: float
    ntimes: int
    has_subtracted: bool
    unflagged_fraction: float
    mean_elevation_deg: float
    dish_diameter_m: float
    di_skymodel: str = ""


@dataclass
class Chunk:
    name: str             # e.g. sim_chunk0
    index: int
    start_s: float        # integration centres from start_s (inclusive) ...
    end_s: float          # ... to end_s (exclusive); DP3 msin.starttime/endtime bounds


@dataclass
class BandInfo:
    name: str             # Band_<MHz>
    ms: InputMS
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def freq_hz(self) -> float:
        return self.ms.ref_freq_hz


def find_input_ms(dir_ms: str) -> list[str]:
    found = sorted({p for pat in MS_PATTERNS for p in glob.glob(str(Path(dir_ms) / pat))})
    if not found:
        found = sorted({p for pat in MS_PATTERNS for p in glob.glob(str(Path(dir_ms) / "Band_*" / pat))})
    return [p for p in found if Path(p).is_dir()]


def inspect_ms(path: str) -> InputMS:
    from casacore import tables as pt

    try:
        t = pt.table(path, ack=False)
    except RuntimeError as err:
        raise InputError(f"{path}: not a readable Measurement Set ({str(err).splitlines()[0]})") from None
    try:
        return _inspect(path, t)
    except RuntimeError as err:
        raise InputError(f"{path}: cannot read the Measurement Set ({str(err).splitlines()[0]})") from None


def _inspect(path: str, t) -> InputMS:
    from casacore import tables as pt

    with t:
        cols = t.colnames()
        for col in ("DATA", "FLAG", "TIME", "UVW"):
            if col not in cols:
                raise InputError(f"{path}: column {col} missing")
        spw = pt.table(t.getkeyword("SPECTRAL_WINDOW"), ack=False)
        if spw.nrows() != 1:
            raise InputError(f"{path}: {spw.nrows()} spectral windows; one per MS expected (one MS per band)")
        freqs = spw.getcol("CHAN_FREQ")[0]
        widths = spw.getcol("CHAN_WIDTH")[0]
        ref = float(spw.getcol("REF_FREQUENCY")[0])
        field_dir = pt.table(t.getkeyword("FIELD"), ack=False).getcol("REFERENCE_DIR")[0, 0]
        ant = pt.table(t.getkeyword("ANTENNA"), ack=False)
        dish = float(np.mean(ant.getcol("DISH_DIAMETER")))
        times = np.unique(t.getcol("TIME"))
        interval = float(np.median(t.getcol("INTERVAL", nrow=min(1000, t.nrows()))))
        flagged = pt.taql("select gsum(nfalse(FLAG)) as n, gsum(nelements(FLAG)) as m from $t").getcol("n")[0]
        total = pt.taql("select gsum(nelements(FLAG)) as m from $t").getcol("m")[0]
    if len(freqs) > 1:
        steps = np.diff(freqs)
        if np.any(np.abs(steps - steps[0]) > 1e-3 * abs(steps[0])):
            raise InputError(f"{path}: channels are not contiguous (bands cannot have frequency gaps)")
    ra = math.degrees(field_dir[0]) % 360.0
    dec = math.degrees(field_dir[1])
    return InputMS(
        path=str(Path(path).resolve()),
        ref_freq_hz=ref,
        chan_freqs_hz=[float(f) for f in freqs],
        chan_width_hz=float(widths[0]),
        phase_centre_deg=(ra, dec),
        start_s=float(times[0]),
        end_s=float(times[-1]),
        timestep_s=interval,
        ntimes=len(times),
        has_subtracted="SUBTRACTED_DATA_ALL" in cols,
        unflagged_fraction=float(flagged) / float(total) if total else 0.0,
        mean_elevation_deg=_mean_elevation(times, ra, dec),
        dish_diameter_m=dish,
    )


def _mean_elevation(times: np.ndarray, ra: float, dec: float) -> float:
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time
    from astropy.utils import iers

    iers.conf.auto_download = False
    lofar = EarthLocation.from_geocentric(3826577.066, 461022.948, 5064892.786, unit=u.m)
    sample = np.linspace(times[0], times[-1], 7) / 86400.0
    frame = AltAz(obstime=Time(sample, format="mjd", scale="utc"), location=lofar)
    with iers.conf.set_temp("iers_degraded_accuracy", "ignore"):
        alt = SkyCoord(ra * u.deg, dec * u.deg).transform_to(frame).alt.deg
    return float(np.mean(alt))


def fwhm_deg(freq_hz: float, dish_m: float, elevation_deg: float) -> float:
    """Factor's station-beam FWHM, widened by 1/sin(elevation)."""
    return 1.1 * (SPEED_OF_LIGHT / freq_hz) / dish_m * 180.0 / math.pi / math.sin(math.radians(elevation_deg))


def make_chunks(ms: InputMS, chunk_size_s: float, stem: str) -> list[Chunk]:
    """Factor's time chunks: only when the observation is longer than two chunks; the last
    chunk takes the remainder."""
    total = ms.end_s - ms.start_s + ms.timestep_s
    lo, hi = ms.start_s - ms.timestep_s / 2, ms.end_s + ms.timestep_s / 2
    if total <= 2 * chunk_size_s:
        return [Chunk(name=f"{stem}_chunk0", index=0, start_s=lo, end_s=hi)]
    nchunks = int(ms.ntimes * ms.timestep_s / chunk_size_s)
    edges = [lo + i * chunk_size_s for i in range(nchunks)] + [hi]
    return [Chunk(name=f"{stem}_chunk{i}", index=i, start_s=edges[i], end_s=edges[i + 1]) for i in range(nchunks)]


def check_bands(mss: list[InputMS], min_fraction: float, exit_on_bad_band: bool) -> list[InputMS]:
    """Factor's input checks; returns the usable MSs sorted by frequency."""
    if not mss:
        raise InputError("no Measurement Sets found")
    usable = []
    for ms in mss:
        if ms.unflagged_fraction < min_fraction:
            message = f"{ms.path}: only {100 * ms.unflagged_fraction:.1f}% unflagged (min_fraction_per_band = {min_fraction})"
            if exit_on_bad_band:
                raise InputError(message)
            continue
        usable.append(ms)
    if not usable:
        listed = ", ".join(f"{ms.path}: {100 * ms.unflagged_fraction:.1f}% unflagged" for ms in mss)
        raise InputError(f"no Measurement Set passes min_fraction_per_band = {min_fraction} ({listed})")
    by_freq: dict[int, list[InputMS]] = {}
    for ms in usable:
        by_freq.setdefault(int(ms.ref_freq_hz), []).append(ms)
    for group in by_freq.values():
        if len(group) > 1:
            raise InputError(f"{group[1].path}: several MSs in one band ({group[0].path}): multi-epoch bands are not implemented in this version")
    ref = usable[0]
    for ms in usable[1:]:
        if len(ms.chan_freqs_hz) != len(ref.chan_freqs_hz):
            raise InputError(f"{ms.path}: {len(ms.chan_freqs_hz)} channels, but {ref.path} has {len(ref.chan_freqs_hz)} (all bands need the same number)")
        sep = separation_deg(ms.phase_centre_deg, ref.phase_centre_deg)
        if sep > 1.0 / 3600.0:
            raise InputError(f"{ms.path}: phase centre differs from {ref.path} by {sep * 3600:.1f} arcsec (must agree within 1 arcsec)")
        if abs(ms.start_s - ref.start_s) > ms.timestep_s or abs(ms.end_s - ref.end_s) > ms.timestep_s:
            raise InputError(f"{ms.path}: time range differs from {ref.path} (bands must cover the same times)")
        if abs(ms.timestep_s - ref.timestep_s) > 1e-3:
            raise InputError(f"{ms.path}: integration time {ms.timestep_s} s differs from {ref.path} ({ref.timestep_s} s)")
    return sorted(usable, key=lambda m: m.ref_freq_hz)


def band_grid(bands: list[BandInfo]) -> list[BandInfo | None]:
    """Bands on a regular frequency grid, ``None`` where a band is missing (a gap)."""
    if len(bands) < 2:
        return list(bands)
    freqs = np.array([b.freq_hz for b in bands])
    step = float(np.min(np.diff(freqs)))
    slots = np.rint((freqs - freqs[0]) / step).astype(int)
    grid: list[BandInfo | None] = [None] * (int(slots[-1]) + 1)
    for slot, band in zip(slots, bands):
        grid[slot] = band
    return grid

