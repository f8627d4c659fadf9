"""Independent engine calls side by side: the thread split, order of results, failures, the
job's log (one call's output whole, not interleaved) and each call's own CPU in the ledger."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from factor_cli import engines
from factor_cli.side_by_side import run_side_by_side, share


def test_threads_are_split_between_the_calls_that_run_at_once():
    assert share(2, 1) == (1, 2)      # one call keeps every thread
    assert share(2, 2) == (2, 1)
    assert share(2, 5) == (2, 1)
    assert share(8, 3) == (3, 2)      # whole shares only: 3 calls x 2 threads on 8
    assert share(1, 4) == (1, 1)
    assert share(4, 0) == (0, 4)


def test_calls_run_at_once_and_results_keep_their_order():
    running, peak, lock = [0], [0], threading.Lock()

    def call(i):
        def run(n):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05 * (3 - i))  # the first call ends last
            with lock:
                running[0] -= 1
            return (i, n)
        return run

    assert run_side_by_side([call(i) for i in range(3)], threads=2) == [(0, 1), (1, 1), (2, 1)]
    assert peak[0] == 2
    assert run_side_by_side([call(0)], threads=2) == [(0, 2)]


def test_a_failure_is_raised_after_every_other_call_has_ended():
    ended = []

    def fail(n):
        raise ValueError("bad block")

    def slow(n):
        time.sleep(0.2)
        ended.append(True)

    with pytest.raises(ValueError, match="bad block"):
        run_side_by_side([fail, slow], threads=2)
    assert ended == [True]


def _fake_engine(tmp_path, name, seconds_of_cpu):
    """An executable that prints its lines slowly and burns CPU (stands in for DP3)."""
    script = tmp_path / name
    script.write_text(f"#!{sys.executable}\nimport sys, time\n"
                      f"for i in range(3):\n    print('{name}', i, flush=True)\n    time.sleep(0.05)\n"
                      f"t = time.process_time()\nwhile time.process_time() - t < {seconds_of_cpu}:\n    pass\n"
                      f"sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)\n")
    script.chmod(0o755)
    return str(script)


def test_side_by_side_calls_write_whole_outputs_to_the_log_and_their_own_cpu_to_the_ledger(tmp_path, monkeypatch):
    ledger = tmp_path / "engines.tsv"
    monkeypatch.setenv(engines.LEDGER_ENV, str(ledger))
    log = tmp_path / "job.log"
    a, b = _fake_engine(tmp_path, "alpha", 0.6), _fake_engine(tmp_path, "beta", 0.1)
    run_side_by_side([lambda n: engines._run([a], log, n), lambda n: engines._run([b], log, n)], threads=2)
    lines = log.read_text().splitlines()
    for name in ("alpha", "beta"):
        first = lines.index(next(line for line in lines if line.startswith("$ ") and line.endswith(name)))
        assert lines[first + 1:first + 4] == [f"{name} {i}" for i in range(3)]
    cpu = {row.split("\t")[0]: float(row.split("\t")[1]) for row in ledger.read_text().splitlines()}
    # Each call's own CPU, not whatever else ended while it ran.
    assert 0.5 < cpu["alpha"] < 0.9 and 0.05 < cpu["beta"] < 0.4


def test_an_engine_failure_names_the_engine_and_shows_its_output(tmp_path):
    bad = _fake_engine(tmp_path, "gamma", 0.0)
    with pytest.raises(engines.EngineError, match=r"gamma failed \(exit 3\)") as err:
        run_side_by_side([lambda n: engines._run([bad, "3"], tmp_path / "job.log", n)] * 2, threads=2)
    assert "gamma 2" in str(err.value)


def test_ledger_labels_say_what_each_call_did():
    assert engines.call_kind(["/x/DP3.py", "msin=a.ms", "steps=[solve]", "solve.type=ddecal", "numthreads=1"]) == "ddecal j1"
    assert engines.call_kind(["/x/DP3.py", "msin=a.ms", "shift.type=phaseshift", "avg.type=averager",
                              "numthreads=2"]) == "phaseshift+averager j2"
    assert engines.call_kind(["/usr/bin/wsclean", "-j", "2", "-size", "512", "512", "a.ms"]) == "512px j2"


def _slow_write(path: str) -> None:
    time.sleep(0.5)
    Path(path).write_text(f"{os.getpid()} {os.nice(0)}")


def _no_image(path: str) -> None:
    raise RuntimeError(f"no image {path}")


def test_background_work_runs_beside_the_step_niced_in_its_own_process_and_is_waited_for(tmp_path):
    from factor_cli.side_by_side import Background

    out = tmp_path / "plot.txt"
    with Background() as later:
        later.submit(_slow_write, str(out))
        assert not out.exists()  # the step goes on at once
    pid, nice = out.read_text().split()
    assert int(pid) != os.getpid() and int(nice) >= min(19, os.nice(0) + 19)
    with pytest.raises(RuntimeError, match="no image x.fits"):
        with Background() as later:
            later.submit(_no_image, "x.fits")


def test_a_verification_image_asks_wsclean_for_its_share_of_the_memory_only(monkeypatch):
    from factor_cli import verification

    calls = []
    monkeypatch.setattr(verification, "run_wsclean", lambda args, log, threads: calls.append(args))
    verification.image(["a.ms"], "pre", 80.0, None, 1, abs_mem_gb=3.0)
    verification.image(["a.ms"], "post", 80.0, None, 1)
    assert calls[0][calls[0].index("-abs-mem") + 1] == "3.00"
    assert "-abs-mem" not in calls[1]  # no job memory given: WSClean's own default


def test_verification_averages_before_then_after_each_on_all_threads(monkeypatch, tmp_path):
    # "pre" is a plain averaging (a fraction of a second), "post" predicts two models: side by
    # side, "post" ran alone on one thread of two for most of the pair's time.
    from factor_cli import verification
    from factor_cli.steps import selfcal

    averaged, imaged = [], []
    monkeypatch.setattr(selfcal, "replacement", lambda *a: (["add", "sub"], {}))
    monkeypatch.setattr(verification, "averaged",
                        lambda ms, out, steps, args, f, t, log, n: averaged.append(("post" if steps else "pre", n)))

    def image(ms, name, uv, log, n, abs_mem_gb=None):
        imaged.append(n)
        Path(name + ".fits").write_text("")
        return name + ".fits"

    monkeypatch.setattr(verification, "image", image)
    monkeypatch.setattr(verification, "verify", lambda *a, **k: "checked")
    p = {"verify": {"slot": 0, "freqstep": 1, "timestep": 1, "min_uv_lambda": 80.0, "max_peak_jy": 0.75,
                    "max_ratio": 4.0}, "residual": [["a.ms"], ["b.ms"]], "direction": {"ra_deg": 0.0, "dec_deg": 0.0}}
    state = {"models": ["old.skymodel"], "h5": None}
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir(), out.mkdir()
    assert selfcal.verify(p, state, "new.skymodel", "new.h5", "dir00", work, out, None, 2) == "checked"
    assert averaged == [("pre", 1), ("pre", 1), ("post", 1), ("post", 1)]  # two chunks: one thread each
    averaged.clear()
    p["residual"] = [["a.ms"]]
    selfcal.verify(p, state, "new.skymodel", "new.h5", "dir00", work, out, None, 2)
    assert averaged == [("pre", 2), ("post", 2)] and imaged[-2:] == [1, 1]


def test_import_beside_loads_the_modules_past_a_missing_one():
    import sys

    from factor_cli.side_by_side import import_beside

    sys.modules.pop("xml.dom.minidom", None)
    thread = import_beside("no_such_module_for_factor", "xml.dom.minidom")
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "xml.dom.minidom" in sys.modules     # the missing one is left to the step's own import
    assert import_beside("xml.dom.minidom") is None    # nothing left to import: no thread
