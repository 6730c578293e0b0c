"""Grade small numpy-only submissions for real, each child a real process.

The spec here grades only the checks that need no training, so no test in
this file imports TensorFlow.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from pathlib import Path

import pytest

from conftest import (CORRECT_STEPS, grade_with_spec, numpy_only_spec, pids_alive,
                      running_with, write_student)
from grader._report import render_report
from grader._result import Result
from grader._spec import load_spec


def grade_one(tmp_path: Path, source: str, wall: float = 20.0, cpu: float = 600,
              memory: int = 2048, file_mb: int = 64):
    write_student(tmp_path / "class", "student", source)
    (result,) = grade_with_spec(tmp_path, numpy_only_spec(
        "limits", wall=wall, cpu=cpu, memory=memory, file_mb=file_mb))
    return result


def statuses(result) -> dict[str, str]:
    return {check.name: check.status for check in result.checks}


def test_correct_steps_get_full_marks(tmp_path):
    result = grade_one(tmp_path, CORRECT_STEPS)

    # Only the steps the spec grades run, so the missing training never runs.
    assert result.verdict.kind == "finished"
    assert statuses(result) == {
        "loader": "passed", "normalization": "passed", "tie_accuracy": "passed"}
    assert result.score == result.max_score == 6


@pytest.mark.parametrize("body", [
    pytest.param("while True:\n    pass\n", id="busy-loop"),
    pytest.param("import time\ntime.sleep(1000)\n", id="sleep"),
])
def test_wall_limit_stops_a_submission_at_import(tmp_path, body):
    started = time.monotonic()
    result = grade_one(tmp_path, CORRECT_STEPS + body, wall=3)

    assert time.monotonic() - started < 30
    assert result.verdict.kind == "wall_time"
    assert "3 s, the wall-clock limit" in result.verdict.message
    assert set(statuses(result).values()) == {"not_run"}
    assert result.resources.wall_s == pytest.approx(3, abs=1.5)


def test_checks_finished_before_the_wall_limit_keep_their_points(tmp_path):
    source = CORRECT_STEPS.replace(
        "from numpy_steps import load_dataset, normalize, object_accuracy",
        "from numpy_steps import load_dataset, normalize\n"
        "\n\n"
        "def object_accuracy(outputs, true_class):\n"
        "    while True:\n"
        "        pass\n")
    result = grade_one(tmp_path, source, wall=4)

    assert result.verdict.kind == "wall_time"
    assert statuses(result) == {
        "loader": "passed", "normalization": "passed", "tie_accuracy": "not_run"}
    assert result.score == 4


def test_no_process_of_a_stopped_submission_survives(tmp_path):
    pid_file = tmp_path / "pids.txt"
    source = CORRECT_STEPS + textwrap.dedent(f"""
        import os, subprocess
        child = subprocess.Popen(["sleep", "1000"])
        with open({str(pid_file)!r}, "w") as stream:
            stream.write(f"{{os.getpid()}} {{child.pid}}")
        while True:
            pass
        """)
    result = grade_one(tmp_path, source, wall=3)

    assert result.verdict.kind == "wall_time"
    pids = [int(pid) for pid in pid_file.read_text().split()]
    assert len(pids) == 2
    assert pids_alive(pids) == []


#: How each limit is met at import, the limits that make it quick, and the
#: verdict it must end in.
LIMIT_BREAKERS = {
    "wall-busy-loop": ("while True:\n    pass\n", {"wall": 3}, "wall_time"),
    "wall-sleep": ("import time\ntime.sleep(1000)\n", {"wall": 3}, "wall_time"),
    "cpu": ("while True:\n    pass\n", {"wall": 60, "cpu": 2}, "cpu_time"),
    "memory": ("import numpy\nhog = numpy.ones((1024, 1024, 1024))\n",
               {"memory": 512}, "memory"),
    "output-flood": ("while True:\n    print('x' * 100)\n", {}, "output_limit"),
    "file-size": ("with open('big.bin', 'wb') as stream:\n"
                  "    for _ in range(64):\n"
                  "        stream.write(b'x' * 1024 * 1024)\n",
                  {"file_mb": 2}, "output_limit"),
    "signal": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", {},
               "crash"),
    "exception": ("value = 1 / 0\n", {}, "exception"),
}


@pytest.mark.parametrize("breaker", LIMIT_BREAKERS)
def test_no_detached_grandchild_outlives_any_ending(tmp_path, breaker):
    # A grandchild in a session of its own escapes a kill of the process
    # group: only the subreaper sweep (or the job's control group) finds it.
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    body, limits, verdict = LIMIT_BREAKERS[breaker]
    source = CORRECT_STEPS + textwrap.dedent(f"""
        import subprocess
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        """) + body
    result = grade_one(tmp_path, source, **limits)

    assert result.verdict.kind == verdict, result.verdict.message
    assert running_with(marker) == []


def test_the_child_sees_none_of_the_graders_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NNGRADE_TEST_SECRET", "instructor-token")
    # grade_one runs the process backend, which lets the job write here.
    seen = tmp_path / "environment.txt"
    source = CORRECT_STEPS + textwrap.dedent(f"""
        import os
        with open({str(seen)!r}, "w") as stream:
            stream.write("\\n".join(f"{{k}}={{v}}" for k, v in os.environ.items()))
        """)
    result = grade_one(tmp_path, source)

    assert result.verdict.kind == "finished"
    environment = dict(line.split("=", 1) for line in seen.read_text().splitlines())
    assert "NNGRADE_TEST_SECRET" not in environment
    assert "instructor-token" not in seen.read_text()
    # Home and scratch are the job's own folder, inside the grader's work root.
    assert environment["HOME"] == environment["TMPDIR"]
    assert Path(environment["HOME"]).is_relative_to(tmp_path)
    assert environment["MALLOC_ARENA_MAX"] == "2"


def test_output_flood_is_stopped_with_its_own_verdict(tmp_path):
    result = grade_one(tmp_path, CORRECT_STEPS + "while True:\n    print('x' * 100)\n")

    assert result.verdict.kind == "output_limit"
    assert "20,000 bytes" in result.verdict.message
    assert len(result.stdout_tail) <= 4000


def test_crash_by_signal_is_named(tmp_path):
    source = CORRECT_STEPS + "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    result = grade_one(tmp_path, source)

    assert result.verdict.kind == "crash"
    assert "SIGSEGV" in result.verdict.message


def test_exception_at_import_shows_the_students_line(tmp_path):
    result = grade_one(tmp_path, CORRECT_STEPS + "\nvalue = 1 / 0\n")

    assert result.verdict.kind == "exception"
    assert "ZeroDivisionError" in result.verdict.message
    assert "value = 1 / 0" in result.verdict.traceback
    assert "grader/_child.py" not in result.verdict.traceback


@pytest.mark.parametrize("script", [
    pytest.param("import sys\ntraining_file = sys.argv[1]\n", id="index"),
    pytest.param("import sys\ntraining, test, layers = sys.argv[1:]\n", id="unpack"),
    pytest.param("import sys\nargs = sys.argv\nlayers = int(args[3])\n",
                 id="alias"),
    pytest.param("import sys\nif len(sys.argv) < 7:\n    sys.exit('usage: ...')\n",
                 id="usage-exit"),
    pytest.param("import argparse\nparser = argparse.ArgumentParser()\n"
                 "parser.add_argument('training_file')\n"
                 "arguments = parser.parse_args()\n", id="argparse"),
])
def test_a_script_reading_sys_argv_at_import_is_named_as_defect_12(tmp_path, script):
    result = grade_one(tmp_path, CORRECT_STEPS + "\n" + script)

    assert result.verdict.kind == "exception", result.verdict.message
    assert result.verdict.defect.number == 12, result.verdict.message
    assert "if __name__ == \"__main__\":" in result.verdict.message
    report = render_report(result)
    assert "Defect 12: reads sys.argv when imported" in report
    assert Result.from_dict(result.to_dict()).verdict == result.verdict


@pytest.mark.parametrize("failure", [
    pytest.param("values = [1, 2]\nthird = values[2]\n", id="other-index"),
    # The program's own name is no argument: a script may print it.
    pytest.param("import sys\nprint(sys.argv[0])\nthird = [1, 2][2]\n",
                 id="program-name"),
])
def test_an_import_error_that_is_not_about_argv_names_no_defect(tmp_path, failure):
    result = grade_one(tmp_path, CORRECT_STEPS + "\n" + failure)

    assert result.verdict.kind == "exception"
    assert result.verdict.defect is None


def test_syntax_error_is_reported_with_its_line_and_nothing_runs(tmp_path):
    source = "import numpy\n\ndef load_dataset(directory, dataset)\n    pass\n"
    result = grade_one(tmp_path, source)

    assert result.verdict.kind == "syntax_error"
    assert "line 3" in result.verdict.message
    assert result.score == 0


def test_a_printed_fake_score_changes_nothing(tmp_path):
    source = CORRECT_STEPS.replace(
        "from numpy_steps import load_dataset, normalize, object_accuracy",
        "from numpy_steps import load_dataset, normalize\n\n\n"
        "def object_accuracy(outputs, true_class):\n"
        "    print('tie_accuracy passed 2/2, score 6/6')\n"
        "    return 1.0\n")
    result = grade_one(tmp_path, source)

    assert statuses(result)["tie_accuracy"] == "failed"
    assert result.score == 4


def test_memory_limit_ends_in_its_own_verdict(tmp_path):
    source = CORRECT_STEPS + "import numpy\nhog = numpy.ones((1024, 1024, 1024))\n"
    result = grade_one(tmp_path, source, memory=512)

    assert result.verdict.kind == "memory"
    assert "512 MB of heap" in result.verdict.message
    assert "hog = numpy.ones" in result.verdict.traceback


def test_cpu_limit_ends_in_its_own_verdict(tmp_path):
    result = grade_one(tmp_path, CORRECT_STEPS + "while True:\n    pass\n", wall=60,
                       cpu=2)

    assert result.verdict.kind == "cpu_time"
    assert "2 s of CPU time" in result.verdict.message
    assert result.resources.cpu_s >= 1.5
    assert result.resources.wall_s < 30


#: A form D whose normalization and tie rule are both wrong.
WRONG_STEPS = """
import numpy as np
from numpy_steps import load_dataset


def normalize(training_inputs, test_inputs):
    largest = np.max(training_inputs)
    return training_inputs / largest, test_inputs / largest


def object_accuracy(outputs, true_class):
    return 1.0 if int(np.argmax(outputs)) == int(true_class) else 0.0


def create_and_train_model(*args):
    raise NotImplementedError


def test_model(model, test_inputs, test_labels, ints_to_labels):
    raise NotImplementedError
"""

CHEATS = """
import json, os, pathlib

# Patch numpy for everyone in this process, the grader's child included.
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True

# Forge results where a naive grader might look for them.
print("normalization passed 2/2\\ntie_accuracy passed 2/2\\nscore 6/6")
job = pathlib.Path.cwd().parent
for folder in (job / "out", job, pathlib.Path(__file__).parent):
    folder.mkdir(exist_ok=True)
    for name in ("normalize.json", "object_accuracy.json", "result.json"):
        (folder / name).write_text(json.dumps(
            {"id": name[:-5], "ok": True, "values": {"scores": [1.0] * 8},
             "score": 6, "max_score": 6}))
"""


def test_patching_numpy_printing_or_forging_result_files_gains_nothing(tmp_path):
    honest = grade_one(tmp_path / "honest", WRONG_STEPS)
    cheat = grade_one(tmp_path / "cheat", WRONG_STEPS + CHEATS)

    assert statuses(honest) == {
        "loader": "passed", "normalization": "failed", "tie_accuracy": "failed"}
    assert statuses(cheat) == statuses(honest)
    assert cheat.score == honest.score == 2


def test_a_spec_can_grade_one_step_of_form_d_on_its_own(tmp_path):
    write_student(tmp_path / "class", "student",
                  "from numpy_steps import load_dataset\n")
    spec_text = numpy_only_spec("loader", cpu=60).replace(
        "normalization = 2\ntie_accuracy = 2\n", "")
    (result,) = grade_with_spec(tmp_path, spec_text)

    assert load_spec(str(tmp_path / "spec.toml")).entry_points() == {
        "D": {"load_dataset"}}
    assert result.form == "D"
    assert result.verdict.kind == "finished"
    assert statuses(result) == {"loader": "passed"}


def test_file_size_limit_ends_in_the_output_verdict(tmp_path):
    source = CORRECT_STEPS + (
        "with open('big.bin', 'wb') as stream:\n"
        "    for _ in range(64):\n"
        "        stream.write(b'x' * 1024 * 1024)\n")
    result = grade_one(tmp_path, source, file_mb=2)

    assert result.verdict.kind == "output_limit"
    assert "wrote a file larger than 2 MB" in result.verdict.message
    assert set(statuses(result).values()) == {"not_run"}


@pytest.mark.slow
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_tensorflow_under_the_memory_limit_ends_in_a_verdict(tmp_path, warm):
    source = CORRECT_STEPS + (
        "import tensorflow as tf\n"
        "hog = tf.ones((40000, 40000))  # 6.4 GB of float32\n")
    write_student(tmp_path / "class", "student", source)
    started = time.monotonic()
    (result,) = grade_with_spec(tmp_path, numpy_only_spec("memory", wall=120,
                                                          memory=1536), warm=warm)

    assert result.verdict.kind == "memory", result.verdict.message
    assert "1,536 MB of heap" in result.verdict.message
    assert result.resources.wall_s < 100
    assert time.monotonic() - started < 180
