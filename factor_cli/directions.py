"""Factor's directions file: one DDE calibrator (direction) per line, processed in file order.

14 whitespace-separated columns (factor.md §3.1); the legacy 12-column form without
``cal_size_deg`` and ``cal_flux_mjy`` is accepted.  Unlike Factor, which silently ignored a
direction with an unreadable position, every malformed value is an error naming file, line and
column, because a silently dropped calibrator changes the facet layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from astropy import units as u
from astropy.coordinates import Angle

COLUMNS = (
    "name", "position", "mscale_selfcal_do", "mscale_facet_do", "cal_imsize", "solint_ph",
    "solint_amp", "dynamic_range", "region_selfcal", "region_facet", "peel_skymodel",
    "outlier_source", "cal_size_deg", "cal_flux_mjy",
)


class DirectionsFileError(ValueError):
    """Raised with a one-line message naming the file, line and column."""


@dataclass(frozen=True)
class Direction:
    name: str
    ra_deg: float
    dec_deg: float
    mscale_selfcal_do: bool | None = None   # None = decide automatically
    mscale_facet_do: bool | None = None
    cal_imsize: int = 0                     # 0 = automatic
    solint_ph: int = 0                      # time slots, 0 = automatic
    solint_amp: int = 0
    dynamic_range: str = "LD"               # LD or HD
    region_selfcal: str | None = None
    region_facet: str | None = None
    peel_skymodel: str | None = None
    outlier_source: bool = False
    cal_size_deg: float | None = None
    cal_flux_mjy: float | None = None


def format_position(ra_deg: float, dec_deg: float) -> str:
    ra = Angle(ra_deg, u.deg).wrap_at(360 * u.deg).to_string(unit=u.hourangle, sep="hms", precision=3, pad=True)
    dec = Angle(dec_deg, u.deg).to_string(unit=u.deg, sep="dms", precision=2, alwayssign=True, pad=True)
    return f"{ra},{dec}"


def parse_position(ra_text: str, dec_text: str) -> tuple[float, float]:
    """RA (sexagesimal hours if it has h/m/:, else degrees) and Dec (degrees) → degrees;
    ValueError or UnitsError if they do not parse."""
    ra = Angle(ra_text, unit=u.hourangle if any(c in ra_text for c in "hm:") else u.deg).deg
    return float(ra), float(Angle(dec_text, unit=u.deg).deg)


def _fmt(value) -> str:
    if value is None:
        return "empty"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_directions_file(path: Path | str, directions: list[Direction]) -> None:
    lines = ["# " + " ".join(COLUMNS)]
    for d in directions:
        values = [
            d.name, format_position(d.ra_deg, d.dec_deg), d.mscale_selfcal_do, d.mscale_facet_do,
            d.cal_imsize, d.solint_ph, d.solint_amp, d.dynamic_range, d.region_selfcal,
            d.region_facet, d.peel_skymodel, d.outlier_source, d.cal_size_deg, d.cal_flux_mjy,
        ]
        lines.append(" ".join(_fmt(v) for v in values))
    Path(path).write_text("\n".join(lines) + "\n")


def read_directions_file(path: Path | str) -> list[Direction]:
    """Parse a directions file; relative paths in it are resolved against its folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise DirectionsFileError(f"{path}: cannot read directions file ({err.strerror})") from None
    directions: list[Direction] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        where = f"{path}:{lineno}"
        if len(fields) not in (12, 14):
            raise DirectionsFileError(f"{where}: expected 14 columns (or the legacy 12), found {len(fields)}")
        direction = _parse_row(fields, where, path.parent)
        if direction.name in seen:
            raise DirectionsFileError(f"{where}: column name: direction '{direction.name}' appears twice")
        seen.add(direction.name)
        directions.append(direction)
    if not directions:
        raise DirectionsFileError(f"{path}: no directions found")
    return directions


def _parse_row(fields: list[str], where: str, base: Path) -> Direction:
    def err(col: str, reason: str) -> DirectionsFileError:
        return DirectionsFileError(f"{where}: column {col}: {reason}")

    name = fields[0]
    if name.lower() in ("field", "all") or "/" in name:
        raise err("name", f"'{name}' is reserved or contains '/'")
    try:
        ra_text, dec_text = fields[1].split(",")
        ra, dec = parse_position(ra_text, dec_text)
    except (ValueError, u.UnitsError):
        raise err("position", f"'{fields[1]}' is not RA,Dec (e.g. 14h41m01.884,+35d30m31.52)") from None
    if not -90.0 <= dec <= 90.0:
        raise err("position", f"declination {dec} outside [-90, 90]")

    def tri_bool(col: str, text: str) -> bool | None:
        low = text.lower()
        if low == "empty":
            return None
        if low in ("true", "false"):
            return low == "true"
        raise err(col, f"'{text}' is not True, False or empty")

    def integer(col: str, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise err(col, f"'{text}' is not an integer") from None
        return value

    def region(col: str, text: str) -> str | None:
        if text.lower() == "empty":
            return None
        p = Path(text)
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise err(col, f"file '{p}' does not exist")
        return str(p)

    imsize = integer("cal_imsize", fields[4])
    if imsize < 0:
        raise err("cal_imsize", "must be >= 0 (0 = automatic)")
    solint_ph = max(0, integer("solint_ph", fields[5]))  # Factor: negative means automatic
    solint_amp = integer("solint_amp", fields[6])
    if solint_amp < 0:
        raise err("solint_amp", "must be >= 0 (0 = automatic)")
    dynamic_range = fields[7].upper()
    if dynamic_range not in ("LD", "HD"):
        raise err("dynamic_range", f"'{fields[7]}' is not LD or HD")
    outlier = tri_bool("outlier_source", fields[11])
    cal_size = cal_flux = None
    if len(fields) == 14:
        try:
            cal_size = float(fields[12])
            cal_flux = float(fields[13])
        except ValueError:
            raise err("cal_size_deg/cal_flux_mjy", f"'{fields[12]} {fields[13]}' are not numbers") from None
        if math.isnan(cal_size) or cal_size <= 0:
            cal_size = None  # Factor: <0 or NaN means "use cal_imsize"
    if cal_size is None and imsize == 0:
        raise err("cal_size_deg", "no calibrator size: give cal_size_deg > 0 or a cal_imsize")
    return Direction(
        name=name, ra_deg=float(ra) % 360.0, dec_deg=float(dec),
        mscale_selfcal_do=tri_bool("mscale_selfcal_do", fields[2]),
        mscale_facet_do=tri_bool("mscale_facet_do", fields[3]),
        cal_imsize=imsize, solint_ph=solint_ph, solint_amp=solint_amp, dynamic_range=dynamic_range,
        region_selfcal=region("region_selfcal", fields[8]),
        region_facet=region("region_facet", fields[9]),
        peel_skymodel=region("peel_skymodel", fields[10]),
        outlier_source=bool(outlier),
        cal_size_deg=cal_size, cal_flux_mjy=cal_flux,
    )
