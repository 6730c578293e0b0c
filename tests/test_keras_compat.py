"""A numpy integer unit count is the environment's trap, not the student's fault.

Keras 3.13 and later reject ``Dense(np.int64(10))``; the lecture's
``np.max(labels) + 1`` is such a count. The child converts it, and the parent
grades the submission on its merits with a note (and a penalty only when the
spec asks for one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape

from conftest import grade_with_spec
from grader._child import _describe_model, _integer_like_units, _mentions_keras
from grader._errors import SpecError
from grader._grading import (_compat_events, _numpy_units_note)
from grader._jobs import JobOutcome
from grader._judge import not_run
from grader._report import render_report
from grader._result import Check
from grader._records import parse_channel
from grader._watch import ChildRun
from grader._spec import load_spec

FIXTURE = Path(__file__).parent / "fixtures" / "numpy_int_units"

SPEC = """
name = "numpy-units"
datasets = "bundled"
reference_seeds = [1]
{extra}
[limits]
wall_seconds = 240
[forms.A]
dataset = "iris"
layers = 3
units_per_layer = [8]
hidden_activations = ["relu"]
epochs = 5
[points]
tie_accuracy = 1
architecture = 2
test_accuracy = 1
reported_accuracy = 1
"""


@pytest.mark.parametrize("value, expected", [
    pytest.param(np.int64(10), 10, id="int64"),
    pytest.param(np.int32(3), 3, id="int32"),
    pytest.param(np.uint8(7), 7, id="uint8"),
    pytest.param(np.array(4), 4, id="0-d-array"),
    pytest.param(np.max(np.array([[2], [5]])) + 1, 6, id="lecture-np-max"),
])
def test_numpy_integer_counts_become_plain_ints(value, expected):
    converted = _integer_like_units(value)

    assert converted == expected
    assert type(converted) is int


@pytest.mark.parametrize("value", [
    pytest.param(10, id="plain-int"),
    pytest.param(10.0, id="float"),
    pytest.param(np.float64(10.0), id="numpy-float"),
    pytest.param(np.array([10]), id="1-d-array"),
    pytest.param(np.array(10.0), id="0-d-float-array"),
    pytest.param(np.bool_(True), id="numpy-bool"),
    pytest.param(np.int64(0), id="zero"),
    pytest.param(np.int64(-3), id="negative"),
    pytest.param("10", id="string"),
])
def test_other_values_are_left_for_keras_to_judge(value):
    assert _integer_like_units(value) is None


def test_only_files_that_name_tensorflow_or_keras_get_the_shim(tmp_path):
    keras_file = tmp_path / "a.py"
    keras_file.write_text("import tensorflow as tf\n")
    numpy_file = tmp_path / "b.py"
    numpy_file.write_text("import numpy as np\n")

    assert _mentions_keras(keras_file)
    assert not _mentions_keras(numpy_file)
    assert not _mentions_keras(tmp_path / "missing.py")


def _compat_message(header: bytes) -> bytes:
    return len(header).to_bytes(4, "big") + header


@pytest.mark.parametrize("stream, expected", [
    pytest.param(_compat_message(b'{"compat": ["numpy_int_units"]}'),
                 ["numpy_int_units"], id="event"),
    pytest.param(_compat_message(b'{"compat": ["numpy_int_units", "made_up"]}'),
                 ["numpy_int_units"], id="unknown-event-dropped"),
    pytest.param(b"", [], id="nothing-sent"),
    pytest.param(_compat_message(b"{not json"), [], id="broken-json"),
    pytest.param(_compat_message(b'{"compat": "numpy_int_units"}'), [],
                 id="events-not-a-list"),
    pytest.param(_compat_message(b"\xff\xfe"), [], id="not-utf8"),
])
def test_compat_events_are_read_as_untrusted_input(stream, expected):
    channel = parse_channel(stream)
    run = ChildRun(0, None, False, False, "", "", 1.0, 1.0, 1.0)
    outcome = JobOutcome(run, channel.records, channel.finished, channel.compat)

    assert _compat_events(outcome) == expected


def _architecture(points: float, status: str = "passed") -> Check:
    return Check("architecture", "Model architecture", status, points, 2.0, "ok")


def test_the_note_costs_no_points_by_default():
    checks = [_architecture(2.0)]

    note = _numpy_units_note(checks, 0.0)

    assert "wrap the count in int(...)" in note
    assert "expected a positive integer" in note
    assert "point" not in note
    assert checks[0].points == 2.0


@pytest.mark.parametrize("penalty, left", [(0.5, 1.5), (5, 0.0)])
def test_a_penalty_comes_off_the_architecture_check_never_below_zero(penalty, left):
    checks = [_architecture(2.0)]

    note = _numpy_units_note(checks, penalty)

    assert checks[0].points == left
    assert checks[0].status == "passed"
    assert f"takes {min(penalty, 2):g} point(s) off" in note


def test_no_penalty_is_mentioned_when_architecture_earned_nothing():
    checks = [not_run("architecture", 2.0, "Not run.")]

    note = _numpy_units_note(checks, 1.0)

    assert checks[0].points == 0.0
    assert "point" not in note


def test_penalty_must_not_be_negative(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(extra="compat_penalty_numpy_units = -1"))

    with pytest.raises(SpecError, match="'compat_penalty_numpy_units' is a number"):
        load_spec(str(path))


@pytest.mark.slow
def test_lecture_style_class_count_is_graded_on_its_merits(tmp_path):
    folder = tmp_path / "class" / "student"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURE / "nn_keras_solution.py", folder / "nn_keras_solution.py")
    (result,) = grade_with_spec(tmp_path, SPEC.format(extra=""))

    statuses = {check.name: check.status for check in result.checks}
    assert result.verdict.kind == "finished", result.verdict.message
    assert statuses["architecture"] == "passed"
    assert statuses["tie_accuracy"] == "passed"
    assert statuses["reported_accuracy"] == "passed"
    assert statuses["test_accuracy"] != "not_run"
    (note,) = result.notes
    assert "numpy integer" in note and "int(...)" in note
    assert json.loads(json.dumps(result.to_dict()))["notes"] == [note]
    # The student reads it on their own page, escaped as any text is.
    assert str(escape(note)) in render_report(result.student_view())


@pytest.mark.parametrize(("loss", "optimizer", "described"), [
    ("sparse_categorical_crossentropy", "adam",
     ("sparse_categorical_crossentropy", "Adam", 0.001)),
    ("function", "Adam()", ("sparse_categorical_crossentropy", "Adam", 0.001)),
    ("object", "SGD(0.1)", ("sparse_categorical_crossentropy", "SGD", 0.1)),
    ("sparse_categorical_crossentropy", "Adam(decay)",
     ("sparse_categorical_crossentropy", "Adam", "schedule")),
], ids=["strings", "function-and-instance", "loss-object-and-sgd", "schedule"])
def test_the_child_describes_the_loss_optimizer_and_learning_rate(
        loss, optimizer, described):
    keras = pytest.importorskip("keras")
    losses = {"function": keras.losses.sparse_categorical_crossentropy,
              "object": keras.losses.SparseCategoricalCrossentropy()}
    optimizers = {"Adam()": keras.optimizers.Adam(),
                  "SGD(0.1)": keras.optimizers.SGD(0.1),
                  "Adam(decay)": keras.optimizers.Adam(
                      keras.optimizers.schedules.ExponentialDecay(0.001, 1, 0.5))}
    model = keras.Sequential([keras.Input(shape=(2,)),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.get(optimizer, optimizer),
                  loss=losses.get(loss, loss))
    model.fit(np.eye(2), np.array([[0], [2]]), epochs=1, verbose=0)

    description = _describe_model(model)

    assert description["loss"] == described[0]
    assert description["optimizer"] == described[1]
    if described[2] == "schedule":
        assert description["learning_rate"] == "schedule"
    else:
        assert description["learning_rate"] == pytest.approx(described[2])
