"""Directions-file reader: Factor's 14- and 12-column forms and per-column errors."""

from __future__ import annotations

import pytest

from factor_cli.directions import Direction, DirectionsFileError, read_directions_file, write_directions_file


def write(tmp_path, text):
    path = tmp_path / "dirs.txt"
    path.write_text(text)
    return path


def test_reads_factor_example_rows(tmp_path):
    (tmp_path / "s1.skymodel").write_text("")
    path = write(tmp_path, "# comment\n"
                 "s1  14h41m01.884,+35d30m31.52 empty empty 512  1  30  LD empty empty s1.skymodel True 0.01 2400\n"
                 "s2  14h38m29.584,+33d57m37.82 True  True    0  1   0  HD empty empty empty False 0.02 1300\n")
    s1, s2 = read_directions_file(path)
    assert s1.name == "s1" and s1.ra_deg == pytest.approx(220.25785, abs=1e-5)
    assert s1.dec_deg == pytest.approx(35.508756, abs=1e-6)
    assert s1.mscale_selfcal_do is None and s2.mscale_selfcal_do is True
    assert s1.cal_imsize == 512 and s1.solint_amp == 30 and s1.outlier_source is True
    assert s1.peel_skymodel == str(tmp_path / "s1.skymodel")
    assert s2.dynamic_range == "HD" and s2.cal_size_deg == 0.02 and s2.cal_flux_mjy == 1300


def test_reads_legacy_12_columns(tmp_path):
    path = write(tmp_path, "a 10h00m00,+50d00m00 empty empty 256 0 0 LD empty empty empty False\n")
    (d,) = read_directions_file(path)
    assert d.cal_size_deg is None and d.cal_imsize == 256


@pytest.mark.parametrize(
    "row, column",
    [
        ("a 10h00m00 empty empty 0 0 0 LD empty empty empty False 0.1 10", "position"),
        ("a 10h00m00,+95d00m00 empty empty 0 0 0 LD empty empty empty False 0.1 10", "position"),
        ("a 10h00m00,+50d00m00 maybe empty 0 0 0 LD empty empty empty False 0.1 10", "mscale_selfcal_do"),
        ("a 10h00m00,+50d00m00 empty empty x 0 0 LD empty empty empty False 0.1 10", "cal_imsize"),
        ("a 10h00m00,+50d00m00 empty empty 0 0 0 MD empty empty empty False 0.1 10", "dynamic_range"),
        ("a 10h00m00,+50d00m00 empty empty 0 0 0 LD missing.reg empty empty False 0.1 10", "region_selfcal"),
        ("a 10h00m00,+50d00m00 empty empty 0 0 0 LD empty empty empty False -1 10", "cal_size_deg"),
        ("field 10h00m00,+50d00m00 empty empty 0 0 0 LD empty empty empty False 0.1 10", "name"),
    ],
)
def test_bad_values_name_file_line_and_column(tmp_path, row, column):
    path = write(tmp_path, "# header\n" + row + "\n")
    with pytest.raises(DirectionsFileError) as err:
        read_directions_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}:2: column {column}") and "\n" not in message


def test_wrong_column_count_and_duplicates(tmp_path):
    with pytest.raises(DirectionsFileError, match="14 columns"):
        read_directions_file(write(tmp_path, "a 10h00m00,+50d00m00 empty\n"))
    row = "a 10h00m00,+50d00m00 empty empty 0 0 0 LD empty empty empty False 0.1 10\n"
    with pytest.raises(DirectionsFileError, match="twice"):
        read_directions_file(write(tmp_path, row + row))


def test_write_read_round_trip(tmp_path):
    dirs = [Direction("d1", 359.99, -10.5, cal_size_deg=0.1, cal_flux_mjy=1234.5),
            Direction("d2", 0.01, 89.0, True, False, 512, 2, 30, "HD", cal_size_deg=0.05, cal_flux_mjy=10.0)]
    path = tmp_path / "out.txt"
    write_directions_file(path, dirs)
    back = read_directions_file(path)
    for a, b in zip(dirs, back):
        assert b.name == a.name and b.ra_deg == pytest.approx(a.ra_deg, abs=1e-5) and b.dec_deg == pytest.approx(a.dec_deg, abs=1e-5)
        assert (b.mscale_selfcal_do, b.cal_imsize, b.solint_amp, b.dynamic_range) == (a.mscale_selfcal_do, a.cal_imsize, a.solint_amp, a.dynamic_range)
