"""``archivefactor`` and ``unarchivefactor``: keep the products of a run, or the whole run so
that it can be continued elsewhere (factor.md §1.3-1.4, without Factor's mismatched folder
names and path rewriting in pickles).

An archive folder holds:
  misc/          the parset, the directions file used, factor.log, config.yaml, products.json,
                 regions/*.reg
  images/        field/ (every mosaic FITS) and <direction>/ (facet image and residual)
  solutions/     <direction>/solutions.h5 (the final pass)
  sky_models/    <direction>/facet_model.skymodel (the improved facet model)
  plots/         <direction>/*.png (selfcal and verification images, solutions per station)
  calibrated_data/<direction>/   with -d: the averaged calibrated facet data (kept when
                 keep_avg_facet_data, or for the target's facet)
  working/       with -r: the whole working directory, Snakemake's metadata included, copied
                 with modification times, so a restored run resumes without recomputing
  archive.json   what is in it and where it came from

``unarchivefactor`` restores a resumable archive into a new working directory and writes a
parset there whose dir_working points at it (every other path made absolute); running
``runfactor`` on it continues the run.  Plan paths inside a working directory are relative, so
nothing else needs rewriting; the input MSs must be at the path the parset names (moving them
changes the chunking step's parameters, and Snakemake would redo the run from the chunks).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml

from . import __version__
from .parset import ParsetError, read_parset
from .workflow_state import stage_direction

MANIFEST = "archive.json"


class ArchiveError(ValueError):
    pass


def _copy(src: Path, dst: Path, symlink: bool = False) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if symlink:
        dst.symlink_to(src.resolve(), target_is_directory=src.is_dir())
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
    else:
        shutil.copy2(src, dst)


def _prepare_output(out: Path, clobber: bool, what: str) -> None:
    if out.exists() and any(out.iterdir()):
        if not clobber:
            raise ArchiveError(f"{out}: {what} folder is not empty (use -c to overwrite it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _final_stages(config: dict) -> dict[str, str]:
    """Direction → the folder of its last selfcal stage (the final pass), or of its peel."""
    last: dict[str, str] = {}
    for stage in config["order"]:
        last[stage_direction(stage)] = config["steps"]["selfcal"][stage]["out_dir"]
    return last


def archive(parset: str, out: Path, data_dirs: list[str] | None, resumable: bool, clobber: bool) -> dict:
    settings = read_parset(parset)
    work = Path(settings["global"]["dir_working"])
    config_path = work / "config.yaml"
    if not config_path.is_file():
        raise ArchiveError(f"{work}: no run to archive (no config.yaml; run runfactor {parset} first)")
    config = yaml.safe_load(config_path.read_text())
    names = [d["name"] for d in config["directions"] if d["processed"]]
    if data_dirs is not None:
        unknown = sorted(set(data_dirs) - set(names) - {"all"})
        if unknown:
            raise ArchiveError(f"-d: unknown direction(s) {', '.join(unknown)}; processed: {', '.join(names)}")
        data_dirs = names if "all" in data_dirs else data_dirs
        missing = [n for n in data_dirs if not _facet_data(work, n)]
        if missing:
            raise ArchiveError(f"-d: no calibrated facet data for {', '.join(missing)} (not imaged yet, or "
                               "keep_avg_facet_data = False)")
    _prepare_output(out, clobber, "archive")

    contents: dict[str, list[str]] = {}

    def put(src: Path, rel: str) -> None:
        if src.exists():
            _copy(src, out / rel)
            contents.setdefault(rel.split("/")[0], []).append(rel)

    directions_file = settings["directions"]["directions_file"] or str(work / "factor_directions.txt")
    put(Path(parset), f"misc/{Path(parset).name}")
    put(Path(directions_file), f"misc/{Path(directions_file).name}")
    for name in ("factor.log", "config.yaml", "results/products.json", "regions/facets_ds9.reg", "regions/calimages_ds9.reg"):
        put(work / name, f"misc/{Path(name).name}")
    # The first imaging parameter set in images/field and images/<dir>, further sets in a
    # subfolder named after their operation (facetimage_c…, fieldmosaic_c…).
    sets = config.get("image_sets") or [{"image_op": "facetimage", "mosaic_op": "fieldmosaic"}]
    for i, s in enumerate(sets):
        sub = f"/{s['mosaic_op']}" if i else ""
        for fits in sorted((work / "results" / s["mosaic_op"]).glob("*/*.fits")):
            put(fits, f"images/field{sub}/{fits.name}")
    final = _final_stages(config)
    for name in names:
        for i, s in enumerate(sets):
            sub = f"/{s['image_op']}" if i else ""
            for fits in sorted((work / "results" / s["image_op"] / name).glob("*.fits")):
                put(fits, f"images/{name}{sub}/{fits.name}")
        if name in final:
            stage = work / final[name]
            put(stage / "solutions.h5", f"solutions/{name}/solutions.h5")
            put(stage / "facet_model.skymodel", f"sky_models/{name}/facet_model.skymodel")
            for png in sorted(stage.glob("*.png")):
                put(png, f"plots/{name}/{png.name}")
    for name in data_dirs or []:
        for ms in _facet_data(work, name):
            put(ms, f"calibrated_data/{name}/{name}_calibrated_data_{ms.stem.split('_')[-1]}.ms")
    if resumable:
        _copy(work, out / "working")
        contents["working"] = ["working"]
    manifest = {"factor_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "parset": str(Path(parset).resolve()), "dir_working": str(work.resolve()), "resumable": resumable,
                "parset_name": Path(parset).name, "paths": _resolved_paths(settings), "contents": contents}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _resolved_paths(settings: dict) -> list[list[str]]:
    """[section, key, absolute path] of every path the parset gives besides dir_working."""
    paths = [["global", "dir_ms", settings["global"]["dir_ms"]]]
    for key in ("directions_file", "faceting_skymodel"):
        if settings["directions"][key]:
            paths.append(["directions", key, settings["directions"][key]])
    for section, options in settings["ms_options"].items():
        if options.get("init_skymodel"):
            paths.append([section, "init_skymodel", options["init_skymodel"]])
    return [[s, k, str(Path(v).resolve())] for s, k, v in paths]


def _restored_parset(original: Path, paths: list[list[str]], new_work: Path) -> str:
    """The archived parset, comments kept, with dir_working = new_work and every other path
    absolute."""
    wanted = {(sec.lower(), key.lower()): value for sec, key, value in paths}
    wanted[("global", "dir_working")] = str(new_work)
    section = ""
    lines = []
    for line in original.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip().lower()
        elif "=" in stripped and not stripped.startswith(("#", ";")):
            key = stripped.split("=", 1)[0].strip()
            value = wanted.get((section, key.lower()))
            if value is not None:
                line = f"{key} = {value}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def unarchive(archive_dir: Path, out: Path, symlink_chunks: bool, clobber: bool) -> Path:
    manifest_path = archive_dir / MANIFEST
    if not manifest_path.is_file():
        raise ArchiveError(f"{archive_dir}: not a Factor archive (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    if not manifest.get("resumable"):
        raise ArchiveError(f"{archive_dir}: archive was made without -r, so it cannot be resumed "
                           "(its images, solutions and plots can be used as they are)")
    _prepare_output(out, clobber, "output")
    for item in (archive_dir / "working").iterdir():
        _copy(item, out / item.name, symlink=symlink_chunks and item.name == "chunks")
    paths = manifest["paths"]
    for entry in paths:  # a directions file that is gone: the archived copy
        if entry[1] == "directions_file" and not Path(entry[2]).is_file():
            entry[2] = str((archive_dir / "misc" / Path(entry[2]).name).resolve())
    parset = out / manifest["parset_name"]
    parset.write_text(_restored_parset(archive_dir / "misc" / manifest["parset_name"], paths, out.resolve()))
    return parset


def archive_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="archivefactor", usage="archivefactor parset dir_output [options]",
                                 description="Archive the products of a Factor run (images, solutions, plots, sky "
                                 "models, regions, parset and directions file).")
    ap.add_argument("parset", help="the run's parset")
    ap.add_argument("dir_output", help="archive folder")
    ap.add_argument("-d", "--dirs", default=None, help="also archive the calibrated facet data of these directions "
                    '(comma-separated, or "all")')
    ap.add_argument("-r", "--resumable", action="store_true", help="archive the whole working directory, so the run "
                    "can be continued after unarchivefactor")
    ap.add_argument("-c", "--clobber", action="store_true", help="overwrite a non-empty archive folder")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = ap.parse_args(argv)
    dirs = [d.strip() for d in args.dirs.split(",") if d.strip()] if args.dirs else None
    try:
        manifest = archive(args.parset, Path(args.dir_output), dirs, args.resumable, args.clobber)
    except (ArchiveError, ParsetError) as err:
        print(f"archivefactor: error: {err}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {len(v)}" for k, v in manifest["contents"].items())
    print(f"archived {manifest['dir_working']} to {args.dir_output} ({counts})")
    return 0


def unarchive_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="unarchivefactor", usage="unarchivefactor dir_archive dir_output [options]",
                                 description="Restore a resumable Factor archive (archivefactor -r) into a new "
                                 "working directory, with a parset to continue the run.")
    ap.add_argument("dir_archive")
    ap.add_argument("dir_output", help="new working directory")
    ap.add_argument("-s", "--symlink", action="store_true", help="symlink the chunks instead of copying them")
    ap.add_argument("-c", "--clobber", action="store_true", help="overwrite a non-empty output folder")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = ap.parse_args(argv)
    try:
        parset = unarchive(Path(args.dir_archive), Path(args.dir_output), args.symlink, args.clobber)
    except (ArchiveError, ParsetError) as err:
        print(f"unarchivefactor: error: {err}", file=sys.stderr)
        return 2
    print(f"restored to {args.dir_output}; continue with: runfactor {parset}")
    return 0


def _facet_data(work: Path, name: str) -> list[Path]:
    """A facet's kept calibrated data: shared by several imaging sets (results/facetdata), or
    kept by its single facetimage job (keep_avg_facet_data, the target's facet)."""
    for folder in ("facetdata", "facetimage"):
        found = sorted((work / "results" / folder / name).glob("facet_data_t*.ms"))
        if found:
            return found
    return []
