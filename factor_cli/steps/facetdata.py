"""Per-direction visibilities: phase-shift the residual data, add a model back, correct, average.

Used three times, as in Factor: calibrator data for self-calibration (add back the DI model
of the calibrator region), facet data for the improved facet model (add back the DI facet
model, apply the direction's solutions), and final facet imaging (add back the improved model
corrupted by the solutions, then apply them).  Each band of a time chunk is processed with
its own model (DI models differ per band), then the bands are concatenated in frequency with
flagged filler where a band is missing, as Factor's dummy MSs did.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..calibration import applycal_settings, predict_step
from ..engines import run_dp3
from ..side_by_side import run_side_by_side
from ..skymodel import read_skymodel


def prepare_band(
    ms_in: str, ms_out: str, centre_deg: tuple[float, float], freqstep: int, timestep: int,
    add_model: str | None, add_h5: str | None, apply_h5: str | None, direction: str,
    log: Path | None, threads: int, apply_direction: str | None = None, apply_soltabs: list[str] | None = None,
    sub_model: str | None = None, sub_h5: str | None = None, channels: tuple[int, int] | None = None,
) -> None:
    """One band of one time chunk → phase-shifted, model added (``sub_model`` corrupted by
    ``sub_h5`` subtracted: a peeled source), corrected (``apply_soltabs`` of ``apply_h5``,
    default all), averaged MS; only the channels (first, number) ``channels`` when given."""
    if add_model and not read_skymodel(add_model):
        add_model = None  # nothing of the model falls in this direction
    steps = ["shift"]
    args: dict[str, object] = {
        "msin": ms_in, "msin.datacolumn": "DATA", "msout": ms_out, "msout.datacolumn": "DATA",
        "msout.overwrite": True,
        "shift.type": "phaseshift", "shift.phasecenter": [f"{centre_deg[0]}deg", f"{centre_deg[1]}deg"],
    }
    if channels is not None:
        args.update({"msin.startchan": channels[0], "msin.nchan": channels[1]})
    if add_model:
        steps.append("add")
        args.update(predict_step("add", add_model, "add", add_h5, direction))
    if sub_model:
        steps.append("sub")
        args.update(predict_step("sub", sub_model, "subtract", sub_h5, direction))
    if apply_h5:
        steps.append("apply")
        args.update({"apply.type": "applycal", **applycal_settings("apply.", apply_h5, apply_soltabs, direction=apply_direction or direction)})
    if freqstep > 1 or timestep > 1:
        steps.append("avg")
        args.update({"avg.type": "averager", "avg.freqstep": freqstep, "avg.timestep": timestep})
    args["steps"] = steps
    run_dp3(args, log=log, threads=threads)


def concat_bands(band_ms: list[str | None], ms_out: str, log: Path | None, threads: int) -> None:
    """Concatenate bands (in frequency order, None = missing band) into one MS."""
    present = [m for m in band_ms if m]
    if len(band_ms) == 1:
        if Path(ms_out).exists():
            shutil.rmtree(ms_out)
        shutil.move(present[0], ms_out)
        return
    names = [m if m else f"missing_band_{i}.ms" for i, m in enumerate(band_ms)]
    run_dp3({"msin": names, "msin.missingdata": True, "msin.orderms": False, "msin.datacolumn": "DATA",
             "msout": ms_out, "msout.overwrite": True, "steps": []}, log=log, threads=threads)
    for m in present:
        shutil.rmtree(m, ignore_errors=True)


def prepare_blocks(
    residual: list[list[str | None]], models: list[str | None], out_dir: Path, prefix: str,
    centre_deg: tuple[float, float], freqstep: int, timestep: int, add_h5: str | None,
    apply_h5: str | None, direction: str, log: Path | None, threads: int, apply_direction: str | None = None,
    blocks: list[list[int]] | None = None, apply_soltabs: list[str] | None = None,
    sub_model: str | None = None, sub_h5: str | None = None, channels: tuple[int, int] | None = None,
) -> list[list[str]]:
    """``residual[i][k]``: MS of time chunk i, band slot k (None for a gap); ``models[k]`` per band.
    Returns one MS per time chunk and block of band slots (``blocks``, default: all bands in
    one), as Factor sorted selfcal data per time chunk and TEC block."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for i, bands in enumerate(residual):  # chunk by chunk: a chunk's band parts exist only until concatenated
        parts: list[str | None] = [None if ms is None else str(out_dir / f"{prefix}_t{i}_b{k}.ms") for k, ms in enumerate(bands)]
        run_side_by_side([lambda n, ms=ms, part=part, model=model: prepare_band(
            ms, part, centre_deg, freqstep, timestep, model, add_h5, apply_h5, direction, log, n,
            apply_direction, apply_soltabs, sub_model, sub_h5, channels)
            for ms, part, model in zip(bands, parts, models) if ms is not None], threads)
        row, calls = [], []
        for j, block in enumerate(blocks or [list(range(len(bands)))]):
            suffix = f"_blk{j}" if blocks and len(blocks) > 1 else ""
            out = str(out_dir / f"{prefix}_t{i}{suffix}.ms")
            calls.append(lambda n, out=out, block_ms=[parts[k] for k in block]: concat_bands(block_ms, out, log, n))
            row.append(out)
        run_side_by_side(calls, threads)
        outputs.append(row)
    return outputs


def prepare(
    residual: list[list[str | None]], models: list[str | None], out_dir: Path, prefix: str,
    centre_deg: tuple[float, float], freqstep: int, timestep: int, add_h5: str | None,
    apply_h5: str | None, direction: str, log: Path | None, threads: int, apply_direction: str | None = None,
    sub_model: str | None = None, sub_h5: str | None = None, channels: tuple[int, int] | None = None,
) -> list[str]:
    """One MS per time chunk with all bands (see ``prepare_blocks``)."""
    return [row[0] for row in prepare_blocks(residual, models, out_dir, prefix, centre_deg, freqstep, timestep, add_h5,
                                             apply_h5, direction, log, threads, apply_direction,
                                             sub_model=sub_model, sub_h5=sub_h5, channels=channels)]
