"""What each operating system enforces, and the watch that stands in on macOS.

No macOS or Windows machine runs these tests: the macOS profile is put in
place on Linux (no heap rlimit, no child subreaper, no control groups, cold
starts only), so the stand-ins are exercised for real here, but macOS itself
is not.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import textwrap

import pytest

from conftest import CORRECT_STEPS, pids_alive
from grader import _cgroups, _platform, _sandbox
from grader._cli import main
from grader._errors import UsageError
from grader._report import render_report
from grader._sandbox import ProcessBackend, Sandbox, View
from test_grading_limits import grade_one, statuses

_PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture
def macos(monkeypatch):
    """This process grades as it would on macOS."""
    monkeypatch.setattr(_platform, "current", lambda: _platform.MACOS)
    monkeypatch.setattr(_cgroups, "_hierarchies", lambda: [])
    monkeypatch.setattr(_cgroups, "_run", None)


@pytest.fixture
def no_subreaper(monkeypatch):
    """Orphans go to init, as on a system without a child subreaper."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    monkeypatch.setattr(_sandbox._reaper, "enabled", False)
    yield
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def test_linux_enforces_everything_itself():
    linux = _platform.platform_named("linux")

    assert linux.gaps() == []
    assert not linux.watches_processes


def test_macos_names_what_it_leaves_out_and_what_stands_in():
    gaps = _platform.platform_named("darwin").gaps()

    assert len(gaps) == 3
    assert all(gap.startswith("macOS ") for gap in gaps)
    assert "measured the memory of all the submission's processes" in gaps[0]
    assert "leaves the submission's session" in gaps[1]
    assert "interpreter of its own" in gaps[2]


def test_another_unix_is_assumed_to_offer_no_more_than_macos():
    freebsd = _platform.platform_named("freebsd14")

    assert freebsd.watches_processes and not freebsd.warm_start
    assert all(gap.startswith("freebsd14 ") for gap in freebsd.gaps())


def test_windows_is_refused_with_a_pointer_to_wsl():
    with pytest.raises(UsageError, match=r"WSL 2 \(run 'wsl --install'"):
        _platform.platform_named("win32")


def test_grading_on_windows_stops_before_anything_runs(monkeypatch, capsys,
                                                      tmp_path):
    monkeypatch.setattr(sys, "platform", "win32")

    status = main(["grade", "--out", str(tmp_path / "out")])

    assert status == 2
    assert "does not grade on Windows" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_memory_past_the_limit_is_stopped_by_the_watch(tmp_path, macos):
    # Touched 64 MiB at a time, so the memory is resident; nothing limits
    # the heap, and only the watch can stop it before the wall-clock limit.
    source = CORRECT_STEPS + textwrap.dedent("""
        import time
        import numpy
        hog = []
        for _ in range(40):
            hog.append(numpy.ones(64 * 1024 * 1024, dtype=numpy.uint8))
            time.sleep(0.05)
        time.sleep(60)
        """)
    result = grade_one(tmp_path, source, wall=30, memory=256)

    assert result.verdict.kind == "memory"
    assert ("1,280 MB in all its processes together, and the grader stopped it"
            in result.verdict.message)
    assert result.resources.peak_rss_mb > 1280
    assert result.resources.unenforced == _platform.MACOS.gaps()
    assert set(statuses(result).values()) == {"not_run"}


def test_the_same_memory_is_fine_under_a_limit_that_allows_it(tmp_path, macos):
    # The control for the test above: the watch stops only what is over.
    source = CORRECT_STEPS + textwrap.dedent("""
        import numpy
        hog = numpy.ones(512 * 1024 * 1024, dtype=numpy.uint8)
        """)
    result = grade_one(tmp_path, source, memory=1024)

    assert result.verdict.kind == "finished"
    assert result.score == result.max_score


DETACHED_CHILD = CORRECT_STEPS + textwrap.dedent("""
    import subprocess, time
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    with open({pid_file!r}, "w") as stream:
        stream.write(str(child.pid))
    time.sleep(1.5)
    """)


def test_a_process_that_left_the_session_is_killed_by_the_watch(tmp_path, macos,
                                                                no_subreaper,
                                                                caplog):
    pid_file = tmp_path / "detached.pid"
    with caplog.at_level(logging.WARNING, logger="grader._platform"):
        result = grade_one(tmp_path, DETACHED_CHILD.format(pid_file=str(pid_file)))

    assert result.verdict.kind == "finished"
    assert pids_alive([int(pid_file.read_text())]) == []
    assert "outlived job" in caplog.text


def test_without_the_watch_or_a_subreaper_the_detached_process_survives(
        tmp_path, monkeypatch, no_subreaper):
    # The control for the test above: it is the watch that kills the process.
    monkeypatch.setattr(_cgroups, "_hierarchies", lambda: [])
    monkeypatch.setattr(_cgroups, "_run", None)
    pid_file = tmp_path / "detached.pid"
    grade_one(tmp_path, DETACHED_CHILD.format(pid_file=str(pid_file)))
    pid = int(pid_file.read_text())
    try:
        assert pids_alive([pid]) == [pid]
    finally:
        os.kill(pid, signal.SIGKILL)


def test_macos_starts_every_job_cold(tmp_path, macos):
    sandbox = Sandbox(ProcessBackend())
    sandbox.start_warm(tmp_path, View((tmp_path,)))

    assert sandbox.zygote is None


def test_the_report_shows_what_was_not_enforced(tmp_path, macos):
    result = grade_one(tmp_path, CORRECT_STEPS)
    page = render_report(result)

    assert "Not enforced" in page
    for gap in _platform.MACOS.gaps():
        assert gap.replace("'", "&#39;") in page
