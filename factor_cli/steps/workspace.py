"""A step's work folder, and staging on node-local scratch (``dir_local``, ``dir_local_selfcal``).

Without scratch the work folder is ``<output folder>/work`` on the shared file system,
emptied at the start of every (re)run, so a job killed half-way leaves nothing that a rerun
could mistake for its own output (it is left after a failure, for inspection).  With scratch
it is a folder of its own under the scratch path (several jobs may share a node), removed when
the step ends, failed or not (factor-step turns SIGTERM into an exception for this).  A step's
products go to their final place on the shared file system; a large product (the facetsub MS)
is written on scratch and copied back whole, so the shared copy appears only complete.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


@contextmanager
def work_folder(out: Path, scratch: str | None, keep: bool = False) -> Iterator[Path]:
    """The step's work folder; ``keep`` leaves it in ``out/work`` after success."""
    if not scratch:
        work = fresh(out / "work")
        yield work
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        return
    Path(scratch).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"factor-{out.name}-", dir=scratch))
    try:
        yield work
        if keep:
            move_tree(work, out / "work")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary name beside ``dst``, so ``dst`` is either
    absent or complete."""
    _place(src, dst, shutil.copytree if src.is_dir() else shutil.copyfile)


def move_tree(src: Path, dst: Path) -> None:
    """Like copy_tree, but moves: a rename on the same file system, a copy from scratch."""
    _place(src, dst, shutil.move)


def _place(src: Path, dst: Path, transfer) -> None:
    tmp = dst.with_name(dst.name + ".copying")
    for path in (tmp, dst):
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    transfer(str(src), str(tmp))
    tmp.rename(dst)
