"""Calibrator selection: Factor's greedy method against the integer program.

    python bench/selection.py [--seed 1]

Two simulated skies (no visibilities needed): the `benchmark` preset's field and a dense field
(25 candidate calibrators of 0.3-5 Jy at least 0.3 deg apart, 600 fainter sources).  For each,
both methods choose at most ndir_max calibrators; the table gives the number chosen, their
total flux, the largest facet (area, deg^2) and the spread of facet areas (std / mean), and the
fraction of the faceted field farther than the coverage radius from any calibrator.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np

from factor_cli.calibrators import Cuts, coverage_points, group_sources, select_factor, select_optimal
from factor_cli.facets import make_facets, plane_coordinates
from factor_cli.simulation.presets import PRESETS
from factor_cli.simulation.sky import make_sky

CENTRE = (185.0, 52.0)
FIELD_RADIUS = 2.4   # 1.25 x FWHM/2 of HBA at ~140 MHz
NS_STRETCH = 1.25    # 1/sin(elevation) for a mid-elevation field


def measure(chosen, ndir_max: int, coverage_radius: float) -> dict[str, float]:
    facets = make_facets([s.name for s in chosen], [s.ra_deg for s in chosen], [s.dec_deg for s in chosen], CENTRE,
                         FIELD_RADIUS, NS_STRETCH)
    areas = np.array([f.polygon.area for f in facets.values() if not f.is_patch])
    pts = coverage_points(CENTRE, FIELD_RADIUS, NS_STRETCH, n=60)
    x, y = plane_coordinates(CENTRE, [s.ra_deg for s in chosen], [s.dec_deg for s in chosen])
    far = np.mean([np.min(np.hypot(x - px, y - py)) > coverage_radius for px, py in pts])
    return {"n": len(chosen), "flux": sum(s.flux_jy for s in chosen), "largest": float(areas.max()),
            "spread": float(areas.std() / areas.mean()), "uncovered": float(far)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    bench_sky = PRESETS["benchmark"].sky
    dense = replace(bench_sky, ncal=25, cal_flux_range_jy=(0.3, 5.0), cal_radius_deg=2.2, cal_min_separation_deg=0.3,
                    nfaint=600)
    fields = {"benchmark": (bench_sky, 8), "dense": (dense, 10)}
    rows = []
    for name, (params, ndir_max) in fields.items():
        comps, _ = make_sky(np.random.default_rng(args.seed), params, CENTRE)
        sources = group_sources(comps, params.ref_freq_hz)
        cuts = Cuts(max_radius_deg=FIELD_RADIUS * 1.2, size_max_arcmin=3.0, flux_min_for_merging_jy=0.1,
                    separation_max_arcmin=10.0, flux_min_jy=0.3, ndir_max=ndir_max)
        coverage = 1.2 * FIELD_RADIUS / math.sqrt(ndir_max)
        for method in ("factor", "optimal"):
            start = time.monotonic()
            if method == "factor":
                chosen = select_factor(sources, CENTRE, cuts, params.ref_freq_hz)
            else:
                chosen = select_optimal(sources, CENTRE, cuts, params.ref_freq_hz, FIELD_RADIUS, NS_STRETCH, coverage)
            rows.append((name, method, measure(chosen, ndir_max, coverage), time.monotonic() - start))
    print(f"{'field':10s} {'method':8s} {'N':>3s} {'flux Jy':>8s} {'largest deg2':>13s} {'area spread':>12s} "
          f"{'uncovered':>10s} {'time s':>7s}")
    for name, method, m, dt in rows:
        print(f"{name:10s} {method:8s} {m['n']:3d} {m['flux']:8.2f} {m['largest']:13.2f} {m['spread']:12.2f} "
              f"{100 * m['uncovered']:9.1f}% {dt:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
