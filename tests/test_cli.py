"""The ``nngrade`` command line: listing specs and refusing bad arguments early.

None of these commands may reach grading: each fails, or finishes, before a
child process would start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import grader._grading
from grader._cli import ExitCode, main

FORM_B_SOURCE = "def nn_keras(directory, dataset, layers, units, epochs):\n    pass\n"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep rich from wrapping messages, so they can be matched whole."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(autouse=True)
def no_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command gets as far as grading anything."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started grading")

    monkeypatch.setattr(grader._grading, "ClassGrader", refuse)


def one_line(text: str) -> str:
    return " ".join(text.split())


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, one_line(captured.out), one_line(captured.err)


def test_assignments_lists_the_shipped_specs(capsys: pytest.CaptureFixture[str]):
    code, out, err = run_main(capsys, "assignments")

    assert code == ExitCode.OK == 0
    assert "sample" in out
    assert "pendigits" in out
    assert "pendigits_string" in out
    assert err == ""


def test_grade_missing_folder_exits_2_saying_what_was_expected(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    missing = tmp_path / "no-such-class"
    out_dir = tmp_path / "results"

    code, _, err = run_main(capsys, "grade", str(missing), "--out", str(out_dir))

    assert code == ExitCode.USAGE_ERROR == 2
    assert f"{missing} does not exist; expected a folder with one sub-folder per " \
           "student, one student's folder, or a .py file" in err
    assert not out_dir.exists()


def test_grade_unknown_assignment_exits_2_pointing_at_the_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    code, _, err = run_main(capsys, "grade", str(tmp_path), "--assignment", "nosuch")

    assert code == ExitCode.USAGE_ERROR
    assert "no assignment 'nosuch'" in err
    assert "Run 'nngrade assignments'" in err


def test_grade_pendigits_without_datasets_exits_2_asking_for_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    code, _, err = run_main(capsys, "grade", str(tmp_path), "--assignment", "pendigits")

    assert code == ExitCode.USAGE_ERROR
    assert "pass --datasets DIR, the folder holding pendigits_string files" in err


def test_grade_with_missing_datasets_folder_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    missing = tmp_path / "no-data"

    code, _, err = run_main(capsys, "grade", str(tmp_path), "--datasets", str(missing))

    assert code == ExitCode.USAGE_ERROR
    assert f"--datasets {missing}: no such folder" in err


@pytest.mark.parametrize("jobs", ["0", "-2"], ids=["zero", "negative"])
def test_grade_with_fewer_than_one_job_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, jobs: str
):
    submission = tmp_path / "nn_keras.py"
    submission.write_text(FORM_B_SOURCE, encoding="utf-8")

    code, _, err = run_main(capsys, "grade", str(submission), "--jobs", jobs,
                            "--out", str(tmp_path / "results"))

    assert code == ExitCode.USAGE_ERROR
    assert f"--jobs must be at least 1, got {jobs}" in err
    assert not (tmp_path / "results").exists()


def test_python_dash_m_grader_exits_2_for_a_missing_folder(tmp_path: Path):
    missing = tmp_path / "no-such-class"
    environment = {**os.environ, "COLUMNS": "400"}

    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(missing),
         "--out", str(tmp_path / "results")],
        capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=60,
    )

    assert completed.returncode == 2, completed.stderr
    assert f"{missing} does not exist" in one_line(completed.stderr)
    assert completed.stdout == ""
    assert not (tmp_path / "results").exists()
