"""``factor-step NAME PARAMS_JSON LOG THREADS``: run one pipeline step (what a Snakemake rule calls).

Rules pass their parameters as one JSON string (Snakemake ``params``, quoted with ``:q``), so a
parset change that alters a step's parameters reruns exactly that step; the step's engine
output goes to the rule's log.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

STEPS = ("chunk", "skymodels", "selfcal", "subtract", "facetimage", "mosaic", "products")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4 or argv[0] not in STEPS or not argv[3].isdigit():
        print(f"usage: factor-step {{{','.join(STEPS)}}} PARAMS_JSON LOG THREADS", file=sys.stderr)
        return 2
    name, params, log, threads = argv
    log_path = Path(log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"factor_cli.steps.{name}")
    try:
        module.run({**json.loads(params), "threads": int(threads)}, log_path)
    except Exception as err:  # noqa: BLE001 - report any failure in the job's log, then fail the job
        with open(log_path, "a") as fh:
            fh.write(traceback.format_exc())
        print(f"factor-step {name}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
