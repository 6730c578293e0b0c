"""Per-job control groups: the process limit and the memory group, for real.

Numpy-only submissions graded in real child processes, each in control
groups the grader makes, cold and warm (forked from one zygote per module,
which imports TensorFlow once). The tests that need a writable pids control
group skip where there is none, unless ``NNGRADE_REQUIRE_CGROUPS`` is set
(as CI does), where they fail instead.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from conftest import (CORRECT_STEPS, cgroups_or_skip, fork_bomb, grade_with_spec,
                      numpy_only_spec, running_with, write_student)
from grader import _cgroups
from grader._sandbox import Zygote


@pytest.fixture(scope="module")
def warm_zygote(tmp_path_factory):
    zygote = Zygote(tmp_path_factory.mktemp("zygote"))
    yield zygote
    zygote.close()


@pytest.fixture(params=["cold", "warm"])
def zygote(request):
    return request.getfixturevalue("warm_zygote") if request.param == "warm" else None


def grade_one(tmp_path: Path, source: str, zygote: Zygote | None = None, *,
              processes: int = 256, memory: int = 2048):
    write_student(tmp_path / "class", "student", source)
    (result,) = grade_with_spec(tmp_path, numpy_only_spec(
        "cgroups", processes=processes, memory=memory), zygote=zygote)
    return result


def test_a_fork_bomb_ends_in_the_process_verdict_and_nothing_survives(tmp_path,
                                                                     zygote):
    cgroups_or_skip("pids")
    marker = f"{time.time_ns() % 10**9}.25"
    result = grade_one(tmp_path, CORRECT_STEPS + fork_bomb(marker), zygote,
                       processes=32)

    assert result.verdict.kind == "processes", result.verdict.message
    assert "more than 32 processes and threads" in result.verdict.message
    assert "fork bomb" in result.verdict.message
    assert "os.fork()" in result.verdict.traceback
    assert {check.status for check in result.checks} == {"not_run"}
    assert result.resources.process_limit == "cgroup"
    assert running_with(marker) == []


#: Ten processes of 140 MB each: every one within the 256 MB heap limit,
#: all of them together over the job's memory group (256 MB + 1 GiB).
MEMORY_HOGS = """
import os, time
import numpy

_children = []
for _ in range(10):
    _child = os.fork()
    if _child == 0:
        _hog = numpy.ones(140 * 1024 * 1024 // 8)
        time.sleep(3)
        os._exit(0)
    _children.append(_child)
for _child in _children:
    os.waitpid(_child, 0)
"""


def test_processes_over_the_memory_group_end_in_the_memory_verdict(tmp_path):
    cgroups_or_skip("memory")
    result = grade_one(tmp_path, CORRECT_STEPS + MEMORY_HOGS, memory=256)

    assert result.verdict.kind == "memory", result.verdict.message
    assert ("256 MB of heap in each process and 1,280 MB in all its processes "
            "together") in result.verdict.message


def test_without_a_writable_cgroup_grading_goes_on_and_says_so(tmp_path, monkeypatch,
                                                               caplog):
    # As on a machine with no control groups the grader may write.
    monkeypatch.setattr(_cgroups, "_hierarchies", lambda: [])
    monkeypatch.setattr(_cgroups, "_run", None)
    with caplog.at_level(logging.WARNING):
        result = grade_one(tmp_path, CORRECT_STEPS)

    assert result.verdict.kind == "finished"
    assert result.score == result.max_score
    expected = "none" if os.geteuid() == 0 else "RLIMIT_NPROC"
    assert result.resources.process_limit == expected
    assert "no writable pids control group" in caplog.text
