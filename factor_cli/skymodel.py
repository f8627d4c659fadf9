"""Sky models in the makesourcedb text format (the format DP3, LSMTool and LINC share).

DP3 only reads such files when their name ends in ``.skymodel`` or ``.txt`` (feasibility.md §3),
so callers that hand a ``.merge`` file to DP3 copy it to a ``.skymodel`` name first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import Angle


@dataclass(frozen=True)
class Component:
    """One sky-model component; fluxes are Stokes I in Jy at ``ref_freq_hz``."""

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    patch: str = ""
    kind: str = "POINT"  # POINT or GAUSSIAN
    major_arcsec: float = 0.0
    minor_arcsec: float = 0.0
    orientation_deg: float = 0.0
    ref_freq_hz: float = 150e6
    spectral_index: tuple[float, ...] = field(default_factory=tuple)
    log_si: bool = True  # makesourcedb LogarithmicSI; WSClean writes ordinary polynomials (false)

    def flux_at(self, freq_hz: float | np.ndarray) -> float | np.ndarray:
        """Flux at ``freq_hz`` with makesourcedb's spectral terms (logarithmic or ordinary)."""
        nu = np.asarray(freq_hz, dtype=float) / self.ref_freq_hz
        if self.log_si:
            x = np.log10(nu)
            exponent = sum(c * x ** (k + 1) for k, c in enumerate(self.spectral_index))
            return self.flux_jy * 10.0**exponent
        return self.flux_jy + sum(c * (nu - 1.0) ** (k + 1) for k, c in enumerate(self.spectral_index))

    def with_flux(self, flux_jy: float) -> "Component":
        return replace(self, flux_jy=flux_jy)


FORMAT_LINE = (
    "FORMAT = Name, Type, Patch, Ra, Dec, I, Q, U, V, MajorAxis, MinorAxis, Orientation, "
    "OrientationIsAbsolute='true', ReferenceFrequency='{ref:.1f}', SpectralIndex='[]', LogarithmicSI='true'"
)


def format_ra(ra_deg: float) -> str:
    return Angle(ra_deg, u.deg).wrap_at(360 * u.deg).to_string(unit=u.hourangle, sep=":", precision=4, pad=True)


def format_dec(dec_deg: float) -> str:
    return Angle(dec_deg, u.deg).to_string(unit=u.deg, sep=".", precision=3, alwayssign=True, pad=True)


def write_skymodel(path: Path | str, components: list[Component], patch_positions: dict[str, tuple[float, float]] | None = None) -> None:
    """Write components (grouped by patch, patches in first-seen order) in makesourcedb format.

    ``patch_positions`` gives each patch line's RA/Dec; without it the flux-weighted centroid is used.
    """
    ref = components[0].ref_freq_hz if components else 150e6
    lines = [FORMAT_LINE.format(ref=ref), ""]
    patches: dict[str, list[Component]] = {}
    for comp in components:
        patches.setdefault(comp.patch, []).append(comp)
    for patch, comps in patches.items():
        if patch:
            if patch_positions and patch in patch_positions:
                pra, pdec = patch_positions[patch]
            else:
                weights = np.array([max(c.flux_jy, 1e-12) for c in comps])
                pra, pdec = _weighted_centre(comps, weights)
            lines.append(f" , , {patch}, {format_ra(pra)}, {format_dec(pdec)}")
        for c in comps:
            shape = (
                f"{c.major_arcsec:.3f}, {c.minor_arcsec:.3f}, {c.orientation_deg:.3f}"
                if c.kind == "GAUSSIAN"
                else ", , "
            )
            si = "[" + ", ".join(f"{v:.6g}" for v in c.spectral_index) + "]"
            lines.append(
                f"{c.name}, {c.kind}, {patch}, {format_ra(c.ra_deg)}, {format_dec(c.dec_deg)}, "
                f"{c.flux_jy:.6g}, 0.0, 0.0, 0.0, {shape}, true, {c.ref_freq_hz:.1f}, {si}, "
                f"{'true' if c.log_si else 'false'}"
            )
        lines.append("")
    Path(path).write_text("\n".join(lines))


def _weighted_centre(comps: list[Component], weights: np.ndarray) -> tuple[float, float]:
    ra = np.radians([c.ra_deg for c in comps])
    dec = np.radians([c.dec_deg for c in comps])
    xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    mean = (xyz * weights).sum(axis=1)
    mean /= np.linalg.norm(mean)
    return float(np.degrees(np.arctan2(mean[1], mean[0])) % 360.0), float(np.degrees(np.arcsin(mean[2])))


class SkyModelError(ValueError):
    """A sky-model file that cannot be read; the message names file and line."""


def _parse_ra(text: str) -> float:
    text = text.strip()
    if ":" in text or "h" in text:
        return Angle(text, unit=u.hourangle).deg % 360.0  # WSClean writes RA > 12h as negative hours
    return float(text) % 360.0


def _parse_dec(text: str) -> float:
    text = text.strip()
    m = re.fullmatch(r"([+-]?)(\d+)\.(\d+)\.(\d+(?:\.\d*)?)", text)
    if m:  # makesourcedb's dd.mm.ss.sss
        sign = -1.0 if m.group(1) == "-" else 1.0
        return sign * (int(m.group(2)) + int(m.group(3)) / 60 + float(m.group(4)) / 3600)
    if ":" in text or "d" in text:
        return Angle(text, unit=u.deg).deg
    return float(text)


def _split_fields(line: str) -> list[str]:
    """Split on commas outside square brackets."""
    out, depth, cur = [], 0, []
    for ch in line:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def read_skymodel(path: Path | str) -> list[Component]:
    """Read a makesourcedb text sky model (FORMAT line with defaults, patch lines ignored)."""
    path = Path(path)
    columns: list[str] | None = None
    defaults: dict[str, str] = {}
    comps: list[Component] = []
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.lower().startswith("format"):
            spec = line.split("=", 1)[1]
            spec = spec.strip().strip("()")
            columns = []
            for item in _split_fields(spec):
                if "=" in item:
                    key, val = item.split("=", 1)
                    key = key.strip()
                    defaults[key.lower()] = val.strip().strip("'\"")
                else:
                    key = item.strip()
                columns.append(key.lower())
            continue
        if columns is None:
            raise SkyModelError(f"{path}:{lineno}: no FORMAT line before the first component")
        values = _split_fields(line)
        row = {col: (values[i] if i < len(values) else "") for i, col in enumerate(columns)}
        for key, val in defaults.items():
            if not row.get(key):
                row[key] = val
        if not row.get("name"):
            continue  # a patch line
        try:
            kind = row.get("type", "POINT").upper() or "POINT"
            si_text = row.get("spectralindex", "[]").strip("[] ")
            comps.append(
                Component(
                    name=row["name"],
                    kind=kind,
                    patch=row.get("patch", ""),
                    ra_deg=_parse_ra(row["ra"]),
                    dec_deg=_parse_dec(row["dec"]),
                    flux_jy=float(row.get("i") or 0.0),
                    major_arcsec=float(row.get("majoraxis") or 0.0),
                    minor_arcsec=float(row.get("minoraxis") or 0.0),
                    orientation_deg=float(row.get("orientation") or 0.0),
                    ref_freq_hz=float(row.get("referencefrequency") or 150e6),
                    spectral_index=tuple(float(v) for v in si_text.split(",") if v.strip()),
                    log_si=row.get("logarithmicsi", "true").strip().lower() != "false",
                )
            )
        except (KeyError, ValueError) as err:
            raise SkyModelError(f"{path}:{lineno}: cannot read component ({err})") from None
    return comps
