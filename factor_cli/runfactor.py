"""``runfactor parset``: the whole Factor reduction, driven through Snakemake.

Phase 1 (here, plain Python): read and check the parset, the directions file and the input
MSs, and write the run plan (``dir_working/config.yaml``) and the region files.  Nothing is
written before every input check has passed.  Phase 2: Snakemake runs the workflow in
``dir_working``; its own bookkeeping makes a rerun resume where the last run stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import yaml

from . import __version__
from .bands import BandInfo, InputError, check_bands, find_input_ms, inspect_ms
from .directions import DirectionsFileError, read_directions_file
from .engines import LEDGER_ENV, engine_environment
from .facets import Facet, write_ds9_regions
from .parset import ParsetError, ParsetWarning, read_parset
from .plan import PlanError, build_plan
from .workflow_files import snakefile

OPERATIONS = ("outlierpeel", "facetpeel", "facetpeelimage", "facetselfcal", "facetsub", "facetimage", "fieldmosaic")
log = logging.getLogger("factor")


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
                        "are reset. Available operations are: " + ", ".join(OPERATIONS))
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
    directions = read_directions_file(settings["directions"]["directions_file"])
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
    ncpu = settings["cluster"]["ncpu"] or os.cpu_count() or 1
    plan = build_plan(settings, directions, bands, ncpu)
    return settings, plan, {"ncpu": ncpu}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.reset or args.ops or args.stop_after is not None:
        return fail("-r/-o/-s (reset and stop-after) are not implemented in this version")
    try:
        settings, plan, extra = prepare(args.parset)
    except (ParsetError, DirectionsFileError, InputError, PlanError) as err:
        return fail(str(err))

    dir_working = Path(settings["global"]["dir_working"])
    for sub in ("logs", "results", "regions", "chunks"):
        (dir_working / sub).mkdir(parents=True, exist_ok=True)
    _setup_logging(dir_working, args.quiet, args.verbose)
    log.info("runfactor %s: parset %s", __version__, settings["parset_file"])
    log.info("%d band(s), %d direction(s) in %d selfcal group(s)", len(plan["bands"]), len(plan["directions"]), len(plan["groups"]))
    if settings["directions"]["check_edges"]:
        log.warning("check_edges: moving facet edges around sources is not implemented yet; facets are plain Voronoi cells")
    config_path = dir_working / "config.yaml"
    config_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    facets = {
        d["name"]: Facet(d["name"], None, [tuple(v) for v in d["facet"]["vertices"]], d["facet"]["is_patch"],
                         d["facet"]["ra_deg"], d["facet"]["dec_deg"], d["facet"]["width_deg"])
        for d in plan["directions"]
    }
    write_ds9_regions(dir_working / "regions" / "facets_ds9.reg", facets)
    log.info("facets written to %s", dir_working / "regions" / "facets_ds9.reg")

    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile()), "--directory", str(dir_working),
        "--configfile", str(config_path), "--cores", str(extra["ncpu"]), "--rerun-incomplete",
        "--show-failed-logs",
    ]
    if args.dry_run:
        cmd += ["--dry-run"]
    if args.quiet:
        cmd += ["--quiet", "progress"]
    log.debug("running: %s", " ".join(cmd))
    with open(dir_working / "factor.log", "a") as fh:
        env = engine_environment()
        (dir_working / "benchmarks").mkdir(exist_ok=True)
        env[LEDGER_ENV] = str((dir_working / "benchmarks" / "engines.tsv").resolve())
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            fh.flush()
            if not args.quiet or "Error" in line:
                sys.stderr.write(line)
        rc = proc.wait()
    if rc != 0:
        log.error("the workflow failed (exit %d); see the job logs under %s", rc, dir_working / "logs")
        return 1
    if not args.dry_run:
        log.info("Factor has finished :) products: %s", dir_working / "results" / "products.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
