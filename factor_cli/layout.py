"""Guard against a facet layout change in the middle of a run.

Factor silently gave wrong results when the facets changed on resume (the seed page's note).
Here every result depends on the facets (the DI model is split by facet before any selfcal),
so a change would mean recomputing everything; runfactor refuses instead and says how to
proceed.  The layout of the last run is kept in ``state/layout.json``; deleting ``state/``
(with ``results/``) is the documented way to start over, and then any layout is accepted.
Raising ``ndir_process`` does not change the layout: facets are always made from every
direction of the directions file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LAYOUT_FILE = Path("state") / "layout.json"


class LayoutChangedError(ValueError):
    pass


def layout_of(config: dict) -> dict[str, dict]:
    """Facet polygons (rounded to ~0.04") and patch flags of every direction."""
    return {
        d["name"]: {"vertices": [[round(ra, 5), round(dec, 5)] for ra, dec in d["facet"]["vertices"]],
                    "is_patch": d["facet"]["is_patch"]}
        for d in config["directions"]
    }


def _same(a: dict | None, b: dict | None, tol_deg: float = 1e-4) -> bool:
    if a is None or b is None or a["is_patch"] != b["is_patch"] or len(a["vertices"]) != len(b["vertices"]):
        return False
    return bool(np.max(np.abs(np.array(a["vertices"]) - np.array(b["vertices"]))) < tol_deg)


def changed_directions(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    """Directions whose facet differs (by more than 0.36"), disappeared, or appeared."""
    return sorted(n for n in set(old) | set(new) if not _same(old.get(n), new.get(n)))


def has_results(dir_working: Path) -> bool:
    """Anything computed from the facets exists (sky models split by facet and all after)."""
    results = dir_working / "results"
    return results.is_dir() and any(results.iterdir())


def check_layout(dir_working: Path, config: dict, directions_file: str) -> None:
    path = dir_working / LAYOUT_FILE
    if not path.is_file() or not has_results(dir_working):
        return
    changed = changed_directions(json.loads(path.read_text()), layout_of(config))
    if changed:
        shown = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
        raise LayoutChangedError(
            f"{directions_file}: the facet layout changed since the last run (facets of {shown}); every result "
            f"in {dir_working / 'results'} was made with the old facets. Restore the directions file and faceting "
            f"settings, or start over by deleting 'results' and 'state' in {dir_working} (the chunks are kept)")


def save_layout(dir_working: Path, config: dict) -> None:
    path = dir_working / LAYOUT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(layout_of(config), indent=1))
