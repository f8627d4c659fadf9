"""``factor-step NAME PARAMS_JSON LOG THREADS WSCLEAN_MEM_MB [SCRATCH]``: run one pipeline step
(what a Snakemake rule calls).

Rules pass their parameters as one JSON string (Snakemake ``params``, quoted with ``:q``), so a
parset change that alters a step's parameters reruns exactly that step; the step's engine
output goes to the rule's log.  Threads, WSClean's memory and the node-local scratch folder
come from the job's resources instead (cluster.py): where a job runs must not rerun it.
SIGTERM (a scheduler's cancel or time limit) unwinds like an exception, so a step's scratch
folder is removed even then.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import traceback
from pathlib import Path

STEPS = ("chunk", "skymodels", "selfcal", "peel", "subtract", "facetimagedata", "facetimage", "mosaic", "products")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (5, 6) or argv[0] not in STEPS or not argv[3].isdigit() or not argv[4].isdigit():
        print(f"usage: factor-step {{{','.join(STEPS)}}} PARAMS_JSON LOG THREADS WSCLEAN_MEM_MB [SCRATCH]", file=sys.stderr)
        return 2
    # An empty scratch resource vanishes from the shell command (Snakemake quotes '' as nothing).
    name, params, log, threads, mem_mb, scratch = (*argv, "")[:6]
    log_path = Path(log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"factor_cli.steps.{name}")
    signal.signal(signal.SIGTERM, _terminated)
    job = {"threads": int(threads), "wsclean_mem_mb": int(mem_mb), "scratch": scratch or None}
    try:
        module.run({**json.loads(params), **job}, log_path)
    except Exception as err:  # noqa: BLE001 - report any failure in the job's log, then fail the job
        with open(log_path, "a") as fh:
            fh.write(traceback.format_exc())
        print(f"factor-step {name}: {err}", file=sys.stderr)
        return 1
    return 0


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    raise SystemExit(main())
