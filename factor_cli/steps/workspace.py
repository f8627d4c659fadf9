"""A step's scratch folder: emptied at the start of every (re)run, so a job killed half-way
leaves nothing that a rerun could mistake for its own output."""

from __future__ import annotations

import shutil
from pathlib import Path


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
