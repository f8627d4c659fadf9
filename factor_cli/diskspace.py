"""Disk space check before chunking.

The chunks are a copy of the input visibilities, and every subtraction writes a new residual
of the same size (no input of a job is modified in place), so a run needs about
(1 + number of selfcal stages) times the input size, about half that with ``use_compression``.
A Dysco-compressed input (LINC writes them) counts at its uncompressed size, which is what
the chunks hold without compression.  Too little for the chunks alone is an error before
anything is written; too little for the whole run is a warning.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .compression import SIZE_RATIO


def tree_size(path: str | Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def free_bytes(path: Path) -> int:
    """Free space on the file system that holds ``path`` (or its nearest existing parent)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def is_dysco(ms: str) -> bool:
    """Whether the MS's DATA column is Dysco-compressed."""
    import casacore.tables as pt

    try:
        with pt.table(ms, ack=False) as t:
            return t.getdminfo("DATA").get("TYPE") == "DyscoStMan"
    except RuntimeError:
        return False


def uncompressed_size(ms: str) -> int:
    size = tree_size(ms)
    return int(size / SIZE_RATIO) if is_dysco(ms) else size


def stages_to_write(dir_working: Path, residuals: dict[str, list[str]], deleted: list[str]) -> list[str]:
    """The stages whose residual MSs (``residuals``: stage -> paths relative to ``dir_working``)
    are not all on disk, or are among the outputs a reset is about to delete (``deleted``):
    what a resumed run still has to write.  A finished stage's residual already holds its
    space, so a resumed run is not warned for room it has."""
    gone = [Path(d) for d in deleted]
    return [stage for stage, paths in residuals.items()
            if not all((dir_working / m).exists() for m in paths)
            or any(Path(m) == g or g in Path(m).parents for m in paths for g in gone)]


def check_space(dir_working: Path, input_ms: list[str], stages: int, chunks_exist: bool,
                compress: bool = False, stages_total: int | None = None) -> tuple[str | None, str | None]:
    """(error, warning) messages, or None for each when there is room.  ``input_ms`` may name an
    MS more than once (one entry per time chunk cut from it); each counts once.  ``stages``:
    the selfcal stages whose residuals are still to be written (of ``stages_total``).
    ``compress``: the chunks and residuals are written with Dysco (use_compression)."""
    ratio = SIZE_RATIO if compress else 1.0
    size = ratio * sum(uncompressed_size(m) for m in dict.fromkeys(str(Path(m)) for m in input_ms))
    free = free_bytes(dir_working)
    gb = 1e9
    if not chunks_exist and free < 1.1 * size:
        return (f"{dir_working}: not enough disk space for the chunks: {free / gb:.1f} GB free, about "
                f"{1.1 * size / gb:.1f} GB needed (the size of the input MSs{', compressed' if compress else ''})"), None
    need = ((0 if chunks_exist else 1) + stages) * size
    if free < need:
        total = stages if stages_total is None else stages_total
        what = ("chunks plus one residual per selfcal stage" if not chunks_exist
                else "one residual per selfcal stage still to run")
        return None, (f"{dir_working}: {free / gb:.1f} GB free, the run may need about {need / gb:.1f} GB more "
                      f"({what}, {stages} of {total} stages)")
    return None, None
