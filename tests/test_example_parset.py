"""config/factor.parset, the annotated example users copy, against the parset reader: it must
show every key runfactor reads, at the reader's default, and parse as it stands.  Without this
the example would drift from factor_cli/parset.py with the first new key or changed default."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest

from factor_cli.parset import MS_SECTION_KEYS, SECTIONS, _convert, read_parset

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "factor.parset"
SECTION = re.compile(r"^#?\s*\[([^\]]+)\]\s*$")
SETTING = re.compile(r"^#?\s*([a-z_0-9]+)\s*=\s*(.+?)\s*$")


def shown_settings() -> dict[tuple[str, str], str]:
    """(section, key) -> value of every `key = value` line, commented out or not."""
    shown, section = {}, None
    for line in EXAMPLE.read_text().splitlines():
        if m := SECTION.match(line):
            section = m.group(1).lower() if m.group(1).lower() in SECTIONS else "<ms>"
        elif (m := SETTING.match(line)) and section is not None:
            shown[(section, m.group(1))] = m.group(2)
    return shown


def documented_keys() -> list[tuple[str, str]]:
    return [(s, k) for s, keys in SECTIONS.items() for k, spec in keys.items()
            if not spec.alias_of and s != "checkfactor" and not (spec.unsupported and spec.default is None)]


@pytest.mark.parametrize("section,key", documented_keys())
def test_every_key_is_shown_at_its_default(section, key):
    shown = shown_settings()
    assert (section, key) in shown, f"[{section}] {key} is missing from {EXAMPLE.name}"
    spec = SECTIONS[section][key]
    value = _convert(spec.kind, shown[(section, key)], spec)
    if spec.default is not None and not spec.required:
        assert value == spec.default, f"[{section}] {key}: shown {value!r}, the reader's default is {spec.default!r}"
    if spec.check is not None:
        assert not any(spec.check(v) for v in (value if isinstance(value, list) else [value]))


def test_refused_and_ignored_keys_are_named():
    text = EXAMPLE.read_text()
    named = [k for s, keys in SECTIONS.items() for k, spec in keys.items()
             if not spec.alias_of and (s == "checkfactor" or (spec.unsupported and spec.default is None))]
    missing = [k for k in named if k not in text and not (k.startswith("ds9_") and "ds9_*" in text)]
    assert not missing
    assert all(("<ms>", key) in shown_settings() for key in MS_SECTION_KEYS)


def test_example_parses_as_it_stands(tmp_path):
    copy = tmp_path / "factor.parset"
    shutil.copyfile(EXAMPLE, copy)
    (tmp_path / "data").mkdir()
    (tmp_path / "directions.txt").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unknown or deprecated key
        settings = read_parset(copy)
    assert settings["global"]["dir_working"] == str(tmp_path / "work")
    assert settings["directions"]["directions_file"] == str(tmp_path / "directions.txt")
    assert settings["explicit"]["calibration"] == []
