"""Telling a submission's form from its source, and finding the file to grade."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader._errors import UsageError
from grader._forms import detect_form, find_submission_file

FORM_A = '''
import numpy as np

def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    return None

def test_model(model, test_inputs, test_labels, ints_to_labels):
    return 0.0
'''

FORM_D = FORM_A + '''
def load_dataset(directory, dataset):
    return None

def normalize(training_inputs, test_inputs):
    return training_inputs, test_inputs

async def object_accuracy(outputs, true_class):
    return 0.0
'''

FORM_B = '''
def nn_keras(directory, dataset, layers, units_per_layer, epochs):
    print("classification accuracy=0.0000")
'''


def write(path: Path, text: str = "") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("source", "form"),
    [(FORM_D, "D"), (FORM_A, "A"), (FORM_B, "B"), (FORM_B + FORM_A, "A")],
    ids=["form-d", "form-a", "form-b", "two-functions-win-over-one"],
)
def test_form_is_read_from_the_top_level_functions(
    tmp_path: Path, source: str, form: str
):
    path = write(tmp_path / "nn_keras_solution.py", source)

    detected = detect_form(path)

    assert detected.form == form
    assert detected.syntax_error is None
    assert detected.path == path


def test_detected_functions_include_every_entry_point(tmp_path: Path):
    detected = detect_form(write(tmp_path / "solution.py", FORM_D))

    assert detected.functions >= {
        "create_and_train_model", "test_model", "load_dataset", "normalize",
        "object_accuracy",
    }


def test_syntax_error_is_reported_with_its_line(tmp_path: Path):
    path = write(tmp_path / "nn_keras.py", "x = 1\nprint((x)\n\n")

    detected = detect_form(path)

    assert detected.form is None
    assert detected.functions == set()
    assert detected.syntax_error is not None
    line, message = detected.syntax_error
    assert line == 2
    assert message


def test_unparsable_file_keeps_the_form_its_definitions_suggest(tmp_path: Path):
    path = write(tmp_path / "nn_keras.py", FORM_B + "    return (\n")

    detected = detect_form(path)

    assert detected.form == "B"
    assert detected.syntax_error is not None


def test_syntax_error_on_a_later_line_reports_that_line(tmp_path: Path):
    path = write(tmp_path / "nn_keras.py", FORM_B + "\nx = = 1\n")

    detected = detect_form(path)

    assert detected.syntax_error is not None
    assert detected.syntax_error[0] == FORM_B.count("\n") + 2


@pytest.mark.parametrize(
    "source",
    [
        "",
        "import sys\nprint(sys.argv)\n",
        "def train(x):\n    return x\n",
        "class Solution:\n    def nn_keras(self):\n        pass\n"
        "    def create_and_train_model(self):\n        pass\n"
        "    def test_model(self):\n        pass\n",
        "if True:\n    def nn_keras(a, b, c, d, e):\n        pass\n",
    ],
    ids=["empty", "script", "other-function", "methods-only", "nested-definition"],
)
def test_file_without_top_level_entry_points_has_no_form(tmp_path: Path, source: str):
    detected = detect_form(write(tmp_path / "nn_keras.py", source))

    assert detected.form is None
    assert detected.syntax_error is None


def test_detect_form_never_runs_the_file(tmp_path: Path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\n" + FORM_B
    detected = detect_form(write(tmp_path / "nn_keras.py", source))

    assert detected.form == "B"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("files", "chosen"),
    [
        (["helper.py", "nn_keras.py", "nn_keras_solution.py"], "nn_keras_solution.py"),
        (["helper.py", "nn_keras.py"], "nn_keras.py"),
        (["my_network.py"], "my_network.py"),
        (["my_network.py", "notes.txt", "data.csv"], "my_network.py"),
    ],
    ids=["solution-name-preferred", "form-b-name-next", "single-py-file",
         "single-py-among-other-files"],
)
def test_submission_file_is_chosen_by_name_then_by_being_alone(
    tmp_path: Path, files: list[str], chosen: str
):
    for name in files:
        write(tmp_path / name)

    assert find_submission_file(tmp_path) == tmp_path / chosen


@pytest.mark.parametrize(
    ("files", "found"),
    [([], "no .py file"),
     (["notes.txt"], "no .py file"),
     (["b_part.py", "a_part.py"], "a_part.py, b_part.py")],
    ids=["empty-folder", "no-python", "two-other-py-files"],
)
def test_folder_without_a_clear_submission_raises_naming_what_it_found(
    tmp_path: Path, files: list[str], found: str
):
    for name in files:
        write(tmp_path / name)

    with pytest.raises(UsageError, match=re.escape(
            f"{tmp_path}: expected nn_keras_solution.py or nn_keras.py (or a single "
            f".py file), found {found}")):
        find_submission_file(tmp_path)
