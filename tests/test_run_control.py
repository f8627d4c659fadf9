"""Run control on the real engines (issue: run control): stop-after, dry run, kill -9 and
resume, rerun without recomputation, parset edits, reset, ndir_process 2 → 3, layout change,
checkfactor, interactive pause.  One small run (2 of 5 directions, one selfcal pass) on the
session's `tiny` observation, driven step by step; the tests run in file order."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from conftest import cli

from factor_cli.directions import read_directions_file, write_directions_file


def runfactor(parset: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([cli("runfactor"), str(parset), "-q", *args], capture_output=True, text=True, input=stdin)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
        h.update(str(f.stat().st_mtime_ns).encode())
    return h.hexdigest()


def mtimes(work: Path, pattern: str) -> dict[str, int]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in sorted(work.glob(pattern)) if p.is_file()}


@pytest.fixture(scope="module")
def rc(tiny_obs, tmp_path_factory):
    base = tmp_path_factory.mktemp("runcontrol")
    (base / "directions.txt").write_text((tiny_obs / "directions.txt").read_text())
    parset = base / "factor.parset"
    body = (f"[global]\ndir_working = work\ndir_ms = {tiny_obs}\n"
            "[calibration]\nselfcal_passes = 1\n"
            # Coarse facet images (about 1000 px instead of 2048): run control re-images the field
            # after most steps, and what is tested here is which jobs run, not the image quality.
            "[imaging]\nselfcal_cellsize_arcsec = 8.0\nfacet_cellsize_arcsec = [16.0]\nwsclean_use_idg = False\n"
            "[directions]\ndirections_file = directions.txt\nndir_process = 2\n")
    parset.write_text(body)
    names = [line.split()[0] for line in (base / "directions.txt").read_text().splitlines() if line and line[0] != "#"]
    state = {"parset": parset, "work": base / "work", "names": names, "body": body,
             "ms_digest": digest(tiny_obs / "sim.ms")}
    return state


def test_stop_after_one_group(rc):
    out = runfactor(rc["parset"], "-s", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    work = rc["work"]
    order = yaml.safe_load((work / "config.yaml").read_text())["order"]  # processing order
    rc["names"] = order + [n for n in rc["names"] if n not in order]
    first, second = rc["names"][:2]
    assert (work / f"results/facetselfcal/{first}/selfcal.json").is_file()
    assert list((work / f"results/facetsub/{first}").glob("*.ms"))
    assert not (work / f"results/facetselfcal/{second}").exists()
    assert not (work / "results/products.json").exists()
    rc["group1"] = mtimes(work, f"results/*/{first}/*")


def test_dry_run_reports_and_changes_nothing(rc):
    before = digest(rc["work"])
    out = runfactor(rc["parset"], "-d")
    assert out.returncode == 0, out.stderr[-2000:]
    assert digest(rc["work"]) == before
    second = rc["names"][1]
    assert any(line.split()[:2] == ["facetselfcal", second] and "missing" in line for line in out.stdout.splitlines()), out.stdout
    assert not any(line.split()[:2] == ["facetselfcal", rc["names"][0]] for line in out.stdout.splitlines())


def _start_until_second_selfcal(rc) -> subprocess.Popen:
    log = rc["work"] / "logs" / "facetselfcal" / f"{rc['names'][1]}.log"
    log.unlink(missing_ok=True)
    proc = subprocess.Popen([cli("runfactor"), str(rc["parset"]), "-q"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.is_file() and "wsclean" in log.read_text()):
        time.sleep(1)
    assert log.is_file(), "the second direction's selfcal never started"
    return proc


def test_sigterm_stops_snakemake_and_its_jobs(rc):
    """Killing runfactor (not its process group) must not leave Snakemake and the engines running."""
    proc = _start_until_second_selfcal(rc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # any process of the run left?
        except ProcessLookupError:
            break
        time.sleep(1)
    else:
        pytest.fail("processes of the terminated run are still running")
    assert not (rc["work"] / "state" / "runfactor.pid").is_file()


def test_kill_9_then_resume(rc):
    work = rc["work"]
    proc = _start_until_second_selfcal(rc)
    status = subprocess.run([cli("checkfactor"), str(rc["parset"])], capture_output=True, text=True)
    assert status.returncode == 0 and "running" in status.stdout, status.stdout + status.stderr
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (work / "state" / "runfactor.pid").is_file() and any((work / ".snakemake" / "locks").iterdir())
    interrupted = subprocess.run([cli("checkfactor"), str(rc["parset"])], capture_output=True, text=True)
    assert "interrupted" in interrupted.stdout, interrupted.stdout

    out = runfactor(rc["parset"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert (work / "results/products.json").is_file()
    first = rc["names"][0]
    now = mtimes(work, f"results/*/{first}/*")
    assert {k: now.get(k) for k in rc["group1"]} == rc["group1"]  # group 1 not recomputed
    rc["mosaic"] = np.squeeze(fits.getdata(work / "results/fieldmosaic/field/mosaic.pbcut.fits"))


def test_checkfactor_shows_every_direction_done(rc):
    out = subprocess.run([cli("checkfactor"), str(rc["parset"])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()[2:-1]}
    for name in rc["names"][:2]:
        assert rows[name] == ["done", "done", "done", "-"], out.stdout
    assert rows["field"][-1] == "done"


def test_checkfactor_map_and_status_page(rc, tmp_path):
    from matplotlib.image import imread

    out = subprocess.run([cli("checkfactor"), str(rc["parset"]), "--plot", str(tmp_path / "map.png"),
                          "--html", str(tmp_path / "page")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    picture = imread(tmp_path / "map.png")
    assert picture.shape[0] > 200 and picture[..., :3].std() > 0.05  # not blank
    page = (tmp_path / "page" / "index.html").read_text()
    first = rc["names"][0]
    assert f"{first}_solutions.png" in page and f"{first}_selfcal_image_c3.png" in page
    assert all((tmp_path / "page" / src).is_file() for src in ("facets.png", f"{first}_solutions.png"))


def test_archive_then_resume_elsewhere_recomputes_nothing(rc, tmp_path):
    """archivefactor -r -d all → unarchivefactor into another folder → runfactor there: every
    product is kept (no job runs, mtimes unchanged); the products are in the archive."""
    arch, restored = tmp_path / "archive", tmp_path / "restored"
    out = subprocess.run([cli("archivefactor"), str(rc["parset"]), str(arch), "-r", "-d", "all"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first = rc["names"][0]
    for rel in ("misc/directions.txt", "misc/factor.parset", "images/field/mosaic.pbcor.fits", f"images/{first}/image.fits",
                f"solutions/{first}/solutions.h5", f"sky_models/{first}/facet_model.skymodel",
                f"plots/{first}/solutions_phase000.png", f"calibrated_data/{first}/{first}_calibrated_data_t0.ms"):
        assert (arch / rel).exists(), rel
    again = subprocess.run([cli("archivefactor"), str(rc["parset"]), str(arch)], capture_output=True, text=True)
    assert again.returncode == 2 and "not empty" in again.stderr
    out = subprocess.run([cli("unarchivefactor"), str(arch), str(restored)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    parset = restored / "factor.parset"
    assert f"dir_working = {restored.resolve()}" in parset.read_text()
    before = mtimes(restored, "results/**/*")
    out = runfactor(parset)
    assert out.returncode == 0, out.stderr[-2000:]
    assert mtimes(restored, "results/**/*") == before
    products = restored / "results" / "products.json"
    assert products.is_file()
    plain = tmp_path / "plain"
    subprocess.run([cli("archivefactor"), str(rc["parset"]), str(plain)], check=True, capture_output=True)
    refused = subprocess.run([cli("unarchivefactor"), str(plain), str(tmp_path / "r2")], capture_output=True, text=True)
    assert refused.returncode == 2 and "without -r" in refused.stderr


def test_rerun_recomputes_nothing(rc):
    work = rc["work"]
    before = mtimes(work, "results/**/*")
    out = runfactor(rc["parset"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert mtimes(work, "results/**/*") == before


def test_changed_imaging_key_reruns_only_facet_imaging(rc):
    work = rc["work"]
    selfcal = mtimes(work, "results/facetselfcal/**/*") | mtimes(work, "results/facetsub/**/*")
    image = mtimes(work, "results/facetimage/**/*")
    rc["parset"].write_text(rc["body"].replace("[imaging]\n", "[imaging]\nfacet_robust = [-0.25]\n"))
    out = runfactor(rc["parset"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert mtimes(work, "results/facetselfcal/**/*") | mtimes(work, "results/facetsub/**/*") == selfcal
    after = mtimes(work, "results/facetimage/**/*")
    assert all(after[k] != v for k, v in image.items() if k.endswith("image.fits"))
    rc["parset"].write_text(rc["body"])
    assert runfactor(rc["parset"]).returncode == 0


def test_reset_is_persistent_and_leaves_other_directions_alone(rc):
    work = rc["work"]
    first, second = rc["names"][:2]
    keep = mtimes(work, f"results/facetimage/{first}/*") | mtimes(work, "results/facetselfcal/**/*")
    # Reset, then stop before any selfcal group: the reset products must stay deleted.
    out = runfactor(rc["parset"], "-r", second, "-o", "facetimage", "-s", "0")
    assert out.returncode == 0, out.stderr[-2000:]
    assert not (work / f"results/facetimage/{second}/image.fits").exists()
    assert not (work / "results/fieldmosaic/field/mosaic.fits").exists()
    out = runfactor(rc["parset"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert (work / f"results/facetimage/{second}/image.fits").is_file()
    assert mtimes(work, f"results/facetimage/{first}/*") | mtimes(work, "results/facetselfcal/**/*") == keep


def test_reset_of_the_first_direction_recomputes_the_chain_consistently(rc):
    work = rc["work"]
    second = rc["names"][1]
    old_second = mtimes(work, f"results/facetselfcal/{second}/*")
    out = runfactor(rc["parset"], "-r", rc["names"][0], "-o", "facetselfcal")
    assert out.returncode == 0, out.stderr[-2000:]
    # The second direction starts from the first one's residual, so it was redone too.
    assert all(v != old_second[k] for k, v in mtimes(work, f"results/facetselfcal/{second}/*").items())
    mosaic = np.squeeze(fits.getdata(work / "results/fieldmosaic/field/mosaic.pbcut.fits"))
    ok = np.isfinite(mosaic) & np.isfinite(rc["mosaic"])
    diff = mosaic[ok] - rc["mosaic"][ok]
    noise = 1.4826 * np.median(np.abs(rc["mosaic"][ok] - np.median(rc["mosaic"][ok])))
    assert np.sqrt(np.mean(diff**2)) < 0.1 * noise  # same result, within a tenth of the noise


def test_raising_ndir_process_continues_with_the_next_direction(rc):
    work = rc["work"]
    done = mtimes(work, "results/facetselfcal/**/*") | mtimes(work, "results/facetsub/**/*")
    rc["parset"].write_text(rc["body"].replace("ndir_process = 2", "ndir_process = 3"))
    out = runfactor(rc["parset"])
    assert out.returncode == 0, out.stderr[-2000:]
    after = mtimes(work, "results/facetselfcal/**/*") | mtimes(work, "results/facetsub/**/*")
    assert {k: after.get(k) for k in done} == done
    assert (work / f"results/facetselfcal/{rc['names'][2]}/selfcal.json").is_file()
    assert set(json.loads((work / "results/products.json").read_text())["facet_images"]) == set(rc["names"][:3])


def test_facet_layout_change_is_refused_and_nothing_changes(rc):
    work = rc["work"]
    before = digest(work)
    dirs = rc["parset"].parent / "directions.txt"
    original = dirs.read_text()
    moved = read_directions_file(str(dirs))
    moved[-1] = replace(moved[-1], dec_deg=moved[-1].dec_deg + 0.1)  # a direction moved by 6'
    write_directions_file(dirs, moved)
    out = runfactor(rc["parset"])
    dirs.write_text(original)
    assert out.returncode == 2
    assert "facet layout changed" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert digest(work) == before


def test_unknown_reset_names_list_the_valid_ones(rc):
    out = runfactor(rc["parset"], "-r", "nosuch")
    assert out.returncode == 2 and rc["names"][0] in out.stderr and "field" in out.stderr
    out = runfactor(rc["parset"], "-r", rc["names"][0], "-o", "selfcal")
    assert out.returncode == 2 and "facetselfcal" in out.stderr


def test_interactive_pause(rc, tmp_path):
    parset = rc["parset"].parent / "interactive.parset"
    parset.write_text(rc["body"].replace("dir_working = work", f"dir_working = {tmp_path / 'w'}")
                      .replace("[global]\n", "[global]\ninteractive = True\n"))
    out = runfactor(parset, stdin="n\n")
    assert out.returncode == 0 and "Continue processing (y/n)?" in out.stdout + out.stderr
    assert (tmp_path / "w/regions/facets_ds9.reg").is_file() and not list((tmp_path / "w/chunks").rglob("*.ms"))
    out = runfactor(parset, "-s", "0", stdin="y\n")
    assert out.returncode == 0, out.stderr[-2000:]
    assert list((tmp_path / "w/chunks").rglob("*.ms"))


def test_engine_failure_names_job_direction_and_log(rc):
    """Break the final residual (our own product) and reset the facet images: DP3/WSClean fail,
    and runfactor says which job, which direction, where the log is, and shows its tail."""
    work = rc["work"]
    config = yaml.safe_load((work / "config.yaml").read_text())
    residual = work / config["steps"]["products"]["residual_ms"][0]
    for table in residual.glob("table.f*"):
        table.write_bytes(b"broken")
    first = rc["names"][0]
    out = runfactor(rc["parset"], "-r", first, "-o", "facetimage")
    assert out.returncode == 1
    log = work / "logs" / "facetimage" / f"{first}.log"
    assert f"job facetimage {first} failed; log: {log}" in out.stderr, out.stderr[-3000:]
    tail = log.read_text().strip().splitlines()[-1]
    assert tail.strip() in out.stderr


def test_full_restart_recipe_redoes_everything_but_chunking(rc):
    """The seed's recipe: delete results/ and state/, run again (here up to the first group)."""
    import shutil

    work = rc["work"]
    chunks = mtimes(work, "chunks/**/*")
    shutil.rmtree(work / "results")
    shutil.rmtree(work / "state")
    out = runfactor(rc["parset"], "-s", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert mtimes(work, "chunks/**/*") == chunks
    first = rc["names"][0]
    assert (work / f"results/facetselfcal/{first}/selfcal.json").is_file()
    assert (work / "state" / "layout.json").is_file()


def test_input_ms_untouched_after_runs_resets_and_resumes(rc, tiny_obs):
    assert digest(tiny_obs / "sim.ms") == rc["ms_digest"]


def test_failed_verification_stops_the_run_and_says_why(rc):
    """Factor's verification with an impossible threshold: the first direction's selfcal fails,
    exit_on_selfcal_failure (default) stops the run before its subtraction, naming the direction
    and the check; checkfactor shows the direction as 'selfcal failed'."""
    import json

    parset = rc["parset"].with_name("fail.parset")
    parset.write_text(rc["body"].replace("dir_working = work", "dir_working = work_fail")
                      .replace("[calibration]\n", "[calibration]\nverify_max_peak_jy = 1e-6\n"))
    out = runfactor(parset, "-s", "1")
    first = rc["names"][0]
    assert out.returncode == 1
    assert f"selfcal of {first} failed its check" in out.stderr, out.stderr[-3000:]
    summary = json.loads((parset.parent / "work_fail" / "results" / "facetselfcal" / first / "selfcal.json").read_text())
    assert not summary["ok"] and not summary["verification"]["ok"]
    assert summary["verification"]["peak_post_jy"] > 1e-6
    table = subprocess.run([cli("checkfactor"), str(parset)], capture_output=True, text=True).stdout
    assert "selfcal failed" in next(line for line in table.splitlines() if line.startswith(first))
