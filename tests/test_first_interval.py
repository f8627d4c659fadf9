"""The first interval of a TEC solve, which has no earlier solution to start from, is solved
again from the second interval's solution (calibration._resolve_first_interval)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from factor_cli import calibration as cal
from factor_cli.engines import run_dp3
from factor_cli.quality import phase_errors
from factor_cli.skymodel import read_skymodel, write_skymodel


def test_the_seed_is_the_second_interval_on_any_time_axis():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 5, 2))  # (ant, time, freq)
    seeded = cal.seeded_from_second(values, 1)
    assert np.array_equal(seeded[:, 0], values[:, 1])
    assert np.array_equal(seeded[:, 1:], values[:, 1:])
    assert not np.array_equal(values[:, 0], values[:, 1])  # the input is left as it was


@pytest.mark.engines
def test_a_bright_outliers_first_interval_is_solved_like_the_others(bright_obs, tmp_path):
    """bright's 300-Jy outlier alone in the noise, corrupted by its true gains and solved
    (TEC+phase, one interval per time slot) against its true model: from zero, DDECal's first
    interval lands in a wrong TEC ambiguity on one station (measured: 0.79 rad rms, 2.6 rad
    at worst; the later intervals 0.001-0.002); solved again from the second interval, it is
    as good as the rest."""
    truth = json.loads((bright_obs / "truth" / "truth.json").read_text())
    outlier = next(p for p in truth["peeled"] if p["outlier"])
    name, gains = outlier["name"], str(bright_obs / "truth" / "gains.h5")
    model = tmp_path / "outlier.skymodel"
    write_skymodel(model, [c for c in read_skymodel(bright_obs / truth["bands"][0]["apparent_skymodel"]) if c.patch == name])
    noise = tmp_path / "noise.ms"
    shutil.copytree(bright_obs / truth["noise_ms"][truth["bands"][0]["ms"]], noise)
    shifted = str(tmp_path / "shifted.ms")
    run_dp3({"msin": str(noise), "msin.datacolumn": "DATA", "msout": ".", "msout.datacolumn": "DATA", "steps": ["sky"],
             "sky.type": "h5parmpredict", "sky.sourcedb": str(model), "sky.operation": "add", "sky.directions": [f"[{name}]"],
             **cal.applycal_settings("sky.applycal.", gains, ["phase000", "amplitude000"])}, threads=2)
    run_dp3({"msin": str(noise), "msin.datacolumn": "DATA", "msout": shifted, "steps": ["shift"], "shift.type": "phaseshift",
             "shift.phasecenter": [f"{outlier['ra_deg']}deg", f"{outlier['dec_deg']}deg"]}, threads=2)
    cal.predict(shifted, str(model), "MODEL_DATA", threads=2)

    errors = {}
    for reseed in (False, True):
        h5 = str(tmp_path / f"fast_{reseed}.h5")
        cal.solve(shifted, h5, "tecandphase", 1, 1, cal.SolverSettings(), "DATA", threads=2, reseed_first=reseed)
        err = np.abs(phase_errors(h5, gains, name)[..., 1:])  # (time, freq, station), against the first station
        errors[reseed] = err.max(axis=(1, 2))
    later = errors[True][1:]
    assert np.allclose(errors[False][1:], later)      # only the first interval is solved again
    assert np.median(later) < 0.01
    assert errors[False][0] > 0.5                     # the failure this is about (else the test shows nothing)
    assert errors[True][0] < 0.05
