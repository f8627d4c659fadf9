"""Shared fixtures: one simulated `tiny` observation per test session, made by the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def cli(name: str) -> str:
    """A console script of this package, from the interpreter's own bin folder."""
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name) or name


@pytest.fixture(scope="session")
def tiny_obs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("obs") / "tiny"
    subprocess.run([cli("factor-simulate"), str(out), "--preset", "tiny", "--seed", "7", "-q"], check=True)
    return out


@pytest.fixture(scope="session")
def tiny_truth(tiny_obs) -> dict:
    return json.loads((tiny_obs / "truth" / "truth.json").read_text())


@pytest.fixture(scope="session")
def bright_obs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("obs") / "bright"
    subprocess.run([cli("factor-simulate"), str(out), "--preset", "bright", "--seed", "3", "-q"], check=True)
    return out
