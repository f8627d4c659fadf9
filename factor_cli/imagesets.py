"""Imaging parameter sets: Factor's ``facet_cellsize_arcsec``/``facet_robust``/
``facet_taper_arcsec``/``facet_min_uv_lambda`` lists, one facet image per direction and one
mosaic per entry.

Names follow Factor's ``facetimage_c{cell:.1f}r{robust:.2f}t{taper:.1f}u{minuv:.1f}`` (and
``fieldmosaic_…``), except that the first set is always plain ``facetimage``/``fieldmosaic``:
Factor dropped the suffix only when a set equalled the selfcal settings, so editing the single
set of a run moved its products to a new folder and left the old images behind; here an edit
redoes the same job in place.

The sets share one averaged, calibrated copy of each facet's data (``results/facetdata``),
averaged for the finest set; coarser sets average it further by whole factors, so the
expensive pass over the full-resolution residual data is made once per direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KEYS = ("facet_cellsize_arcsec", "facet_robust", "facet_taper_arcsec", "facet_min_uv_lambda")


@dataclass(frozen=True)
class ImageSet:
    cellsize_arcsec: float
    robust: float
    taper_arcsec: float
    min_uv_lambda: float

    @property
    def suffix(self) -> str:
        return f"_c{self.cellsize_arcsec:.1f}r{self.robust:.2f}t{self.taper_arcsec:.1f}u{self.min_uv_lambda:.1f}"


def image_sets(imaging: dict) -> list[dict]:
    """The sets of the parset's [imaging] lists (already checked for equal length), each with
    its facet-image operation name (``image_op``) and mosaic operation name (``mosaic_op``).
    Raises ValueError naming the first repeated set."""
    sets = [ImageSet(*values) for values in zip(*(imaging[k] for k in KEYS))]
    out, seen = [], {}
    for i, s in enumerate(sets):
        if s.suffix in seen:
            raise ValueError(f"imaging parameter sets {seen[s.suffix] + 1} and {i + 1} are the same ({s.suffix[1:]})")
        seen[s.suffix] = i
        suffix = "" if i == 0 else s.suffix
        out.append({"image_op": f"facetimage{suffix}", "mosaic_op": f"fieldmosaic{suffix}", **asdict(s)})
    return out


def reaverage_factors(base: tuple[int, int], wanted: tuple[int, int], nchan_base: int) -> tuple[int, int]:
    """(freq, time) factors by which data averaged by ``base`` = (freqstep, timestep) are
    averaged further to come as close as possible to ``wanted`` without exceeding it (more
    averaging than a set's smearing limit allows would blur it).  The frequency factor divides
    ``nchan_base`` (channels per band after the base averaging), so no output channel
    straddles two bands."""
    from .averaging import largest_divisor  # here, not at the top: the parset reader imports this module

    limit = wanted[0] // base[0]
    return largest_divisor(nchan_base, lambda f: f <= limit), max(1, wanted[1] // base[1])
