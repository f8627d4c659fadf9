"""``runfactor parset``: the whole Factor reduction, driven through Snakemake.

Phase 1 (here, plain Python): read and check the parset, the directions file and the input
MSs, and write the run plan (``dir_working/config.yaml``) and the region files.  Nothing is
written before every input check has passed.  Phase 2: Snakemake runs the workflow in
``dir_working``; its own bookkeeping makes a rerun resume where the last run stopped.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psutil
import yaml

from . import __version__
from .bands import BandInfo, InputError, check_bands, find_input_ms, inspect_ms
from .calibrators import SelectionError, select_directions
from .directions import (
    DirectionsFileError,
    format_position,
    parse_position,
    read_directions_file,
    write_directions_file,
)
from .cluster import ClusterError, node_budget, profile, rule_resources, slurm_status_command
from .diskspace import check_space, stages_to_write, tree_size
from .engines import LEDGER_ENV, engine_environment
from .facets import Facet, ns_stretch, write_calimage_regions, write_ds9_regions
from .imaging import cal_image_size
from .openfiles import files_needed, raise_limit
from .layout import LayoutChangedError, check_layout, save_layout
from .parset import ParsetError, ParsetWarning, read_parset
from .plan import PlanError, build_plan, field_geometry, stop_after_targets
from .skymodel import read_skymodel
from .progress import Progress
from .reset import (
    OPERATIONS,
    ResetError,
    delete_outputs,
    parse_names,
    plan_reset,
    reset_targets,
)
from .runlock import RunLockError, check_not_running, run_lock
from .workflow_state import (
    OPERATIONS_IN_ORDER,
    Output,
    WorkflowStateError,
    is_locked,
    snakemake_command,
    summary,
)

log = logging.getLogger("factor")
SELECTED_DIRECTIONS = "factor_directions.txt"
PROFILE = "profile"   # the generated Snakemake profile (cluster.py), a folder in dir_working


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runfactor",
        usage="runfactor parset [options]",
        description="Run the Factor facet-calibration reduction described by a Factor parset. "
        "Re-running with the same parset resumes: completed work is skipped.",
        epilog="To start over completely, delete the 'results' and 'state' folders in the working "
        "directory and run again; everything but the chunking is redone.",
    )
    parser.add_argument("parset", help="Factor parset (INI format)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="show program's version number and exit")
    parser.add_argument("-d", dest="dry_run", action="store_true", help="enable dry-run mode")
    parser.add_argument("-q", dest="quiet", action="store_true", help="enable quiet mode")
    parser.add_argument("-r", "--reset", metavar="RESET", default=None,
                        help='comma-separated list of directions to reset (e.g., "-r facet1,facet3"); '
                        '"field" resets the mosaic')
    parser.add_argument("-o", "--ops", metavar="OPS", default=None,
                        help='comma-separated list of operations to reset for the directions specified with '
                        '"-r" or "--reset" (e.g., "-o facetselfcal,facetsub"). By default, all operations '
                        "are reset. Available operations are: " + ", ".join(OPERATIONS)
                        + " (and facetimage_c…, fieldmosaic_c… for one further imaging parameter set)")
    parser.add_argument("-s", "--stop_after", metavar="STOP_AFTER", type=int, default=None,
                        help="Stop after processing so many facetselfcal groups. "
                        "(Please note the difference between directions and groups!)")
    parser.add_argument("-v", dest="verbose", action="store_true", help="enable verbose mode")
    return parser


def fail(message: str) -> int:
    print(f"runfactor: error: {message}", file=sys.stderr)
    return 2


def _setup_logging(dir_working: Path, quiet: bool, verbose: bool) -> None:
    log.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    logfile = logging.FileHandler(dir_working / "factor.log")
    logfile.setLevel(logging.DEBUG)
    logfile.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    log.handlers[:] = [console, logfile]


def prepare(parset: str) -> tuple[dict, dict, dict]:
    """Read and check everything; returns (settings, plan, facets) or raises a one-line error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParsetWarning)
        settings = read_parset(parset)
    for w in caught:
        print(f"runfactor: warning: {w.message}", file=sys.stderr)
    paths = find_input_ms(settings["global"]["dir_ms"])
    if not paths:
        raise InputError(f"{settings['global']['dir_ms']}: no Measurement Sets (*.ms, *.MS, ...) found")
    mss = [inspect_ms(p) for p in paths]
    for ms in mss:
        options = settings["ms_options"].get(Path(ms.path).name, {})
        model = options.get("init_skymodel") or str(Path(ms.path).with_suffix("")) + settings["global"]["skymodel_extension"]
        if not Path(model).is_file():
            raise InputError(f"{ms.path}: DI sky model '{model}' not found (set init_skymodel in a [{Path(ms.path).name}] section)")
        ms.di_skymodel = str(Path(model).resolve())
    usable = check_bands(mss, settings["global"]["min_fraction_per_band"], settings["global"]["exit_on_bad_band"])
    bands = [BandInfo(name=f"Band_{ms.ref_freq_hz / 1e6:.2f}MHz", ms=ms) for ms in usable]
    try:
        ncpu, mem_mb = node_budget(settings["cluster"])
    except ClusterError as err:  # the node size could not be asked of the scheduler
        raise ParsetError(f"{settings['parset_file']}: {err}") from None
    directions, selected = _directions(settings, bands)
    plan = build_plan(settings, directions, bands, ncpu)
    plan["resources"] = rule_resources(settings["cluster"], ncpu, mem_mb, _job_gb(plan), _image_jobs(plan))
    return settings, plan, {"ncpu": ncpu, "mem_mb": mem_mb, "selected": selected,
                            "profile": profile(settings["cluster"], ncpu, mem_mb, _status_command(settings["cluster"]))}


def _status_command(c: dict) -> str:
    return slurm_status_command() if c["cluster_type"] == "slurm" else "sacct"


def _job_gb(plan: dict) -> dict[str, float]:
    """GB of visibilities one job of each rule reads: a chunk's share of its input MS
    (chunk, facetsub), or all chunks (facetselfcal, facetimage)."""
    chunks = plan["steps"]["chunk"].values()
    ms_size = {c["ms"]: tree_size(c["ms"]) for c in chunks}
    ms_times = {ms: sum(c["ntimes"] for c in chunks if c["ms"] == ms) for ms in ms_size}
    sizes = [ms_size[c["ms"]] * c["ntimes"] / max(1, ms_times[c["ms"]]) / 1e9 for c in chunks]
    largest, total = max(sizes, default=0.0), sum(sizes)
    return {"chunk": largest, "facetsub": largest, "facetselfcal": total, "facetimage": total}


def _image_jobs(plan: dict) -> dict[str, dict[str, float]]:
    """Relative size of each facetdata and facetimage job (facet width², in pixels for the
    images), by the job's wildcards joined by '/': which of them get more threads."""
    steps = plan["steps"]
    return {
        "facetdata": {name: e["direction"]["facet"]["width_deg"] ** 2 for name, e in steps["facetdata"].items()},
        "facetimage": {f"{op}/{name}": (e["direction"]["facet"]["width_deg"] * 3600.0 / e["cellsize_arcsec"]) ** 2
                       for op, entries in steps["facetimage"].items() for name, e in entries.items()},
    }


def directions_path(settings: dict) -> str:
    return settings["directions"]["directions_file"] or str(Path(settings["global"]["dir_working"]) / SELECTED_DIRECTIONS)


def _directions(settings: dict, bands: list[BandInfo]) -> tuple[list, list | None]:
    """(directions, newly selected directions to write or None).  Without a directions file:
    Factor's ``factor_directions.txt`` in dir_working if a previous run made it (so a resumed
    run keeps its calibrators), else an automatic selection from the faceting sky model."""
    d = settings["directions"]
    if d["directions_file"]:
        return read_directions_file(d["directions_file"]), None
    made = Path(settings["global"]["dir_working"]) / SELECTED_DIRECTIONS
    if made.is_file():
        return read_directions_file(made), None
    centre, elevation, fwhm, radius = field_geometry(bands, d["faceting_radius_deg"])
    model = d["faceting_skymodel"] or bands[-1].ms.di_skymodel
    try:
        chosen = select_directions(d, read_skymodel(model), d["faceting_skymodel"] is not None, centre, fwhm, radius,
                                   ns_stretch(elevation), bands[-1].freq_hz)
    except SelectionError as err:
        raise PlanError(f"{model}: calibrator selection: {err}") from None
    # Plan with the positions as the file will give them on resume (sexagesimal rounding).
    chosen = [replace(c, **dict(zip(("ra_deg", "dec_deg"), parse_position(*format_position(c.ra_deg, c.dec_deg).split(",")))))
              for c in chosen]
    return chosen, chosen


def selfcal_failures(dir_working: Path, plan: dict) -> list[str]:
    """One line per selfcal that failed its check, and which solutions its facet was imaged
    with (skip_selfcal_check: none)."""
    import json

    lines = []
    for stage, p in plan["steps"]["selfcal"].items():
        summary_path = dir_working / p["out_dir"] / "selfcal.json"
        if p["skip_selfcal_check"] or not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text())
        if summary.get("ok", True):
            continue
        v = summary.get("verification", {})
        why = (f"residual peak {v['peak_pre_jy']:.3g} -> {v['peak_post_jy']:.3g} Jy/beam" if v and not v["ok"]
               else "final selfcal image's dynamic range below the first image's")
        name = p["direction"]["name"]
        image_json = dir_working / "results" / "facetimage" / name / "facetimage.json"
        lent = json.loads(image_json.read_text())["solutions_from"] if image_json.is_file() else None
        used = f"; imaged with {lent}'s solutions" if lent and lent != name else ""
        lines.append(f"selfcal of {stage} failed its check ({why}); its model was not subtracted{used}")
    return lines


def _pause_for_inspection(dir_working: Path, directions_file: str) -> bool:
    """Factor's ``interactive = True``: show where the directions and facets are, ask to go on."""
    print(f"Directions file: {directions_file}\nFacet regions: {dir_working / 'regions' / 'facets_ds9.reg'}\n"
          "Check them now (edits to the directions file take effect if you continue).", file=sys.stderr)
    while True:
        try:
            answer = input("Continue processing (y/n)? ").strip().lower()
        except EOFError:
            answer = "n"
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def _write_run_files(dir_working: Path, plan: dict, extra: dict, selected: list | None = None) -> Path:
    for sub in ("logs", "logs/cluster", "results", "regions", "chunks", "state"):
        (dir_working / sub).mkdir(parents=True, exist_ok=True)
    if selected:
        write_directions_file(dir_working / SELECTED_DIRECTIONS, selected)
        log.info("selected %d calibrators: %s", len(selected), dir_working / SELECTED_DIRECTIONS)
    config_path = dir_working / "config.yaml"
    config_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    (dir_working / PROFILE).mkdir(exist_ok=True)
    (dir_working / PROFILE / "config.yaml").write_text(yaml.safe_dump(extra["profile"], sort_keys=False))
    facets = {
        d["name"]: Facet(d["name"], None, [tuple(v) for v in d["facet"]["vertices"]], d["facet"]["is_patch"],
                         d["facet"]["ra_deg"], d["facet"]["dec_deg"], d["facet"]["width_deg"])
        for d in plan["directions"]
    }
    write_ds9_regions(dir_working / "regions" / "facets_ds9.reg", facets)
    boxes = []
    for p in plan["steps"]["selfcal"].values():
        d = p["direction"]
        if p["pass"] != 1:
            continue
        cell = p["cellsize_arcsec"]
        size = cal_image_size(p["min_cal_imsize"], d["cal_size_deg"], cell)
        boxes.append((d["name"], d["ra_deg"], d["dec_deg"], size * cell / 3600.0))
    write_calimage_regions(dir_working / "regions" / "calimages_ds9.reg", boxes)
    save_layout(dir_working, plan)
    return config_path


def _interruptible() -> None:
    """In Snakemake's process: Ctrl-C acts even when runfactor was started in the background
    of a script, which starts it with SIGINT ignored (and Snakemake would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def _forward_termination(proc: subprocess.Popen):
    """SIGTERM or SIGHUP to runfactor (kill, a closed terminal, the end of the head node's
    allocation) stops the run as Ctrl-C in a terminal would: Snakemake gets SIGINT (it cancels
    its jobs on a scheduler, and waits for its local jobs) and every process it started gets
    SIGTERM (factor-step removes its scratch folder, the engines stop).  Without this they
    would all run on without their head process."""
    def forward(signum, frame):
        proc.terminated_by = signal.Signals(signum).name  # type: ignore[attr-defined]
        if proc.poll() is not None:
            return
        try:
            jobs = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            jobs = []
        proc.send_signal(signal.SIGINT)
        for job in jobs:
            try:
                job.terminate()
            except psutil.Error:
                pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _dry_run_report(dir_working: Path, plan: dict, config_path: Path, reset: list[Output]) -> list[str]:
    """Per operation and direction: what a run would do and why (nothing is written)."""
    lines = []
    if reset:
        lines.append("reset would delete:")
        lines += [f"  {o.operation:13s} {o.direction:16s} {o.path}" for o in reset]
    reset_paths = {o.path for o in reset}
    work = dir_working if (dir_working / ".snakemake").is_dir() else Path(tempfile.mkdtemp(prefix="factor-dry-"))
    outputs = summary(work, config_path)
    pending: dict[tuple[str, str], list[str]] = {}
    for o in outputs:
        if o.pending or o.path in reset_paths:
            why = "reset" if o.path in reset_paths else o.status
            pending.setdefault((o.operation, o.direction), []).append(why)
    if not pending:
        lines.append("nothing to do: every product is up to date")
    else:
        lines.append("would run:")
        ops = list(OPERATIONS_IN_ORDER)
        names = [d["name"] for d in plan["directions"]]

        def order(key: tuple[str, str]) -> tuple[int, int, str]:
            op, direction = key
            return (ops.index(op) if op in ops else len(ops), names.index(direction) if direction in names else -1, direction)

        for (op, direction), why in sorted(pending.items(), key=lambda item: order(item[0])):
            lines.append(f"  {op:13s} {direction:16s} ({', '.join(sorted(set(why)))})")
    if work is not dir_working:
        shutil.rmtree(work, ignore_errors=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reset_dirs, reset_ops = parse_names(args.reset), parse_names(args.ops)
    if reset_ops and not reset_dirs:
        return fail("-o needs -r (the directions whose operations to reset)")
    if args.stop_after is not None and args.stop_after < 0:
        return fail(f"-s: expected a number of selfcal groups >= 0, got {args.stop_after}")
    try:
        settings, plan, extra = prepare(args.parset)
        targets = reset_targets(plan, reset_dirs, reset_ops) if reset_dirs else []
    except (ParsetError, DirectionsFileError, InputError, PlanError, ResetError) as err:
        return fail(str(err))

    dir_working = Path(settings["global"]["dir_working"])
    with tempfile.TemporaryDirectory(prefix="factor-plan-") as tmp:
        # The new plan as a config file outside dir_working, for Snakemake's read-only
        # queries (reset, dry run) before anything in dir_working changes.
        draft = Path(tmp) / "config.yaml"
        draft.write_text(yaml.safe_dump(plan, sort_keys=False))
        try:
            if not args.dry_run:
                check_not_running(dir_working)
            to_delete = plan_reset(dir_working, draft, targets) if targets and dir_working.is_dir() else []
            check_layout(dir_working, plan, directions_path(settings))
            chunks_exist = all((dir_working / c["out_ms"]).exists() for c in plan["steps"]["chunk"].values())
            residuals = {stage: [c["out_ms"] for c in chunks.values()] for stage, chunks in plan["steps"]["subtract"].items()}
            left = stages_to_write(dir_working, residuals, [o.path for o in to_delete])
            space_error, space_warning = check_space(dir_working, [c["ms"] for c in plan["steps"]["chunk"].values()],
                                                     len(left), chunks_exist, compress=settings["global"]["use_compression"],
                                                     stages_total=len(residuals))
            if space_error and not args.dry_run:
                raise InputError(space_error)
            if space_warning:
                print(f"runfactor: warning: {space_warning}", file=sys.stderr)
        except (InputError, LayoutChangedError, RunLockError, WorkflowStateError) as err:
            return fail(str(err))
        if args.dry_run:
            for line in _dry_run_report(dir_working, plan, draft, to_delete):
                print(line)
            return 0

    return _run(args, settings, plan, extra, dir_working, to_delete)


def _run(args, settings: dict, plan: dict, extra: dict, dir_working: Path, to_delete: list[Output]) -> int:
    dir_working.mkdir(parents=True, exist_ok=True)
    with run_lock(dir_working):
        config_path = _write_run_files(dir_working, plan, extra, extra.get("selected"))
        _setup_logging(dir_working, args.quiet, args.verbose)
        log.info("runfactor %s: parset %s", __version__, settings["parset_file"])
        if to_delete:
            delete_outputs(dir_working, to_delete)
            log.info("reset: deleted %d product(s) of %s and everything computed from them",
                     len(to_delete), args.reset)
        if settings["global"]["interactive"]:
            if not _pause_for_inspection(dir_working, directions_path(settings)):
                log.info("stopped at the interactive pause")
                return 0
            try:  # the directions file may have been edited during the pause
                settings, plan, extra = prepare(args.parset)
                check_layout(dir_working, plan, directions_path(settings))
            except (ParsetError, DirectionsFileError, InputError, PlanError, LayoutChangedError) as err:
                return fail(str(err))
            config_path = _write_run_files(dir_working, plan, extra)
        log.info("%d band(s), %d direction(s) (%d processed) in %d selfcal group(s)", len(plan["bands"]),
                 len(plan["directions"]), sum(d["processed"] for d in plan["directions"]), len(plan["groups"]))
        for note in plan["notes"]:
            log.warning("%s", note)
        log.info("facets written to %s", dir_working / "regions" / "facets_ds9.reg")

        targets = stop_after_targets(plan, args.stop_after) if args.stop_after is not None else None
        if is_locked(dir_working):
            log.info("removing the stale Snakemake lock of a run that was killed")
            subprocess.run(snakemake_command(dir_working, config_path, 1, "--unlock"), capture_output=True,
                           env=engine_environment(), check=False)
        local = settings["cluster"]["cluster_type"] == "local"
        cmd = snakemake_command(dir_working, config_path, extra["ncpu"] if local else None, "--profile", str((dir_working / PROFILE).resolve()),
                                *(targets or []))
        nms = sum(len(chunks) for chunks in plan["chunks"].values())
        limit_warning = raise_limit(files_needed(nms))
        if limit_warning:
            log.warning("%s", limit_warning)
        c = settings["cluster"]
        log.info("jobs run %s: nodes of %d CPUs and %.1f GB; facetselfcal jobs get %d threads and %.1f GB each",
                 "on this machine" if local else f"through {c['cluster_type']}"
                 + (f" ({c['generic_scheduler']})" if c["generic_scheduler"] else ""),
                 extra["ncpu"], extra["mem_mb"] / 1024, plan["resources"]["facetselfcal"]["threads"],
                 plan["resources"]["facetselfcal"]["mem_mb"] / 1024)
        log.debug("running: %s", " ".join(cmd))
        env = engine_environment()
        (dir_working / "benchmarks").mkdir(exist_ok=True)
        env[LEDGER_ENV] = str((dir_working / "benchmarks" / "engines.tsv").resolve())
        progress = Progress(sys.stdout, dir_working, quiet=args.quiet, verbose=args.verbose)
        with open(dir_working / "factor.log", "a") as fh:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    preexec_fn=_interruptible)
            with _forward_termination(proc):
                assert proc.stdout is not None
                for line in proc.stdout:
                    fh.write(line)
                    fh.flush()
                    progress.feed(line)
                rc = proc.wait()
        progress.finish()
        if getattr(proc, "terminated_by", None):
            log.error("stopped by %s: running jobs were stopped; run runfactor again to resume", proc.terminated_by)
            return 1
        if rc != 0:
            report = progress.failure_report()
            for line in report:
                log.error(line)
            if not report:
                log.error("the workflow failed (exit %d); see %s", rc, dir_working / "factor.log")
            return 1
        for line in selfcal_failures(dir_working, plan):
            log.warning(line)
        if targets is not None:
            log.info("stopped after %d selfcal group(s) as requested (-s); run again without -s to continue",
                     args.stop_after)
        else:
            log.info("Factor has finished :) products: %s", dir_working / "results" / "products.json")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
