"""Target handling (factor.md §3.4): the facet holding the target, or a facet of its own, on
the `tiny` simulation's real MS (plan only: nothing runs)."""

from __future__ import annotations

import numpy as np
import pytest

from factor_cli.directions import format_position, read_directions_file
from factor_cli.facets import facet_of_sources, separation_deg
from factor_cli.plan import _multiscale
from factor_cli.runfactor import prepare

PARSET = ("[global]\ndir_working = {work}\ndir_ms = {ms}\n[imaging]\nwsclean_use_idg = False\n{imaging}\n"
          "[directions]\ndirections_file = {ms}/directions.txt\ntarget_ra = {ra}\ntarget_dec = {dec}\n{extra}")


def plan_for(tiny_obs, tmp_path, ra_deg, dec_deg, imaging="", extra=""):
    ra, dec = format_position(ra_deg, dec_deg).split(",")
    parset = tmp_path / "factor.parset"
    parset.write_text(PARSET.format(work=tmp_path / "work", ms=tiny_obs, imaging=imaging, ra=ra, dec=dec, extra=extra))
    return prepare(str(parset))[1]


def test_the_facet_holding_the_target_gets_the_care_and_is_imaged_alone(tiny_obs, tmp_path):
    dirs = read_directions_file(tiny_obs / "directions.txt")
    # 70 % of the way from the faintest direction to the brightest: well inside one Voronoi
    # cell, so the facet holding the target is the nearest direction's.
    a, b = dirs[-1], dirs[0]
    ra, dec = a.ra_deg + 0.3 * (b.ra_deg - a.ra_deg), a.dec_deg + 0.3 * (b.dec_deg - a.dec_deg)
    nearest = min(dirs, key=lambda d: separation_deg((ra, dec), (d.ra_deg, d.dec_deg))).name
    plan = plan_for(tiny_obs, tmp_path, ra, dec, imaging="image_target_only = True\nkeep_avg_facet_data = False")
    assert plan["target"] == nearest
    assert [d["name"] for d in plan["directions"] if d["contains_target"]] == [nearest]
    assert plan["imaged"] == [nearest] and list(plan["steps"]["facetimage"]["facetimage"]) == [nearest]
    image = plan["steps"]["facetimage"]["facetimage"][nearest]
    assert image["keep_avg_facet_data"] and image["multiscale"]
    assert len(plan["steps"]["mosaic"]["fieldmosaic"]["images"]) == 1
    assert len(plan["order"]) == len(dirs)  # every direction is still self-calibrated


def test_own_target_facet_holds_the_circle_replaces_calibrators_inside_and_borrows_solutions(tiny_obs, tmp_path):
    dirs = read_directions_file(tiny_obs / "directions.txt")
    inside = dirs[-1]  # the target circle (8') is centred 3' from this calibrator
    ra, dec = inside.ra_deg, inside.dec_deg + 3.0 / 60.0
    plan = plan_for(tiny_obs, tmp_path, ra, dec, extra="target_radius_arcmin = 8\ntarget_has_own_facet = True")
    names = [d["name"] for d in plan["directions"]]
    assert names[-1] == "target" and inside.name not in names
    assert any(inside.name in note for note in plan["notes"])
    target = plan["directions"][-1]
    assert target["processed"] and not target["selfcal"] and target["contains_target"]
    assert "target" not in plan["order"] and "target" in plan["imaged"]
    # check_edges keeps the whole circle in the target's facet
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    r = 0.97 * 8.0 / 60.0
    ras = ra + r * np.cos(t) / np.cos(np.radians(dec))
    decs = dec + r * np.sin(t)
    owner = facet_of_sources({d["name"]: d["facet"]["vertices"] for d in plan["directions"]}, plan["centre_deg"], ras, decs)
    assert set(owner) == {"target"}
    # imaged with the solutions of the nearest self-calibrated direction
    kept = [d for d in dirs if d.name != inside.name]
    nearest = min(kept, key=lambda d: separation_deg((ra, dec), (d.ra_deg, d.dec_deg))).name
    assert plan["steps"]["facetimage"]["facetimage"]["target"]["candidates"][0]["name"] == nearest


def test_multiscale_rule():
    assert _multiscale(None, 5.0) and not _multiscale(None, 3.0)
    assert _multiscale(None, 0.5, holds_target=True)
    assert not _multiscale(False, 10.0, holds_target=True) and _multiscale(True, 0.0)


@pytest.mark.parametrize("explicit", [None, True])
def test_multiscale_follows_the_directions_file(tiny_obs, tmp_path, explicit):
    text = (tiny_obs / "directions.txt").read_text().splitlines()
    if explicit:
        row = text[1].split()
        row[2] = row[3] = "True"
        text[1] = " ".join(row)
    (tmp_path / "directions.txt").write_text("\n".join(text) + "\n")
    parset = tmp_path / "factor.parset"
    parset.write_text(f"[global]\ndir_working = {tmp_path / 'work'}\ndir_ms = {tiny_obs}\n[imaging]\nwsclean_use_idg = False\n"
                      f"[directions]\ndirections_file = {tmp_path / 'directions.txt'}\n")
    plan = prepare(str(parset))[1]
    first = text[1].split()[0]
    assert plan["steps"]["selfcal"][first]["multiscale"] is bool(explicit)
    assert plan["steps"]["facetimage"]["facetimage"][first]["multiscale"] is bool(explicit)


def test_fractional_bandwidth_images_the_central_channels_of_each_band(tiny_obs, tmp_path):
    """fractional_bandwidth_selfcal_facet_image reaches the facet data made inside selfcal: the
    plan names the central channels, and DP3 keeps exactly those (their frequencies)."""
    from casacore import tables as pt

    from factor_cli.steps.facetdata import prepare_band

    dirs = read_directions_file(tiny_obs / "directions.txt")
    whole = plan_for(tiny_obs, tmp_path, dirs[0].ra_deg, dirs[0].dec_deg)
    assert all(s["facet_channels"] is None for s in whole["steps"]["selfcal"].values())
    half = plan_for(tiny_obs, tmp_path, dirs[0].ra_deg, dirs[0].dec_deg,
                    imaging="fractional_bandwidth_selfcal_facet_image = 0.5")
    steps = list(half["steps"]["selfcal"].values())
    assert steps and all(s["facet_channels"] == [1, 2] for s in steps)  # tiny: 4 channels per band
    assert all(2 % s["facet_freqstep"] == 0 for s in steps)
    quarter = plan_for(tiny_obs, tmp_path, dirs[0].ra_deg, dirs[0].dec_deg,
                       imaging="fractional_bandwidth_selfcal_facet_image = 0.25")
    # one channel of tiny's one band: the facet-model images cannot have two output channels
    assert all(s["facet_channels"] == [1, 1] and s["facet_channels_out"] == 1 for s in quarter["steps"]["selfcal"].values())
    ms = str(next(tiny_obs.glob("*.ms")))
    with pt.table(f"{ms}/SPECTRAL_WINDOW", ack=False) as t:
        freqs = t.getcol("CHAN_FREQ")[0]
    out = tmp_path / "facet.ms"
    prepare_band(ms, str(out), (dirs[0].ra_deg, dirs[0].dec_deg), 1, 1, None, None, None, dirs[0].name, None, 1,
                 channels=(1, 2))
    with pt.table(f"{out}/SPECTRAL_WINDOW", ack=False) as t:
        assert np.allclose(t.getcol("CHAN_FREQ")[0], freqs[1:3])
