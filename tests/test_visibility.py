"""Checks the spec hides reach students only after release."""

from __future__ import annotations

import pytest

from grader._outputs import write_outputs
from grader._result import Check, Result, Verdict
from grader._spec import load_spec
from test_spec import edit, write_spec

TIE_MESSAGE = "Your tie rule credits the object only when the first maximal class"


def graded_result(hidden: bool) -> Result:
    checks = [
        Check("loader", "Data loader", "passed", 2, 2, "matches"),
        Check("tie_accuracy", "Tie-aware accuracy", "failed", 0, 2,
              f"{TIE_MESSAGE}: outputs [0.5, 0.5] ...", details=["probe case 3"],
              visible=not hidden),
    ]
    return Result("ada", "ada/nn_keras_solution.py", "sample", "D",
                  Verdict("finished", "ran"), checks, seed=0)


def test_student_view_keeps_only_the_title_of_a_hidden_check():
    view = graded_result(hidden=True).student_view()

    hidden = view.checks[1]
    assert (hidden.status, hidden.points, hidden.max_points) == ("hidden", 0, 0)
    assert TIE_MESSAGE not in hidden.message
    assert hidden.details == []
    assert (view.score, view.max_score) == (2, 2)


def test_release_shows_hidden_checks_to_students():
    result = graded_result(hidden=True)

    assert result.student_view(release=True).checks[1].message.startswith(TIE_MESSAGE)


@pytest.mark.parametrize("release", [False, True], ids=["before", "after-release"])
def test_reports_hide_and_release_as_asked(tmp_path, release):
    write_outputs([graded_result(hidden=True)], tmp_path, release=release)

    student_page = (tmp_path / "ada" / "report.html").read_text()
    instructor_page = (tmp_path / "ada" / "instructor.html").read_text()
    assert (TIE_MESSAGE in student_page) is release
    assert ("hidden until release" in student_page) is not release
    assert ("without the checks hidden until release" in student_page) is not release
    assert TIE_MESSAGE in instructor_page
    assert "instructor.html" in (tmp_path / "index.html").read_text()


def test_spec_rejects_an_unknown_hidden_check(tmp_path):
    path = write_spec(tmp_path, edit("hidden_checks = []", 'hidden_checks = ["tie"]'))

    with pytest.raises(Exception, match=r"'hidden_checks' names unknown check\(s\) \['tie'\]"):
        load_spec(str(path))


def test_spec_hidden_checks_load(tmp_path):
    path = write_spec(tmp_path, edit("hidden_checks = []",
                                     'hidden_checks = ["test_accuracy"]'))

    assert load_spec(str(path)).hidden_checks == ("test_accuracy",)
