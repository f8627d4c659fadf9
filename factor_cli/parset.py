"""Factor's parset (INI) → a checked settings dict.

Every section and key of Factor's parset is known here with Factor's *code* defaults
(factor.md §2).  Keys are case-insensitive.  An unknown key is a warning naming the closest
valid key (Factor only warned too); an invalid value or a missing required key is a
``ParsetError`` whose one-line message names file, section, key and reason.

Keys that this pipeline does not implement (yet) are not silently accepted: setting one to
anything but its default is an error saying so, and keys that only made sense for Factor's
LOFAR-software install (``lofarroot`` …) are rejected with the reason.
"""

from __future__ import annotations

import configparser
import difflib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from astropy import units as u

from .cluster import check_cluster
from .directions import parse_position
from .imagesets import image_sets


class ParsetError(ValueError):
    """One-line message: file, section, key, reason."""


class ParsetWarning(UserWarning):
    pass


@dataclass(frozen=True)
class Key:
    kind: str                  # bool, int, float, str, path, floats, ints, choice
    default: Any = None
    required: bool = False
    check: Callable[[Any], str | None] | None = None   # returns a reason when invalid
    choices: tuple[str, ...] = ()
    unsupported: str | None = None    # reason: explicit non-default value is an error
    ignored: str | None = None        # reason: explicit value is ignored with a warning
    alias_of: str | None = None       # deprecated spelling of another key


def _positive(v):
    return None if v > 0 else "must be > 0"


def _fraction(v):
    return None if 0.0 <= v <= 1.0 else "must be between 0 and 1"


def _share(v):
    return None if 0 < v <= 1 else "must be in (0, 1]"


def _at_least(n):
    return lambda v: None if v >= n else f"must be >= {n}"


NOT_YET = "is not implemented in this version"
NO_LOFAR_INSTALL = "is not used: this pipeline needs no LOFAR software install (DP3 and WSClean are found on PATH); remove it"

SECTIONS: dict[str, dict[str, Key]] = {
    "global": {
        "dir_working": Key("path", required=True),
        "dir_ms": Key("path", required=True),
        "min_fraction_per_band": Key("float", 0.5, check=_fraction),
        "exit_on_bad_band": Key("bool", False),
        "skymodel_extension": Key("str", ".merge"),
        "chunk_size_sec": Key("float", 2400.0, check=_positive),
        "use_compression": Key("bool", False),
        "interactive": Key("bool", False),
        "keep_avg_facet_data": Key("bool", True),
        "keep_unavg_facet_data": Key("bool", False, unsupported="keeping unaveraged facet data " + NOT_YET),
        "flag_abstime": Key("str"),
        "flag_baseline": Key("str"),
        "flag_freqrange": Key("str"),
        "flag_expr": Key("str"),
    },
    "calibration": {
        "exit_on_selfcal_failure": Key("bool", True),
        "skip_selfcal_check": Key("bool", False),
        # Factor's verification thresholds (verify_subtract.py: res_val, 1/max_factor), made
        # configurable: selfcal fails when the residual peak after replacing the model exceeds
        # this (Jy/beam), or has grown by more than the ratio.
        "verify_max_peak_jy": Key("float", 0.75, check=_positive),
        "verify_max_peak_ratio": Key("float", 4.0, check=_positive),
        "max_selfcal_loops": Key("int", 10, check=_at_least(1)),
        # Beyond Factor: run the whole direction sequence this many times, each pass starting
        # from the residual the previous one left (1 = Factor's single pass).
        "selfcal_passes": Key("int", 1, check=_at_least(1)),
        "target_max_selfcal_loops": Key("int", 10, check=_at_least(1)),
        # Factor's code default is True, its own comment says False.  Measured on tiny (seed 7,
        # 2 passes): pre-applying the first calibrator's phases adds that calibrator's solution
        # noise to every later direction (phase errors 0.06-0.09 -> 0.07-0.11 rad, mosaic 2.7x ->
        # 3.0x thermal), so the default is False; True does what Factor did.
        "preapply_first_cal_phases": Key("bool", False),
        "preaverage_flux_jy": Key("float", 1.0, check=_at_least(0)),
        "multires_selfcal": Key("bool", False),
        "multiscale_selfcal": Key("bool", False, alias_of="multires_selfcal"),
        "tec_block_mhz": Key("float", 10.0, check=_positive),
        "peel_flux_jy": Key("float", 25.0, check=_positive),
        "solve_min_uv_lambda": Key("float", 80.0, check=_at_least(0)),
        "spline_smooth2d": Key("bool", True),
        # Beyond Factor: the fast (TEC+)phases smoothed along time by local polynomial fits of
        # up to this many seconds, the span chosen per station by cross-validation
        # (phase_smoothing.py); 0 (or fewer than five solution intervals) = as solved (Factor).
        # Measured against the truth (bench/RESULTS.md): on bright the residual falls from
        # 5.8x to 3.8x thermal, on small phases 0.018-0.035 -> 0.012-0.036 rad, the rest equal.
        "fast_phase_smoothing_s": Key("float", 600.0, check=_at_least(0)),
        # Factor's default (1000 Jy) never triggers; a full-Jones slow solve is not built yet.
        "solve_all_correlations_flux_jy": Key("float", 1000.0, check=_positive,
                                              unsupported="full-Jones slow solves " + NOT_YET),
        "approximatetec": Key("bool", True),
        "propagatesolutions": Key("bool", True),
        "maxapproxiter": Key("int", 50, check=_at_least(1)),
        # Factor's defaults are maxiter 75, stepsize 0.02: DDECal then moves each interval's
        # solution only 1 - 0.98^75 = 78 % of the way from the propagated one, which does not
        # follow the TEC of bright sources.  Measured against the truth (bench/RESULTS.md):
        # with 50 steps of 0.2 (DP3's own and Rapthor's tested settings) the bright field's
        # residual falls from 13.3x to 5.8x thermal and tiny's mosaic from 2.73x to 2.33x.
        "maxiter": Key("int", 50, check=_at_least(1)),
        "stepsize": Key("float", 0.2, check=_positive),
        # Factor's 1e-8 is never reached: every interval of every solve ran the full maxiter (50;
        # the slow solves 150).  With 1e-4 a converged interval stops: measured on the benchmark
        # preset's own calibrator data (bench/RESULTS.md), scalar phases 2.2x and slow gains 5.7x
        # faster, their solutions within 0.1 mrad and 0.01 % of the full-iteration ones.  (The TEC
        # solves are unchanged: calibration.APPROX_TOLERANCE.)
        "tolerance": Key("float", 1e-4, check=_positive),
    },
    "imaging": {
        "make_mosaic": Key("bool", True),
        "image_target_only": Key("bool", False),
        "wsclean_image_padding": Key("float", 1.4, check=_at_least(1.0)),
        "max_peak_smearing": Key("float", 0.15, check=lambda v: None if 0 < v < 1 else "must be between 0 and 1"),
        "wsclean_nchannels_factor": Key("int", 4, check=_at_least(1)),
        # The central fraction of each band's channels imaged for the improved facet model inside
        # selfcal (averaging.central_channels).  Factor's default is 0.25, a speed-up that halves
        # the model image's S/N; every measurement in bench/RESULTS.md used the whole band, which
        # stays the default here.  Factor turned values <= 0 into 0.2 or 0.25: refused instead.
        "fractional_bandwidth_selfcal_facet_image": Key("float", 1.0, check=_share),
        "wsclean_bl_averaging": Key("bool", True),
        "wsclean_use_idg": Key("bool", True),
        "idg_mode": Key("choice", "cpu", choices=("cpu", "gpu", "hybrid")),
        "selfcal_multiscale_scales_pixel": Key("ints"),
        "facet_multiscale_scales_pixel": Key("ints"),
        "selfcal_cellsize_arcsec": Key("float", 1.5, check=_positive),
        "selfcal_robust": Key("float", -0.5, check=lambda v: None if -2 <= v <= 2 else "must be between -2 and 2"),
        "selfcal_min_uv_lambda": Key("float", 80.0, check=_at_least(0)),
        "facet_cellsize_arcsec": Key("floats"),
        "facet_robust": Key("floats"),
        "facet_taper_arcsec": Key("floats", [0.0]),
        "facet_min_uv_lambda": Key("floats", [80.0]),
        "automask_facet_image": Key("bool", True, unsupported="PyBDSF-masked facet imaging (automask_facet_image = False) " + NOT_YET),
        # Factor accepted this key and never read it (a leftover from when WSClean and AWImager had
        # their own selfcal robust); every selfcal image here is WSClean's, so it is what it names.
        "selfcal_robust_wsclean": Key("float", alias_of="selfcal_robust"),
    },
    "directions": {
        "directions_file": Key("path"),
        "faceting_skymodel": Key("path"),
        "max_radius_deg": Key("float", check=_positive),
        "flux_min_for_merging_jy": Key("float", 0.1, check=_at_least(0)),
        "size_max_arcmin": Key("float", check=_positive),
        "separation_max_arcmin": Key("float", check=_positive),
        "flux_min_jy": Key("float", check=_at_least(0)),
        "minimize_nonuniformity": Key("bool", False),
        # Beyond Factor (calibrators.py): the integer program, its coverage radius and minimum
        # separation (defaults: 1.2 x faceting radius / sqrt(ndir_max), separation_max_arcmin).
        "selection_method": Key("choice", "factor", choices=("factor", "optimal")),
        "coverage_radius_deg": Key("float", check=_positive),
        "min_separation_arcmin": Key("float", check=_positive),
        "ndir_max": Key("int", check=_at_least(1)),
        "max_num": Key("int", alias_of="ndir_max"),
        "ndir_process": Key("int", check=_at_least(1)),
        "ndir_total": Key("int", alias_of="ndir_process"),
        "ndir_selfcal": Key("int", check=_at_least(1)),
        "faceting_radius_deg": Key("float", check=_positive),
        "check_edges": Key("bool", True),
        "groupings": Key("str", "1:0"),
        "allow_reordering": Key("bool", True),
        "target_ra": Key("str"),
        "target_dec": Key("str"),
        "target_radius_arcmin": Key("float", check=_positive),
        "target_has_own_facet": Key("bool", False),
    },
    "cluster": {
        "lofarroot": Key("str", unsupported=NO_LOFAR_INSTALL),
        "lofarpythonpath": Key("str", unsupported=NO_LOFAR_INSTALL),
        # Factor's keyword form (PBS, SLURM, JUROPA_slurm, localhost) is read as cluster_type;
        # a clusterdesc *file* belonged to LOFAR's old pipeline framework.
        "clusterdesc_file": Key("str"),
        "cluster_type": Key("choice", "local", choices=("local", "localhost", "slurm", "juropa_slurm", "pbs", "lsf", "generic")),
        "node_list": Key("str", unsupported="is not used: the scheduler places the jobs (use partition to choose nodes)"),
        "ncpu": Key("int", check=_at_least(1)),
        "nthread_io": Key("int", check=_at_least(1)),
        "wsclean_fmem": Key("float", 0.9, check=_share),
        "fmem": Key("float", alias_of="wsclean_fmem"),
        "ndir_per_node": Key("int", 1, check=_at_least(1)),
        # Beyond Factor: facet images side by side (default 2 × ndir_per_node; cluster.py).
        "nimage_per_node": Key("int", check=_at_least(1)),
        "dir_local": Key("path"),
        "dir_local_selfcal": Key("path"),
        # Beyond Factor: what a scheduler needs (cluster.py).
        "mem_per_node_gb": Key("float", check=_positive),
        "partition": Key("str"),
        "account": Key("str"),
        "max_jobs": Key("int", check=_at_least(1)),
        "generic_scheduler": Key("choice", choices=("pbs", "lsf", "slurm")),
        "retries": Key("int", check=_at_least(0)),
    },
    "checkfactor": {
        "facet_viewer": Key("str", ignored="checkfactor prints a table and does not start image viewers"),
        "ds9_load_regions": Key("bool", False, ignored="checkfactor does not start ds9"),
        "ds9_limits": Key("str", ignored="checkfactor does not start ds9"),
        "ds9_frames": Key("str", ignored="checkfactor does not start ds9"),
        "image_display": Key("str", ignored="checkfactor does not display images"),
    },
}

MS_SECTION_KEYS = {"init_skymodel": Key("path")}


def _convert(kind: str, text: str, key: Key) -> Any:
    text = text.strip()
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"'{text}' is not True or False")
    if kind == "int":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not an integer") from None
        if not value.is_integer():
            raise ValueError(f"'{text}' is not an integer")
        return int(value)
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"'{text}' is not a finite number")
        return value
    if kind in ("floats", "ints"):
        items = [t.strip() for t in text.strip("[]").split(",") if t.strip()]
        if not items:
            raise ValueError("empty list")
        sub = "float" if kind == "floats" else "int"
        return [_convert(sub, t, key) for t in items]
    if kind == "choice":
        if text.lower() not in key.choices:
            raise ValueError(f"'{text}' is not one of {', '.join(key.choices)}")
        return text.lower()
    if kind in ("str", "path"):
        if not text:
            raise ValueError("empty value")
        return text
    raise AssertionError(kind)


def read_parset(path: Path | str) -> dict[str, Any]:
    """Settings per section, plus ``ms_options`` (per-MS sections) and ``explicit`` (keys set)."""
    path = Path(path)
    where = str(path)
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    try:
        with open(path) as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        raise ParsetError(f"{where}: parset not found") from None
    except OSError as err:
        raise ParsetError(f"{where}: cannot read parset ({err.strerror})") from None
    except configparser.Error as err:
        first = str(err).splitlines()[0]
        raise ParsetError(f"{where}: not an INI parset ({first})") from None

    if "global" not in [s.lower() for s in parser.sections()]:
        raise ParsetError(f"{where}: [global]: section missing (dir_working and dir_ms are required)")

    base = path.resolve().parent
    settings: dict[str, Any] = {name: {} for name in SECTIONS}
    explicit: dict[str, set[str]] = {name: set() for name in SECTIONS}
    ms_options: dict[str, dict[str, str]] = {}

    for section in parser.sections():
        sname = section.lower()
        if sname in SECTIONS:
            keys = SECTIONS[sname]
        else:
            keys = MS_SECTION_KEYS
            ms_options[section] = {}
        for raw_key, raw_value in parser.items(section):
            key = raw_key.lower()
            if key not in keys:
                close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                warnings.warn(f"{where}: [{section}] {raw_key}: unknown key, ignored{hint}", ParsetWarning, stacklevel=2)
                continue
            spec = keys[key]
            target = spec.alias_of or key
            tspec = keys[target]
            try:
                value = _convert(tspec.kind, raw_value, tspec)
                reason = tspec.check(value) if (tspec.check and not isinstance(value, list)) else None
                if reason is None and tspec.check and isinstance(value, list):
                    reason = next((r for r in map(tspec.check, value) if r), None)
            except ValueError as err:
                reason = str(err)
            if reason:
                raise ParsetError(f"{where}: [{section}] {raw_key}: {reason}")
            if tspec.kind == "path":
                expanded = Path(os.path.expanduser(value))
                value = str(expanded if expanded.is_absolute() else (base / expanded))
            if spec.alias_of:
                warnings.warn(f"{where}: [{section}] {raw_key}: deprecated, use '{target}'", ParsetWarning, stacklevel=2)
            if tspec.unsupported is not None and value != tspec.default:
                raise ParsetError(f"{where}: [{section}] {raw_key}: {tspec.unsupported}")
            if tspec.ignored is not None:
                warnings.warn(f"{where}: [{section}] {raw_key} is ignored: {tspec.ignored}", ParsetWarning, stacklevel=2)
            if sname in SECTIONS:
                settings[sname][target] = value
                explicit[sname].add(target)
            else:
                ms_options[section][target] = value

    for sname, keys in SECTIONS.items():
        for key, spec in keys.items():
            if spec.alias_of:
                continue
            if key not in settings[sname]:
                if spec.required:
                    raise ParsetError(f"{where}: [{sname}] {key}: required key missing")
                settings[sname][key] = list(spec.default) if isinstance(spec.default, list) else spec.default

    _cross_checks(where, settings)
    settings["ms_options"] = ms_options
    settings["explicit"] = {k: sorted(v) for k, v in explicit.items()}
    settings["parset_file"] = str(path.resolve())
    return settings


def _cross_checks(where: str, s: dict[str, Any]) -> None:
    g, img, d = s["global"], s["imaging"], s["directions"]
    if not Path(g["dir_ms"]).is_dir():
        raise ParsetError(f"{where}: [global] dir_ms: folder '{g['dir_ms']}' does not exist")
    # Flagging: every given flag_* must appear in flag_expr (Factor's rule).
    given = [k for k in ("flag_abstime", "flag_baseline", "flag_freqrange") if g[k]]
    if g["flag_expr"] is None:
        g["flag_expr"] = " and ".join(given) if given else None
    else:
        for k in given:
            if k not in g["flag_expr"]:
                raise ParsetError(f"{where}: [global] flag_expr: does not use {k}, which is set")
    # Facet imaging lists default to the selfcal values and must have equal lengths.
    if img["facet_cellsize_arcsec"] is None:
        img["facet_cellsize_arcsec"] = [img["selfcal_cellsize_arcsec"]]
    if img["facet_robust"] is None:
        img["facet_robust"] = [img["selfcal_robust"]]
    lengths = {k: len(img[k]) for k in ("facet_cellsize_arcsec", "facet_robust", "facet_taper_arcsec", "facet_min_uv_lambda")}
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ParsetError(f"{where}: [imaging] facet_cellsize_arcsec: the four facet_* lists must have equal length ({detail})")
    for key, low in (("facet_cellsize_arcsec", 0.0), ("facet_taper_arcsec", None), ("facet_min_uv_lambda", None)):
        bad = [v for v in img[key] if (v <= 0.0 if low is not None else v < 0.0)]
        if bad:
            raise ParsetError(f"{where}: [imaging] {key}: {bad[0]:g} is not allowed (must be {'> 0' if low is not None else '>= 0'})")
    try:
        image_sets(img)
    except ValueError as err:
        raise ParsetError(f"{where}: [imaging] facet_cellsize_arcsec: {err}") from None
    s["calibration"]["tec_block_mhz"] = max(2.0, s["calibration"]["tec_block_mhz"])
    # Without a directions file, automatic selection needs its three keys.
    if d["directions_file"] is None:
        missing = [k for k in ("size_max_arcmin", "separation_max_arcmin", "flux_min_jy") if d[k] is None]
        if missing:
            raise ParsetError(f"{where}: [directions] {missing[0]}: required when no directions_file is given")
        if d["minimize_nonuniformity"]:
            if d["ndir_max"] is None:
                raise ParsetError(f"{where}: [directions] minimize_nonuniformity: needs ndir_max")
            d["selection_method"] = "optimal"  # an even spread is what the integer program asks for
    elif not Path(d["directions_file"]).is_file():
        raise ParsetError(f"{where}: [directions] directions_file: file '{d['directions_file']}' does not exist")
    if d["faceting_skymodel"] is not None and not Path(d["faceting_skymodel"]).is_file():
        raise ParsetError(f"{where}: [directions] faceting_skymodel: file '{d['faceting_skymodel']}' does not exist")
    _check_target(where, d, img)
    _parse_groupings(where, d["groupings"])
    problem = check_cluster(s["cluster"])
    if problem:
        raise ParsetError(f"{where}: [cluster] {problem[0]}: {problem[1]}")


def _check_target(where: str, d: dict[str, Any], img: dict[str, Any]) -> None:
    if (d["target_ra"] is None) != (d["target_dec"] is None):
        raise ParsetError(f"{where}: [directions] target_ra: target_ra and target_dec go together")
    if d["target_ra"] is not None:
        try:
            parse_position(d["target_ra"], d["target_dec"])
        except (ValueError, u.UnitsError):
            raise ParsetError(f"{where}: [directions] target_ra: '{d['target_ra']}, {d['target_dec']}' "
                              "is not a position (e.g. 14h41m01.9 and +35d30m31.5, or degrees)") from None
    if d["target_has_own_facet"] and (d["target_ra"] is None or d["target_radius_arcmin"] is None):
        raise ParsetError(f"{where}: [directions] target_has_own_facet: needs target_ra, target_dec and target_radius_arcmin")
    if img["image_target_only"] and d["target_ra"] is None:
        raise ParsetError(f"{where}: [imaging] image_target_only: needs target_ra and target_dec in [directions]")


def _parse_groupings(where: str, text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        try:
            g, n = (int(x) for x in item.strip().split(":"))
        except ValueError:
            raise ParsetError(f"{where}: [directions] groupings: '{item.strip()}' is not size:count") from None
        if g < 1 or n < 0:
            raise ParsetError(f"{where}: [directions] groupings: '{item.strip()}' needs size >= 1 and count >= 0")
        out.append((g, n))
    return out


def groupings(text: str) -> list[tuple[int, int]]:
    return _parse_groupings("groupings", text)
