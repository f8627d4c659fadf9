"""R_res of a run part-way: the residual that a selfcal stage's subtraction left, imaged as the
bench images the final residual, against the same noise image.

    python bench/residual_after.py [--preset benchmark] [--seed 1] [STAGE ...]

For runs longer than a working session (`benchmark` with two passes takes ~5.5 h on 2 cores):
how far the residual has come after each finished stage, before the run ends (the directions
not yet in the pass keep what the previous pass left).  Without STAGE: every stage whose
subtraction jobs have all ended (Snakemake's benchmark file of each chunk's job is there).
The noise image is the bench's own (``facet_chain.noise_rms``: made once, reused by the report).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bench_runs import preset_run  # bench/, the script's own folder
from facet_chain import noise_rms, residual_rms


def finished_stages(work: Path, subtract: dict) -> list[str]:
    return [stage for stage, chunks in subtract.items()
            if all((work / "benchmarks" / "facetsub" / stage / f"{chunk}.tsv").is_file() for chunk in chunks)]


def main() -> int:
    args, run = preset_run(__doc__, "benchmark", 1, [(("stages",), {"nargs": "*", "metavar": "STAGE"})])
    run = run.resolve()  # the report's images name the run folder by its real path
    work = run / "work"
    subtract = yaml.safe_load((work / "config.yaml").read_text())["steps"]["subtract"]
    done = finished_stages(work, subtract)
    stages = args.stages or done
    for stage in stages:
        if stage not in done:
            raise SystemExit(f"residual_after.py: stage {stage!r} has not finished its subtraction "
                             f"(finished: {', '.join(done) or 'none'})")
    truth = json.loads((run / "truth" / "truth.json").read_text())
    ref = work / "bench_images"
    ref.mkdir(exist_ok=True)
    thermal = noise_rms(run, truth, ref)
    print("| after the subtraction of | R_res |\n|---|---|")
    for stage in stages:
        residual = [str(work / c["out_ms"]) for c in subtract[stage].values()]
        print(f"| {stage} | {residual_rms(run, residual, ref / f'resid_after_{stage}') / thermal:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
