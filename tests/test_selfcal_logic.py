"""Self-calibration rules without the engines: TEC blocks, the solve mode, amplitude
smoothing, the loop's convergence test and the verification thresholds (factor.md §5.1,
§5.5, §5.8)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from factor_cli.amplitudes import smooth
from factor_cli.averaging import fast_solve_mode, tec_blocks, verify_steps
from factor_cli.convergence import ImageStats, image_stats, improved, robust_rms
from factor_cli.verification import Verification


def test_tec_blocks_follow_factors_rule():
    assert tec_blocks([True], 8e6, 10.0) == [[0]]
    assert tec_blocks([True, True], 4e6, 10.0) == [[0, 1]]                # 8 MHz: one block
    assert tec_blocks([True] * 8, 2e6, 5.0) == [[0, 1, 2], [3, 4, 5], [6, 7]]  # last partial block < half: merged
    assert tec_blocks([True, True, False, True], 4e6, 10.0) == [[0, 1], [3]]   # a gap at a block end is trimmed
    assert tec_blocks([True] * 4, 4e6, 1.0) == [[0], [1], [2], [3]]        # blocks of at least 2 MHz


def test_tec_needs_bandwidth_and_channels():
    assert fast_solve_mode([[0]], [True], 4, 8e6) == "tecandphase"
    assert fast_solve_mode([[0]], [True], 2, 8e6) == "scalarphase"
    assert fast_solve_mode([[0]], [True], 8, 1e6) == "scalarphase"
    assert fast_solve_mode([[0, 1], [3]], [True, True, False, True], 1, 4e6) == "scalarphase"


def test_verification_averaging_is_about_2_mhz_and_120_s():
    assert verify_steps(0.5e6, 8, 10.0) == (4, 12)
    assert verify_steps(2e6, 4, 40.0) == (1, 3)
    assert verify_steps(0.195e6, 64, 8.0) == (8, 15)


def test_smoothing_reduces_noise_keeps_shape_and_normalises():
    rng = np.random.default_rng(3)
    nt, nf, na = 48, 8, 6
    t = np.arange(nt)
    true = (1 + 0.15 * np.sin(t / 7.0))[:, None, None] * np.linspace(0.85, 1.15, na)[None, None, :] * np.ones((nt, nf, na))
    noisy = true * np.exp(rng.normal(0, 0.05, true.shape))
    noisy[7, 3, 2] = 8.0         # an outlier
    weights = np.ones_like(noisy)
    weights[20:24, :, 4] = 0     # flagged solutions
    noisy[20:24, :, 4] = np.nan
    for spline in (True, False):
        out = smooth(noisy, weights, ["time", "freq", "ant"], spline=spline)
        assert np.isfinite(out).all() and out.shape == noisy.shape
        assert np.exp(np.mean(np.log(out[weights > 0]))) == pytest.approx(1.0, abs=1e-9)
        scale = np.exp(np.mean(np.log(true[weights > 0])))
        err = np.log(out * scale / true)
        assert np.std(err) < 0.6 * np.std(np.log(noisy[weights > 0] / true[weights > 0]))
        assert abs(err[7, 3, 2]) < 0.1                                      # the outlier is replaced
        assert np.abs(err[20:24, :, 4]).max() < (0.1 if spline else 0.25)  # flagged gaps filled


def test_convergence_continues_only_on_a_1p25_percent_improvement():
    base = ImageStats(rms_jy=1e-3, peak_jy=1.0, dynamic_range=1000.0, minmax=0.05)
    assert improved(ImageStats(1e-3, 1.0, 1013.0, 0.05), base)
    assert not improved(ImageStats(1e-3, 1.0, 1012.0, 0.05), base)
    assert improved(ImageStats(1e-3, 1.0, 1000.0, 0.049), base)
    assert not improved(ImageStats(1e-3, 1.0, 990.0, 0.0499), base)


def test_image_stats_measure_noise_without_the_source(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(0, 0.01, (256, 256))
    data[100:103, 100:103] = 5.0
    data[50, 50] = -0.2
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(data[None, None]).writeto(path)
    stats = image_stats(str(path))
    assert stats.rms_jy == pytest.approx(0.01, rel=0.05)
    assert stats.dynamic_range == pytest.approx(500, rel=0.05)
    assert stats.minmax == pytest.approx(0.2 / 5.0, rel=0.01)
    assert robust_rms(np.array([np.nan])) != robust_rms(np.array([np.nan]))  # nan


def test_verification_thresholds():
    assert Verification(0.1, 0.3, 0.75, 4.0).ok
    assert not Verification(0.1, 0.8, 0.75, 4.0).ok    # residual too bright
    assert not Verification(0.05, 0.25, 0.75, 4.0).ok  # grew more than 4x
    assert Verification(0.05, 0.25, 0.75, 6.0).ok


def test_preaveraging_smooths_short_baselines_more_and_keeps_flags():
    from factor_cli.preaverage import smooth_baseline, time_sigma_s

    assert time_sigma_s(np.array(1.0), 150e6) > 4 * time_sigma_s(np.array(25.0), 150e6)
    rng = np.random.default_rng(0)
    times = np.arange(200) * 10.0
    freqs = 150e6 + np.arange(4) * 0.2e6
    signal = np.exp(1j * 0.5 * np.sin(times / 600.0))[:, None, None] * np.ones((1, 4, 4))
    noisy = signal + (rng.normal(0, 0.5, signal.shape) + 1j * rng.normal(0, 0.5, signal.shape))
    flags = np.zeros(signal.shape, bool)
    flags[50, 2, :] = True
    weights = np.ones(signal.shape)
    errors = {}
    for km in (0.5, 60.0):
        out = smooth_baseline(noisy, flags, weights, times, freqs, km, 2e6)
        errors[km] = np.std(out - signal)
        assert out[50, 2, 0] == noisy[50, 2, 0]  # a flagged sample is left as it was
    assert errors[0.5] < 0.35 * np.std(noisy - signal)   # strongly smoothed, the slow phase kept
    assert errors[60.0] > 1.5 * errors[0.5]              # long baselines keep their resolution


def test_preaverage_writes_the_smoothed_column(tiny_obs, tmp_path):
    import shutil

    from casacore import tables as ct

    from factor_cli.preaverage import COLUMN, preaverage

    ms = tmp_path / "cal.ms"
    shutil.copytree(tiny_obs / "sim.ms", ms)
    preaverage(str(ms), 2e6)
    with ct.table(str(ms), ack=False) as t:
        data, smoothed = t.getcol("DATA")[:, :, 0], t.getcol(COLUMN)[:, :, 0]
        length = np.linalg.norm(t.getcol("UVW"), axis=1)
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    cross = a1 != a2

    def roughness(rows):  # time-to-time scatter after / before smoothing, one baseline
        return np.std(np.diff(smoothed[rows], axis=0)) / np.std(np.diff(data[rows], axis=0))

    shortest = np.flatnonzero(cross & (a1 == a1[cross][np.argmin(length[cross])]) & (a2 == a2[cross][np.argmin(length[cross])]))
    longest = np.flatnonzero(cross & (a1 == a1[cross][np.argmax(length[cross])]) & (a2 == a2[cross][np.argmax(length[cross])]))
    assert roughness(shortest) < 0.7
    assert roughness(longest) > roughness(shortest)


def test_preapplied_phases_are_folded_in_on_the_finer_time_grid(tmp_path):
    from factor_cli.calibration import _fold_preapply
    from factor_cli.h5parm import SolutionTable, write_h5parm

    ants = np.array(["CS001", "RS106"])
    freq = np.array([146e6])
    fine, coarse = np.arange(12) * 10.0, np.arange(4) * 30.0 + 10.0

    def table(name, soltype, times, values):
        axes = {"time": times, "ant": ants, "dir": np.array(["[d]"]), "freq": freq}
        v = np.asarray(values, float).reshape(len(times), 2, 1, 1)
        return SolutionTable(name, soltype, axes, v, np.ones_like(v))

    rng = np.random.default_rng(2)
    pre = [table("tec000", "tec", fine, rng.normal(0, 0.01, (12, 2))), table("phase000", "phase", fine, rng.normal(0, 0.1, (12, 2))),
           table("phase001", "phase", coarse, rng.normal(0, 0.1, (4, 2)))]
    pre_h5 = tmp_path / "pre.h5"
    write_h5parm(pre_h5, pre, {a: np.zeros(3) for a in ants}, {"d": (185.0, 52.0)})
    own = [table("tec000", "tec", coarse, rng.normal(0, 0.01, (4, 2))), table("phase000", "phase", coarse, rng.normal(0, 0.1, (4, 2))),
           table("phase001", "phase", coarse, rng.normal(0, 0.1, (4, 2)))]
    before = {t.name: t.values.copy() for t in own}
    _fold_preapply(own, str(pre_h5))
    folded = {t.name: t for t in own}
    nearest = np.argmin(np.abs(coarse[None, :] - fine[:, None]), axis=1)
    for name, p in (("tec000", pre[0]), ("phase000", pre[1])):
        assert np.array_equal(folded[name].axes["time"], fine)
        assert np.allclose(folded[name].values, before[name][nearest] + p.values)
    assert np.allclose(folded["phase001"].values, before["phase001"] + pre[2].values)


def test_solutions_of_time_chunks_and_tec_blocks_join_into_factors_soltabs(tmp_path):
    from factor_cli.calibration import combine, correction_soltabs
    from factor_cli.h5parm import SolutionTable, read_soltab, write_h5parm

    ants = np.array(["CS001", "CS002", "RS106"])
    rng = np.random.default_rng(5)

    def write(path, tables):
        write_h5parm(path, tables, {a: np.zeros(3) for a in ants}, {"d": (185.0, 52.0)})
        return str(path)

    fast, slow = [], []
    for i, t0 in enumerate((0.0, 1000.0)):
        fast.append([])
        slow.append([])
        for b, f0 in enumerate((140e6, 150e6)):
            times = t0 + np.arange(5) * 20.0
            tec_axes = {"time": times, "ant": ants, "dir": np.array(["[d]"]), "freq": np.array([f0])}
            tec = SolutionTable("tec000", "tec", tec_axes, rng.normal(0, 0.01, (5, 3, 1, 1)), np.ones((5, 3, 1, 1)))
            ph = SolutionTable("phase000", "phase", tec_axes, rng.normal(0, 0.1, (5, 3, 1, 1)), np.ones((5, 3, 1, 1)))
            fast[-1].append(write(tmp_path / f"f{i}{b}.h5", [tec, ph]))
            slow_axes = {"time": t0 + np.array([50.0]), "freq": f0 + np.array([0.0, 2e6]), "ant": ants, "dir": np.array(["[d]"])}
            amp = np.exp(rng.normal(0.2, 0.05, (1, 2, 3, 1)))
            weights = np.ones_like(amp)
            weights[0, 1, 2, 0] = 0  # a flagged solution
            slow[-1].append(write(tmp_path / f"s{i}{b}.h5", [
                SolutionTable("amplitude000", "amplitude", slow_axes, amp, weights),
                SolutionTable("phase000", "phase", slow_axes, rng.normal(0, 0.1, amp.shape), weights)]))
    out = tmp_path / "solutions.h5"
    combine(fast, slow, str(out), "dir00", 185.0, 52.0)
    assert correction_soltabs(str(out)) == ["tec000", "phase000", "amplitude001", "phase001"]
    tec = read_soltab(out, "tec000")
    assert tec.values.shape == (10, 3, 1, 2) and list(tec.axes["freq"]) == [140e6, 150e6]
    assert np.all(np.diff(tec.axes["time"]) > 0)
    assert np.allclose(tec.values[5:, :, 0, 1], read_soltab(fast[1][1], "tec000").values[:, :, 0, 0])
    amp = read_soltab(out, "amplitude001")
    assert amp.values.shape == (2, 4, 3, 1) and np.isfinite(amp.values).all()
    assert np.exp(np.mean(np.log(amp.values[amp.weights > 0]))) == pytest.approx(1.0, abs=1e-6)
    assert list(read_soltab(out, "amplitude000").axes["dir"]) == ["[dir00]"]

    # A facet peel: the same solutions for the rest of the facet (normalised) and for the
    # peeled source's patch (the amplitudes' own scale, ~exp(0.2) here).
    peel = tmp_path / "peel.h5"
    combine(fast, slow, str(peel), "dir00", 185.0, 52.0, normalise=True, peel_direction="dir00_peel")
    both = read_soltab(peel, "amplitude001")
    assert list(both.axes["dir"]) == ["[dir00]", "[dir00_peel]"]
    assert np.allclose(both.values[..., 0], amp.values[..., 0])
    ok = both.weights[..., 1] > 0
    assert np.exp(np.mean(np.log(both.values[..., 1][ok]))) == pytest.approx(np.exp(0.2), rel=0.05)
    for name in ("tec000", "phase000", "phase001"):
        t = read_soltab(peel, name)
        k = list(t.axes).index("dir")
        assert np.array_equal(np.take(t.values, 0, axis=k), np.take(t.values, 1, axis=k))


def test_corrupted_predict_uses_every_patch_of_the_model_as_a_direction(tmp_path):
    """h5parmpredict of a facet peel's model: the rest of the facet and the peeled source are
    two patches, each with its own direction (normalised / unnormalised amplitudes)."""
    from factor_cli.calibration import predict_step
    from factor_cli.h5parm import SolutionTable, write_h5parm
    from factor_cli.skymodel import Component, write_skymodel

    axes = {"time": np.arange(2.0), "ant": np.array(["CS001"]), "dir": np.array(["bright00", "bright00_peel"])}
    write_h5parm(tmp_path / "s.h5", [SolutionTable("phase000", "phase", axes, np.zeros((2, 1, 2)))],
                 {"CS001": np.zeros(3)}, {"bright00": (185.0, 52.0), "bright00_peel": (185.1, 52.0)})

    model = tmp_path / "m.skymodel"
    write_skymodel(model, [Component("a", 185.0, 52.0, 1.0, patch="bright00"),
                           Component("b", 185.1, 52.0, 40.0, patch="bright00_peel")])
    keys = predict_step("sub", str(model), "subtract", str(tmp_path / "s.h5"), "bright00")
    assert keys["sub.directions"] == ["[bright00]", "[bright00_peel]"] and keys["sub.type"] == "h5parmpredict"
    assert predict_step("add", str(model), "add")["add.type"] == "predict"


@pytest.mark.parametrize("preapply", [False, True])
def test_plan_selfcal_strategy_from_the_parset(tiny_obs, tmp_path, preapply):
    from factor_cli.runfactor import prepare

    parset = tmp_path / "factor.parset"
    parset.write_text(f"[global]\ndir_working = {tmp_path / 'work'}\ndir_ms = {tiny_obs}\n"
                      f"[calibration]\nselfcal_passes = 2\npreapply_first_cal_phases = {preapply}\nmax_selfcal_loops = 3\n"
                      f"preaverage_flux_jy = 3.0\n[imaging]\nwsclean_use_idg = False\n"
                      f"[directions]\ndirections_file = {tiny_obs}/directions.txt\ngroupings = 2:1,1:0\n")
    plan = prepare(str(parset))[1]
    first_group = plan["groups"][0]
    for stage, p in plan["steps"]["selfcal"].items():
        name = p["direction"]["name"]
        assert p["fast_mode"] == "tecandphase" and p["tec_blocks"] == [[0]] and p["max_loops"] == 3
        expected = [] if not preapply or name in first_group else [f"results/facetselfcal/{n}{'' if p['pass'] == 1 else '.p2'}/solutions.h5" for n in first_group]
        assert [c["h5"] for c in p["preapply"]] == expected
        faint = p["effective_flux_jy"] < 3.0
        assert bool(p["preaverage_bandwidth_hz"]) == faint and (p["solint_fast"] == 1 or not faint)
    assert any(p["effective_flux_jy"] < 3.0 for p in plan["steps"]["selfcal"].values())


def test_selfcal_images_clean_only_the_calibrator_box(tmp_path):
    """The clean mask is the box whose sources are added back (cal_box_model), plus two cells:
    every box source lies inside, the leftovers beyond it (the rest of a 512-px image) do not."""
    from factor_cli.facets import plane_coordinates, sky_coordinates
    from factor_cli.imaging import image_wcs
    from factor_cli.skymodel import Component, read_skymodel, write_skymodel
    from factor_cli.steps.selfcal import cal_box_mask, cal_box_model

    centre, cell, size, box = (181.72, 51.63), 6.0, 512, 0.1
    d = {"ra_deg": centre[0], "dec_deg": centre[1], "cal_size_deg": box}
    wcs = image_wcs(centre, size, cell)
    mask = cal_box_mask(d, wcs, size)
    yy, xx = np.nonzero(mask)
    ra, dec = wcs.wcs_pix2world(xx, yy, 0)
    x, y = plane_coordinates(centre, ra, dec)
    half = box / 2.0
    reach = np.maximum(np.abs(x), np.abs(y)).max()
    assert half + 1.5 * cell / 3600.0 < reach <= half + 2.5 * cell / 3600.0   # the box and two cells, no more
    assert abs(mask.sum() / (box * 3600.0 / cell + 4) ** 2 - 1.0) < 0.05
    # Sources just inside the box's edges and corners are added back and fall in the mask; just
    # beyond the mask's margin they are neither.
    inner = [(0.0, 0.0), (0.99 * half, 0.99 * half), (-0.99 * half, 0.5 * half), (0.3 * half, -0.99 * half)]
    outer = [(half + 3 * cell / 3600.0, 0.0), (0.0, -half - 3 * cell / 3600.0), (2 * half, 2 * half)]
    pts = inner + outer
    src_ra, src_dec = sky_coordinates(centre, [p[0] for p in pts], [p[1] for p in pts])
    comps = [Component(f"s{i}", float(r), float(dd), 1.0, patch="cal") for i, (r, dd) in enumerate(zip(src_ra, src_dec))]
    write_skymodel(tmp_path / "all.skymodel", comps)
    kept = {c.name for c in read_skymodel(cal_box_model(str(tmp_path / "all.skymodel"), d, tmp_path / "box.skymodel"))}
    assert kept == {f"s{i}" for i in range(len(inner))}
    px, py = wcs.wcs_world2pix(src_ra, src_dec, 0)
    in_mask = [bool(mask[int(round(j)), int(round(i))]) for i, j in zip(px, py)]
    assert in_mask == [True] * len(inner) + [False] * len(outer)


def test_central_channels_of_a_band():
    from factor_cli.averaging import central_channels

    assert central_channels(16, 1.0, 4) is None  # the whole band: no selection
    assert central_channels(16, 0.25, 4) == (6, 4, 4)
    assert central_channels(16, 0.25, 8) == (6, 4, 4)  # the step cannot exceed the channels kept
    assert central_channels(8, 0.25, 4) == (3, 2, 2)
    assert central_channels(8, 0.4, 4) == (2, 3, 3)  # 3 channels: a step of 2 would average one alone
    assert central_channels(10, 0.6, 4) == (2, 6, 3)  # largest divisor of 6 up to 4
    assert central_channels(4, 0.01, 4) == (1, 1, 1)  # at least one channel


def test_solves_stop_at_the_tolerance_but_tec_keeps_its_full_approximating_stage(monkeypatch, tmp_path):
    """tolerance 1e-4 ends converged intervals (Factor's 1e-8 never did); the TEC solves' first
    stage still runs maxapproxiter iterations (bit-identical TEC solutions, bench/RESULTS.md)."""
    from factor_cli import calibration

    calls = []
    monkeypatch.setattr(calibration, "run_dp3", lambda args, **kw: calls.append(args))
    settings = calibration.SolverSettings()
    assert settings.tolerance == 1e-4
    calibration.solve("cal.ms", str(tmp_path / "a.h5"), "tecandphase", 1, 1, settings, "DATA")
    calibration.solve("cal.ms", str(tmp_path / "b.h5"), "scalar", 30, 2, settings, "CORRECTED_PHASE")
    tec, slow = calls
    assert tec["solve.tolerance"] == slow["solve.tolerance"] == 1e-4
    assert tec["solve.approxtolerance"] == calibration.APPROX_TOLERANCE < 1e-6 and tec["solve.maxapproxiter"] == 50
    assert "solve.approxtolerance" not in slow
