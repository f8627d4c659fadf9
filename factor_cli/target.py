"""The science target: the region the observer cares most about (factor.md §3.4).

Given ``target_ra``/``target_dec`` (and ``target_radius_arcmin``), Factor either gives the
target a facet of its own (``target_has_own_facet``: a direction ``target`` appended last,
never self-calibrated, imaged with the nearest direction's solutions; calibrators inside the
target circle are dropped because the target facet replaces them), or marks the direction whose
facet holds the target.  That direction gets the most care: ``target_max_selfcal_loops``,
multiscale facet imaging, and its averaged facet data are always kept.  ``image_target_only``
images only the target's facet.  The target circle also takes part in the edge adjustment
(plan._edge_sources) so that no facet edge cuts through it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .directions import Direction, parse_position
from .facets import facet_of_sources, separation_deg

TARGET_NAME = "target"


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    ra_deg: float
    dec_deg: float
    radius_deg: float | None


def target_of(dirs: dict) -> Target | None:
    """The target of the [directions] settings, None when no position is given."""
    if not dirs["target_ra"]:
        return None
    ra, dec = parse_position(dirs["target_ra"], dirs["target_dec"])
    radius = dirs["target_radius_arcmin"] / 60.0 if dirs["target_radius_arcmin"] else None
    return Target(ra, dec, radius)


def with_target_direction(directions: list[Direction], target: Target) -> tuple[list[Direction], list[str]]:
    """The directions with the target's own direction appended, and the names dropped because
    they lie inside the target circle."""
    if any(d.name == TARGET_NAME for d in directions):
        raise TargetError(f"a direction is already named '{TARGET_NAME}'; rename it to give the target its own facet")
    pos = (target.ra_deg, target.dec_deg)
    inside = [d.name for d in directions if separation_deg(pos, (d.ra_deg, d.dec_deg)) < target.radius_deg]
    kept = [d for d in directions if d.name not in inside]
    # The calibrator box of a direction that is never self-calibrated only sets which DI
    # sources count as "its" flux; the target circle is the natural choice.
    own = Direction(TARGET_NAME, target.ra_deg, target.dec_deg, cal_size_deg=2.0 * target.radius_deg)
    return [*kept, own], inside


def containing_direction(target: Target, facets: dict[str, list[tuple[float, float]]], centre: tuple[float, float],
                         positions: dict[str, tuple[float, float]]) -> str | None:
    """The processed direction whose facet holds the target; the nearest one when the target
    lies in no processed facet (outside the field, or in a facet not processed)."""
    if not positions:
        return None
    hit = facet_of_sources({n: v for n, v in facets.items() if n in positions}, centre, [target.ra_deg], [target.dec_deg])[0]
    if hit is not None:
        return hit
    pos = (target.ra_deg, target.dec_deg)
    return min(positions, key=lambda n: separation_deg(pos, positions[n]))
