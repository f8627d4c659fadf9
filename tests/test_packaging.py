"""Install-level contracts: the workflow ships in the wheel; conda and pip agree on versions."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_non_editable_install_finds_the_workflow(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path / "wheel"), str(ROOT)], check=True)
    wheel = next((tmp_path / "wheel").glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("factor_cli/workflow/Snakefile", "factor_cli/workflow/rules/common.smk",
                     "factor_cli/workflow/schemas/config.schema.yaml",
                     "factor_cli/workflow/envs/factor.yaml"):
        assert required in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)], check=True)
    code = "import factor_cli.workflow_files as w; print(w.snakefile())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True)
    snakefile = Path(out.stdout.strip())
    assert snakefile.is_file() and target in snakefile.parents


def _lower_bounds(specs):
    bounds = {}
    for spec in specs:
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", spec)
        if m:
            bounds[m.group(1).lower()] = m.group(2)
    return bounds


def test_environment_yml_matches_pyproject_lower_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_specs = project["dependencies"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_specs = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda_specs += dep["pip"]
        else:
            conda_specs.append(dep)
    pip_bounds, conda_bounds = _lower_bounds(pip_specs), _lower_bounds(conda_specs)
    assert pip_bounds == {k: v for k, v in conda_bounds.items() if k != "python"}
