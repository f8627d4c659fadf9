"""Selfcal groups: which directions are self-calibrated together (factor.md §3.7).

``groupings = g1:n1, g2:n2, …`` — the first n1 directions in groups of g1, the next n2 in
groups of g2; n = 0 means "all the rest", and the last grouping always takes the rest.
With ``allow_reordering`` each group is rebuilt greedily: start from the first remaining
direction, then add the remaining direction with the largest Σ separation × flux to those
already chosen, so directions calibrated at the same time are far apart.
"""

from __future__ import annotations

from .facets import separation_deg


def make_groups(
    names: list[str],
    positions: dict[str, tuple[float, float]],
    fluxes: dict[str, float],
    groupings: list[tuple[int, int]],
    allow_reordering: bool,
) -> list[list[str]]:
    remaining = list(names)
    groups: list[list[str]] = []
    for level, (size, count) in enumerate(groupings):
        last = level == len(groupings) - 1
        take = len(remaining) if (count == 0 or last) else min(count, len(remaining))
        block, remaining = remaining[:take], remaining[take:]
        while block:
            if allow_reordering and size > 1:
                group = [block.pop(0)]
                while block and len(group) < size:
                    best = max(
                        block,
                        key=lambda n: sum(separation_deg(positions[n], positions[g]) * fluxes.get(n, 0.0) for g in group),
                    )
                    block.remove(best)
                    group.append(best)
            else:
                group, block = block[:size], block[size:]
            groups.append(group)
        if not remaining:
            break
    return groups


def nearest(name: str, candidates: list[str], positions: dict[str, tuple[float, float]]) -> list[str]:
    """``candidates`` (without ``name``) sorted by separation from ``name``."""
    others = [c for c in candidates if c != name]
    return sorted(others, key=lambda c: separation_deg(positions[name], positions[c]))
