"""The `tiny` reduction through a real SLURM scheduler (snakemake-executor-plugin-slurm), against
the same reduction run locally.  Needs a SLURM cluster whose jobs can see this folder:
``tests/slurm/run.sh`` brings one up on localhost and runs this file; without
FACTOR_TEST_SLURM=1 it is skipped (the main suite collects it too).

Proves: every job of the run went through the scheduler (SLURM's job-completion log, one
COMPLETED entry per job with the run's name, none failed), the SLURM job logs are kept, and the
products equal the local run's (the same engines on the same data with the same threads): the
mosaics agree far below their noise, the solutions far better than either agrees with the truth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from conftest import cli
from factor_cli.imaging import image_rms
from factor_cli.quality import phase_errors

pytestmark = pytest.mark.skipif(os.environ.get("FACTOR_TEST_SLURM") != "1",
                                reason="needs a SLURM cluster: run tests/slurm/run.sh")


def _parset(obs: Path, work: str, cluster: str) -> Path:
    text = (obs / "factor.parset").read_text().replace("dir_working = work", f"dir_working = {work}")
    text = text.replace("selfcal_passes = 2", "selfcal_passes = 1")  # one pass: the test is about where jobs run
    path = obs / f"{work}.parset"
    path.write_text(text + f"\n[cluster]\n{cluster}")
    return path


def _jobcomp_log() -> Path:
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    return Path(re.search(r"^JobCompLoc\s*=\s*(\S+)", config, re.M).group(1))


@pytest.fixture(scope="module")
def runs(tiny_obs, tmp_path_factory):
    """Both reductions at once: the SLURM run's jobs spend much of their time waiting for the
    executor's next status check, which the local run fills (CI time; the comparison does not
    depend on how fast either ran)."""
    logs = tmp_path_factory.mktemp("slurm_runs")
    procs = {}
    for name, cluster in (("work_local", "ncpu = 2\n"), ("work_slurm", "cluster_type = slurm\n")):
        with open(logs / f"{name}.err", "w") as err:
            procs[name] = subprocess.Popen([cli("runfactor"), str(_parset(tiny_obs, name, cluster)), "-q"],
                                           stdout=subprocess.DEVNULL, stderr=err)
    codes = {name: proc.wait() for name, proc in procs.items()}
    for name, code in codes.items():
        assert code == 0, (name, (logs / f"{name}.err").read_text()[-3000:])
    return {name: tiny_obs / name for name in procs}


def test_every_job_went_through_the_scheduler(runs):
    work = runs["work_slurm"]
    log = (work / "factor.log").read_text()
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    # Snakemake jobs of the run: one per benchmark file (products is a local rule, no job).
    benchmarks = [p for p in (work / "benchmarks").rglob("*.tsv") if p.name not in ("engines.tsv", "products.tsv")]
    assert len(submitted) == len(benchmarks) > 10
    entries = {m.group(1): m.group(2) for m in re.finditer(r"JobId=(\d+) .*?JobState=(\S+)", _jobcomp_log().read_text())}
    assert {entries.get(j) for j in submitted} == {"COMPLETED"}
    # Each job ran Snakemake's jobstep on the node and its log is kept.
    job_logs = list((work / "logs" / "slurm").rglob("*.log"))
    assert {p.stem for p in job_logs} == submitted
    assert all("slurm-jobstep" in p.read_text() for p in job_logs)
    profile = (work / "profile" / "config.yaml").read_text()
    assert "executor: slurm" in profile


def test_products_match_the_local_run(runs, tiny_obs):
    local, slurm = (json.loads((runs[k] / "results" / "products.json").read_text()) for k in ("work_local", "work_slurm"))
    assert set(local["facet_images"]) == set(slurm["facet_images"])
    a = fits.getdata(local["mosaic"]).squeeze()
    b = fits.getdata(slurm["mosaic"]).squeeze()
    finite = np.isfinite(a) & np.isfinite(b)
    assert finite.sum() > 0.5 * a.size and np.array_equal(np.isfinite(a), np.isfinite(b))
    # DDECal and WSClean are multi-threaded and not bit-reproducible: two runs of the same
    # reduction differ by a few mrad in their solutions (measured 5-18 mrad on tiny) and their
    # mosaics by about 5 % of the mosaic's rms (measured: below 5 %, and 5.2 %): far below the noise.
    assert np.sqrt(np.mean((a - b)[finite] ** 2)) < 0.2 * image_rms(local["mosaic"])
    # What must hold: the runs agree far better than either agrees with the truth, and both
    # are equally far from it.
    truth = str(tiny_obs / "truth" / "gains.h5")
    for name in local["solutions"]:
        err_local = phase_errors(local["solutions"][name], truth, name)[..., 1:]
        err_slurm = phase_errors(slurm["solutions"][name], truth, name)[..., 1:]
        rms_local = np.sqrt(np.mean(err_local ** 2))
        between = np.angle(np.exp(1j * (err_local - err_slurm)))
        assert np.sqrt(np.mean(between ** 2)) < 0.25 * rms_local, name
        assert abs(np.sqrt(np.mean(err_slurm ** 2)) - rms_local) < 0.1 * rms_local, name


def test_generic_executor_submits_with_plain_sbatch(tiny_obs):
    """cluster_type = generic (cluster-generic executor, our sbatch command and factor-jobstatus),
    as far as the chunks (-s 0): the jobs are the scheduler's and the run ends by itself."""
    parset = _parset(tiny_obs, "work_generic", "cluster_type = generic\ngeneric_scheduler = slurm\nncpu = 2\n"
                     "mem_per_node_gb = 4\n")
    proc = subprocess.run([cli("runfactor"), str(parset), "-q", "-s", "0"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tiny_obs / "work_generic"
    assert list((work / "chunks").rglob("*.ms"))
    ids = {p.stem for p in (work / "logs" / "cluster").glob("*.log")}
    entries = {m.group(1): (m.group(2), m.group(3)) for m in
               re.finditer(r"JobId=(\d+) .*?Name=(\S+) JobState=(\S+)", _jobcomp_log().read_text())}
    assert {entries[i] for i in ids} == {("factor-chunk", "COMPLETED"), ("factor-skymodels", "COMPLETED")}
