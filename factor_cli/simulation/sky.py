"""A simulated LOFAR HBA sky and the imperfect DI model LINC would have made of it.

The sky has a few calibrator-grade compact sources (the future DDE calibrators, one patch —
i.e. one direction of the DD errors — each) and a faint population drawn from a power-law
source count, 30 % of it Gaussian, with spectral indices scattered around −0.75.  Every source
belongs to the patch of its nearest calibrator, so the simulated DD errors are piecewise
constant over Voronoi cells, the same model the pipeline's facets assume.

The DI model deliberately differs from the truth in documented ways (``DIModelErrors``): fluxes
scaled by a log-normal factor per source and sources fainter than a cut left out — what a real
DI model from an image of limited depth and accuracy looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skymodel import Component


@dataclass(frozen=True)
class BrightSource:
    """A 3C-class source to be peeled: a compact double (two points ``separation_arcsec``
    apart, the second with ``secondary_fraction`` of the flux) with a DD-error patch of its own.
    ``outlier``: it lies outside the faceted area (Factor's outlier_source)."""
    name: str
    offset_deg: float
    pa_deg: float                  # position angle of the offset, east of north
    flux_jy: float                 # intrinsic total at the sky's reference frequency
    outlier: bool
    spectral_index: float = -0.7
    strong_errors: bool = True     # DD errors of its own on top of the TEC screen (ionosphere.py)
    separation_arcsec: float = 20.0
    secondary_fraction: float = 0.35


@dataclass(frozen=True)
class SkyParameters:
    ncal: int
    cal_flux_range_jy: tuple[float, float]
    cal_radius_deg: float          # calibrators lie within this radius of the phase centre
    cal_min_separation_deg: float
    nfaint: int
    faint_flux_range_jy: tuple[float, float]
    field_radius_deg: float        # faint sources lie within this radius
    count_slope: float = 1.8       # dN/dS ∝ S^-slope
    gaussian_fraction: float = 0.3
    gaussian_major_range_arcsec: tuple[float, float] = (15.0, 90.0)
    ref_freq_hz: float = 146e6
    bright: tuple[BrightSource, ...] = ()


@dataclass(frozen=True)
class DIModelErrors:
    flux_scatter: float = 0.10     # sigma of the log-normal flux error (natural log)
    omit_below_jy: float = 0.03    # sources fainter than this (intrinsic) are missing


def offset_position(ra0: float, dec0: float, l: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec (deg) of direction cosines (l, m) about (ra0, dec0) (SIN projection)."""
    ra0r, dec0r = np.radians(ra0), np.radians(dec0)
    n = np.sqrt(1.0 - l**2 - m**2)
    dec = np.arcsin(m * np.cos(dec0r) + n * np.sin(dec0r))
    ra = ra0r + np.arctan2(l, n * np.cos(dec0r) - m * np.sin(dec0r))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def direction_cosines(ra0: float, dec0: float, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ra0r, dec0r = np.radians(ra0), np.radians(dec0)
    rar, decr = np.radians(ra), np.radians(dec)
    l = np.cos(decr) * np.sin(rar - ra0r)
    m = np.sin(decr) * np.cos(dec0r) - np.cos(decr) * np.sin(dec0r) * np.cos(rar - ra0r)
    return l, m


def _calibrator_positions(rng: np.random.Generator, p: SkyParameters, centre: tuple[float, float]) -> np.ndarray:
    """Calibrator (l, m) spread over the field with a minimum separation (dart throwing)."""
    min_sep = np.radians(p.cal_min_separation_deg)
    radius = np.radians(p.cal_radius_deg)
    for _ in range(200):
        points: list[np.ndarray] = []
        for _ in range(20000):
            if len(points) == p.ncal:
                break
            r = radius * np.sqrt(rng.uniform(0.02, 1.0))
            phi = rng.uniform(0, 2 * np.pi)
            cand = np.array([r * np.sin(phi), r * np.cos(phi)])
            if all(np.hypot(*(cand - q)) >= min_sep for q in points):
                points.append(cand)
        if len(points) == p.ncal:
            return np.array(points)
    raise RuntimeError("cannot place the calibrators with the requested separation")


def _power_law(rng: np.random.Generator, n: int, lo: float, hi: float, slope: float) -> np.ndarray:
    """Inverse-CDF draw from dN/dS ∝ S^-slope on [lo, hi]."""
    a = 1.0 - slope
    u = rng.uniform(size=n)
    return (lo**a + u * (hi**a - lo**a)) ** (1.0 / a)


def make_sky(rng: np.random.Generator, p: SkyParameters, centre: tuple[float, float]) -> tuple[list[Component], list[str]]:
    """The true sky (intrinsic fluxes) and the names of its patches: the calibrators brightest
    first, then the bright sources to be peeled (``p.bright``)."""
    ra0, dec0 = centre
    cal_lm = _calibrator_positions(rng, p, centre)
    cal_flux = np.sort(np.exp(rng.uniform(np.log(p.cal_flux_range_jy[0]), np.log(p.cal_flux_range_jy[1]), p.ncal)))[::-1]
    cal_ra, cal_dec = offset_position(ra0, dec0, cal_lm[:, 0], cal_lm[:, 1])
    patches = [f"dir{i:02d}" for i in range(p.ncal)]

    comps: list[Component] = []
    for i in range(p.ncal):
        comps.append(
            Component(
                name=f"cal{i:02d}", kind="POINT", patch=patches[i],
                ra_deg=float(cal_ra[i]), dec_deg=float(cal_dec[i]), flux_jy=float(cal_flux[i]),
                ref_freq_hz=p.ref_freq_hz,
                spectral_index=(float(rng.normal(-0.8, 0.1)),),
            )
        )

    for b in p.bright:
        comps += bright_components(b, centre, p.ref_freq_hz)
    patches += [b.name for b in p.bright]
    # Faint sources join the patch of the nearest calibrator or in-field bright source.
    infield = [b for b in p.bright if not b.outlier]
    bright_lm = np.array([[np.radians(b.offset_deg) * np.sin(np.radians(b.pa_deg)),
                           np.radians(b.offset_deg) * np.cos(np.radians(b.pa_deg))] for b in infield]).reshape(-1, 2)
    centres_lm = np.vstack([cal_lm, bright_lm])
    centre_patches = patches[: p.ncal] + [b.name for b in infield]

    radius = np.radians(p.field_radius_deg)
    r = radius * np.sqrt(rng.uniform(size=p.nfaint))
    phi = rng.uniform(0, 2 * np.pi, p.nfaint)
    l, m = r * np.sin(phi), r * np.cos(phi)
    ra, dec = offset_position(ra0, dec0, l, m)
    flux = _power_law(rng, p.nfaint, *p.faint_flux_range_jy, p.count_slope)
    is_gauss = rng.uniform(size=p.nfaint) < p.gaussian_fraction
    dist = np.hypot(l[:, None] - centres_lm[None, :, 0], m[:, None] - centres_lm[None, :, 1])
    nearest = np.argmin(dist, axis=1)
    for k in range(p.nfaint):
        si = (float(rng.normal(-0.75, 0.2)),)
        if is_gauss[k]:
            major = float(rng.uniform(*p.gaussian_major_range_arcsec))
            minor = major * float(rng.uniform(0.3, 1.0))
            comps.append(
                Component(
                    name=f"s{k:04d}", kind="GAUSSIAN", patch=centre_patches[nearest[k]],
                    ra_deg=float(ra[k]), dec_deg=float(dec[k]), flux_jy=float(flux[k]),
                    major_arcsec=major, minor_arcsec=minor, orientation_deg=float(rng.uniform(0, 180)),
                    ref_freq_hz=p.ref_freq_hz, spectral_index=si,
                )
            )
        else:
            comps.append(
                Component(
                    name=f"s{k:04d}", kind="POINT", patch=centre_patches[nearest[k]],
                    ra_deg=float(ra[k]), dec_deg=float(dec[k]), flux_jy=float(flux[k]),
                    ref_freq_hz=p.ref_freq_hz, spectral_index=si,
                )
            )
    # Keep the patch order (= calibrator brightness order) in the component list.
    order = {name: i for i, name in enumerate(patches)}
    comps.sort(key=lambda c: (order[c.patch], not c.name.startswith(("cal", "peel")), -c.flux_jy))
    return comps, patches


def bright_components(b: BrightSource, centre: tuple[float, float], ref_freq_hz: float) -> list[Component]:
    """The two points of a bright source (names ``peel_<name>_A``/``_B``), the primary at the
    nominal position, the secondary east of it."""
    off = np.radians(b.offset_deg)
    pa = np.radians(b.pa_deg)
    ra, dec = offset_position(centre[0], centre[1], np.array([off * np.sin(pa)]), np.array([off * np.cos(pa)]))
    sep = np.radians(b.separation_arcsec / 3600.0)
    ra_b, dec_b = offset_position(float(ra[0]), float(dec[0]), np.array([sep]), np.array([0.0]))
    flux = [b.flux_jy * (1.0 - b.secondary_fraction), b.flux_jy * b.secondary_fraction]
    return [
        Component(name=f"peel_{b.name}_{tag}", kind="POINT", patch=b.name, ra_deg=float(r), dec_deg=float(d), flux_jy=f,
                  ref_freq_hz=ref_freq_hz, spectral_index=(b.spectral_index,))
        for tag, r, d, f in (("A", ra[0], dec[0], flux[0]), ("B", ra_b[0], dec_b[0], flux[1]))
    ]


def apply_attenuation(comps: list[Component], attenuation: dict[str, float]) -> list[Component]:
    """Apparent sky: each component's flux times its (band-averaged) primary-beam response."""
    return [c.with_flux(c.flux_jy * attenuation[c.name]) for c in comps]


def make_di_model(rng: np.random.Generator, comps: list[Component], errors: DIModelErrors) -> tuple[list[Component], dict[str, float]]:
    """The imperfect DI model: faint sources dropped, fluxes scaled by a random factor.

    Returns the model (one patch per source, as a DI model knows nothing of facets) and the
    flux factor applied to each kept source, so the difference from the truth is documented.
    """
    factors: dict[str, float] = {}
    model = []
    for c in comps:
        factor = float(np.exp(rng.normal(0.0, errors.flux_scatter)))
        if c.flux_jy < errors.omit_below_jy:
            continue
        factors[c.name] = factor
        model.append(c)
    return model, factors


def scale_di_model(model: list[Component], factors: dict[str, float]) -> list[Component]:
    from dataclasses import replace

    return [replace(c, flux_jy=c.flux_jy * factors[c.name], patch=f"patch_{c.name}") for c in model]
