"""Imaging parameter sets: names, duplicates, re-averaging of the shared facet data."""

from __future__ import annotations

import pytest

from factor_cli.imagesets import image_sets, reaverage_factors
from factor_cli.parset import read_parset

from test_parset import base, write  # noqa: F401 - the fixture is used by name


def lists(cells, robusts, tapers, minuvs):
    return {"facet_cellsize_arcsec": cells, "facet_robust": robusts, "facet_taper_arcsec": tapers,
            "facet_min_uv_lambda": minuvs}


def test_first_set_is_plain_and_further_sets_carry_factors_suffix():
    sets = image_sets(lists([1.5, 6.0, 4.0], [-0.5, 0.0, -1.0], [0.0, 30.0, 0.0], [80.0, 80.0, 120.0]))
    assert [s["image_op"] for s in sets] == ["facetimage", "facetimage_c6.0r0.00t30.0u80.0", "facetimage_c4.0r-1.00t0.0u120.0"]
    assert [s["mosaic_op"] for s in sets] == ["fieldmosaic", "fieldmosaic_c6.0r0.00t30.0u80.0", "fieldmosaic_c4.0r-1.00t0.0u120.0"]
    assert sets[1]["cellsize_arcsec"] == 6.0 and sets[1]["taper_arcsec"] == 30.0 and sets[2]["min_uv_lambda"] == 120.0


def test_sets_equal_to_factors_precision_are_rejected():
    with pytest.raises(ValueError, match="sets 1 and 3 are the same"):
        image_sets(lists([1.5, 3.0, 1.52], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [80.0, 80.0, 80.0]))


@pytest.mark.parametrize("base_steps, wanted, nchan_base, expected", [
    ((1, 1), (4, 6), 8, (4, 6)),     # finest set: nothing more (4 divides 8)
    ((2, 3), (4, 6), 4, (2, 2)),
    ((1, 1), (3, 1), 8, (2, 1)),     # 3 does not divide 8 channels: 2, never more than wanted
    ((2, 2), (2, 2), 4, (1, 1)),     # the finest set itself
    ((4, 5), (4, 9), 2, (1, 1)),     # 9 // 5 = 1: no partial factors
])
def test_reaverage_factors_never_exceed_a_sets_smearing_limit(base_steps, wanted, nchan_base, expected):
    f, t = reaverage_factors(base_steps, wanted, nchan_base)
    assert (f, t) == expected
    assert base_steps[0] * f <= wanted[0] and base_steps[1] * t <= wanted[1] and nchan_base % f == 0


def test_parset_with_two_sets_reads(base):  # noqa: F811 - pytest fixture
    s = read_parset(write(base, "[imaging]\nfacet_cellsize_arcsec = [1.5, 6]\nfacet_robust = [-0.5, 0]\n"
                                "facet_taper_arcsec = [0, 30]\nfacet_min_uv_lambda = [80, 80]\n"))
    assert [x["image_op"] for x in image_sets(s["imaging"])] == ["facetimage", "facetimage_c6.0r0.00t30.0u80.0"]
