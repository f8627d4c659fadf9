"""How the pipeline asks WSClean to grid: output channels side by side where threads and memory allow."""

from __future__ import annotations

from factor_cli import imaging
from factor_cli.imaging import ImagingSettings, parallel_gridders


def test_channels_are_gridded_side_by_side_up_to_the_threads():
    assert parallel_gridders(channels_out=2, threads=2, size=3200, abs_mem_gb=20.0) == 2
    assert parallel_gridders(channels_out=6, threads=4, size=3200, abs_mem_gb=20.0) == 4
    assert parallel_gridders(channels_out=3, threads=8, size=512, abs_mem_gb=20.0) == 3
    assert parallel_gridders(channels_out=1, threads=2, size=3200, abs_mem_gb=20.0) == 1
    assert parallel_gridders(channels_out=2, threads=1, size=3200, abs_mem_gb=20.0) == 1


def test_no_more_gridders_than_half_the_memory_holds():
    # A 20000-px image: (1.2 x 20000)^2 x 32 B = 17.2 GB of grid per gridder.
    assert parallel_gridders(channels_out=2, threads=2, size=20000, abs_mem_gb=24.0) == 1
    assert parallel_gridders(channels_out=4, threads=4, size=20000, abs_mem_gb=80.0) == 2
    # Without a memory limit, half of 8 GB: two 6000-px grids (1.6 GB each) fit, three do not.
    assert parallel_gridders(channels_out=4, threads=4, size=6000, abs_mem_gb=None) == 2


def _args(monkeypatch, **settings) -> list[str]:
    calls = []
    monkeypatch.setattr(imaging, "run_wsclean", lambda args, log, threads: calls.append(args))
    base = dict(size=3200, scale_arcsec=6.0, robust=-0.5, min_uv_lambda=80.0, abs_mem_gb=20.0)
    imaging.wsclean(["a.ms"], "img", ImagingSettings(**{**base, **settings}), threads=2)
    return calls[0]


def test_wsclean_is_asked_for_parallel_gridding_only_with_several_channels(monkeypatch):
    args = _args(monkeypatch, channels_out=2)
    assert args[args.index("-parallel-gridding") + 1] == "2"
    assert "-parallel-gridding" not in _args(monkeypatch, channels_out=1)
    assert "-parallel-gridding" not in _args(monkeypatch, channels_out=2, idg_mode="cpu")
