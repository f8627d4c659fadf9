"""End to end on the `tiny` simulation: runfactor with the real DP3 and WSClean, measured
against the simulated truth (issues: the facet chain; automatic calibrator selection).

The run has no directions file: runfactor chooses the calibrators from the DI sky model
(Factor's selection) and lays out the facets itself, as a user without a directions file
would run it.  The run-control tests cover a run with a directions file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from factor_cli import verification
from factor_cli.engines import run_wsclean
from factor_cli.facets import separation_deg
from factor_cli.imaging import image_rms
from factor_cli.noise_reference import noise_mosaic
from factor_cli.quality import amplitude_errors, fitted_flux, phase_errors, source_free_rms

from conftest import cli


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


AUTO_SELECTION = "size_max_arcmin = 3.0\nseparation_max_arcmin = 10.0\nflux_min_jy = 1.0"
# A second imaging parameter set: coarser cells and a 25" taper.  (tiny's 12 stations observed
# for 1 h give a PSF whose fitted beam runs away to arcminutes with robust 0.5 or a 40" taper.)
SECOND_SET = ("[imaging]\nfacet_cellsize_arcsec = [8.0, 12.0]\nfacet_robust = [-0.5, -0.5]\n"
              "facet_taper_arcsec = [0, 25]\nfacet_min_uv_lambda = [80, 80]\n")
SECOND_OP = "facetimage_c12.0r-0.50t25.0u80.0"


def chosen_for(products: dict, cal: dict) -> str:
    """The selected direction at a true calibrator (within 1')."""
    pos = (cal["ra_deg"], cal["dec_deg"])
    name, d = min(products["directions"].items(), key=lambda kv: separation_deg(pos, (kv[1]["ra_deg"], kv[1]["dec_deg"])))
    assert separation_deg(pos, (d["ra_deg"], d["dec_deg"])) < 1.0 / 60.0, f"no direction selected at {cal['name']}"
    return name


@pytest.fixture(scope="module")
def run(tiny_obs, tmp_path_factory):
    before = tree_digest(tiny_obs / "sim.ms")
    parset = tiny_obs / "auto.parset"
    text = (tiny_obs / "factor.parset").read_text().replace("directions_file = directions.txt", AUTO_SELECTION)
    parset.write_text(text.replace("dir_working = work", "dir_working = work_auto").replace("[imaging]\n", SECOND_SET))
    proc = subprocess.run([cli("runfactor"), str(parset), "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tiny_obs / "work_auto"
    products = json.loads((work / "results" / "products.json").read_text())
    # Reference images: the data without any DD correction (DI only), and the noise alone imaged
    # facet by facet and mosaicked as each imaging set's facets were (noise_reference.py: the
    # facet clean reaches into the noise, so a dirty noise image is no thermal reference).
    ref = tmp_path_factory.mktemp("reference")
    settings = ["-size", "2400", "2400", "-scale", "8asec", "-weight", "briggs", "-0.5", "-minuv-l", "80"]
    run_wsclean([*settings, "-no-dirty", "-niter", "20000", "-nmiter", "12", "-auto-threshold", "1.5",
                 "-auto-mask", "4", "-mgain", "0.8", "-no-update-model-required", "-name", str(ref / "di"),
                 str(tiny_obs / "sim.ms")], threads=2)
    config = yaml.safe_load((work / "config.yaml").read_text())
    noise = [str(tiny_obs / "truth" / "noise.ms")]
    for op, folder in (("facetimage", "noise"), (SECOND_OP, "noise2")):
        noise_mosaic(noise, config, op, ref / folder)
    return {"work": work, "products": products, "input_digest_before": before, "ref": ref, "parset": parset}


def test_products_manifest(run, tiny_obs):
    p = run["products"]
    for key in ("mosaic_pbcor", "mosaic_pbcut", "mosaic"):
        assert Path(p[key]).is_file()
    names = {d for d in json.loads((tiny_obs / "truth" / "truth.json").read_text())["noise_ms"]}
    assert names == {"sim.ms"}
    assert set(p["solutions"]) == set(p["facet_images"]) == set(p["directions"])
    assert all(Path(v).is_file() for v in [*p["solutions"].values(), *p["facet_images"].values()])
    assert all(Path(m).is_dir() for m in p["residual_ms"])
    assert all(len(d["polygon"]) >= 3 for d in p["directions"].values())
    assert (run["work"] / "regions" / "facets_ds9.reg").read_text().count("polygon(") == len(p["directions"])


def test_input_ms_is_not_modified(run, tiny_obs):
    assert tree_digest(tiny_obs / "sim.ms") == run["input_digest_before"]


def test_every_rule_wrote_log_and_benchmark(run):
    benchmarks = list((run["work"] / "benchmarks").rglob("*.tsv"))
    logs = list((run["work"] / "logs").rglob("*.log"))
    rules = {b.relative_to(run["work"] / "benchmarks").parts[0].removesuffix(".tsv") for b in benchmarks}
    assert {"chunk", "skymodels", "facetselfcal", "facetsub", "facetimage", "fieldmosaic", "products"} <= rules
    assert len(logs) >= len(benchmarks) - 1


def test_mosaic_beats_di_only_image(run, tiny_obs):
    """Measured 9.22x (seed 7, facet models restored onto the cleaned residual); 5.41x with the
    model added back and cleaned again (Factor's facet imaging), 4.98x without the fast phases'
    smoothing as well, 4.04x with Factor's 75 steps of 0.02 as well."""
    sky = str(tiny_obs / "truth" / "sky.txt")
    dd = source_free_rms(run["products"]["mosaic_pbcut"], sky)
    di = source_free_rms(str(run["ref"] / "di-image.fits"), sky, within=run["products"]["mosaic_pbcut"])
    assert dd <= di / 7.0, (dd, di)


def test_mosaic_noise_near_thermal(run, tiny_obs):
    """Against the noise imaged facet by facet and mosaicked as the run's facets were (the facet
    clean reaches into the noise: on tiny's 12-station PSF that noise mosaic is 0.73 of a dirty
    noise image).  Measured 1.74x (seed 7, facet models restored onto the cleaned residual; the
    dirty residual is ~1.8x the dirty noise).  Against the dirty noise image, as measured before:
    1.27x restored, 2.16x with the model added back and cleaned again (Factor's facet imaging),
    2.34x without the fast phases' smoothing as well, 2.73x with Factor's 75 steps of 0.02, 2.9x
    before TEC+phase and the loop, 3.2x without the medium-resolution model: the bound catches a
    regression of the imaging (2.16 / 0.73 = 3.0 here) or the selfcal."""
    sky = str(tiny_obs / "truth" / "sky.txt")
    dd = source_free_rms(run["products"]["mosaic_pbcut"], sky)
    thermal = source_free_rms(str(run["ref"] / "noise" / "noise_mosaic.fits"), sky, within=run["products"]["mosaic_pbcut"])
    assert dd <= 2.0 * thermal, (dd, thermal)
    # The phase-shifted noise copies are removed once imaged (on `benchmark` they were 16 GB).
    assert not list((run["ref"] / "noise").rglob("*.ms"))


def test_calibrator_fluxes_and_positions(run, tiny_truth):
    """Integrated flux (fit of the restoring beam) in the pbcor mosaic within 5 % of the true
    intrinsic flux at the image frequency; position within 0.2 of the restoring beam (FWHM,
    geometric mean of the axes)."""
    from astropy.io import fits

    header = fits.getheader(run["products"]["mosaic_pbcor"])
    beam_arcsec = 3600.0 * (header["BMAJ"] * header["BMIN"]) ** 0.5
    for cal in tiny_truth["calibrators"]:
        flux, offset = fitted_flux(run["products"]["mosaic_pbcor"], cal["ra_deg"], cal["dec_deg"])
        true_flux = cal["flux_jy"] * (tiny_truth["bands"][0]["ref_freq_hz"] / cal["ref_freq_hz"]) ** cal["spectral_index"][0]
        assert flux == pytest.approx(true_flux, rel=0.05), cal["name"]
        assert offset < 0.2 * beam_arcsec, cal["name"]


def test_every_simulated_calibrator_was_selected(run, tiny_truth):
    """Recall: every true calibrator brighter (apparent) than flux_min_jy has a direction."""
    assert (run["work"] / "factor_directions.txt").is_file()
    bright = [c for c in tiny_truth["calibrators"] if c["apparent_flux_jy"][0] > 1.0]
    assert bright and all(chosen_for(run["products"], c) for c in bright)


def test_recovered_phases_match_truth(run, tiny_obs, tiny_truth):
    for cal in tiny_truth["calibrators"]:
        d = cal["direction"]
        err = phase_errors(run["products"]["solutions"][chosen_for(run["products"], cal)],
                           str(tiny_obs / "truth" / "gains.h5"), d)
        # measured 0.039-0.065 rad; 0.047-0.100 without the smoothing in time
        assert np.sqrt(np.mean(err[..., 1:] ** 2)) < 0.09, d


def test_recovered_slow_amplitudes_match_truth(run, tiny_obs, tiny_truth):
    """The true station gains differ by ~10 % (and drift by 5 %); the smoothed, normalised slow
    amplitudes recover them to a few per cent (measured 1.3-3.3 %)."""
    for cal in tiny_truth["calibrators"]:
        err = amplitude_errors(run["products"]["solutions"][chosen_for(run["products"], cal)],
                               str(tiny_obs / "truth" / "gains.h5"), cal["direction"])
        assert np.sqrt(np.mean(err ** 2)) < 0.05, cal["direction"]


def test_selfcal_products_and_checks(run):
    """Factor's solution file layout, normalised smoothed amplitudes, the loop and the
    verification recorded, and the PNGs a user inspects."""
    from factor_cli.h5parm import read_soltab

    # Replacing a direction's model by the self-calibrated one must lower the residual near the
    # direction (peak within 0.25 deg) in pass 1 (a DI model replaced; seed 7: local peaks fall
    # 39-79 %) and must not raise the field's robust rms in any pass (7-22 %).  In a later pass
    # the local peak may already be a noise peak (seen: 0.039 -> 0.041 Jy/beam, rms 0.008, once
    # the selfcal images were cleaned in the calibrator box only) and must not rise by more
    # than the noise.  Where the field peak (Factor's statistic) is the direction's own, it must
    # drop too; elsewhere it is another direction's leftover and moves by chance, by less than
    # twice the noise (seen: +1.8 sigma 11' from the next direction in pass 2 while the field
    # rms fell 17 %; +0.5 sigma on a not yet calibrated direction 1.9 deg away in pass 1).
    plan = yaml.safe_load((run["work"] / "config.yaml").read_text())
    for stage, step in plan["steps"]["selfcal"].items():
        out = run["work"] / step["out_dir"]
        pre, post = str(out / "verify_pre.fits"), str(out / "verify_post.fits")
        centre = (step["direction"]["ra_deg"], step["direction"]["dec_deg"])
        local_pre, local_post = verification.peak(pre, centre), verification.peak(post, centre)
        rms_pre = image_rms(pre)
        assert local_post < (local_pre if step["pass"] == 1 else local_pre + rms_pre), stage
        assert image_rms(post) <= rms_pre, stage
        v = json.loads((out / "selfcal.json").read_text())["verification"]
        if local_pre == v["peak_pre_jy"]:
            assert v["peak_post_jy"] < v["peak_pre_jy"], stage
        else:
            assert v["peak_post_jy"] < v["peak_pre_jy"] + 2.0 * rms_pre, stage
    for name, h5 in run["products"]["solutions"].items():
        out = Path(h5).parent
        summary = json.loads((out / "selfcal.json").read_text())
        assert summary["ok"] and summary["verification"]["ok"], name
        assert 1 <= summary["amplitude_loop"]["iterations"] <= summary["amplitude_loop"]["max_loops"]
        tabs = {t: read_soltab(h5, t) for t in ("tec000", "phase000", "amplitude000", "amplitude001", "phase001")}
        assert summary["fast_mode"] == "tecandphase"
        amp = tabs["amplitude001"].values
        assert np.exp(np.mean(np.log(amp))) == pytest.approx(1.0, abs=0.01)
        for png in ("selfcal_image_c0.png", "verify_post.png", "solutions_tec000.png", "solutions_amplitude001.png"):
            assert (out / png).stat().st_size > 1000, (name, png)


def test_workflow_is_lint_clean(run):
    import sys

    from factor_cli.workflow_files import snakefile

    out = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(snakefile()),
                          "--configfile", str(run["work"] / "config.yaml"), "--directory", str(run["work"])],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_second_image_set_reaches_the_same_quality_at_its_resolution(run, tiny_obs, tiny_truth):
    """The tapered set, imaged from the shared calibrated facet data: its own mosaic and pbcor
    image at its cell size, a wider restoring beam, calibrator fluxes within 5 % and positions
    within 0.2 beam, noise against the noise imaged and mosaicked as this set's facets.
    Measured (seed 7): 1.85x (the first set: 1.74x; the residual excess is largest on short
    baselines, which the taper weights up), fluxes 0.966-0.993, offsets <= 0.2" (with WSClean's
    -restore-list, which puts components on pixel centres, 2.6-6.1" and 0.92).  Against a dirty
    noise image: 1.41x, and 2.91x with the model cleaned again (0.76 of that image here: 3.8x)."""
    from astropy.io import fits

    second = run["products"]["image_sets"][SECOND_OP]
    assert second["cellsize_arcsec"] == 12.0 and second["taper_arcsec"] == 25.0
    assert set(second["facet_images"]) == set(run["products"]["facet_images"])
    first = fits.getheader(run["products"]["mosaic_pbcor"])
    header = fits.getheader(second["mosaic_pbcor"])
    beam_arcsec = 3600.0 * (header["BMAJ"] * header["BMIN"]) ** 0.5
    assert header["BMIN"] > 1.2 * first["BMIN"], (header["BMIN"], first["BMIN"])  # measured 24.5" vs 18.5"
    assert abs(header["CDELT2"]) * 3600.0 == pytest.approx(12.0)
    sky = str(tiny_obs / "truth" / "sky.txt")
    dd = source_free_rms(second["mosaic_pbcut"], sky)
    thermal = source_free_rms(str(run["ref"] / "noise2" / "noise_mosaic.fits"), sky, within=second["mosaic_pbcut"])
    assert dd <= 2.2 * thermal, (dd, thermal)
    for cal in tiny_truth["calibrators"]:
        flux, offset = fitted_flux(second["mosaic_pbcor"], cal["ra_deg"], cal["dec_deg"])
        true_flux = cal["flux_jy"] * (tiny_truth["bands"][0]["ref_freq_hz"] / cal["ref_freq_hz"]) ** cal["spectral_index"][0]
        assert flux == pytest.approx(true_flux, rel=0.05), cal["name"]
        assert offset < 0.2 * beam_arcsec, cal["name"]


def test_reset_of_one_image_set_redoes_only_that_set(run):
    """``-r DIR -o facetimage_c…``: that set's facet image and mosaic are redone; the first set,
    the shared calibrated facet data and every other direction are untouched."""
    work = run["work"]
    name = sorted(run["products"]["facet_images"])[0]

    def mtimes(pattern: str) -> dict:
        return {p: p.stat().st_mtime_ns for p in work.glob(pattern) if p.is_file()}

    keep = (mtimes("results/facetimage/**/*") | mtimes("results/facetdata/**/*") | mtimes("results/fieldmosaic/**/*")
            | mtimes("results/facetselfcal/**/*"))
    others = {p: t for p, t in mtimes(f"results/{SECOND_OP}/*/image.fits").items() if p.parent.name != name}
    redone = [work / "results" / SECOND_OP / name / "image.fits",
              work / "results" / SECOND_OP.replace("facetimage", "fieldmosaic") / "field" / "mosaic.fits"]
    before = [p.stat().st_mtime_ns for p in redone]
    proc = subprocess.run([cli("runfactor"), str(run["parset"]), "-q", "-r", name, "-o", SECOND_OP],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(p.stat().st_mtime_ns > t for p, t in zip(redone, before))
    assert (mtimes("results/facetimage/**/*") | mtimes("results/facetdata/**/*") | mtimes("results/fieldmosaic/**/*")
            | mtimes("results/facetselfcal/**/*")) == keep
    assert {p: t for p, t in mtimes(f"results/{SECOND_OP}/*/image.fits").items() if p.parent.name != name} == others
