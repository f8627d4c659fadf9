"""Idle cores lent to engine calls (core_lending.py): the arithmetic, and the files that carry
it between the jobs' processes."""

import subprocess
import sys
import threading

import pytest

from factor_cli import core_lending
from factor_cli.core_lending import engine_threads, job_holding, threads_to_use


def test_a_lone_job_borrows_the_idle_cores():
    # The second direction of a pair, self-calibrating alone on one thread of two cores.
    assert threads_to_use(2, 1, {10: 1}, {}, 10) == 2
    assert threads_to_use(32, 4, {10: 4}, {}, 10) == 32


def test_cores_held_by_a_job_between_its_calls_are_not_lent():
    # Both directions of a pair running: the other job holds its core even with no call running.
    assert threads_to_use(2, 1, {10: 1, 11: 1}, {}, 10) == 1
    assert threads_to_use(2, 1, {10: 1, 11: 1}, {11: 1}, 10) == 1


def test_a_jobs_own_threads_are_not_lent_to_its_calls_side_by_side():
    # A job of 2 threads running two calls at once on one thread each.
    assert threads_to_use(2, 1, {10: 2}, {}, 10) == 1
    assert threads_to_use(2, 1, {10: 2}, {10: 1}, 10) == 1


def test_cores_lent_to_a_running_call_count_as_used():
    # A job starting while its neighbour's call runs on a lent core gets only its own threads
    # (the machine is oversubscribed until that call ends), never less.
    assert threads_to_use(2, 1, {10: 1, 11: 1}, {10: 2}, 11) == 1
    assert threads_to_use(4, 1, {10: 1, 11: 1}, {10: 2}, 11) == 2


def test_nothing_is_lent_without_the_runs_folder(monkeypatch):
    monkeypatch.delenv(core_lending.FOLDER_ENV, raising=False)
    with job_holding(1), engine_threads(1) as threads:
        assert threads == 1


@pytest.fixture
def lending(tmp_path, monkeypatch):
    monkeypatch.setenv(core_lending.FOLDER_ENV, str(tmp_path / "cores"))
    monkeypatch.setenv(core_lending.CORES_ENV, "2")
    return tmp_path / "cores"


def test_calls_and_jobs_are_recorded_until_they_end(lending):
    with job_holding(1):
        with engine_threads(1) as first:
            assert first == 2  # alone on the machine
            with engine_threads(1) as second:  # a call beside it in the same job
                assert second == 1
            assert sorted(f.name.split("-")[0] for f in lending.iterdir() if f.name != ".lock") == ["call", "job"]
    assert [f.name for f in lending.iterdir()] == [".lock"]


def test_another_jobs_holding_is_seen_and_a_dead_jobs_is_dropped(lending):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lending.mkdir(parents=True, exist_ok=True)
        (lending / f"job-{other.pid}").write_text("1")
        with job_holding(1), engine_threads(1) as threads:
            assert threads == 1
    finally:
        other.kill()
        other.wait()
    # Killed outright: its file stays, but the process is gone, so its core is idle again.
    with job_holding(1), engine_threads(1) as threads:
        assert threads == 2
    assert not (lending / f"job-{other.pid}").exists()


def test_calls_starting_at_once_are_counted_one_after_another(lending, monkeypatch):
    # Four cores, three calls of one thread starting together: one of them is lent the idle
    # cores, not each of them.
    monkeypatch.setenv(core_lending.CORES_ENV, "4")
    granted = []
    barrier = threading.Barrier(4)

    def call():
        barrier.wait()
        with engine_threads(1) as t:
            granted.append(t)
            barrier.wait()

    with job_holding(1):
        workers = [threading.Thread(target=call) for _ in range(3)]
        for w in workers:
            w.start()
        barrier.wait()  # all three inside their calls
        barrier.wait()
        for w in workers:
            w.join()
    assert sorted(granted) == [1, 1, 4]
