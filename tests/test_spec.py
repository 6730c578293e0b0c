"""Assignment specs: the shipped ones load, and broken ones say what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from grader._errors import SpecError
from grader._resources import assignments_dir
from grader._spec import (
    CHECK_NAMES,
    FORM_CHECKS,
    FORMS,
    HIDDEN_ACTIVATIONS,
    canonical_activation,
    load_spec,
    shipped_specs,
)

SAMPLE_TEXT = (assignments_dir() / "sample.toml").read_text(encoding="utf-8")


def edit_form(form: str, old: str, new: str) -> str:
    """The sample spec with ``old`` replaced by ``new`` inside ``[forms.<form>]``."""
    start = SAMPLE_TEXT.index(f"[forms.{form}]")
    end = SAMPLE_TEXT.index("\n[", start)
    block = SAMPLE_TEXT[start:end]
    assert old in block, f"{old!r} is not in [forms.{form}] of sample.toml"
    return SAMPLE_TEXT[:start] + block.replace(old, new) + SAMPLE_TEXT[end:]


def edit(old: str, new: str) -> str:
    assert old in SAMPLE_TEXT, f"{old!r} is not in sample.toml"
    return SAMPLE_TEXT.replace(old, new, 1)


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edited.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_specs_include_sample_and_pendigits():
    assert {"sample", "pendigits"} <= set(shipped_specs())


@pytest.mark.parametrize("name", sorted(shipped_specs()))
def test_every_shipped_spec_loads(name: str):
    spec = load_spec(name)

    assert spec.name == name
    assert spec.runs and set(spec.runs) <= set(FORMS)
    for form, run in spec.runs.items():
        assert len(run.units_per_layer) == run.layers - 2
        assert len(run.hidden_activations) == run.layers - 2
        assert run.epochs > 0
        assert set(spec.checks_for(form)) <= set(FORM_CHECKS[form])
    assert set(spec.points) <= set(CHECK_NAMES)
    assert all(points >= 0 for points in spec.points.values())


def test_unedited_copy_of_sample_loads_from_a_path(tmp_path: Path):
    path = write_spec(tmp_path, SAMPLE_TEXT)

    spec = load_spec(str(path))

    assert spec.path == path
    assert spec.runs == load_spec("sample").runs
    assert spec.runs["B"].units_argument == 32
    assert spec.runs["B"].units_per_layer == (32,)
    assert spec.runs["A"].units_argument == (32, 16)


@pytest.mark.parametrize(
    "name", ["nosuch", "missing.toml"], ids=["unknown-name", "missing-file"])
def test_unknown_name_or_missing_file_lists_shipped_specs(tmp_path: Path, name: str):
    argument = name if name == "nosuch" else str(tmp_path / name)
    shipped = ", ".join(shipped_specs())

    with pytest.raises(SpecError, match=re.escape(
            f"no assignment {argument!r}: it is neither a shipped spec "
            f"({shipped}) nor a TOML file. Run 'nngrade assignments'")):
        load_spec(argument)


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path):
    path = write_spec(tmp_path, edit('name = "sample"', 'name = "sample'))

    with pytest.raises(SpecError, match=re.escape(f"{path}: not valid TOML: ")):
        load_spec(str(path))


@pytest.mark.parametrize(
    ("text", "where", "key"),
    [
        (edit_form("A", 'dataset = "digits"\n', ""), " [forms.A]", "dataset"),
        (edit_form("D", "epochs = 30\n", ""), " [forms.D]", "epochs"),
        (edit_form("A", 'hidden_activations = ["relu", "tanh"]\n', ""),
         " [forms.A]", "hidden_activations"),
        (edit_form("B", "units_per_layer = 32\n", ""), " [forms.B]",
         "units_per_layer"),
        (edit_form("B", "layers = 3\n", ""), " [forms.B]", "layers"),
        (SAMPLE_TEXT[:SAMPLE_TEXT.index("[points]")], "", "points"),
    ],
    ids=["dataset", "epochs", "hidden_activations", "form-b-units", "layers",
         "points-table"],
)
def test_missing_key_is_named_with_its_table(
    tmp_path: Path, text: str, where: str, key: str
):
    path = write_spec(tmp_path, text)

    message = f"{path}{where}: missing key {key!r}"
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(str(path))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (edit_form("A", "layers = 4", 'layers = "4"'),
         " [forms.A]: 'layers' must be int, got '4'"),
        (edit_form("A", "layers = 4", "layers = true"),
         " [forms.A]: 'layers' must be int, got True"),
        (edit_form("D", "epochs = 30", "epochs = 2.5"),
         " [forms.D]: 'epochs' must be int, got 2.5"),
        (edit_form("A", "units_per_layer = [32, 16]", "units_per_layer = 32"),
         " [forms.A]: 'units_per_layer' must be list, got 32"),
        (edit_form("B", "units_per_layer = 32", "units_per_layer = [32]"),
         " [forms.B]: 'units_per_layer' must be int, got [32]"),
        (edit_form("A", 'dataset = "digits"', "dataset = 7"),
         " [forms.A]: 'dataset' must be str, got 7"),
        (edit_form("A", "units_per_layer = [32, 16]",
                   'units_per_layer = [32, "sixteen"]'),
         " [forms.A]: 'units_per_layer' entries must be positive integers, "
         "got [32, 'sixteen']"),
        (edit_form("D", "units_per_layer = [32, 16]", "units_per_layer = [32, 0]"),
         " [forms.D]: 'units_per_layer' entries must be positive integers, "
         "got [32, 0]"),
        (edit_form("B", "units_per_layer = 32", "units_per_layer = 0"),
         " [forms.B]: 'units_per_layer' must be positive, got 0"),
        (edit_form("A", 'hidden_activations = ["relu", "tanh"]',
                   'hidden_activations = ["relu", 3]'),
         " [forms.A]: 'hidden_activations' entries must be strings, "
         "got ['relu', 3]"),
        ("points = 11\n" + SAMPLE_TEXT[:SAMPLE_TEXT.index("[points]")],
         ": 'points' must be dict, got 11"),
    ],
    ids=["layers-string", "layers-bool", "epochs-float", "units-not-list",
         "form-b-units-list", "dataset-number", "units-entry-string",
         "units-entry-zero", "form-b-units-zero", "activation-entry-number",
         "points-not-table"],
)
def test_value_of_the_wrong_type_is_named_with_what_was_given(
    tmp_path: Path, text: str, problem: str
):
    path = write_spec(tmp_path, text)

    with pytest.raises(SpecError, match=re.escape(f"{path}{problem}")):
        load_spec(str(path))


def test_one_layer_is_rejected_because_layers_count_input_and_output(
    tmp_path: Path,
):
    path = write_spec(tmp_path, edit_form("B", "layers = 3", "layers = 1"))

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [forms.B]: 'layers' counts the input and output layers, so it "
            "must be at least 2, got 1")):
        load_spec(str(path))


@pytest.mark.parametrize("layers", [0, -3], ids=["zero", "negative"])
def test_layers_not_positive_is_rejected(tmp_path: Path, layers: int):
    path = write_spec(tmp_path, edit_form("B", "layers = 3", f"layers = {layers}"))

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [forms.B]: 'layers' must be positive, got {layers}")):
        load_spec(str(path))


def test_two_layers_means_no_hidden_layer(tmp_path: Path):
    text = edit_form("A", "layers = 4\nunits_per_layer = [32, 16]\n"
                          'hidden_activations = ["relu", "tanh"]',
                     "layers = 2\nunits_per_layer = []\nhidden_activations = []")
    path = write_spec(tmp_path, text)

    run = load_spec(str(path)).runs["A"]

    assert (run.layers, run.units_per_layer, run.hidden_activations) == (2, (), ())


@pytest.mark.parametrize(
    ("old", "new", "key", "count"),
    [
        ("units_per_layer = [32, 16]", "units_per_layer = [32]",
         "units_per_layer", 1),
        ("units_per_layer = [32, 16]", "units_per_layer = [32, 16, 8]",
         "units_per_layer", 3),
        ('hidden_activations = ["relu", "tanh"]', 'hidden_activations = ["relu"]',
         "hidden_activations", 1),
        ("layers = 4", "layers = 5", "units_per_layer", 2),
    ],
    ids=["too-few-units", "too-many-units", "too-few-activations",
         "layers-grown"],
)
def test_hidden_layer_lists_must_have_layers_minus_2_entries(
    tmp_path: Path, old: str, new: str, key: str, count: int
):
    path = write_spec(tmp_path, edit_form("A", old, new))
    layers = 5 if new == "layers = 5" else 4

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [forms.A]: {key!r} needs one entry per hidden layer "
            f"(layers - 2 = {layers - 2}), got {count}")):
        load_spec(str(path))


def test_unknown_form_is_rejected_with_the_known_ones(tmp_path: Path):
    path = write_spec(tmp_path, edit("[forms.B]", "[forms.E]"))

    with pytest.raises(SpecError, match=re.escape(
            f"{path}: unknown form(s) ['E']; this grader knows forms A, B, C, D")):
        load_spec(str(path))


@pytest.mark.parametrize(("text", "where", "key", "guess"), [
    pytest.param(edit("wall_seconds = 60", "wall_second = 60"), " [limits]",
                 "wall_second", "wall_seconds", id="limit"),
    pytest.param(edit("accuracy_tolerance = 0.05", "acuracy_tolerance = 0.05"), "",
                 "acuracy_tolerance", "accuracy_tolerance", id="top-level"),
    pytest.param(edit_form("C", "epochs = 30", "epoch = 30"), " [forms.C]",
                 "epoch", "epochs", id="run"),
    pytest.param(edit_form("B", "epochs = 30", 'epochs = 30\nactivation = "tanh"'),
                 " [forms.B]", "activation", None, id="form-B-activation"),
    pytest.param(edit("[points]", "[point]"), "", "point", "points",
                 id="required-table"),
])
def test_unknown_keys_are_errors_with_the_likely_key(
    tmp_path: Path, text: str, where: str, key: str, guess: str | None
):
    path = write_spec(tmp_path, text)

    with pytest.raises(SpecError) as raised:
        load_spec(str(path))

    message = str(raised.value)
    assert message.startswith(f"{path}{where}: unknown key {key!r}; ")
    if guess:
        assert f"did you mean {guess!r}?" in message
    else:
        # Form B's skeleton fixes sigmoid: the key is not one to offer there.
        assert "did you mean" not in message
        assert "'activation'" not in message.split("the keys here are")[1]


def test_a_form_that_is_not_a_table_is_named(tmp_path: Path):
    start = SAMPLE_TEXT.index("[forms.A]")
    end = SAMPLE_TEXT.index("\n[", start)
    text = SAMPLE_TEXT[:start] + "[forms]\nA = 3" + SAMPLE_TEXT[end:]
    path = write_spec(tmp_path, text)

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [forms]: 'A' must be dict, got 3")):
        load_spec(str(path))


def test_unknown_check_in_points_is_rejected_with_the_known_ones(tmp_path: Path):
    path = write_spec(tmp_path, edit("loader = 2", "loadr = 2"))

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [points]: unknown check 'loadr'; the checks are "
            + ", ".join(CHECK_NAMES))):
        load_spec(str(path))


@pytest.mark.parametrize(
    ("value", "shown"), [("-1", "-1"), ("-0.5", "-0.5"), ('"two"', "'two'")],
    ids=["negative-int", "negative-float", "string"])
def test_points_must_be_a_number_at_least_zero(
    tmp_path: Path, value: str, shown: str
):
    path = write_spec(tmp_path, edit("normalization = 2", f"normalization = {value}"))

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [points]: 'normalization' must be a number of points >= 0, "
            f"got {shown}")):
        load_spec(str(path))


def test_zero_points_drops_the_check_from_every_form(tmp_path: Path):
    path = write_spec(tmp_path, edit("architecture = 2", "architecture = 0"))

    spec = load_spec(str(path))

    assert all("architecture" not in spec.checks_for(form) for form in spec.runs)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("wall_seconds = 60", 'wall_seconds = "x"',
         r"\[limits\]: 'wall_seconds' must be int or float, got 'x'"),
        ("wall_seconds = 60", "wall_seconds = -1",
         r"\[limits\]: 'wall_seconds' must be positive, got -1"),
        ("wall_seconds = 60", "wall_seconds = 60\nprocesses = 0",
         r"\[limits\]: 'processes' must be positive, got 0"),
        ("[limits]", "limits = 5\n[unused]", r"'limits' must be dict, got 5"),
        ("accuracy_tolerance = 0.05", "accuracy_tolerance = 5",
         r"'accuracy_tolerance' is a fraction of accuracy between 0 and 1, got 5"),
        ("reference_seeds = [1, 2, 3]", "reference_seeds = []",
         r"'reference_seeds' must be a non-empty list of integers, got \[\]"),
        ("title = ", "title = 3 #", r"'title' must be str, got 3"),
    ],
    ids=["limit-type", "limit-negative", "processes-zero", "limits-not-table",
         "tolerance", "seeds-empty", "title-type"],
)
def test_optional_settings_of_the_wrong_kind_are_named(
    tmp_path: Path, old: str, new: str, message: str
):
    path = write_spec(tmp_path, edit(old, new))

    with pytest.raises(SpecError, match=message):
        load_spec(str(path))


@pytest.mark.parametrize("form", ["A", "D"])
def test_unknown_hidden_activation_is_named_with_the_allowed_ones(
    tmp_path: Path, form: str
):
    path = write_spec(tmp_path, edit_form(
        form, 'hidden_activations = ["relu", "tanh"]',
        'hidden_activations = ["relu", "reluu"]'))

    with pytest.raises(SpecError, match=re.escape(
            f"{path} [forms.{form}]: 'hidden_activations' has 'reluu', which is not "
            "an activation a Keras Dense layer accepts by name; use one of "
            + ", ".join(HIDDEN_ACTIVATIONS))):
        load_spec(str(path))


@pytest.mark.parametrize("name", ["ReLU", "", "none", "glu", "threshold"])
def test_activation_names_are_exact_and_trainable(tmp_path: Path, name: str):
    path = write_spec(tmp_path, edit_form(
        "A", 'hidden_activations = ["relu", "tanh"]',
        f'hidden_activations = ["{name}", "tanh"]'))

    with pytest.raises(SpecError, match=f"'hidden_activations' has '{name}'"):
        load_spec(str(path))


@pytest.mark.parametrize("name", ["swish", "hard_swish", "gelu", "leaky_relu"])
def test_less_common_activations_load(tmp_path: Path, name: str):
    path = write_spec(tmp_path, edit_form(
        "D", 'hidden_activations = ["relu", "tanh"]',
        f'hidden_activations = ["{name}", "tanh"]'))

    assert load_spec(str(path)).runs["D"].hidden_activations == (name, "tanh")


def test_every_allowed_activation_works_in_a_keras_dense_layer():
    keras = pytest.importorskip("keras")
    inputs = np.linspace(-2, 2, 12, dtype="float32").reshape(3, 4)

    for name in HIDDEN_ACTIVATIONS:
        layer = keras.layers.Dense(5, activation=name)
        outputs = np.asarray(layer(inputs))

        assert outputs.shape == (3, 5), name
        # The name the child reads off the layer is the one the judge expects.
        assert layer.activation.__name__ == canonical_activation(name), name


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize(("old", "key", "table"), [
    ("wall_seconds = 60", "wall_seconds", " [limits]"),
    ("cpu_seconds = 600", "cpu_seconds", " [limits]"),
    ("accuracy_tolerance = 0.05", "accuracy_tolerance", ""),
    ("loader = 2", "loader", " [points]"),
    ("reported_accuracy = 1", "reported_accuracy", " [points]"),
    ("# compat_penalty_numpy_units = 0", "compat_penalty_numpy_units", ""),
], ids=["wall-seconds", "cpu-seconds", "tolerance", "points", "last-points",
        "penalty"])
def test_nan_and_infinity_are_refused_wherever_a_number_is_read(
    tmp_path: Path, value: str, old: str, key: str, table: str
):
    path = write_spec(tmp_path, edit(old, f"{key} = {value}"))
    shown = repr(float(value))

    with pytest.raises(SpecError, match=re.escape(
            f"{path}{table}: {key!r} must be a finite number, got {shown}")):
        load_spec(str(path))
