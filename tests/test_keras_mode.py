"""Keras 2 compatibility mode: a spec's ``keras`` key, and what each mode does.

Code written for Keras 2 (``tests/fixtures/keras2_idioms``: an optimizer's
``lr=``) crashes in Keras 3 with a verdict naming the idiom, gets full marks
in Keras 2 mode (tf-keras, ``TF_USE_LEGACY_KERAS=1``), and is graded again
there by ``keras = "auto"``. Each result says which Keras its run used.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import grade_with_spec
from grader._errors import SpecError
from grader._grading import prepare_data
from grader._keras_mode import (LEGACY_KERAS_VARIABLE, describe_keras,
                                keras_2_idiom)
from grader._limits import Limits
from grader._records import StepRecord
from grader._references import cache_key
from grader._report import render_report
from grader._resources import bundled_datasets_dir
from grader._sandbox import child_environment
from grader._spec import KERAS_2_ACTIVATIONS, canonical_activation, load_spec

FIXTURES = Path(__file__).parent / "fixtures"
KERAS_2_CODE = FIXTURES / "keras2_idioms" / "nn_keras_solution.py"
SAMPLE_CLASS = Path(__file__).parents[1] / "submissions"

FORM_A = """
[forms.A]
dataset = "digits"
layers = 3
units_per_layer = [32]
hidden_activations = ["{activation}"]
epochs = 10
"""
OTHER_FORMS = """
[forms.D]
dataset = "digits"
layers = 3
units_per_layer = [32]
hidden_activations = ["relu"]
epochs = 10
[forms.B]
dataset = "digits"
layers = 3
units_per_layer = 32
epochs = 10
[forms.C]
dataset = "digits"
layers = 3
units_per_layer = 32
activation = "relu"
epochs = 10
"""
ALL_POINTS = """
[points]
loader = 1
normalization = 1
tie_accuracy = 1
architecture = 1
test_accuracy = 1
reported_accuracy = 1
printed_output = 1
"""
#: No test_accuracy (nor reported_accuracy, which compares with the accuracy
#: it measures), so no reference solution runs.
NO_REFERENCE_POINTS = """
[points]
tie_accuracy = 1
architecture = 1
printed_output = 1
"""


def write_spec(tmp_path: Path, keras_line: str, forms: str = FORM_A,
               points: str = NO_REFERENCE_POINTS, activation: str = "relu") -> Path:
    path = tmp_path / "keras-mode.toml"
    path.write_text(f'name = "keras-mode"\nreference_seeds = [1]\n{keras_line}\n'
                    f"[limits]\nwall_seconds = 180\n"
                    + forms.format(activation=activation) + points)
    return path


# -- the spec ------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    pytest.param("", "3", id="default"),
    pytest.param('keras = "3"', "3", id="3"),
    pytest.param('keras = "2"', "2", id="2"),
    pytest.param("keras = 2", "2", id="2-as-a-number"),
    pytest.param('keras = "auto"', "auto", id="auto"),
])
def test_keras_mode_is_read_from_the_spec(tmp_path, line, expected):
    assert load_spec(str(write_spec(tmp_path, line))).keras == expected


@pytest.mark.parametrize("line, shown", [
    ('keras = "4"', "'4'"), ('keras = "Keras 2"', "'Keras 2'"), ("keras = 3.0", "3.0"),
    ("keras = true", "True"),
])
def test_an_unknown_keras_mode_is_named_with_the_choices(tmp_path, line, shown):
    path = write_spec(tmp_path, line)

    with pytest.raises(SpecError, match=re.escape(
            f"{path}: 'keras' must be \"3\" (Keras 3, the default), \"2\"")) as error:
        load_spec(str(path))
    assert str(error.value).endswith(f"got {shown}")


@pytest.mark.parametrize("mode", ["2", "auto"])
def test_a_keras_3_only_activation_is_refused_where_keras_2_may_run(tmp_path, mode):
    path = write_spec(tmp_path, f'keras = "{mode}"', activation="celu")

    with pytest.raises(SpecError, match=re.escape(
            f"[forms.A]: activation 'celu' exists only in Keras 3, and "
            f'keras = "{mode}" may grade in Keras 2')):
        load_spec(str(path))
    assert load_spec(str(write_spec(tmp_path, "", activation="celu"))).keras == "3"


def test_every_keras_2_activation_works_in_a_tf_keras_dense_layer():
    tf_keras = pytest.importorskip("tf_keras")
    inputs = np.linspace(-2, 2, 12, dtype="float32").reshape(3, 4)

    for name in KERAS_2_ACTIVATIONS:
        layer = tf_keras.layers.Dense(5, activation=name)
        outputs = np.asarray(layer(inputs))

        assert outputs.shape == (3, 5), name
        # tf-keras reports silu as swish: the judge compares canonical names.
        assert (canonical_activation(layer.activation.__name__)
                == canonical_activation(name)), name


# -- recognizing Keras 2 idioms -------------------------------------------------

def failed(kind: str, message: str, ok: bool = False) -> StepRecord:
    return StepRecord("train", ok, error={"type": kind, "message": message})


#: Messages as Keras 3.15 and TensorFlow 2.21 word them (measured).
@pytest.mark.parametrize("kind, message, what, fix", [
    pytest.param("ValueError", "Argument(s) not recognized: {'lr': 0.001}",
                 "`lr=`", "`learning_rate=`", id="adam-lr"),
    pytest.param("ValueError",
                 "Argument(s) not recognized: {'momentum2': 1, 'lr': 0.1}",
                 "`lr=`", "`learning_rate=`", id="lr-among-others"),
    pytest.param("AttributeError", "'Adam' object has no attribute 'lr'",
                 "`lr` attribute", "`optimizer.learning_rate`", id="lr-attribute"),
    pytest.param("AttributeError",
                 "'Sequential' object has no attribute 'fit_generator'",
                 "`model.fit_generator()`", "`model.fit()`", id="fit-generator"),
    pytest.param("AttributeError",
                 "'Dense' object has no attribute 'input_shape'",
                 "`input_shape` attribute", "`input.shape`", id="layer-input-shape"),
    pytest.param("AttributeError",
                 "module 'keras._tf_keras.keras.layers' has no attribute "
                 "'experimental'", "`tf.keras.layers.experimental`",
                 "`tf.keras.layers.X`", id="layers-experimental"),
    pytest.param("ModuleNotFoundError",
                 "No module named 'tensorflow.keras.layers.experimental'",
                 "`tf.keras.layers.experimental`", "`tf.keras.layers.X`",
                 id="import-layers-experimental"),
    pytest.param("ImportError",
                 "`keras.optimizers.legacy` is not supported in Keras 3. When "
                 "using `tf.keras`, ...", "`tf.keras.optimizers.legacy`",
                 "`tf.keras.optimizers.Adam(learning_rate=...)`",
                 id="optimizers-legacy"),
])
def test_keras_2_idioms_are_named_with_their_keras_3_spelling(kind, message,
                                                              what, fix):
    idiom = keras_2_idiom([StepRecord("import", True), failed(kind, message)])

    assert idiom is not None
    assert what in idiom.what
    assert fix in idiom.fix
    assert "Keras 2 idiom" in idiom.explanation()


@pytest.mark.parametrize("record", [
    pytest.param(failed("ValueError", "Argument(s) not recognized: {'lr': 1}",
                        ok=True), id="step-that-succeeded"),
    pytest.param(failed("TypeError", "Argument(s) not recognized: {'lr': 1}"),
                 id="other-error-type"),
    pytest.param(failed("ValueError", "Argument(s) not recognized: {'lrate': 1}"),
                 id="other-argument"),
    pytest.param(failed("AttributeError", "'list' object has no attribute 'shape'"),
                 id="student-bug"),
    pytest.param(failed("ModuleNotFoundError", "No module named 'pandas'"),
                 id="missing-package"),
])
def test_other_failures_are_no_keras_2_idiom(record):
    assert keras_2_idiom([record]) is None


# -- how a job runs in Keras 2 mode -----------------------------------------------

def test_only_a_keras_2_job_gets_the_legacy_keras_variable(tmp_path):
    keras_2 = child_environment(tmp_path, Limits(), 0, "2")

    assert keras_2[LEGACY_KERAS_VARIABLE] == "1"
    assert LEGACY_KERAS_VARIABLE not in child_environment(tmp_path, Limits(), 0)
    assert LEGACY_KERAS_VARIABLE not in child_environment(tmp_path, Limits(), 0, "3")


def test_reference_accuracies_are_cached_apart_for_keras_2(tmp_path):
    data = prepare_data(load_spec(str(write_spec(tmp_path, ""))), "A",
                        bundled_datasets_dir())

    keras_3 = cache_key("A", data, 1)

    assert cache_key("A", data, 1, "3") == keras_3
    assert cache_key("A", data, 1, "2") != keras_3


# -- grading, with real training ---------------------------------------------------

def grade(tmp_path: Path, spec_path: Path, students: dict[str, Path],
          warm: bool = False, jobs: int = 1) -> dict:
    for student, source in students.items():
        folder = tmp_path / "class" / student
        if source.is_dir():
            shutil.copytree(source, folder)
        else:
            folder.mkdir(parents=True)
            shutil.copy(source, folder / "nn_keras_solution.py")
    results = grade_with_spec(tmp_path, spec_path.read_text(), jobs=jobs, warm=warm)
    return {result.student: result for result in results}


@pytest.mark.slow
def test_keras_2_code_fails_in_keras_3_with_a_verdict_naming_the_idiom(tmp_path):
    results = grade(tmp_path, write_spec(tmp_path, ""), {"zoe": KERAS_2_CODE})

    zoe = results["zoe"]
    statuses = {check.name: check.status for check in zoe.checks}
    assert zoe.verdict.kind == "exception"
    assert "Keras 2 idiom" in zoe.verdict.message
    assert "the optimizer argument `lr=`" in zoe.verdict.message
    assert "write `learning_rate=` instead" in zoe.verdict.message
    assert "Adam(lr=0.001)" in zoe.verdict.traceback
    assert statuses["architecture"] == "failed"
    assert statuses["tie_accuracy"] == "passed"
    assert zoe.resources.keras == describe_keras("3")
    assert zoe.resources.keras.startswith("Keras 3.")


@pytest.mark.slow
def test_keras_2_mode_grades_every_form_with_full_marks(tmp_path):
    spec_path = write_spec(tmp_path, 'keras = "2"', FORM_A + OTHER_FORMS, ALL_POINTS)
    students = {
        "zoe_form_a_keras_2": KERAS_2_CODE,
        # tf-keras takes a numpy integer unit count as it is: no note.
        "nina_form_a_numpy_units": FIXTURES / "numpy_int_units"
        / "nn_keras_solution.py",
        "alice_form_d": SAMPLE_CLASS / "alice_form_d_correct",
        "carol_form_b": SAMPLE_CLASS / "carol_form_b_correct",
        "kim_form_c": SAMPLE_CLASS / "kim_form_c_correct",
    }

    results = grade(tmp_path, spec_path, students, warm=True, jobs=2)

    assert {result.form for result in results.values()} == {"A", "B", "C", "D"}
    for student, result in results.items():
        assert result.verdict.kind == "finished", (student, result.verdict.message)
        assert result.score == result.max_score, (student, [
            (check.name, check.message) for check in result.checks])
        assert result.notes == [], student
        # The warm process, started in Keras 2 mode, ran every job.
        assert result.resources.backend.endswith("warm start"), student
        assert result.resources.keras == "Keras 2 compatibility mode (tf-keras 2.21.0)"
    page = render_report(results["zoe_form_a_keras_2"])
    assert "Keras</dt><dd>Keras 2 compatibility mode (tf-keras 2.21.0)" in page


@pytest.mark.slow
def test_auto_grades_keras_2_code_again_in_keras_2_mode(tmp_path):
    spec_path = write_spec(tmp_path, 'keras = "auto"')
    students = {"zoe": KERAS_2_CODE,
                "bob": SAMPLE_CLASS / "bob_form_a_correct" / "nn_keras_solution.py"}

    results = grade(tmp_path, spec_path, students, warm=True)

    zoe, bob = results["zoe"], results["bob"]
    assert zoe.verdict.kind == "finished", zoe.verdict.message
    assert zoe.score == zoe.max_score
    assert zoe.resources.keras == describe_keras("2")
    # The warm process runs Keras 3, so the Keras 2 run started cold.
    assert zoe.resources.backend.endswith("cold start")
    (note,) = zoe.notes
    assert "graded again in Keras 2 compatibility mode" in note
    assert "`learning_rate=`" in note
    assert bob.score == bob.max_score
    assert bob.resources.keras == describe_keras("3")
    assert bob.resources.backend.endswith("warm start")
    assert bob.notes == []
