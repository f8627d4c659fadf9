"""Benchmark of the facet chain: simulate, reduce, measure against the truth, print a table.

    python bench/facet_chain.py [--preset small] [--seed 1] [--keep | --report | --resume] [--set SECTION.KEY=VALUE ...]

Runs in bench/runs/<preset>-<seed>/ (reused if the simulation is already there).  ``--resume``
continues a kept run that was stopped (the `benchmark` preset takes longer than a working day on
2 cores): runfactor resumes it, and the wall time is the sum of the parts, an interrupted part
counted up to its last engine call (its CPU is then unknown).  Reports:
wall time; CPU of the whole run and the share spent inside DP3/WSClean (engine ledger); wall
time per rule (Snakemake benchmark files); R_res = rms of a dirty image of residual_ms / rms of a dirty
image of the noise-only MS, identical settings (1.0 is the physical limit); R_mosaic =
mosaic rms (source-free) / rms of the noise-only MS imaged facet by facet and mosaicked as the
run's facets were (noise_reference.py: the facet clean reaches into the noise); DI-only rms / DD
rms; calibrator flux ratios (pbcor / truth) and position offsets; phase errors vs truth.
With peeled sources (presets bright, small-bright): per source, the flux its solutions give it (apparent) and,
inside the field, the pbcor mosaic's integrated flux within 1.5' (intrinsic), against the truth;
its phase and slow-amplitude errors; and the rms of a dirty image of the final residual around it against the
noise imaged the same way.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from factor_cli.engines import run_wsclean
from factor_cli.imaging import image_rms
from factor_cli.noise_reference import noise_mosaic
from factor_cli.quality import (
    amplitude_errors,
    fitted_flux,
    integrated_flux,
    phase_errors,
    residual_near,
    source_free_rms,
)

from bench_runs import residual_image_args  # bench/, the script's own folder

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the run folder afterwards")
    ap.add_argument("--report", action="store_true", help="measure the run kept by an earlier --keep instead of running")
    ap.add_argument("--resume", action="store_true", help="continue the kept run (runfactor resumes it), then measure; "
                    "implies --keep")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="parset setting for this run (e.g. calibration.peel_flux_jy=100: the bright preset's "
                         "in-field source self-calibrated instead of peeled)")
    args = ap.parse_args()
    run = HERE / "runs" / f"{args.preset}-{args.seed}"
    if not (run / "truth" / "truth.json").is_file():
        subprocess.run([str(BIN / "factor-simulate"), str(run), "--preset", args.preset, "--seed", str(args.seed), "--overwrite"], check=True)
    work = run / "work"
    timing = work / "bench_run.json"
    parts_file = work / "bench_parts.json"
    if args.resume:
        args.keep = True
    if not args.report:
        if not args.resume:
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        parts = json.loads(parts_file.read_text()) if parts_file.is_file() else []
        for setting in args.set:
            set_key(run / "factor.parset", setting)
        part = {"start_epoch": time.time(), "wall_s": None, "cpu_s": None, "steal_s": None}
        parts.append(part)
        parts_file.write_text(json.dumps(parts))
        start = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        steal_before = steal_seconds()
        subprocess.run([str(BIN / "runfactor"), str(run / "factor.parset"), "-q"], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        steal_after = steal_seconds()
        # All CPU of runfactor and its descendants (Snakemake, steps, engines), as the kernel counted it.
        part.update(wall_s=time.monotonic() - start,
                    cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                    steal_s=None if steal_before is None else steal_after - steal_before)
        parts_file.write_text(json.dumps(parts))
        calls = ledger_calls(work / "benchmarks" / "engines.tsv")
        timing.write_text(json.dumps(combine_parts(parts, [(start, start + wall_s) for _, _, wall_s, start, _ in calls])))
    run_time = json.loads(timing.read_text())
    wall, total_cpu, steal = run_time["wall_s"], run_time["cpu_s"], run_time.get("steal_s")
    truth = json.loads((run / "truth" / "truth.json").read_text())
    products = json.loads((work / "results" / "products.json").read_text())

    cpu_by_rule: dict[str, float] = defaultdict(float)
    wall_by_rule: dict[str, float] = defaultdict(float)
    for tsv in (work / "benchmarks").rglob("*.tsv"):
        if tsv.name == "engines.tsv":
            continue
        rule = tsv.relative_to(work / "benchmarks").parts[0].removesuffix(".tsv")
        with open(tsv) as fh:
            rec = list(csv.DictReader(fh, delimiter="\t"))[-1]
        cpu_by_rule[rule] += float(rec["cpu_time"])
        wall_by_rule[rule] += float(rec["s"])
    engine_cpu = defaultdict(float)
    intervals = []
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # calls, CPU, wall
    threads, kinds = [], []
    for name, cpu, wall_s, start_epoch, kind in ledger_calls(work / "benchmarks" / "engines.tsv"):
        engine_cpu[name] += cpu
        intervals.append((start_epoch, start_epoch + wall_s))
        label = f"{name.removesuffix('.py')} {kind}"
        threads.append((start_epoch, start_epoch + wall_s, int(kind.rsplit(" j", 1)[1]) if " j" in kind else 1))
        kinds.append((start_epoch, start_epoch + wall_s, label))
        entry = by_kind[label]
        entry[0] += 1
        entry[1] += cpu
        entry[2] += wall_s
    busy = busy_seconds(intervals)

    ref = work / "bench_images"
    ref.mkdir(exist_ok=True)
    common = residual_image_args(run)
    noise_ms = [str(run / m) for m in truth["noise_ms"].values()]
    inputs = [str(run / m) for m in truth["noise_ms"]]
    # The noise and DI-only images depend only on the simulation and their WSClean arguments:
    # made once per run folder for the same arguments (a report of a kept run reuses them).
    thermal = noise_rms(run, truth, ref)
    r_res = residual_rms(run, products["residual_ms"], ref / "resid") / thermal
    image_once([*common, "-niter", "20000", "-nmiter", "12", "-auto-threshold", "1.5", "-auto-mask", "4",
                "-mgain", "0.8", "-no-update-model-required", "-name", str(ref / "di"), *inputs])
    sky = str(run / "truth" / "sky.txt")
    dd = source_free_rms(products["mosaic_pbcut"], sky)
    di = source_free_rms(str(ref / "di-image.fits"), sky)
    # The mosaic's thermal reference: the noise imaged facet by facet and mosaicked as the run's
    # first imaging set was (its clean reaches into the noise; noise_reference.py).
    config = yaml.safe_load((work / "config.yaml").read_text())
    noise_mosaic_path = noise_mosaic(noise_ms, config, config["image_sets"][0]["image_op"], ref / "noise_facets")
    thermal_mosaic = source_free_rms(noise_mosaic_path, sky, within=products["mosaic_pbcut"])

    print(f"\n## facet chain benchmark: preset {args.preset}, seed {args.seed}\n")
    print("| quantity | value |\n|---|---|")
    print(f"| wall time | {wall:.0f} s |")
    if run_time.get("parts", 1) > 1:
        print(f"| run in parts (--resume) | {run_time['parts']}, {run_time['interrupted']} interrupted "
              "(counted up to their last engine call) |")
    cores = os.cpu_count() or 1
    engines = sum(engine_cpu.values())
    if total_cpu is not None:
        print(f"| CPU time, whole run (all processes) | {total_cpu:.0f} s (utilisation {100 * total_cpu / wall / cores:.0f} % "
              f"of {cores} cores) |")
    print(f"| CPU inside DP3 / WSClean | {engine_cpu.get('DP3.py', 0):.0f} s / {engine_cpu.get('wsclean', 0):.0f} s "
          + (f"({100 * engines / total_cpu:.0f} % of the run's CPU) |" if total_cpu else "|"))
    # Orchestration cost (issue: beyond one machine): how much longer the run took than the
    # engines' CPU spread perfectly over the cores.
    print(f"| wall / (engine CPU / {cores} cores) | {wall / (engines / cores):.2f} (target <= 1.15) |")
    if steal is not None:
        # On a shared virtual machine the hypervisor may run other guests on "our" cores: that
        # time (steal) lengthens the wall time without being the pipeline's doing.
        print(f"| CPU stolen by the hypervisor (other guests) | {steal:.0f} s ({100 * steal / wall / cores:.0f} % of "
              f"{cores} cores) |")
        print(f"| the same ratio over the cores the machine got, (cores x wall - steal) / engine CPU | "
              f"{(cores * wall - steal) / engines:.2f} |")
    # Its two factors: time in which no engine ran (Snakemake, Python steps, waiting), and how
    # fully the engines that ran used the cores.
    print(f"| wall time with an engine running | {100 * busy / wall:.1f} % |")
    print(f"| engine CPU / wall time with an engine running | {engines / busy:.2f} of {cores} cores |")
    print(f"| CPU utilisation of the {cores} cores by the engines | {100 * engines / wall / cores:.0f} % |")
    occupancy = thread_seconds(threads)
    print(f"| wall time with 0 / 1 / 2+ engine threads asked for (first to last call) | {occupancy.get(0, 0.0):.0f} / "
          f"{occupancy.get(1, 0.0):.0f} / {sum(v for k, v in occupancy.items() if k >= 2):.0f} s |")
    for before, after, seconds, n in gaps_by_neighbours(kinds):
        print(f"| no engine running between {before} and {after} | {seconds:.0f} s in {n} gaps |")
    print(f"| thermal rms (noise MS, facet settings) | {1e3 * thermal:.3f} mJy/beam |")
    print(f"| R_res (dirty residual / dirty noise) | {r_res:.2f} |")
    print(f"| thermal rms of the mosaic (noise imaged and mosaicked as the facets) | {1e3 * thermal_mosaic:.3f} mJy/beam |")
    print(f"| R_mosaic (mosaic rms / the noise imaged and mosaicked as the facets) | {dd / thermal_mosaic:.2f} |")
    print(f"| mosaic rms / dirty noise (R_mosaic before session 20) | {dd / thermal:.2f} |")
    print(f"| DI-only rms / DD rms | {di / dd:.2f} |")
    print("\n| engine call (threads) | calls | CPU s | wall s | cores used while running |\n|---|---|---|---|---|")
    for kind, (n, cpu, wall_s) in sorted(by_kind.items(), key=lambda kv: -kv[1][2]):
        print(f"| {kind} | {n} | {cpu:.0f} | {wall_s:.0f} | {cpu / wall_s if wall_s else 0:.2f} |")
    print("\n| rule | jobs' wall s | CPU s sampled by Snakemake's benchmark (misses short engine runs) |\n|---|---|---|")
    for rule in sorted(wall_by_rule, key=lambda r: -wall_by_rule[r]):
        print(f"| {rule} | {wall_by_rule[rule]:.0f} | {cpu_by_rule[rule]:.0f} |")
    print("\n| calibrator (true flux) | fitted flux pbcor / truth | position offset (arcsec) | phase error rms (rad) "
          "| slow amplitude error rms | fast mode | amplitude loops | verification peak pre→post (Jy/beam) |"
          "\n|---|---|---|---|---|---|---|---|")
    for cal in truth["calibrators"]:
        flux, off = fitted_flux(products["mosaic_pbcor"], cal["ra_deg"], cal["dec_deg"])
        freq = float(np.mean([b["ref_freq_hz"] for b in truth["bands"]]))
        true_flux = cal["flux_jy"] * (freq / cal["ref_freq_hz"]) ** cal["spectral_index"][0]
        err = phase_errors(products["solutions"][cal["direction"]], str(run / "truth" / "gains.h5"), cal["direction"])
        h5 = products["solutions"][cal["direction"]]
        amp = amplitude_errors(h5, str(run / "truth" / "gains.h5"), cal["direction"])
        summary = json.loads((Path(h5).parent / "selfcal.json").read_text())
        v = summary["verification"]
        print(f"| {cal['direction']} ({true_flux:.2f} Jy) | {flux / true_flux:.3f} | {off:.1f} | "
              f"{np.sqrt(np.mean(err[..., 1:] ** 2)):.3f} | {np.sqrt(np.mean(amp ** 2)):.3f} | {summary['fast_mode']} | "
              f"{summary['amplitude_loop']['iterations']} | {v['peak_pre_jy']:.3f}→{v['peak_post_jy']:.3f} |")
    if truth.get("peeled"):
        print("\n| peeled source | as | flux from its solutions / truth | pbcor mosaic integrated flux / truth "
              "| phase error rms (rad) | slow amplitude error rms | residual rms near it / thermal near it |"
              "\n|---|---|---|---|---|---|---|")
        freq = float(np.mean([b["ref_freq_hz"] for b in truth["bands"]]))
        for src in truth["peeled"]:
            name = src["name"]
            h5 = products["solutions"][name]
            summary = json.loads((Path(h5).parent / "selfcal.json").read_text())
            solved = summary.get("apparent_flux_jy")
            by_solutions = f"{solved / float(np.mean(src['apparent_flux_jy'])):.3f}" if solved else "-"
            by_image = "-"
            if not src["outlier"]:  # imaged: intrinsic flux in the primary-beam-corrected mosaic
                true = src["flux_jy"] * (freq / src["ref_freq_hz"]) ** src["spectral_index"][0]
                by_image = f"{integrated_flux(products['mosaic_pbcor'], src['ra_deg'], src['dec_deg'], 90.0) / true:.3f}"
            err = phase_errors(h5, str(run / "truth" / "gains.h5"), name)
            amp = amplitude_errors(h5, str(run / "truth" / "gains.h5"), name)
            near, _ = residual_near(products["residual_ms"], src["ra_deg"], src["dec_deg"], str(ref / f"near_{name}"))
            noise, _ = residual_near(noise_ms, src["ra_deg"], src["dec_deg"], str(ref / f"noise_{name}"))
            print(f"| {name} | {summary.get('operation', 'facetselfcal')} | {by_solutions} | {by_image} | "
                  f"{np.sqrt(np.mean(err[..., 1:] ** 2)):.3f} | {np.sqrt(np.mean(amp ** 2)):.3f} | {near / noise:.2f} |")
    if not (args.keep or args.report):
        shutil.rmtree(work, ignore_errors=True)
    return 0


def noise_rms(run: Path, truth: dict, ref: Path) -> float:
    """R_res's reference: the rms of the noise-only MSs' dirty image (``ref/noise``, made once)."""
    image_once([*residual_image_args(run), "-name", str(ref / "noise"), *[str(run / m) for m in truth["noise_ms"].values()]])
    return image_rms(str(ref / "noise-image.fits"))


def residual_rms(run: Path, residual_ms: list[str], name: Path) -> float:
    """The rms of a dirty image of ``residual_ms`` made as the noise image of ``noise_rms``."""
    run_wsclean([*residual_image_args(run), "-name", str(name), *residual_ms], threads=2)
    return image_rms(f"{name}-image.fits")


def image_once(args: list[str]) -> None:
    """WSClean with ``args`` unless an image made with the same arguments is already there
    (``<name>-args.json`` beside it records them)."""
    name = args[args.index("-name") + 1]
    made = Path(f"{name}-args.json")
    if Path(f"{name}-image.fits").is_file() and made.is_file() and json.loads(made.read_text()) == args:
        return
    run_wsclean(args, threads=2)
    made.write_text(json.dumps(args))


def set_key(parset: Path, setting: str) -> None:
    """``section.key=value`` into the parset (replacing an earlier value of the key)."""
    target, value = setting.split("=", 1)
    section, key = target.split(".", 1)
    lines = [line for line in parset.read_text().splitlines() if line.split("=")[0].strip().lower() != key.lower()]
    header = f"[{section}]"
    if header not in lines:
        lines += ["", header]
    lines.insert(lines.index(header) + 1, f"{key} = {value}")
    parset.write_text("\n".join(lines) + "\n")


def steal_seconds(stat: str | None = None) -> float | None:
    """CPU time the hypervisor gave to other guests since boot (Linux /proc/stat, all cores), or
    None where the kernel does not report it."""
    if stat is None:
        try:
            stat = Path("/proc/stat").read_text()
        except OSError:
            return None
    fields = stat.splitlines()[0].split()
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def ledger_calls(ledger: Path) -> list[tuple[str, float, float, float, str]]:
    """Every engine call in the ledger: (engine, CPU s, wall s, start epoch, kind; "?" in ledgers
    written before calls recorded their kind)."""
    calls = []
    for line in ledger.read_text().splitlines() if ledger.is_file() else []:
        name, cpu, wall_s, start_epoch, kind = (line.split("\t") + ["?"])[:5]
        calls.append((name, float(cpu), float(wall_s), float(start_epoch), kind))
    return calls


def combine_parts(parts: list[dict], engine_calls: list[tuple[float, float]]) -> dict:
    """One run's timing from the parts it ran in.  A part that was stopped before it could record
    itself (``wall_s`` None) counts from its start to the end of the last engine call that started
    within it, and then the run's CPU is unknown (None): only runfactor's own children were
    measured, and those of a killed part are lost."""
    wall, cpu, steal, interrupted = 0.0, 0.0, 0.0, 0
    for i, part in enumerate(parts):
        if part["wall_s"] is None:
            interrupted += 1
            end = parts[i + 1]["start_epoch"] if i + 1 < len(parts) else float("inf")
            ends = [b for a, b in engine_calls if part["start_epoch"] <= a < end]
            wall += (max(ends) - part["start_epoch"]) if ends else 0.0
            cpu = steal = None
            continue
        wall += part["wall_s"]
        if cpu is not None:
            cpu += part["cpu_s"]
        if steal is not None:
            steal = None if part["steal_s"] is None else steal + part["steal_s"]
    return {"wall_s": wall, "cpu_s": cpu, "steal_s": steal, "parts": len(parts), "interrupted": interrupted}


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of the (start, end) intervals: the time at least one engine ran."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def thread_seconds(calls: list[tuple[float, float, int]]) -> dict[int, float]:
    """Wall time between the first call's start and the last one's end during which 0, 1, ...
    engine threads were asked for (calls: (start, end, threads)): where the cores stood idle
    for want of an engine call (0) or beside a lone one-thread call (1)."""
    events = sorted([(a, n) for a, _, n in calls] + [(b, -n) for _, b, n in calls])
    seconds: dict[int, float] = defaultdict(float)
    running, last = 0, events[0][0] if events else 0.0
    for t, change in events:
        seconds[running] += t - last
        running, last = running + change, t
    return dict(sorted(seconds.items()))


def gaps_by_neighbours(calls: list[tuple[float, float, str]], top: int = 5) -> list[tuple[str, str, float, int]]:
    """The times with no engine running, summed by the kinds of the calls before and after
    them (calls: (start, end, kind)), largest first: which hand-overs cost the run most."""
    order = sorted(calls)
    sums: dict[tuple[str, str], list] = defaultdict(lambda: [0.0, 0])
    end, before = float("-inf"), ""
    for a, b, kind in order:
        if a > end and before:
            sums[(before, kind)][0] += a - end
            sums[(before, kind)][1] += 1
        if b > end:
            end, before = b, kind
    return sorted(((p, n, v[0], v[1]) for (p, n), v in sums.items()), key=lambda x: -x[2])[:top]


if __name__ == "__main__":
    raise SystemExit(main())
