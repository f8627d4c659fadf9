"""Command-line behaviour: versions, help with the seed's flags, bad arguments."""

from __future__ import annotations

import subprocess

import pytest

from factor_cli import __version__
from factor_cli.runfactor import OPERATIONS

from conftest import cli


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


@pytest.mark.parametrize("tool", ["runfactor", "checkfactor", "factor-simulate", "archivefactor", "unarchivefactor"])
def test_version(tool):
    out = run(cli(tool), "--version")
    assert out.returncode == 0
    assert __version__ in out.stdout


def test_runfactor_help_lists_every_flag_and_operation():
    out = run(cli("runfactor"), "-h")
    assert out.returncode == 0
    for flag in ("--version", "-h", "-d", "-q", "-v", "-r RESET", "--reset", "-o OPS", "--ops", "-s STOP_AFTER", "--stop_after"):
        assert flag in out.stdout, flag
    for op in ("outlierpeel", "facetpeel", "facetpeelimage", "facetselfcal", "facetsub", "facetimage", "fieldmosaic"):
        assert op in OPERATIONS and op in out.stdout.replace("\n", " "), op


def test_simulate_rejects_unknown_preset(tmp_path):
    out = run(cli("factor-simulate"), str(tmp_path / "x"), "--preset", "huge")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "huge" in out.stderr
    assert not (tmp_path / "x").exists()


def test_simulate_refuses_non_empty_outdir_and_leaves_it_alone(tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    out = run(cli("factor-simulate"), str(tmp_path), "--preset", "tiny")
    assert out.returncode == 2
    assert "--overwrite" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_simulate_rejects_unwritable_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = run(cli("factor-simulate"), str(blocker / "sub"), "--preset", "tiny")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_archive_tools_refuse_what_they_cannot_do(tmp_path):
    parset = tmp_path / "p.parset"
    (tmp_path / "ms").mkdir()
    parset.write_text("[global]\ndir_working = work\ndir_ms = ms\n[directions]\ndirections_file = p.parset\n")
    out = run(cli("archivefactor"), str(parset), str(tmp_path / "arch"))
    assert out.returncode == 2 and "no run to archive" in out.stderr and not (tmp_path / "arch").exists()
    out = run(cli("unarchivefactor"), str(tmp_path), str(tmp_path / "out"))
    assert out.returncode == 2 and "not a Factor archive" in out.stderr and not (tmp_path / "out").exists()
