"""``checkfactor parset``: the state of every direction × operation of a Factor run.

Read-only: Snakemake's ``--summary --nolock`` (done / pending and why), its incomplete-job
markers (running, or interrupted when no runfactor is alive), the selfcal verdicts in
``selfcal.json``, and job logs left without outputs (failed).  Safe while runfactor runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import yaml

from . import __version__
from .parset import ParsetError, ParsetWarning, read_parset
from .runlock import running_pid
from .statusplots import direction_state, facet_map, html_page
from .workflow_state import Output, WorkflowStateError, incomplete_outputs, summary

COLUMNS = ("outlierpeel", "facetpeel", "facetselfcal", "facetsub", "facetimage", "fieldmosaic")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="checkfactor", description="Show the progress of a Factor run: a table "
                                     "of every direction and operation (done, running, pending, failed, selfcal failed).")
    parser.add_argument("parset", help="Factor parset of the run")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--watch", metavar="SECONDS", type=float, default=None, help="refresh every SECONDS seconds")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="draw the field with the facets coloured by state and the calibrators marked")
    parser.add_argument("--html", metavar="DIR", default=None,
                        help="write a status page (map, selfcal images, solution plots) to DIR/index.html")
    return parser


def cell_state(outputs: list[Output], dir_working: Path, incomplete: set[str], alive: bool) -> tuple[str, str]:
    """(state, detail) of one direction × operation from its outputs."""
    if not outputs:
        return "-", ""
    if any(o.path in incomplete for o in outputs):
        return ("running", "") if alive else ("interrupted", "redone on the next run")
    for o in outputs:
        if o.path.endswith("selfcal.json") and (dir_working / o.path).is_file():
            if not json.loads((dir_working / o.path).read_text()).get("ok", True):
                return "selfcal failed", o.path
    pending = [o for o in outputs if o.pending]
    if not pending:
        return "done", ""
    for o in pending:
        logs = [dir_working / log for log in o.logs if (dir_working / log).is_file()]
        if logs and o.status == "missing" and not alive:
            return "failed", str(logs[0])
    reasons = sorted({o.status for o in pending})
    return "pending", ", ".join(reasons)


def collect(dir_working: Path) -> tuple[dict, dict[str, dict[str, tuple[str, str]]], list[str]]:
    """(config, state of every direction × operation, header/footer lines)."""
    config_path = dir_working / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    outputs = summary(dir_working, config_path)
    incomplete = incomplete_outputs(dir_working)
    pid = running_pid(dir_working)
    directions = [d["name"] for d in config["directions"] if d.get("processed", True)] + ["field"]
    cells: dict[tuple[str, str], list[Output]] = {}
    for o in outputs:
        cells.setdefault((o.direction, o.operation), []).append(o)
    shown = {"outlierpeel": bool(config.get("outliers")), "facetpeel": bool(config.get("facet_peels"))}
    columns = [c for c in COLUMNS if shown.get(c, True)]
    states = {d: {op: cell_state(cells.get((d, op), []), dir_working, incomplete, pid is not None) for op in columns}
              for d in directions}
    done = sum(1 for o in outputs if not o.pending)
    notes = [f"run in {dir_working}: " + (f"runfactor running (pid {pid})" if pid else "no runfactor running"),
             f"{done} of {len(outputs)} products up to date"]
    return config, states, notes


def status_table(states: dict[str, dict[str, tuple[str, str]]], notes: list[str]) -> list[str]:
    width = max(len(d) for d in [*states, "direction"]) + 2
    columns = list(next(iter(states.values())))
    lines = [notes[0], "direction".ljust(width) + "".join(c.ljust(16) for c in columns)]
    details = []
    for d, row in states.items():
        lines.append(d.ljust(width) + "".join(row[op][0].ljust(16) for op in columns))
        details += [f"{d} {op}: {state}: {detail}" for op, (state, detail) in row.items()
                    if state in ("failed", "selfcal failed") and detail]
    return lines + notes[1:] + details


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ParsetWarning)
            settings = read_parset(args.parset)
        for w in caught:
            print(f"checkfactor: warning: {w.message}", file=sys.stderr)
    except ParsetError as err:
        print(f"checkfactor: error: {err}", file=sys.stderr)
        return 2
    dir_working = Path(settings["global"]["dir_working"])
    if not (dir_working / "config.yaml").is_file():
        print(f"checkfactor: no run in {dir_working} yet (start one with: runfactor {args.parset})")
        return 0
    while True:
        try:
            config, states, notes = collect(dir_working)
        except WorkflowStateError as err:
            print(f"checkfactor: error: {err}", file=sys.stderr)
            return 1
        lines = status_table(states, notes)
        if args.watch and sys.stdout.isatty():
            sys.stdout.write("\033[H\033[2J")
        print("\n".join(lines), flush=True)
        summary_states = {d: direction_state({op: st for op, (st, _) in row.items()}) for d, row in states.items()}
        if args.plot:
            facet_map(config, summary_states, Path(args.plot))
        if args.html:
            print(f"status page: {html_page(Path(args.html), dir_working, config, lines, summary_states)}")
        if not args.watch:
            return 0
        time.sleep(args.watch)


if __name__ == "__main__":
    raise SystemExit(main())
