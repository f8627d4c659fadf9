"""The benchmark's orchestration measurement (engine ledger, time an engine ran) and the
gridder every WSClean call uses."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from factor_cli import engines

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import facet_chain  # noqa: E402
from facet_chain import busy_seconds, gaps_by_neighbours, steal_seconds, thread_seconds  # noqa: E402


def test_busy_time_counts_overlapping_engines_once_and_gaps_not_at_all():
    # two overlapping runs (0-3), a gap, one run containing another (5-6)
    assert busy_seconds([(5.0, 6.0), (0.0, 2.0), (1.0, 3.0), (5.5, 5.7)]) == 4.0
    assert busy_seconds([]) == 0.0


def test_steal_is_the_eighth_value_of_the_cpu_line_in_seconds():
    ticks = os.sysconf("SC_CLK_TCK")
    stat = f"cpu  1387380 0 102570 7531577 4616 0 4493 {3 * ticks} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    assert steal_seconds(stat) == 3.0
    assert steal_seconds("cpu  1 2 3 4\n") is None  # an old kernel without the column
    assert steal_seconds() is None or steal_seconds() >= 0.0


def test_ledger_line_has_engine_cpu_wall_and_start(tmp_path, monkeypatch):
    ledger = tmp_path / "engines.tsv"
    monkeypatch.setenv(engines.LEDGER_ENV, str(ledger))
    before = time.time()
    engines._record(["/usr/bin/wsclean", "-j", "2"], 3.5, 2.0, before)
    name, cpu, wall, start, kind = ledger.read_text().strip().split("\t")
    assert (name, float(cpu), float(wall)) == ("wsclean", 3.5, 2.0)
    assert abs(float(start) - before) < 1e-3 and kind == "?px j2"


def test_wsclean_grids_with_the_wgridder_unless_idg_is_asked_for(monkeypatch):
    calls = []
    monkeypatch.setattr(engines, "find_executable", lambda name: name)
    monkeypatch.setattr(engines, "_run", lambda cmd, log, threads: calls.append(cmd))
    engines.run_wsclean(["-name", "x", "a.ms"], threads=2)
    engines.run_wsclean(["-use-idg", "-idg-mode", "cpu", "-name", "y", "a.ms"], threads=2)
    assert "-use-wgridder" in calls[0] and calls[0][calls[0].index("-j") + 1] == "2"
    assert "-use-wgridder" not in calls[1]


def test_set_key_replaces_or_adds_a_parset_setting(tmp_path):
    from facet_chain import set_key

    parset = tmp_path / "factor.parset"
    parset.write_text("[global]\ndir_working = work\n\n[calibration]\npeel_flux_jy = 25\nselfcal_passes = 2\n")
    set_key(parset, "calibration.peel_flux_jy=100")
    set_key(parset, "imaging.make_mosaic=False")
    text = parset.read_text()
    assert "peel_flux_jy = 100" in text and "peel_flux_jy = 25" not in text and "selfcal_passes = 2" in text
    assert text.index("[imaging]") < text.index("make_mosaic = False")


def test_a_run_in_parts_sums_its_walls_and_an_interrupted_part_ends_at_its_last_engine_call():
    from facet_chain import combine_parts

    done = {"start_epoch": 0.0, "wall_s": 100.0, "cpu_s": 150.0, "steal_s": 1.0}
    killed = {"start_epoch": 1000.0, "wall_s": None, "cpu_s": None, "steal_s": None}
    last = {"start_epoch": 5000.0, "wall_s": 50.0, "cpu_s": 80.0, "steal_s": 0.5}
    calls = [(10.0, 90.0), (1001.0, 1500.0), (1400.0, 1700.0), (5001.0, 5040.0)]
    whole = combine_parts([done, last], calls)
    assert (whole["wall_s"], whole["cpu_s"], whole["steal_s"], whole["interrupted"]) == (150.0, 230.0, 1.5, 0)
    # the killed part: 1000 -> 1700 (the end of its last call, not of the next part's)
    whole = combine_parts([done, killed, last], calls)
    assert (whole["wall_s"], whole["cpu_s"], whole["steal_s"], whole["interrupted"]) == (850.0, None, None, 1)
    assert combine_parts([done], calls)["parts"] == 1


def test_selfcal_rerun_sets_only_known_parameters():
    """A mistyped --set must fail, not rerun the stage unchanged and report it as an A/B."""
    import pytest
    from selfcal_rerun import set_nested

    params = {"multiscale": False, "direction": {"cal_size_deg": 0.1, "name": "dir06"}}
    set_nested(params, "multiscale", True)
    set_nested(params, "direction.cal_size_deg", 0.15)
    assert params == {"multiscale": True, "direction": {"cal_size_deg": 0.15, "name": "dir06"}}
    for bad in ("multiscal", "direction.cal_size", "multiscale.x", "nothing.cal_size_deg"):
        with pytest.raises(KeyError):
            set_nested(params, bad, 1)
    assert params == {"multiscale": True, "direction": {"cal_size_deg": 0.15, "name": "dir06"}}


def test_noise_reference_is_reused_only_for_the_same_noise_and_facets(tmp_path, monkeypatch):
    """The noise mosaic takes ~20 min on `benchmark`: a report of a kept or continued run reuses
    it, but any change of a facet's imaging parameters (or of the noise) makes it anew."""
    from factor_cli import noise_reference

    def facet(ra):
        return {"direction": {"facet": {"ra_deg": ra, "dec_deg": 50.0}}, "cellsize_arcsec": 8.0}

    config = {"centre_deg": [180.0, 50.0], "imaged": ["dir00"],
              "steps": {"facetimage": {"facetimage": {"dir00": facet(180.0), "dir01": facet(181.0)}}}}
    key = noise_reference.reference_key(["noise.ms"], config, "facetimage")
    changed = json.loads(json.dumps(config))
    changed["steps"]["facetimage"]["facetimage"]["dir00"]["cellsize_arcsec"] = 6.0
    assert noise_reference.reference_key(["noise.ms"], changed, "facetimage") != key
    assert noise_reference.reference_key(["other.ms"], config, "facetimage") != key
    not_imaged = json.loads(json.dumps(config))
    not_imaged["steps"]["facetimage"]["facetimage"]["dir01"]["cellsize_arcsec"] = 6.0
    assert noise_reference.reference_key(["noise.ms"], not_imaged, "facetimage") == key

    (tmp_path / "noise_mosaic.fits").write_text("made earlier")
    (tmp_path / "noise_mosaic.json").write_text(key)

    def imaged(*args, **kwargs):
        raise AssertionError("the noise was imaged again")

    monkeypatch.setattr(noise_reference, "prepare_band", imaged)
    assert noise_reference.noise_mosaic(["noise.ms"], config, "facetimage", tmp_path) == str(tmp_path / "noise_mosaic.fits")
    with pytest.raises(AssertionError, match="imaged again"):
        noise_reference.noise_mosaic(["noise.ms"], changed, "facetimage", tmp_path)


def test_bench_images_are_reused_only_for_the_same_wsclean_arguments(tmp_path, monkeypatch):
    calls = []

    def wsclean(args, threads):
        calls.append(args)
        Path(f"{args[args.index('-name') + 1]}-image.fits").write_text("image")

    monkeypatch.setattr(facet_chain, "run_wsclean", wsclean)
    args = ["-size", "512", "512", "-name", str(tmp_path / "noise"), "noise.ms"]
    facet_chain.image_once(args)
    facet_chain.image_once(args)
    assert len(calls) == 1
    facet_chain.image_once(["-size", "1024", "1024", *args[3:]])
    assert len(calls) == 2


def test_thread_seconds_split_the_span_by_threads_asked_for():
    # a 2-thread call 0-4, a 1-thread call 5-7 beside another 1-thread call 6-8, nothing 4-5
    split = thread_seconds([(0.0, 4.0, 2), (5.0, 7.0, 1), (6.0, 8.0, 1)])
    assert split == {0: 1.0, 1: 2.0, 2: 5.0}
    assert thread_seconds([]) == {}


def test_gaps_are_summed_by_the_calls_around_them():
    calls = [(0.0, 2.0, "ddecal"), (2.5, 3.0, "apply"), (3.0, 5.0, "image"), (6.0, 7.0, "ddecal"),
             (7.4, 8.0, "apply"), (4.0, 9.0, "predict")]   # the long predict hides the second pair's gap
    assert gaps_by_neighbours(calls) == [("ddecal", "apply", 0.5, 1)]


def test_a_stage_counts_as_finished_when_every_chunk_job_of_its_subtraction_ended(tmp_path):
    """residual_after.py images a stage's residual part-way through a run: only once all its
    chunk jobs have ended (Snakemake writes a job's benchmark file when the job ends; the MS
    folders appear when a job starts)."""
    from residual_after import finished_stages

    subtract = {"dir00": {"a_chunk0": {}, "a_chunk1": {}}, "dir01": {"a_chunk0": {}, "a_chunk1": {}}}
    for stage, chunks in (("dir00", ("a_chunk0", "a_chunk1")), ("dir01", ("a_chunk0",))):
        for chunk in chunks:
            (tmp_path / "benchmarks" / "facetsub" / stage).mkdir(parents=True, exist_ok=True)
            (tmp_path / "benchmarks" / "facetsub" / stage / f"{chunk}.tsv").write_text("s\n1\n")
    assert finished_stages(tmp_path, subtract) == ["dir00"]
