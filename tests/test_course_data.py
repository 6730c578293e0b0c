"""Checks on the course's real data, run when ../shared/uci_datasets exists."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import course_data_or_skip
from grader._resources import sample_class_dir
from reference import load_dataset, normalize, tie_aware_accuracy


def test_reference_loader_shapes_on_pendigits():
    data = course_data_or_skip()
    (training_inputs, training_labels), (test_inputs, test_labels), mapping = (
        load_dataset(data, "pendigits"))

    assert training_inputs.shape == (7494, 16)
    assert training_labels.shape == (7494, 1)
    assert test_inputs.shape == (3498, 16)
    assert test_labels.shape == (3498, 1)
    assert mapping[0] == "8"


@pytest.mark.slow
def test_reference_two_layer_sigmoid_network_on_normalized_pendigits():
    data = course_data_or_skip()
    import keras

    (training_inputs, training_labels), (test_inputs, test_labels), mapping = (
        load_dataset(data, "pendigits"))
    training_inputs, test_inputs = normalize(training_inputs, test_inputs)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(16,)),
        keras.layers.Dense(len(mapping), activation="sigmoid"),
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy())
    model.fit(training_inputs, training_labels, epochs=10, verbose=0)
    outputs = model.predict(test_inputs, verbose=0)

    accuracy = tie_aware_accuracy(outputs, test_labels)
    assert 0.70 <= accuracy <= 0.90


#: One correct submission of each form the pendigits spec grades.
CORRECT_SUBMISSIONS = ("alice_form_d_correct", "bob_form_a_correct",
                       "carol_form_b_correct", "kim_form_c_correct")


@pytest.mark.slow
def test_grading_on_pendigits_gives_correct_submissions_full_marks(tmp_path):
    data = course_data_or_skip()
    class_dir = tmp_path / "class"
    class_dir.mkdir()
    for student in CORRECT_SUBMISSIONS:
        (class_dir / student).symlink_to(sample_class_dir() / student)
    out = tmp_path / "out"

    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(class_dir),
         "--assignment", "pendigits", "--datasets", str(data), "--out", str(out)],
        capture_output=True, text=True, timeout=1500)

    assert completed.returncode == 0, completed.stderr + completed.stdout
    for student in CORRECT_SUBMISSIONS:
        result = json.loads((out / student / "result.json").read_text())
        assert result["settings"]["dataset"] == "pendigits_string"
        assert result["score"] == result["max_score"], [
            (c["name"], c["message"]) for c in result["checks"]]


@pytest.mark.slow
def test_form_a_on_yeast_string_gives_the_correct_solution_full_marks(tmp_path):
    data = course_data_or_skip()
    out = tmp_path / "out"

    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade",
         str(sample_class_dir() / "bob_form_a_correct"),
         "--assignment", "yeast", "--datasets", str(data), "--out", str(out)],
        capture_output=True, text=True, timeout=1500)

    assert completed.returncode == 0, completed.stderr + completed.stdout
    result = json.loads((out / "bob_form_a_correct" / "result.json").read_text())
    assert result["settings"]["dataset"] == "yeast_string"
    assert result["score"] == result["max_score"], [
        (c["name"], c["message"]) for c in result["checks"]]
