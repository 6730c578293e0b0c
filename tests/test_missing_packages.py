"""A package the grading environment lacks is named in the verdict.

Numpy-only submissions graded for real, with a spec that trains nothing, so
no test here imports TensorFlow. The missing package is one that exists
nowhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader._errors import SpecError
from conftest import CORRECT_STEPS, grade_with_spec, numpy_only_spec, write_student
from grader._spec import load_spec


MISSING = "pandas_not_installed_xyz"


def grade_one(tmp_path: Path, source: str, extra: str = ""):
    write_student(tmp_path / "class", "student", source)
    (result,) = grade_with_spec(tmp_path, numpy_only_spec("packages", wall=30,
                                                          extra=extra))
    return result


def test_missing_package_at_import_is_named_with_what_to_do(tmp_path):
    result = grade_one(tmp_path, f"import {MISSING} as pd\n" + CORRECT_STEPS)

    assert result.verdict.kind == "exception"
    assert result.verdict.message.startswith(
        f"Your file imports '{MISSING}', which the grading environment does not "
        "provide, so no check could run.")
    assert "Use numpy for loading and arithmetic" in result.verdict.message
    assert "ask your instructor to allow the package" in result.verdict.message
    assert f"import {MISSING} as pd" in result.verdict.traceback
    assert (result.verdict.defect.number, result.verdict.defect.name) == (
        12, "imports a package the grader does not provide")
    assert {check.status for check in result.checks} == {"not_run"}
    assert result.score == 0


def test_allowed_but_missing_package_is_a_grader_error(tmp_path):
    result = grade_one(tmp_path, f"import {MISSING}\n" + CORRECT_STEPS,
                       extra=f'allowed_packages = ["numpy", "{MISSING}"]')

    assert result.verdict.kind == "grader_error"
    assert f"'{MISSING}', which your instructor allows" in result.verdict.message
    assert "not installed where grading runs" in result.verdict.message
    assert "not of your code" in result.verdict.message
    for check in result.checks:
        assert check.status == "not_run"
        assert "not your fault" in check.message


def test_missing_package_inside_a_function_keeps_the_other_checks(tmp_path):
    source = CORRECT_STEPS.replace(
        "from numpy_steps import load_dataset, normalize, object_accuracy",
        "from numpy_steps import load_dataset, object_accuracy\n\n\n"
        "def normalize(training_inputs, test_inputs):\n"
        f"    import {MISSING}.io\n")
    result = grade_one(tmp_path, source)

    assert result.verdict.kind == "exception"
    assert result.verdict.message.startswith(
        f"Your code imports '{MISSING}', which the grading environment does not "
        "provide, so the checks that need it could not run.")
    statuses = {check.name: check.status for check in result.checks}
    assert statuses == {"loader": "passed", "normalization": "failed",
                        "tie_accuracy": "passed"}
    assert result.score == 4


def test_allowed_package_missing_inside_a_function_costs_the_student_nothing(
        tmp_path):
    source = CORRECT_STEPS.replace(
        "from numpy_steps import load_dataset, normalize, object_accuracy",
        "from numpy_steps import load_dataset, object_accuracy\n\n\n"
        "def normalize(training_inputs, test_inputs):\n"
        f"    import {MISSING}\n")
    result = grade_one(tmp_path, source,
                       extra=f'allowed_packages = ["{MISSING.replace("_", "-")}"]')

    assert result.verdict.kind == "grader_error"
    statuses = {check.name: check.status for check in result.checks}
    assert statuses == {"loader": "passed", "normalization": "not_run",
                        "tie_accuracy": "passed"}
    assert result.score == result.max_score - 2


def test_missing_submodule_of_an_installed_package_is_the_students_to_fix(tmp_path):
    result = grade_one(tmp_path, "import numpy.no_such_module_xyz\n" + CORRECT_STEPS,
                       extra='allowed_packages = ["numpy"]')

    assert result.verdict.kind == "exception"
    assert ("'numpy.no_such_module_xyz', which does not exist in the version of "
            "'numpy' installed") in result.verdict.message


@pytest.mark.parametrize("value", ['"pandas"', '["pandas", 3]', '[""]'])
def test_allowed_packages_must_be_a_list_of_names(tmp_path, value):
    path = tmp_path / "spec.toml"
    path.write_text(numpy_only_spec("packages", extra=f"allowed_packages = {value}"))

    with pytest.raises(SpecError, match="'allowed_packages' must be"):
        load_spec(str(path))


def test_allowed_packages_default_to_none(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(numpy_only_spec("packages"))

    assert load_spec(str(path)).allowed_packages == ()
