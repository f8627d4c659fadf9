"""Run control, pure logic: reset targets, stop-after targets, layout comparison, progress
parsing, stale-lock detection (the engines are exercised in test_run_control.py)."""

from __future__ import annotations

import io
import os

import pytest

from factor_cli.layout import changed_directions, layout_of
from factor_cli.plan import selfcal_units, stop_after_targets
from factor_cli.progress import Progress
from factor_cli.reset import ResetError, reset_targets
from factor_cli.runlock import PID_FILE, running_pid
from factor_cli.workflow_state import direction_of, stage_direction


def config(passes: int = 2) -> dict:
    names = ["a", "b", "c"]
    order = [n if p == 1 else f"{n}.p{p}" for p in range(1, passes + 1) for n in names]
    square = [[0, 0], [1, 0], [1, 1]]
    return {
        "directions": [{"name": n, "processed": True, "facet": {"vertices": square, "is_patch": False}} for n in names],
        "groups": [["a"], ["b", "c"]], "passes": passes, "order": order, "bands": ["B1"], "make_mosaic": True,
        "steps": {
            "chunk": {"t0": {"out_ms": "chunks/B1/t0.ms"}, "t1": {"out_ms": "chunks/B1/t1.ms"}},
            "selfcal": {s: {"out_dir": f"results/facetselfcal/{s}", "operation": "facetselfcal"} for s in order},
            "subtract": {s: {t: {"out_ms": f"results/facetsub/{s}/{t}.ms"} for t in ("t0", "t1")} for s in order},
            "facetimage": {"facetimage": {n: {"out_image": f"results/facetimage/{n}/image.fits"} for n in names}},
            "mosaic": {"fieldmosaic": {"out_dir": "results/fieldmosaic/field"}},
            "products": {"out": "results/products.json"},
        },
    }


def with_two_image_sets(c: dict) -> dict:
    """config() with a second imaging parameter set (shared facet data, two mosaics)."""
    op, mop = "facetimage_c6.0r0.00t30.0u80.0", "fieldmosaic_c6.0r0.00t30.0u80.0"
    names = [d["name"] for d in c["directions"]]
    c["image_sets"] = [{"image_op": "facetimage", "mosaic_op": "fieldmosaic"}, {"image_op": op, "mosaic_op": mop}]
    c["steps"]["facetdata"] = {n: {"out_dir": f"results/facetdata/{n}"} for n in names}
    c["steps"]["facetimage"] = {o: {n: {"out_image": f"results/{o}/{n}/image.fits"} for n in names} for o in ("facetimage", op)}
    c["steps"]["mosaic"] = {m: {"out_dir": f"results/{m}/field"} for m in ("fieldmosaic", mop)}
    return c


def test_reset_of_all_operations_names_every_pass_of_the_direction():
    t = reset_targets(config(), ["b"], [])
    assert "results/facetselfcal/b/selfcal.json" in t and "results/facetselfcal/b.p2/selfcal.json" in t
    assert "results/facetsub/b.p2/t1.ms" in t and "results/facetimage/b/image.fits" in t
    assert not any("/a" in x or "/c" in x for x in t)


def test_reset_of_one_operation_and_of_the_field():
    assert reset_targets(config(), ["a"], ["facetimage"]) == ["results/facetimage/a/image.fits"]
    assert reset_targets(config(), ["field"], []) == ["results/fieldmosaic/field/mosaic.fits"]


def test_reset_of_an_outlier_names_its_peel():
    c = config()
    c["order"] = ["o", *c["order"]]
    c["directions"].append({"name": "o", "processed": True, "facet": {"vertices": [[0, 0], [1, 0], [1, 1]], "is_patch": True}})
    c["steps"]["selfcal"]["o"] = {"out_dir": "results/outlierpeel/o", "operation": "outlierpeel"}
    c["steps"]["subtract"]["o"] = {"t0": {"out_ms": "results/facetsub/o/t0.ms"}}
    assert reset_targets(c, ["o"], ["outlierpeel"]) == ["results/outlierpeel/o/selfcal.json"]
    assert reset_targets(c, ["o"], ["facetselfcal"]) == []
    assert reset_targets(c, ["o"], []) == ["results/outlierpeel/o/selfcal.json", "results/facetsub/o/t0.ms"]


def test_reset_of_image_sets_all_or_one():
    c = with_two_image_sets(config())
    op = c["image_sets"][1]["image_op"]
    both = reset_targets(c, ["a"], ["facetimage"])
    assert both == ["results/facetdata/a/facetdata.json", "results/facetimage/a/image.fits", f"results/{op}/a/image.fits"]
    assert reset_targets(c, ["a"], [op]) == [f"results/{op}/a/image.fits"]
    mop = c["image_sets"][1]["mosaic_op"]
    assert reset_targets(c, ["field"], [mop]) == [f"results/{mop}/field/mosaic.fits"]
    assert reset_targets(c, ["field"], []) == ["results/fieldmosaic/field/mosaic.fits", f"results/{mop}/field/mosaic.fits"]
    with pytest.raises(ResetError, match=op.replace(".", r"\.")):  # listed among the valid names
        reset_targets(c, ["a"], ["facetimage_c1.0r0.00t0.0u80.0"])


@pytest.mark.parametrize("dirs, ops, listed", [(["nosuch"], [], "a, b, c, field"), (["a"], ["selfcal"], "facetselfcal")])
def test_reset_rejects_unknown_names_listing_the_valid_ones(dirs, ops, listed):
    with pytest.raises(ResetError, match=listed):
        reset_targets(config(), dirs, ops)


def test_stop_after_counts_groups_across_passes():
    c = config()
    assert selfcal_units(c) == [["a"], ["b", "c"], ["a.p2"], ["b.p2", "c.p2"]]
    assert stop_after_targets(c, 1) == ["results/facetsub/a/t0.ms", "results/facetsub/a/t1.ms"]
    assert stop_after_targets(c, 2) == ["results/facetsub/c/t0.ms", "results/facetsub/c/t1.ms"]
    assert stop_after_targets(c, 4) is None and stop_after_targets(c, 9) is None
    zero = stop_after_targets(c, 0)
    assert "chunks/B1/t0.ms" in zero and "results/skymodels/B1/c.facet.skymodel" in zero


def test_layout_comparison_sees_moved_added_and_removed_facets():
    old = layout_of(config())
    new = layout_of(config())
    assert changed_directions(old, new) == []
    moved = config()
    moved["directions"][1]["facet"] = {"vertices": [[0, 0], [1, 0], [1, 1.001]], "is_patch": False}
    assert changed_directions(old, layout_of(moved)) == ["b"]
    fewer = config()
    fewer["directions"] = fewer["directions"][:2]
    assert changed_directions(old, layout_of(fewer)) == ["c"]


def test_outputs_map_to_directions():
    assert direction_of("results/facetselfcal/dir01.p2/selfcal.json") == "dir01"
    assert direction_of("results/facetsub/my.dir.p3/t0.ms") == "my.dir"
    assert direction_of("results/fieldmosaic/field/mosaic.fits") == "field"
    assert direction_of("results/fieldmosaic_c6.0r0.00t30.0u80.0/field/mosaic.fits") == "field"
    assert direction_of("results/facetimage_c6.0r0.00t30.0u80.0/dir01/image.fits") == "dir01"
    assert direction_of("results/facetdata/dir01/facet_data_t0.ms") == "dir01"
    assert direction_of("results/outlierpeel/outlier00/selfcal.json") == "outlier00"
    assert direction_of("chunks/Band_150MHz/x.ms") == "Band_150MHz"
    assert stage_direction("dir.p") == "dir.p" and stage_direction("d.p12") == "d"


SNAKEMAKE_OUTPUT = """\
Select jobs to execute...
[Tue Nov 24 05:06:56 2026]
localrule facetselfcal:
    output: results/facetselfcal/dir00.p2/selfcal.json
    log: logs/facetselfcal/dir00.p2.log
    jobid: 33
    wildcards: stage=dir00.p2
    threads: 2
    resources: tmpdir=/tmp, runtime=30
[Tue Nov 24 05:07:00 2026]
Finished jobid: 33 (Rule: facetselfcal)
3 of 40 steps (8%) done
[Tue Nov 24 05:07:56 2026]
localrule facetimage:
    log: logs/facetimage/dir01.log
    jobid: 7
    wildcards: imageop=facetimage, direction=dir01
[Tue Nov 24 05:07:57 2026]
localrule facetimage:
    log: logs/facetimage_c16.0r0.50t40.0u80.0/dir02.log
    jobid: 8
    wildcards: imageop=facetimage_c16.0r0.50t40.0u80.0, direction=dir02
[Tue Nov 24 05:08:56 2026]
Error in rule facetimage:
    message: None
    jobid: 7
    output: results/facetimage/dir01/image.fits, results/facetimage/dir01/residual.fits
    log: logs/facetimage/dir01.log (check log file(s) for error details)
    shell:
        factor-step facetimage '{}' logs/facetimage/dir01.log 2
        (command exited with non-zero exit code)
Error in rule fieldmosaic:
    jobid: 9
    output: results/fieldmosaic/field/mosaic.fits
    log: logs/fieldmosaic/field.log (check log file(s) for error details)

"""


def test_progress_reports_jobs_counts_and_failures(tmp_path):
    (tmp_path / "logs" / "facetimage").mkdir(parents=True)
    (tmp_path / "logs" / "facetimage" / "dir01.log").write_text("line 1\nDP3: something broke\n")
    out = io.StringIO()
    progress = Progress(out, tmp_path)
    lines = SNAKEMAKE_OUTPUT.splitlines()
    for line in lines[: lines.index("    resources: tmpdir=/tmp, runtime=30") + 1]:
        progress.feed(line)
    # The start is reported when Snakemake's job block ends, not when the job has finished.
    assert "started facetselfcal dir00 pass 2" in out.getvalue()
    for line in lines[lines.index("    resources: tmpdir=/tmp, runtime=30") + 1:]:
        progress.feed(line)
    progress.finish()
    text = out.getvalue()
    assert "started facetselfcal dir00 pass 2" in text and "finished facetselfcal dir00 pass 2" in text
    assert "started facetimage dir01" in text
    assert "started facetimage_c16.0r0.50t40.0u80.0 dir02" in text  # the imaging parameter set is named
    assert (progress.done, progress.total) == (3, 40)
    report = progress.failure_report()
    assert report[0] == f"job facetimage dir01 failed; log: {tmp_path / 'logs/facetimage/dir01.log'}"
    assert report[2].strip() == "DP3: something broke"
    assert report[3].startswith("job fieldmosaic field failed; log: ")  # no start block: from the output


def test_pid_file_of_a_dead_process_is_not_a_running_run(tmp_path):
    (tmp_path / PID_FILE).parent.mkdir()
    (tmp_path / PID_FILE).write_text("999999999\n")
    assert running_pid(tmp_path) is None
    (tmp_path / PID_FILE).write_text(f"{os.getpid()}\n")
    assert running_pid(tmp_path) is None  # this very process is never "another run"


def test_disk_space_error_before_chunking_and_warning_for_the_whole_run(tmp_path, monkeypatch):
    from factor_cli import diskspace

    ms = tmp_path / "in.ms"
    ms.mkdir()
    (ms / "table.f0").write_bytes(b"x" * 1000)
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 1050)
    error, warning = diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=False)
    assert error and "disk space" in error and warning is None
    error, warning = diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=True)
    assert error is None and "5.0e-06 GB" not in warning and "4 of 4 stages" in warning
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 10_000)
    assert diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=False) == (None, None)
    # An MS cut into several time chunks is listed once per chunk but copied once (the
    # benchmark preset's four chunks per band were counted four times: 213 GB for 51).
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 4999)  # 5 copies of 1000 bytes needed
    assert diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=False)[1] is not None
    # Chunks on disk (a resumed run): only the residuals still to be written count.
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 3999)
    assert diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=True)[1] is not None
    assert diskspace.check_space(tmp_path / "work", [str(ms)] * 4, 3, chunks_exist=True) == (None, None)
    # use_compression: the chunks and residuals are Dysco-compressed, about half the size.
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 2600)
    assert diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=True)[1] is not None
    assert diskspace.check_space(tmp_path / "work", [str(ms)], 4, chunks_exist=True, compress=True) == (None, None)
    # A Dysco-compressed input (LINC's output) is counted at its uncompressed size: its
    # uncompressed chunks alone need twice its size.
    monkeypatch.setattr(diskspace, "free_bytes", lambda path: 1500)
    assert diskspace.check_space(tmp_path / "work", [str(ms)], 0, chunks_exist=False) == (None, None)
    monkeypatch.setattr(diskspace, "is_dysco", lambda path: True)
    error, _ = diskspace.check_space(tmp_path / "work", [str(ms)], 0, chunks_exist=False)
    assert error and "disk space for the chunks" in error


def test_stages_still_to_write_count_missing_and_reset_residuals_only(tmp_path):
    """A resumed run is warned only for the residuals it has yet to write (the benchmark's
    two-pass run, resumed with 12 of 16 stages written, was told it might need 53 GB more with
    40 GB free); residuals a reset is about to delete are written again and count."""
    from factor_cli.diskspace import stages_to_write

    residuals = {s: [f"results/facetsub/{s}/a_chunk0.ms", f"results/facetsub/{s}/a_chunk1.ms"]
                 for s in ("dir00", "dir01", "dir02", "dir00.p2", "dir01.p2")}
    for stage in ("dir00", "dir01", "dir02", "dir00.p2"):
        for m in residuals[stage]:
            (tmp_path / m).mkdir(parents=True)
    (tmp_path / residuals["dir02"][1]).rmdir()  # a stage interrupted half-way
    assert stages_to_write(tmp_path, residuals, []) == ["dir02", "dir01.p2"]
    deleted = ["results/facetsub/dir00.p2", "results/facetsub/dir01/a_chunk0.ms", "results/facetsub/dir00.p"]
    assert stages_to_write(tmp_path, residuals, deleted) == ["dir01", "dir02", "dir00.p2", "dir01.p2"]
