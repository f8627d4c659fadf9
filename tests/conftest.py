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


# The simulated observations above: every test that uses one (directly or through another
# fixture) runs DP3 and WSClean, for seconds to many minutes.
ENGINE_FIXTURES = {"tiny_obs", "tiny_truth", "bright_obs"}


def pytest_collection_modifyitems(items):
    """Mark the tests on a simulated observation `engines` (pyproject.toml declares the marker), so
    that ``pytest -m "not engines"`` runs the fast logic tests alone; before, no test carried it and
    the selection ran everything."""
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engines)
