"""The docker backend, against a real Docker engine.

The engine is the one ``DOCKER_HOST`` names when it answers; otherwise, as
root with ``dockerd`` installed, the tests start one of their own with its
own data and socket, and stop it afterwards. No registry is reachable here,
so jobs run in the image the backend makes itself, with the host's
interpreter mounted read-only. The tests skip where no engine can be had,
unless ``NNGRADE_REQUIRE_DOCKER`` is set (as CI does), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import CORRECT_STEPS, fork_bomb, running_with, skip_unless_required
from grader import _backends
from grader._cli import main as cli_main
from grader._docker import LABEL, DockerBackend, connect
from grader._errors import UsageError
from grader._limits import Limits
from grader._resources import sample_class_dir
from test_isolation import (  # noqa: F401 (listener is a fixture)
    NETWORK_PROBE, _file_probe, grade_class, listener, outcomes, statuses)

_ENGINE_START_SECONDS = 60


def _no_engine(reason: str):
    skip_unless_required("NNGRADE_REQUIRE_DOCKER", reason)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """A Docker client: of the engine running here, or one started for the tests."""
    try:
        yield connect()
        return
    except UsageError as error:
        already = str(error)
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.getuid() != 0:
        _no_engine(f"no Docker engine ({already}), and none can be started here "
                   "(it takes dockerd, run as root)")
    # A short path: the socket's must fit in 108 bytes.
    root = Path(tmp_path_factory.mktemp("docker"))
    socket_path = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")
    daemon = subprocess.Popen(
        [dockerd, "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "docker.pid"), "-H", f"unix://{socket_path}",
         "--bridge=none", "--iptables=false", "--ip6tables=false"],
        stdout=log, stderr=log, start_new_session=True)
    client = None
    deadline = time.monotonic() + _ENGINE_START_SECONDS
    while client is None and time.monotonic() < deadline and daemon.poll() is None:
        try:
            client = connect(f"unix://{socket_path}")
        except UsageError:
            time.sleep(0.5)
    if client is None:
        daemon.kill()
        daemon.wait()
        _no_engine("dockerd did not start: "
                   + (root / "dockerd.log").read_text(errors="replace")[-1000:])
    # For what connects by itself, such as the command line.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", f"unix://{socket_path}")
        yield client
    client.close()
    daemon.terminate()
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    log.close()


@pytest.fixture(scope="module")
def docker_backend(engine) -> DockerBackend:
    backend = DockerBackend(engine)
    problem = backend.self_test()
    assert problem == ""
    return backend


def our_containers(engine) -> list:
    return engine.containers.list(all=True, filters={"label": LABEL})


@pytest.fixture
def grade(docker_backend, tmp_path):
    def run(sources: dict[str, str], **limits) -> dict:
        results = grade_class(tmp_path, sources, docker_backend, **limits)
        for result in results.values():
            if result.verdict.kind != "grader_error":
                assert result.resources.backend == "docker, cold start"
        return results

    return run


# -- what a job can reach ------------------------------------------------------------


def test_docker_blocks_the_network(grade, listener):  # noqa: F811
    source = CORRECT_STEPS + NETWORK_PROBE.format(port=listener)
    (result,) = grade({"student": source}).values()

    assert outcomes(result) == {"grader-host-loopback": "BLOCKED",
                                "public-address": "BLOCKED"}
    assert statuses(result) == {
        "loader": "passed", "normalization": "passed", "tie_accuracy": "passed"}


def test_docker_shows_a_job_only_its_own_files(grade, tmp_path):
    results = grade({"bob": CORRECT_STEPS, "zed": _file_probe(tmp_path)})
    zed = results["zed"]

    assert set(outcomes(zed).values()) == {"HIDDEN"}, zed.stdout_tail
    assert {"other-student-file", "reference-solution", "reference-package",
            "other-job-folders"} <= set(outcomes(zed))
    assert statuses(zed) == {
        "loader": "passed", "normalization": "passed", "tie_accuracy": "passed"}
    assert statuses(results["bob"]) == statuses(zed)
    assert zed.resources.cpu_s > 0
    assert zed.resources.peak_rss_mb > 0


# -- limits ------------------------------------------------------------------------


def test_wall_limit_kills_the_container_and_leaves_none(grade, engine):
    source = CORRECT_STEPS + textwrap.dedent("""
        import subprocess
        subprocess.Popen(["sleep", "600"], start_new_session=True)
        while True:
            pass
        """)
    started = time.monotonic()
    (result,) = grade({"student": source}, wall=4).values()

    assert result.verdict.kind == "wall_time"
    assert "4 s" in result.verdict.message
    assert time.monotonic() - started < 60
    assert our_containers(engine) == []


def test_memory_past_the_containers_limit_is_the_memory_verdict(grade):
    # Shared memory escapes the data-segment rlimit; only the container's
    # cgroup can stop it, by killing the job.
    source = CORRECT_STEPS + textwrap.dedent("""
        import mmap
        chunks = []
        while True:
            chunk = mmap.mmap(-1, 64 * 1024 * 1024)
            chunk.write(b"x" * len(chunk))
            chunks.append(chunk)
        """)
    (result,) = grade({"student": source}, memory=256, wall=60).values()

    assert result.verdict.kind == "memory"
    assert "out of memory" in result.verdict.message
    # Killed from outside, not a MemoryError of its own.
    assert result.verdict.traceback == ""
    assert set(statuses(result).values()) == {"not_run"}


def test_output_flood_is_stopped(grade):
    source = CORRECT_STEPS + "while True:\n    print('x' * 1000)\n"
    (result,) = grade({"student": source}, wall=60).values()

    assert result.verdict.kind == "output_limit"


def test_cpu_time_limit_holds_in_a_container(grade):
    (result,) = grade({"student": CORRECT_STEPS + "while True:\n    pass\n"},
                      wall=60, cpu=2).values()

    assert result.verdict.kind == "cpu_time", result.verdict.message
    assert "2 s of CPU time" in result.verdict.message


def test_a_fork_bomb_meets_the_containers_pids_limit(grade, engine):
    marker = f"{time.time_ns() % 10**9}.35"
    (result,) = grade({"student": CORRECT_STEPS + fork_bomb(marker)},
                      processes=32).values()

    assert result.verdict.kind == "processes", result.verdict.message
    assert "more than 32 processes" in result.verdict.message
    assert running_with(marker) == []
    assert our_containers(engine) == []


def test_a_download_ends_in_the_network_verdict_in_a_container(grade):
    source = (CORRECT_STEPS + "import socket\n"
              "socket.create_connection(('192.0.2.1', 80), timeout=5)\n")
    (result,) = grade({"connector": source}).values()

    assert result.verdict.kind == "network", result.verdict.message
    assert "tried to reach the network" in result.verdict.message


# -- failures are the grader's -------------------------------------------------------


def test_a_missing_image_is_a_grader_error_not_a_zero(engine, tmp_path):
    backend = DockerBackend(engine, image="nngrade-no-such-image:1")
    (result,) = grade_class(tmp_path, {"student": CORRECT_STEPS}, backend).values()

    assert result.verdict.kind == "grader_error"
    assert "not your fault" in result.verdict.message
    assert set(statuses(result).values()) == {"not_run"}
    assert not result.scored


def test_no_engine_is_a_clear_usage_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(UsageError, match="no Docker engine answers at unix://"):
        _backends.select_backend("docker", require_isolation=True)


def test_an_instructors_image_brings_its_own_interpreter(engine, tmp_path):
    job_dir = tmp_path / "job"
    (job_dir / "work").mkdir(parents=True)
    submission = tmp_path / "class" / "ann" / "nn_keras_solution.py"
    submission.parent.mkdir(parents=True)
    submission.write_text(CORRECT_STEPS)
    (job_dir / "job.json").write_text(
        f'{{"submission": "{submission}", "seed": 1, "steps": []}}')
    settings = DockerBackend(engine, image="course/nngrade:2026").container_settings(
        job_dir, Limits(memory_bytes=512 * 1024 * 1024), seed=1, user=65534)
    shown = {mount["Target"]: mount["ReadOnly"] for mount in settings["mounts"]}

    assert shown == {str(job_dir.resolve()): False,
                     str(submission.parent.resolve()): True}
    assert settings["command"][3] == "python3"
    assert "PYTHONPATH" not in settings["environment"]
    assert settings["network_mode"] == "none"
    assert settings["user"] == "65534:65534"
    assert settings["mem_limit"] > 512 * 1024 * 1024


# -- TensorFlow in a container ---------------------------------------------------------


@pytest.mark.slow
def test_a_correct_submission_trains_in_a_container_to_full_marks(docker_backend,
                                                                  tmp_path):
    student = tmp_path / "class" / "alice"
    shutil.copytree(sample_class_dir() / "alice_form_d_correct", student)
    out = tmp_path / "out"

    status = cli_main(["grade", str(student.parent), "--sandbox", "docker",
                       "--require-isolation", "--out", str(out)])

    result = json.loads((out / "alice" / "result.json").read_text())
    assert status == 0
    assert result["verdict"]["kind"] == "finished"
    assert result["score"] == result["max_score"]
    assert result["resources"]["backend"] == "docker, cold start"
