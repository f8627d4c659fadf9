"""[cluster] → per-rule resources and the Snakemake profile (factor_cli/cluster.py), the
open-files limit, and the scratch work folder: pure logic, no scheduler."""

from __future__ import annotations

import resource
import shlex
from pathlib import Path

import numpy as np
import pytest

from factor_cli import cluster
from factor_cli.openfiles import files_needed, raise_limit
from factor_cli.steps.workspace import work_folder


def settings(**over) -> dict:
    c = {"cluster_type": "local", "clusterdesc_file": None, "ncpu": None, "nthread_io": None, "wsclean_fmem": 0.9,
         "ndir_per_node": 1, "nimage_per_node": None, "dir_local": None, "dir_local_selfcal": None, "mem_per_node_gb": None,
         "partition": None, "account": None, "max_jobs": None, "generic_scheduler": None, "retries": None}
    c.update(over)
    return c


def checked(**over) -> dict:
    c = settings(**over)
    assert cluster.check_cluster(c) is None
    return c


def test_node_shares_follow_factor_ndir_per_node_and_nthread_io():
    c = checked(cluster_type="slurm", ncpu=24, mem_per_node_gb=96, ndir_per_node=2, nthread_io=4)
    res = cluster.rule_resources(c, 24, 96 * 1024, {"facetselfcal": 10.0, "facetsub": 1.0})
    assert res["facetselfcal"]["threads"] == 12 and res["facetselfcal"]["mem_mb"] == 48 * 1024
    # WSClean gets wsclean_fmem of the job's share, never of the whole node.
    assert res["facetselfcal"]["wsclean_mem_mb"] == int(0.9 * 48 * 1024)
    # Facet images run twice as many side by side as selfcals (nimage_per_node = 2 × ndir_per_node).
    assert res["facetimage"]["threads"] == res["facetdata"]["threads"] == 6
    assert 4 * res["facetimage"]["mem_mb"] <= 96 * 1024
    assert res["facetsub"]["threads"] == 6 and res["facetsub"]["mem_mb"] == 24 * 1024
    assert res["facetsub"]["wsclean_mem_mb"] == 0
    # Jobs sharing a node never ask for more than the node has.
    assert 2 * res["facetselfcal"]["mem_mb"] <= 96 * 1024 and 4 * res["facetsub"]["mem_mb"] <= 96 * 1024
    assert res["skymodels"]["threads"] == 1 and res["fieldmosaic"]["threads"] == 1
    assert res["node"] == {"ncpu": 24, "mem_mb": 96 * 1024}


def test_facet_images_fill_whole_rounds_of_the_node():
    # Two at a time on 2 cores: one thread each; an odd one out (the largest) gets both cores,
    # so no job of the last round runs alone on half the node.
    assert cluster.side_by_side_threads({"a": 4.0, "b": 9.0, "c": 1.0, "d": 2.0}, 2, 2) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert cluster.side_by_side_threads({"a": 4.0, "b": 9.0, "c": 1.0}, 2, 2) == {"a": 1, "b": 2, "c": 1}
    assert cluster.side_by_side_threads({"a": 4.0}, 8, 2) == {"a": 8}
    # Four per 24-core node, seven images: the three largest share the node three ways.
    t = cluster.side_by_side_threads({f"d{i}": float(i) for i in range(7)}, 24, 4)
    assert [t[f"d{i}"] for i in range(7)] == [6, 6, 6, 6, 8, 8, 8]
    assert cluster.side_by_side_threads({"a": 1.0, "b": 1.0}, 2, 1) == {"a": 2, "b": 2}  # Factor's one at a time


def test_image_jobs_get_their_share_of_memory_and_time():
    c = checked(cluster_type="slurm", ncpu=2, mem_per_node_gb=8)
    assert c["nimage_per_node"] == 2
    res = cluster.rule_resources(c, 2, 8192, {"facetimage": 1.0, "facetselfcal": 1.0},
                                 {"facetimage": {"facetimage/dir00": 9.0, "facetimage/dir01": 4.0, "facetimage/dir02": 1.0}})
    jobs = res["facetimage"]["by_job"]
    assert {k: j["threads"] for k, j in jobs.items()} == {"facetimage/dir00": 2, "facetimage/dir01": 1, "facetimage/dir02": 1}
    assert jobs["facetimage/dir01"]["mem_mb"] == 4096 and jobs["facetimage/dir00"]["mem_mb"] == 8192
    assert jobs["facetimage/dir01"]["wsclean_mem_mb"] == int(0.9 * 4096)
    assert jobs["facetimage/dir01"]["runtime"] >= jobs["facetimage/dir00"]["runtime"]
    assert res["facetselfcal"]["threads"] == 2 and "by_job" not in res["facetdata"]
    assert checked(nimage_per_node=1)["nimage_per_node"] == 1


def test_image_jobs_start_largest_first():
    # The longest job started last would run alone at the end while the rest of the node idles.
    order = cluster.largest_first({"a": 4.0, "b": 9.0, "c": 1.0, "d": 9.0})
    assert order == {"a": round(4 / 9, 4), "b": 1.0, "c": round(1 / 9, 4), "d": 1.0}
    assert all(0 < v <= 1 for v in cluster.largest_first({"x": 1e-9, "y": 1.0}).values())  # below the chain's 10
    res = cluster.rule_resources(checked(ncpu=2), 2, 8192, {"facetimage": 1.0},
                                 {"facetimage": {"facetimage/dir00": 1.0, "facetimage/dir01": 4.0}})
    jobs = res["facetimage"]["by_job"]
    assert jobs["facetimage/dir01"]["priority"] == 1.0 and jobs["facetimage/dir00"]["priority"] == 0.25


def test_runtime_grows_with_the_data_and_shrinks_with_threads():
    c = checked(cluster_type="slurm", ncpu=8, mem_per_node_gb=32)
    small = cluster.rule_resources(c, 8, 32768, {"facetselfcal": 1.0})["facetselfcal"]["runtime"]
    big = cluster.rule_resources(c, 8, 32768, {"facetselfcal": 200.0})["facetselfcal"]["runtime"]
    fixed, per_gb = cluster.RUNTIME_MODEL["facetselfcal"]
    assert big == pytest.approx(cluster.SAFETY * (fixed + per_gb * 200.0 / 8), abs=1)
    assert small >= cluster.MIN_RUNTIME_MIN and big > small
    wide = cluster.rule_resources(checked(cluster_type="slurm", ncpu=32, mem_per_node_gb=32), 32, 32768,
                                  {"facetselfcal": 200.0})["facetselfcal"]["runtime"]
    assert wide < big


def test_scratch_goes_to_the_rules_factor_meant(tmp_path):
    c = checked(dir_local=str(tmp_path))
    res = cluster.rule_resources(c, 2, 4096, {})
    assert res["facetselfcal"]["scratch"] == str(tmp_path)  # dir_local_selfcal defaults to dir_local
    assert res["facetsub"]["scratch"] == res["facetimage"]["scratch"] == str(tmp_path)
    assert res["chunk"]["scratch"] == ""
    shm = tmp_path / "shm"
    shm.mkdir()
    res = cluster.rule_resources(checked(dir_local=str(tmp_path), dir_local_selfcal=str(shm)), 2, 4096, {})
    assert res["facetselfcal"]["scratch"] == str(shm) and res["facetimage"]["scratch"] == str(tmp_path)


@pytest.mark.parametrize("over, key", [
    ({"partition": "normal"}, "partition"),
    ({"max_jobs": 10}, "max_jobs"),
    ({"cluster_type": "generic", "ncpu": 4, "mem_per_node_gb": 8}, "generic_scheduler"),
    ({"cluster_type": "slurm", "generic_scheduler": "pbs"}, "generic_scheduler"),
    ({"cluster_type": "generic", "generic_scheduler": "pbs"}, "ncpu"),
    ({"cluster_type": "slurm", "ncpu": 4, "ndir_per_node": 8}, "ndir_per_node"),
    ({"clusterdesc_file": "/opt/lofar/share/cep2.clusterdesc"}, "clusterdesc_file"),
    ({"clusterdesc_file": "mpirun"}, "clusterdesc_file"),
    ({"cluster_type": "pbs", "clusterdesc_file": "SLURM"}, "clusterdesc_file"),
    ({"dir_local": "/nonexistent/scratch"}, "dir_local"),
])
def test_contradictions_name_the_key(over, key):
    problem = cluster.check_cluster(settings(**over))
    assert problem is not None and problem[0] == key, problem


def test_factor_keywords_become_cluster_types():
    assert checked(clusterdesc_file="SLURM")["cluster_type"] == "slurm"
    c = checked(clusterdesc_file="PBS", ncpu=4, mem_per_node_gb=8)
    assert (c["cluster_type"], c["generic_scheduler"]) == ("generic", "pbs")
    assert checked(cluster_type="juropa_slurm")["cluster_type"] == "slurm"
    assert checked(cluster_type="localhost")["cluster_type"] == "local"
    # A scheduler retries a failed job once by default; a local run does not.
    assert checked(cluster_type="slurm")["retries"] == 1 and checked()["retries"] == 0


def test_local_profile_shares_the_machine_memory():
    c = checked()
    prof = cluster.profile(c, 2, 8000)
    assert prof["cores"] == 2 and prof["resources"] == ["mem_mb=8000"] and "executor" not in prof


def test_slurm_profile():
    c = checked(cluster_type="slurm", partition="lofar hba", account="lt10_001", max_jobs=20)
    prof = cluster.profile(c, 24, 96000)
    assert prof["executor"] == "slurm" and prof["jobs"] == 20 and "cores" not in prof
    assert prof["default-resources"] == ["slurm_partition=lofar hba", "slurm_account=lt10_001"]
    assert "slurm-no-account" not in prof
    assert cluster.profile(checked(cluster_type="slurm"), 24, 96000)["slurm-no-account"] is True


@pytest.mark.parametrize("scheduler, program", [("pbs", "qsub"), ("lsf", "bsub"), ("slurm", "sbatch")])
def test_generic_submit_commands_quote_parset_values(scheduler, program):
    evil = "q; touch /tmp/pwned"
    c = checked(cluster_type="generic", generic_scheduler=scheduler, ncpu=4, mem_per_node_gb=8, partition=evil,
                account="acc$(id)")
    cmd = cluster.generic_submit_command(c)
    words = shlex.split(cmd.replace("{", "").replace("}", ""))
    assert words[0] == program
    assert evil in words and "acc$(id)" in words  # each one word, never shell syntax
    assert "resources.mem_mb" in cmd and "threads" in cmd and "resources.runtime" in cmd
    prof = cluster.profile(c, 4, 8192)
    assert prof["executor"] == "cluster-generic" and prof["cluster-generic-submit-cmd"] == cmd


def test_node_budget_local_defaults_to_this_machine():
    ncpu, mem = cluster.node_budget(checked())
    assert ncpu >= 1 and mem == cluster.physical_memory_mb()
    assert cluster.node_budget(checked(ncpu=3, mem_per_node_gb=2)) == (3, 2048)


def test_open_files_limit_is_raised_up_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        need = files_needed(40)
        warning = raise_limit(need)
        now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if hard == resource.RLIM_INFINITY or hard >= need:
            assert warning is None and now == need
        else:
            assert now == hard and str(need) in warning and str(hard) in warning
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_scratch_work_folder_is_removed_even_on_failure(tmp_path):
    scratch, out = tmp_path / "scratch", tmp_path / "results" / "dir01"
    out.mkdir(parents=True)
    with pytest.raises(RuntimeError):
        with work_folder(out, str(scratch)) as work:
            assert work.parent == scratch
            (work / "cal.ms").mkdir()
            raise RuntimeError("DP3 failed")
    assert list(scratch.iterdir()) == []
    with work_folder(out, str(scratch), keep=True) as work:
        (work / "image.fits").write_text("x")
    assert list(scratch.iterdir()) == [] and (out / "work" / "image.fits").read_text() == "x"
    # Without scratch: out/work, left after a failure for inspection, removed after success.
    with pytest.raises(RuntimeError):
        with work_folder(out, None) as work:
            raise RuntimeError("x")
    assert work == out / "work" and work.is_dir()
    with work_folder(out, None) as work:
        pass
    assert not Path(work).exists()


@pytest.mark.parametrize("program, output, expected", [
    ("squeue", "COMPLETED", "success"), ("squeue", "TIMEOUT", "failed"), ("squeue", "OUT_OF_MEMORY", "failed"),
    ("squeue", "RUNNING", "running"), ("squeue", "PENDING", "running"),
    ("qstat", "    job_state = F\n    Exit_status = 0\n", "success"),
    ("qstat", "    job_state = F\n    Exit_status = 271\n", "failed"),
    ("qstat", "    job_state = R\n", "running"),
    ("bjobs", "DONE", "success"), ("bjobs", "EXIT", "failed"), ("bjobs", "RUN", "running"),
])
def test_job_status_reads_the_schedulers_answer(tmp_path, monkeypatch, program, output, expected):
    """A job the scheduler killed must read as failed, or the run would wait for it forever."""
    import subprocess
    import sys

    from factor_cli import jobstatus

    fake = tmp_path / program
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(output)}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    scheduler = {"squeue": "slurm", "qstat": "pbs", "bjobs": "lsf"}[program]
    jobid = "Job <42> is submitted to queue <normal>." if scheduler == "lsf" else "42"
    out = subprocess.run([sys.executable, "-m", "factor_cli.jobstatus", scheduler, jobid],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
    assert jobstatus.main(["nosuch", "1"]) == 2


def test_facetsub_on_scratch_copies_in_and_back_and_leaves_nothing(tiny_obs, tmp_path):
    """dir_local: the residual is copied to the node's disk, DP3 writes the new residual there,
    the result is copied back whole, the scratch folder is emptied."""
    import json

    from casacore import tables as pt

    from factor_cli.steps import subtract

    scratch = tmp_path / "scratch"
    summary = tmp_path / "selfcal.json"
    summary.write_text(json.dumps({"ok": False, "check": "test"}))  # failed selfcal: residual passed on
    out = tmp_path / "results" / "facetsub" / "dir00" / "chunk0.ms"
    out.parent.mkdir(parents=True)
    log = tmp_path / "sub.log"
    subtract.run({"out_ms": str(out), "in_ms": str(tiny_obs / "sim.ms"), "selfcal_json": str(summary),
                  "direction": "dir00", "skip_selfcal_check": False, "exit_on_selfcal_failure": False,
                  "threads": 1, "scratch": str(scratch)}, log)
    with pt.table(str(tiny_obs / "sim.ms"), ack=False) as a, pt.table(str(out), ack=False) as b:
        assert a.nrows() == b.nrows()
        assert np.array_equal(a.getcol("DATA"), b.getcol("DATA"))
    assert str(scratch) in log.read_text()  # DP3 read and wrote on scratch
    assert list(scratch.iterdir()) == [] and not list(out.parent.glob("*.copying"))


def test_node_size_is_asked_of_sinfo(tmp_path, monkeypatch):
    fake = tmp_path / "sinfo"
    fake.write_text("#!/bin/sh\nprintf '48 192000\\n24+ 96000\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert cluster.node_budget(checked(cluster_type="slurm", partition="lofar")) == (24, 96000)  # smallest node
    assert cluster.node_budget(checked(cluster_type="slurm", ncpu=8)) == (8, 96000)
    fake.write_text("#!/bin/sh\nexit 1\n")
    with pytest.raises(cluster.ClusterError, match="partition"):
        cluster.node_budget(checked(cluster_type="slurm", partition="nosuch"))


def test_products_are_placed_whole(tmp_path):
    from factor_cli.steps.workspace import copy_tree, move_tree

    src = tmp_path / "scratch" / "facet.ms"
    (src / "table.f0").parent.mkdir(parents=True)
    (src / "table.f0").write_text("data")
    dst = tmp_path / "results" / "facet_data_t0.ms"
    dst.parent.mkdir()
    copy_tree(src, dst)
    assert (dst / "table.f0").read_text() == "data" and src.is_dir()
    (src / "table.f0").write_text("new")
    move_tree(src, dst)  # replaces an older copy
    assert (dst / "table.f0").read_text() == "new" and not src.exists()
    assert not list(dst.parent.glob("*.copying"))
