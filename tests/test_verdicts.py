"""Verdicts: which wins when several endings apply, and those read from the
error a step raised (network, forbidden, and neither).

The sandboxes themselves are exercised in test_isolation.py; these are the
errors of libraries a sandbox never gets to meet here (Keras's downloader,
requests), and the cases that must not be blamed on the sandbox.
"""

from __future__ import annotations

import dataclasses
import signal

import pytest

from grader._jobs import JobOutcome
from grader._limits import Limits
from grader._records import StepRecord
from grader._watch import ChildRun
from grader._verdicts import decide_verdict


def verdict_of(kind: str, message: str, backend: str = "bwrap"):
    run = ChildRun(0, None, False, False, "", "", 1.0, 1.0, 1.0, backend=backend)
    failed = StepRecord("import", False, error={"type": kind, "message": message,
                                                "traceback": ""})
    return decide_verdict(JobOutcome(run, {"import": failed}, finished=True),
                          Limits(), ())


@pytest.mark.parametrize("kind,message", [
    pytest.param("Exception", "URL fetch failure on https://storage.googleapis.com/"
                 "tensorflow/tf-keras-datasets/mnist.npz: None -- [Errno -3] "
                 "Temporary failure in name resolution", id="keras-datasets"),
    pytest.param("ConnectionError", "HTTPSConnectionPool(host='archive.ics.uci.edu',"
                 " port=443): Max retries exceeded with url: /data.csv (Caused by "
                 "NameResolutionError(\"Failed to resolve 'archive.ics.uci.edu' "
                 "([Errno -2] Name or service not known)\"))", id="requests"),
    pytest.param("OSError", "[Errno 101] Network is unreachable", id="socket"),
])
def test_network_errors_of_common_libraries_end_in_the_network_verdict(kind, message):
    assert verdict_of(kind, message).kind == "network"


def test_a_missing_file_is_forbidden_only_where_a_sandbox_hides_it(tmp_path):
    hidden = tmp_path / "reference.py"
    hidden.write_text("")
    shown_missing = f"[Errno 2] No such file or directory: '{hidden}'"
    typo = f"[Errno 2] No such file or directory: '{tmp_path / 'digits.txt'}'"

    assert verdict_of("FileNotFoundError", shown_missing).kind == "forbidden"
    assert verdict_of("FileNotFoundError", typo).kind == "exception"
    # Without a sandbox, nothing is hidden: the file was gone when it looked.
    assert verdict_of("FileNotFoundError", shown_missing, "process").kind == "exception"


def test_an_error_that_only_mentions_a_number_like_an_errno_is_an_exception():
    message = "expected [Errno 1010] in the file, found 3 columns"

    assert verdict_of("ValueError", message).kind == "exception"


def test_when_several_endings_apply_the_first_in_design_order_wins():
    """Peel the causes off one at a time: each step leaves the next verdict."""
    network_error = StepRecord("load_course", False, error={
        "type": "OSError", "message": "[Errno 101] Network is unreachable",
        "traceback": ""})
    run = ChildRun(None, signal.SIGXCPU, True, True, "", "", 9.0, 9.0, 9.0,
                   start_error="bwrap: no permission", backend="bwrap",
                   memory_cgroup_killed=True, processes_refused=3,
                   gpu_memory_exceeded=True)
    causes = [
        ("grader_error", {"start_error": ""}),
        ("wall_time", {"timed_out": False}),
        ("gpu_memory", {"gpu_memory_exceeded": False}),
        ("memory", {"memory_cgroup_killed": False}),
        ("cpu_time", {"signal": None}),
        ("output_limit", {"output_exceeded": False}),
        ("processes", {"processes_refused": 0}),
        ("network", None),
    ]
    for expected, removed in causes:
        outcome = JobOutcome(run, {"load_course": network_error}, finished=True)
        assert decide_verdict(outcome, Limits(), ()).kind == expected
        if removed:
            run = dataclasses.replace(run, **removed)


@pytest.mark.parametrize(("kind", "message", "line", "verdict"), [
    ("BlockingIOError", "[Errno 11] Resource temporarily unavailable",
     "    if os.fork() == 0:", "processes"),
    ("BlockingIOError", "[Errno 11] Resource temporarily unavailable",
     "    subprocess.Popen(['sleep', '9'])", "processes"),
    # A thread may fail for want of memory for its stack: only counted
    # refusals make that the process verdict.
    ("RuntimeError", "can't start new thread", "    thread.start()", "exception"),
    # The same errno from a socket left non-blocking is no process limit,
    # even in a file whose path has a word of forking in it.
    ("BlockingIOError", "[Errno 11] Resource temporarily unavailable",
     "    data = connection.recv(1024)", "exception"),
], ids=["fork", "popen", "thread", "socket"])
def test_a_refused_fork_is_the_process_verdict(kind, message, line, verdict):
    run = ChildRun(1, None, False, False, "", "", 1.0, 1.0, 1.0, backend="docker")
    failed = StepRecord("import", False, error={
        "type": kind, "message": message,
        "traceback": f'  File "/home/fork/nn_keras_solution.py", line 9, in <module>'
                     f'\n{line}\n'})
    outcome = JobOutcome(run, {"import": failed}, finished=True)

    assert decide_verdict(outcome, Limits(), ()).kind == verdict
