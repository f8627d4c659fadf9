"""Where the Snakemake workflow and the default config are, installed or in a checkout.

The repository keeps them at the top level (``workflow/``, ``config/``, the Snakemake catalog
layout); pyproject.toml ships them inside the wheel as the packages ``factor_cli.workflow`` and
``factor_cli.config``, so a non-editable install finds them through importlib.resources and
``runfactor`` works from any folder.  ``FACTOR_WORKFLOW_DIR`` overrides the lookup (for
developing a workflow against an installed package).
"""

from __future__ import annotations

import os
import importlib.util
from pathlib import Path


def workflow_dir() -> Path:
    override = os.environ.get("FACTOR_WORKFLOW_DIR")
    if override:
        return Path(override)
    return _package_folder("factor_cli.workflow")


def snakefile() -> Path:
    return workflow_dir() / "Snakefile"


def config_dir() -> Path:
    return _package_folder("factor_cli.config")


def _package_folder(name: str) -> Path:
    # Installed: data-only folders are namespace packages whose one search location is the
    # folder.  Editable install of a checkout: the import system may not map them, so fall
    # back to the top-level folder beside the package.
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    checkout = Path(__file__).resolve().parents[1] / name.rsplit(".", 1)[1]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"{name} is not installed with the package")
