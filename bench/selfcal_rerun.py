"""One direction's self-calibration rerun on a kept run, with changed parameters, against the truth.

    python bench/selfcal_rerun.py RUN DIRECTION [--set KEY=VALUE ...] [--name NAME] [--threads N]

RUN is a run folder kept by ``bench/facet_chain.py --keep`` (it holds ``truth/`` and ``work/``);
DIRECTION a selfcal stage of its config (``dir06``, or ``dir06.p2`` for a later pass).  The stage's
own parameters (``work/config.yaml``), with each ``--set`` applied (KEY dotted into nested entries,
VALUE read as YAML: ``--set multiscale=true --set direction.cal_size_deg=0.15``), run the selfcal
step on the same input the run's stage had, into ``work/reruns/NAME/DIRECTION``; nothing of the
run is changed.  Printed for the run's own result and the rerun: per cycle, the selfcal image's
flux (a fit of the restoring beam at the calibrator) over the calibrator's band-averaged apparent
flux, and the image rms; the amplitude-loop cycles; the verification; the fast-phase and
slow-amplitude errors against the simulated gains.

Why: the causes of session 23's flux loss were separated by such reruns (a premask, no
pre-averaging, the calibrator-box clean), each an A/B on one direction in minutes instead of a
whole run in hours.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import yaml
from astropy.wcs import FITSFixedWarning

from factor_cli.quality import amplitude_errors, fitted_flux, phase_errors

BIN = Path(sys.executable).parent


def set_nested(entry: dict, key: str, value) -> None:
    """``entry[a][b] = value`` for ``key`` 'a.b'; an unknown key is an error (a typo would
    otherwise rerun the stage unchanged)."""
    *parents, last = key.split(".")
    for part in parents:
        if not isinstance(entry.get(part), dict):
            raise KeyError(f"--set {key}: '{part}' is not a group of the stage's parameters")
        entry = entry[part]
    if last not in entry:
        raise KeyError(f"--set {key}: '{last}' is not a parameter of the stage (known: {', '.join(sorted(entry))})")
    entry[last] = value


def summarise(out_dir: Path, calibrator: dict, truth_h5: Path, direction: str) -> list[str]:
    """The table rows of one selfcal result folder."""
    summary = json.loads((out_dir / "selfcal.json").read_text())
    apparent = float(np.mean(calibrator["apparent_flux_jy"]))
    fluxes = []
    for c in summary["cycles"]:
        image = out_dir / f"selfcal_image_c{c['cycle']}.fits"
        flux = fitted_flux(str(image), calibrator["ra_deg"], calibrator["dec_deg"])[0] if image.is_file() else float("nan")
        fluxes.append(f"{flux / apparent:.3f}")
    rms = " ".join(f"{1e3 * c['rms_jy']:.2f}" for c in summary["cycles"])
    h5 = str(out_dir / "solutions.h5")
    phase = phase_errors(h5, str(truth_h5), direction)
    amp = amplitude_errors(h5, str(truth_h5), direction)
    v = summary["verification"]
    return [" ".join(fluxes), rms, str(summary["amplitude_loop"]["iterations"]),
            f"{'ok' if summary['ok'] else 'FAILED'} {v['peak_pre_jy']:.4f}→{v['peak_post_jy']:.4f}",
            f"{np.sqrt(np.mean(phase[..., 1:] ** 2)):.3f}", f"{np.sqrt(np.mean(amp ** 2)):.3f}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("direction")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--name", default="rerun", help="folder under work/reruns/ (default: rerun)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = args.run.resolve() / "work"
    config = yaml.safe_load((work / "config.yaml").read_text())
    stages = config["steps"]["selfcal"]
    if args.direction not in stages:
        print(f"selfcal_rerun: {args.direction} is not a selfcal stage of {work / 'config.yaml'} "
              f"(stages: {', '.join(stages)})", file=sys.stderr)
        return 2
    if stages[args.direction].get("operation", "facetselfcal") != "facetselfcal":
        print(f"selfcal_rerun: {args.direction} is a {stages[args.direction]['operation']} stage (the peel step); "
              "only facetselfcal stages are rerun", file=sys.stderr)
        return 2
    params = json.loads(json.dumps(stages[args.direction]))
    own = work / params["out_dir"]
    for setting in args.set:
        key, _, value = setting.partition("=")
        try:
            set_nested(params, key, yaml.safe_load(value))
        except KeyError as err:
            print(f"selfcal_rerun: {err.args[0]}", file=sys.stderr)
            return 2
    out = Path("reruns") / args.name / args.direction
    params["out_dir"] = str(out)
    (work / out).mkdir(parents=True, exist_ok=True)
    log = out / "selfcal.log"
    subprocess.run([str(BIN / "factor-step"), "selfcal", json.dumps(params, sort_keys=True), str(log), str(args.threads),
                    str(int(params.get("wsclean_mem_mb") or 0))], cwd=work, check=True)

    warnings.simplefilter("ignore", FITSFixedWarning)  # WSClean's DATE-OBS, once per image
    truth = json.loads((args.run / "truth" / "truth.json").read_text())
    base = stages[args.direction]["direction"]["name"]  # dir06 for the stage dir06.p2
    calibrator = next(c for c in truth["calibrators"] if c["direction"] == base)
    truth_h5 = args.run / "truth" / "gains.h5"
    print(f"\n## {args.direction} rerun ({' '.join(args.set) or 'parameters unchanged'})\n")
    print("| result | flux / apparent per cycle (c0, c1, …) | rms per cycle (mJy/beam) | amplitude loops | verification peak "
          "pre→post (Jy/beam) | fast phase error rms (rad) | slow amplitude error rms |\n|---|---|---|---|---|---|---|")
    for label, folder in (("the run's", own), (args.name, work / out)):
        if (folder / "selfcal.json").is_file():
            print(f"| {label} | " + " | ".join(summarise(folder, calibrator, truth_h5, base)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
