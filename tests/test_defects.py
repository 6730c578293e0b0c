"""Every defect of assignment.md is named, and costs its check's points only.

The sample class (``test_sample_class.py``) covers defects 1, 4, 5, 6 and 8.
The submissions under ``tests/fixtures/defects/`` cover the rest, one defect
each, in plausible student code that is otherwise correct; each folder's
README says what the grader should find. They are graded here in one class
run with a small spec of our own, on warm TensorFlow, and each result must
lose exactly the points of the check its defect belongs to.

Form B runs on a copy of the digits set whose labels are words ("zero" ..
"nine"), as the course's ``pendigits_string`` has names for labels: parsing
labels as floats must fail there, and a printed class number must differ from
every label. Its test file keeps the first 200 objects, so that the
submission that predicts one object at a time stays cheap.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from conftest import grade_with_spec
from grader._resources import bundled_datasets_dir

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "defects"
SAMPLE_CLASS = Path(__file__).parents[1] / "submissions"
#: Correct submissions graded alongside, to show that the spec itself costs a
#: correct submission nothing.
CONTROLS = ("alice_form_d_correct", "bob_form_a_correct", "carol_form_b_correct")

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
         "nine")
B_TEST_OBJECTS = 200

#: Distinct points per check, so that a lost amount shows which check lost it.
POINTS = {
    "loader": 1.0,
    "normalization": 1.5,
    "tie_accuracy": 2.0,
    "architecture": 2.5,
    "test_accuracy": 3.0,
    "reported_accuracy": 1.25,
    "printed_output": 0.75,
}

SPEC = f"""
name = "defects"
title = "Recognized defects"
seed = 0
reference_seeds = [1, 2]
accuracy_tolerance = 0.05

[limits]
wall_seconds = 120
cpu_seconds = 600
memory_mb = 4096

[forms.A]
dataset = "digits"
layers = 3
units_per_layer = [32]
hidden_activations = ["relu"]
epochs = 15

[forms.D]
dataset = "digits"
layers = 3
units_per_layer = [32]
hidden_activations = ["relu"]
epochs = 15

[forms.B]
dataset = "digits_string"
layers = 3
units_per_layer = 32
epochs = 15

[points]
{chr(10).join(f"{name} = {points}" for name, points in POINTS.items())}
"""

#: Submissions that run to the end: fixture -> (check that fails, defect).
FINISHED = {
    "defect01_form_b_first_max": ("tie_accuracy", 1),
    "defect02_form_d_isclose_ties": ("tie_accuracy", 2),
    "defect03_form_a_full_tie_credit": ("tie_accuracy", 3),
    "defect07_form_a_label_indices": ("printed_output", 7),
    "defect07_form_b_bracketed_labels": ("printed_output", 7),
    "defect09_form_b_progress_bars": ("printed_output", 9),
    "defect10_form_a_percentage": ("printed_output", 10),
    "defect10_form_b_n_plus_one": ("reported_accuracy", 10),
    "defect11_form_b_ids_from_one": ("printed_output", 11),
    "defect13_form_a_evaluate_accuracy": ("tie_accuracy", 13),
}

#: Words each finished fixture's failing message must contain.
MESSAGES = {
    "defect01_form_b_first_max": "first maximal class is the true class",
    "defect02_form_d_isclose_ties": "nearly equal outputs as tied",
    "defect03_form_a_full_tie_credit": "score of 1 instead of 1/|ties|",
    "defect07_form_a_label_indices": "not class numbers",
    "defect07_form_b_bracketed_labels": "one-element arrays",
    "defect09_form_b_progress_bars": "pass verbose=0",
    "defect10_form_a_percentage": "not as a percentage",
    "defect10_form_b_n_plus_one": "divided by N + 1",
    "defect11_form_b_ids_from_one": "start at 1",
    "defect13_form_a_evaluate_accuracy": "evaluate()",
}

CRASHES = (
    "defect12_form_a_sparse_loss_one_hot",
    "defect12_form_b_labels_as_floats",
    "defect12_form_a_missing_pandas",
    "defect12_form_a_argv_at_import",
)


def _word_labelled_digits(source: Path, target: Path) -> None:
    for part in ("training", "test"):
        lines = (source / f"digits_{part}.txt").read_text().splitlines()
        if part == "test":
            lines = lines[:B_TEST_OBJECTS]
        renamed = []
        for line in lines:
            fields = line.split()
            renamed.append(" ".join(fields[:-1] + [WORDS[int(fields[-1])]]))
        (target / f"digits_string_{part}.txt").write_text("\n".join(renamed) + "\n")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every defect fixture and the controls in one warm class run."""
    root = tmp_path_factory.mktemp("defects")
    datasets = root / "datasets"
    datasets.mkdir()
    bundled = bundled_datasets_dir()
    for part in ("training", "test"):
        shutil.copy(bundled / f"digits_{part}.txt", datasets)
    _word_labelled_digits(bundled, datasets)
    class_dir = root / "class"
    class_dir.mkdir()
    for folder in sorted(FIXTURES.iterdir()):
        if folder.is_dir():
            (class_dir / folder.name).symlink_to(folder, target_is_directory=True)
    for student in CONTROLS:
        (class_dir / student).symlink_to(SAMPLE_CLASS / student,
                                         target_is_directory=True)
    started = time.monotonic()
    results = grade_with_spec(root, SPEC, jobs=2, datasets=datasets, warm=True)
    seconds = time.monotonic() - started
    return {result.student: result for result in results}, seconds


def _lost(result) -> dict[str, object]:
    return {check.name: check for check in result.checks
            if check.points < check.max_points}


def test_every_fixture_has_a_readme_and_an_expectation():
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}

    assert folders == set(FINISHED) | set(CRASHES)
    for folder in folders:
        assert (FIXTURES / folder / "README.md").is_file(), folder


def test_the_class_is_graded_in_a_few_minutes(graded):
    _, seconds = graded

    # Sixteen submissions and three reference runs on 2 cores.
    assert seconds < 240, f"grading took {seconds:.0f} s"


@pytest.mark.parametrize("student", CONTROLS)
def test_correct_submissions_keep_every_point(graded, student):
    result = graded[0][student]

    assert result.verdict.kind == "finished", result.verdict.message
    assert _lost(result) == {}, {n: c.message for n, c in _lost(result).items()}
    assert result.score == result.max_score > 0


@pytest.mark.parametrize("student", sorted(FINISHED))
def test_each_defect_is_named_and_costs_only_its_check(graded, student):
    result = graded[0][student]
    name, number = FINISHED[student]

    assert result.verdict.kind == "finished", result.verdict.message
    lost = _lost(result)
    assert set(lost) == {name}, {n: c.message for n, c in lost.items()}
    check = lost[name]
    assert check.status == "failed"
    assert check.defect is not None and check.defect.number == number, (
        check.defect, check.message)
    assert check.points == 0.0 and check.max_points == POINTS[name]
    assert result.max_score - result.score == POINTS[name]
    assert MESSAGES[student] in check.message


def test_sparse_loss_with_one_hot_targets_crashes_in_training(graded):
    result = graded[0]["defect12_form_a_sparse_loss_one_hot"]
    checks = {check.name: check for check in result.checks}

    assert result.verdict.kind == "exception"
    assert "must have rank (ndim)" in result.verdict.traceback
    assert "model.fit" in result.verdict.traceback
    # fit() raised inside create_and_train_model(): the two checks of the
    # trained model fail with that error, named as defect 12.
    for name in ("architecture", "test_accuracy"):
        assert checks[name].status == "failed"
        assert "create_and_train_model() did not finish" in checks[name].message
        assert checks[name].defect.number == 12
        assert "one-hot" in checks[name].message
    # test_model() then has no trained model to test, so the checks of what it
    # reports and prints do not run, and their points are lost with them.
    for name in ("reported_accuracy", "printed_output"):
        assert (checks[name].status, checks[name].points) == ("not_run", 0.0)
        assert "create_and_train_model() did not finish" in checks[name].message
    # The probe model needs no training: the tie rule is still judged.
    assert checks["tie_accuracy"].status == "passed"
    assert result.max_score - result.score == sum(
        POINTS[name] for name in ("architecture", "test_accuracy",
                                  "reported_accuracy", "printed_output"))


def test_string_labels_parsed_as_floats_crash_the_form_b_loader(graded):
    result = graded[0]["defect12_form_b_labels_as_floats"]
    checks = {check.name: check for check in result.checks}

    assert result.verdict.kind == "exception"
    assert "could not convert string to float: 'six'" in result.verdict.traceback
    loader = checks["loader"]
    assert loader.status == "failed" and loader.defect.number == 12
    assert "float" in loader.message and "'six'" in loader.message
    # nn_keras() is one step: nothing after the loader ran, so every check
    # loses its points; with no model outputs the reported accuracy has
    # nothing to be compared with and is not run.
    assert result.score == 0
    assert checks["reported_accuracy"].status == "not_run"
    for name in ("normalization", "architecture", "test_accuracy",
                 "printed_output"):
        assert checks[name].status == "failed"
        assert "nn_keras() did not finish" in checks[name].message


def test_a_missing_package_is_named_in_the_verdict(graded):
    result = graded[0]["defect12_form_a_missing_pandas"]

    assert result.verdict.kind == "exception"
    assert "'pandas'" in result.verdict.message
    assert "does not provide" in result.verdict.message
    assert result.verdict.defect.number == 12
    # The import failed, so no step ran and no check could.
    assert {check.status for check in result.checks} == {"not_run"}
    assert result.score == 0


def test_reading_sys_argv_at_import_is_a_crash_at_import(graded):
    result = graded[0]["defect12_form_a_argv_at_import"]

    assert result.verdict.kind == "exception"
    assert result.verdict.message.startswith("Importing your file raised IndexError")
    assert "if __name__ == \"__main__\":" in result.verdict.message
    assert "sys.argv[1]" in result.verdict.traceback
    assert result.verdict.defect.name == "reads sys.argv when imported"
    assert result.verdict.defect.number == 12
    # The import failed, so no step ran and no check could.
    assert {check.status for check in result.checks} == {"not_run"}
    assert result.score == 0
