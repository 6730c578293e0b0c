"""Judge the raw values a child returned against reference values.

Runs in the parent only. Every check returns a :class:`~grader._result.Check`
whose message names the defect when one is recognized, with the smallest
input that shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader import _probes
from grader._result import Check, Defect
from reference import normalization_scale, object_accuracy, tie_aware_accuracy

#: Arrays larger than this are refused: no honest answer is this big.
MAX_ARRAY_BYTES = 512 * 1024 * 1024

TITLES = {
    "loader": "Data loader",
    "normalization": "Normalization",
    "tie_accuracy": "Tie-aware accuracy",
    "architecture": "Model architecture",
    "test_accuracy": "Test accuracy of the trained model",
    "reported_accuracy": "Reported accuracy",
}


@dataclass
class StepRecord:
    """One step as the child recorded it, read with safe loaders only."""

    id: str
    ok: bool
    values: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    out_dir: Path | None = None

    def array(self, name: str) -> np.ndarray:
        path = self.out_dir / f"{self.id}__{name}.npy"
        if path.stat().st_size > MAX_ARRAY_BYTES:
            raise ValueError(f"{name} is larger than {MAX_ARRAY_BYTES} bytes")
        return np.load(path, allow_pickle=False)

    def failure_text(self) -> str:
        message = self.error.get("message", "")
        kind = self.error.get("type", "")
        if kind == "StepFailed":
            return message
        return f"{kind}: {message}" if message else kind


@dataclass
class Reference:
    """Reference values for one graded run; they never enter a sandbox.

    Inputs are as the files hold them, before normalization.
    """

    training_inputs: np.ndarray
    training_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray
    ints_to_labels: dict[int, str]
    #: Tie-aware test accuracies of the reference solution, one per seed.
    accuracies: list[float]

    @property
    def number_of_classes(self) -> int:
        return len(self.ints_to_labels)


def _check(name: str, points: float, passed: bool, message: str,
           defect: Defect | None = None, details: list[str] | None = None) -> Check:
    return Check(
        name=name,
        title=TITLES[name],
        status="passed" if passed else "failed",
        points=points if passed else 0.0,
        max_points=points,
        message=message,
        defect=defect,
        details=details or [],
    )


def not_run(name: str, points: float, reason: str) -> Check:
    return Check(name, TITLES[name], "not_run", 0.0, points, reason)


def step_failed(name: str, points: float, record: StepRecord, call: str) -> Check:
    details = [record.error["traceback"]] if record.error.get("traceback") else []
    return _check(name, points, False,
                  f"{call} did not finish: {record.failure_text()}", details=details)


# -- loader ---------------------------------------------------------------

def _first_appearance(tokens: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for token in tokens:
        mapping.setdefault(token, len(mapping))
    return mapping


def _probe_tokens() -> tuple[list[str], list[str]]:
    def tokens(text: str) -> list[str]:
        return [line.split()[-1] for line in text.splitlines() if line.strip()]

    return (tokens(_probes.LOADER_PROBE_TRAINING), tokens(_probes.LOADER_PROBE_TEST))


def _loader_mismatches(record: StepRecord, expected) -> list[str]:
    """Differences between a load_dataset() result and the reference's."""
    (train_x, train_y), (test_x, test_y), mapping = expected
    problems = []
    for name, want in [("training_inputs", train_x), ("test_inputs", test_x)]:
        got = record.array(name)
        if got.shape != want.shape:
            problems.append(f"{name}: expected shape {want.shape}, got {got.shape}")
        elif not np.issubdtype(got.dtype, np.number) or not np.allclose(got, want):
            problems.append(f"{name}: values differ from the file's attributes")
    for name, want in [("training_labels", train_y), ("test_labels", test_y)]:
        got = record.array(name)
        if got.shape not in (want.shape, (want.shape[0],)):
            problems.append(
                f"{name}: expected shape {want.shape} (or {(want.shape[0],)}), "
                f"got {got.shape}"
            )
        elif not np.issubdtype(got.dtype, np.number):
            problems.append(f"{name}: expected integers, got dtype {got.dtype}")
        elif not np.array_equal(got.ravel(), want.ravel()):
            first = int(np.flatnonzero(got.ravel() != want.ravel())[0])
            problems.append(
                f"{name}: object {first} should have class "
                f"{int(want.ravel()[first])}, got {got.ravel()[first]}"
            )
    got_mapping = record.values.get("ints_to_labels")
    want_pairs = [[str(k), v] for k, v in mapping.items()]
    if isinstance(got_mapping, str):
        problems.append(f"ints_to_labels: {got_mapping}")
    elif sorted(got_mapping, key=lambda p: p[0]) != sorted(want_pairs, key=lambda p: p[0]):
        problems.append(
            f"ints_to_labels: expected {dict((int(k), v) for k, v in want_pairs)}, "
            f"got {dict(got_mapping)}"
        )
    return problems


def _separate_test_mapping(record: StepRecord) -> bool:
    """Whether the test labels follow a mapping made from the test file alone."""
    training_tokens, test_tokens = _probe_tokens()
    got = record.array("test_labels").ravel()
    per_file = _first_appearance(test_tokens)
    sorted_file = {t: i for i, t in enumerate(sorted(set(test_tokens)))}
    return any(
        np.array_equal(got, [mapping[t] for t in test_tokens])
        for mapping in (per_file, sorted_file)
    )


def check_loader(points: float, course: StepRecord, probe: StepRecord,
                 reference: Reference, probe_reference) -> Check:
    for record in (course, probe):
        if not record.ok:
            return step_failed("loader", points, record, "load_dataset()")
    course_expected = (
        (reference.training_inputs, reference.training_labels),
        (reference.test_inputs, reference.test_labels),
        reference.ints_to_labels,
    )
    course_problems = _loader_mismatches(course, course_expected)
    probe_problems = _loader_mismatches(probe, probe_reference)
    if not course_problems and not probe_problems:
        return _check("loader", points, True,
                      "load_dataset() matches the reference on the course files and "
                      "on the grader's edge cases (CRLF, no final newline, a label "
                      "seen only in the test file).")
    details = [f"course data: {p}" for p in course_problems]
    details += [f"grader's edge-case files: {p}" for p in probe_problems]
    defect = None
    message = "load_dataset() does not match the reference loader."
    if any("labels" in p for p in probe_problems) and _separate_test_mapping(probe):
        defect = Defect(6, "label mapping rebuilt for the test file")
        message = (
            "Your loader numbers the test file's labels with a mapping of its own, "
            "so test labels drift from training labels. Build one mapping by "
            "first appearance over the training file, then continue it over the "
            "test file. Smallest case: training labels beta, alpha, beta, gamma "
            "and test labels gamma, delta, alpha, beta should give test classes "
            "2, 3, 1, 0."
        )
    return _check("loader", points, False, message, defect, details)


# -- normalization -----------------------------------------------------------

def _normalization_candidates(training, test) -> dict[str, tuple]:
    both = np.vstack([training, test])
    return {
        "plain maximum": (training / training.max(), test / training.max(),
                          Defect(8, "plain maximum instead of maximum absolute value")),
        "test data included": (
            training / np.abs(both).max(), test / np.abs(both).max(),
            Defect(8, "test data included in the maximum")),
        "per-column maximum": (
            training / np.abs(training).max(axis=0),
            test / np.abs(training).max(axis=0), None),
        "test set by its own maximum": (
            training / np.abs(training).max(), test / np.abs(test).max(), None),
        "min-max scaling": (
            (training - training.min()) / (training.max() - training.min()),
            (test - training.min()) / (training.max() - training.min()), None),
        "no normalization": (training, test, None),
    }


def check_normalization(points: float, record: StepRecord) -> Check:
    if not record.ok:
        return step_failed("normalization", points, record, "normalize()")
    training, test = _probes.normalization_probe()
    scale = normalization_scale(training)
    got_training, got_test = record.array("training"), record.array("test")
    if (got_training.shape == training.shape and got_test.shape == test.shape
            and np.allclose(got_training, training / scale)
            and np.allclose(got_test, test / scale)):
        return _check("normalization", points, True,
                      "normalize() divides both sets by the training set's maximum "
                      "absolute value, also when that value comes from a negative "
                      "attribute.")
    details = [
        f"probe: training inputs of shape {training.shape} whose largest magnitude "
        f"is -900 (their plain maximum is {training.max():g}), test inputs reaching "
        "1500",
        f"expected both divided by {scale:g}",
    ]
    for name, (want_training, want_test, defect) in _normalization_candidates(
            training, test).items():
        if (got_training.shape == want_training.shape
                and np.allclose(got_training, want_training)
                and np.allclose(got_test, want_test)):
            return _check(
                "normalization", points, False,
                f"Your normalize() uses the {name}: divide both sets by one number, "
                "the largest absolute value over all training attributes "
                f"(here {scale:g}).",
                defect, details)
    return _check("normalization", points, False,
                  "normalize() does not divide both sets by the training set's "
                  "maximum absolute value.", None, details)


# -- tie-aware accuracy -------------------------------------------------------

def _first_maximum_only(outputs, true_class) -> float:
    return 1.0 if int(np.argmax(outputs)) == true_class else 0.0


def _full_tie_credit(outputs, true_class) -> float:
    outputs = np.asarray(outputs)
    return 1.0 if outputs[true_class] == outputs.max() else 0.0


def _tolerant_ties(outputs, true_class) -> float:
    outputs = np.asarray(outputs, dtype=np.float64)
    tied = np.flatnonzero(np.isclose(outputs, outputs.max()))
    return 1.0 / tied.size if true_class in tied else 0.0


TIE_DEFECTS: list[tuple[Defect, Callable[[Any, int], float], str]] = [
    (Defect(1, "tie credit only for the first maximum"), _first_maximum_only,
     "Your tie rule credits the object only when the first maximal class is the "
     "true class"),
    (Defect(3, "full credit for a tie"), _full_tie_credit,
     "Your tie rule gives a tied object a score of 1 instead of 1/|ties|"),
    (Defect(2, "ties found with a tolerance"), _tolerant_ties,
     "Your tie rule treats nearly equal outputs as tied; ties need exact equality"),
]


def _describe_case(case: _probes.TieCase, expected: float, got: float) -> str:
    outputs = ", ".join(f"{v:.9g}" for v in case.outputs)
    return (f"outputs [{outputs}] with true class {case.true_class} "
            f"({case.purpose}) should score {expected:.4g}, yours scored {got:.4g}")


def check_object_accuracy(points: float, record: StepRecord) -> Check:
    if not record.ok:
        return step_failed("tie_accuracy", points, record, "object_accuracy()")
    cases = _probes.TIE_CASES
    got = record.values.get("scores", [])
    expected = [object_accuracy(np.float32(c.outputs), c.true_class) for c in cases]
    if len(got) == len(expected) and np.allclose(got, expected, atol=1e-6):
        return _check("tie_accuracy", points, True,
                      "object_accuracy() scores exact ties of every size as "
                      "1/|ties| and nearly equal outputs as no tie.")
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if abs(g - e) > 1e-6]
    first = wrong[0]
    smallest = _describe_case(cases[first], expected[first], got[first])
    for defect, rule, sentence in TIE_DEFECTS:
        predicted = [rule(np.float32(c.outputs), c.true_class) for c in cases]
        if np.allclose(got, predicted, atol=1e-6):
            return _check("tie_accuracy", points, False, f"{sentence}: {smallest}.",
                          defect, [_describe_case(cases[i], expected[i], got[i])
                                   for i in wrong])
    return _check("tie_accuracy", points, False,
                  f"object_accuracy() differs from the tie-aware rule: {smallest}.",
                  None, [_describe_case(cases[i], expected[i], got[i]) for i in wrong])


def check_test_model_probe(points: float, record: StepRecord) -> Check:
    """Judge test_model() driven by the probe model whose outputs we chose."""
    if not record.ok:
        return step_failed("tie_accuracy", points, record,
                           "test_model() on the grader's probe model")
    cases = _probes.TIE_CASES
    got = record.values.get("accuracy")
    outputs, true_classes = _probes.tie_probe_arrays()
    expected = tie_aware_accuracy(outputs, true_classes)
    details = [
        f"probe: {len(cases)} test objects with chosen outputs; "
        f"the tie-aware accuracy is {expected:.4f}"
    ] + [f"object {i}: {c.purpose}" for i, c in enumerate(cases)]
    if not isinstance(got, float):
        return _check("tie_accuracy", points, False,
                      f"test_model() should return the accuracy as a number, it "
                      f"returned {got}.", None, details)
    if abs(got - expected) < 1e-6:
        return _check("tie_accuracy", points, True,
                      "test_model() gives the tie-aware accuracy on outputs with "
                      "ties of every size.", None, details)
    if "evaluate" in record.values.get("calls", []):
        return _check("tie_accuracy", points, False,
                      "test_model() returns Keras evaluate()'s accuracy, which "
                      "ignores ties; compute the tie-aware accuracy from the "
                      f"outputs instead (expected {expected:.4f}, got {got:.4f}).",
                      Defect(13, "evaluate() accuracy instead of tie-aware"), details)
    for defect, rule, sentence in TIE_DEFECTS:
        rule_mean = float(np.mean([rule(np.float32(c.outputs), c.true_class)
                                   for c in cases]))
        if abs(got - rule_mean) < 1e-6:
            wrong = next(i for i, c in enumerate(cases)
                         if rule(np.float32(c.outputs), c.true_class)
                         != object_accuracy(np.float32(c.outputs), c.true_class))
            case = cases[wrong]
            smallest = _describe_case(
                case, object_accuracy(np.float32(case.outputs), case.true_class),
                rule(np.float32(case.outputs), case.true_class))
            return _check("tie_accuracy", points, False,
                          f"{sentence}: {smallest}.", defect, details)
    if abs(got - expected * 100) < 1e-4:
        return _check("tie_accuracy", points, False,
                      "test_model() returns a percentage; return a fraction "
                      f"between 0 and 1 ({expected:.4f}, not {got:.2f}).",
                      Defect(10, "accuracy as a percentage"), details)
    return _check("tie_accuracy", points, False,
                  f"test_model() returned {got:.4f} on outputs whose tie-aware "
                  f"accuracy is {expected:.4f}.", None, details)


# -- architecture -------------------------------------------------------------

def check_architecture(points: float, record: StepRecord, settings,
                       number_of_classes: int, output_activations: tuple[str, ...],
                       call: str) -> Check:
    if not record.ok:
        return step_failed("architecture", points, record, call)
    model = record.values["model"]
    layers = model["layers"]
    dense = [layer for layer in layers if layer["class"] == "Dense"]
    others = [layer["class"] for layer in layers if layer["class"] not in (
        "Dense", "InputLayer")]
    hidden, output = dense[:-1], dense[-1] if dense else None
    expected_hidden = settings.layers - 2
    found = ", ".join(
        f"Dense({layer.get('units')}, {layer.get('activation')})" for layer in dense)
    details = [
        f"expected: {expected_hidden} hidden Dense layers "
        f"{list(zip(settings.units_per_layer, settings.hidden_activations))}, then "
        f"Dense({number_of_classes}, {' or '.join(output_activations)})",
        f"found: {found or 'no Dense layer'}",
        f"loss: {model.get('loss')}, optimizer: {model.get('optimizer')}",
    ]
    if others:
        return _check("architecture", points, False,
                      f"The model has layers other than Dense ({', '.join(others)}); "
                      "the assignment allows Dense layers only.", None, details)
    if output is None:
        return _check("architecture", points, False, "The model has no Dense layer.",
                      None, details)
    if len(hidden) != expected_hidden:
        off_by_one = len(hidden) == settings.layers - 1
        why = (" `layers` counts the input and output layers, so a network of "
               f"{settings.layers} layers has {expected_hidden} hidden layers."
               if off_by_one or len(hidden) > expected_hidden else "")
        return _check("architecture", points, False,
                      f"Wrong number of hidden layers: expected {expected_hidden} "
                      f"(layers - 2 with layers = {settings.layers}), found "
                      f"{len(hidden)}.{why}",
                      Defect(4, "wrong number of hidden layers"), details)
    if output.get("units") != number_of_classes:
        return _check("architecture", points, False,
                      f"The output layer has {output.get('units')} units; it needs "
                      f"one per class, {number_of_classes}. Count the classes from "
                      "the mapped labels, not from the largest label value.",
                      Defect(5, "output layer of the wrong size"), details)
    for index, (layer, units, activation) in enumerate(
            zip(hidden, settings.units_per_layer, settings.hidden_activations), 1):
        if layer.get("units") != units or layer.get("activation") != activation:
            return _check("architecture", points, False,
                          f"Hidden layer {index} is Dense({layer.get('units')}, "
                          f"{layer.get('activation')}); the settings ask for "
                          f"Dense({units}, {activation}).", None, details)
    if output.get("activation") not in output_activations:
        return _check("architecture", points, False,
                      f"The output layer uses {output.get('activation')}; expected "
                      f"{' or '.join(output_activations)}.", None, details)
    return _check("architecture", points, True,
                  f"{expected_hidden} hidden layers with the requested units and "
                  f"activations, and {number_of_classes} output units.", None, details)


# -- accuracy -----------------------------------------------------------------

def check_test_accuracy(points: float, record: StepRecord, reference: Reference,
                        tolerance: float, call: str) -> tuple[Check, float | None]:
    if not record.ok:
        return step_failed("test_accuracy", points, record, call), None
    outputs = record.array("outputs")
    labels = reference.test_labels.ravel()
    if outputs.ndim != 2 or outputs.shape[0] != labels.size:
        return _check("test_accuracy", points, False,
                      f"The model's outputs on the {labels.size} test objects have "
                      f"shape {outputs.shape}; expected ({labels.size}, classes).",
                      None), None
    if outputs.shape[1] <= labels.max():
        accuracy = 0.0
    else:
        accuracy = tie_aware_accuracy(outputs, labels)
    floor = min(reference.accuracies) - tolerance
    reference_text = ", ".join(f"{a:.4f}" for a in reference.accuracies)
    details = [
        f"your model's tie-aware test accuracy: {accuracy:.4f}",
        f"reference runs: {reference_text}; pass mark: {floor:.4f}",
    ]
    majority = np.bincount(labels).max() / labels.size
    if accuracy >= floor:
        return _check("test_accuracy", points, True,
                      f"Test accuracy {accuracy:.4f}, in line with the reference "
                      f"({reference_text}).", None, details), accuracy
    collapsed = (" That is no better than always predicting the most common class "
                 f"({majority:.4f}): training collapsed."
                 if accuracy <= majority + 0.01 else "")
    return _check("test_accuracy", points, False,
                  f"Test accuracy {accuracy:.4f} is below the pass mark {floor:.4f} "
                  f"set by the reference runs.{collapsed}", None, details), accuracy


def check_reported_accuracy(points: float, reported: Any, actual: float | None,
                            source: str) -> Check:
    if actual is None:
        return not_run("reported_accuracy", points,
                       "Not checked: there are no model outputs to compare with.")
    if not isinstance(reported, float):
        return _check("reported_accuracy", points, False,
                      f"{source} gave no accuracy as a number (got {reported!r}).")
    details = [f"reported: {reported:.4f}; tie-aware accuracy of the model's own "
               f"outputs: {actual:.4f}"]
    if abs(reported - actual) <= 0.0015:
        return _check("reported_accuracy", points, True,
                      f"{source} reports {reported:.4f}, the tie-aware accuracy of "
                      "the model's outputs.", None, details)
    if abs(reported - actual * 100) <= 0.15:
        return _check("reported_accuracy", points, False,
                      f"{source} reports a percentage ({reported:.2f}); report a "
                      "fraction between 0 and 1.",
                      Defect(10, "accuracy as a percentage"), details)
    return _check("reported_accuracy", points, False,
                  f"{source} reports {reported:.4f}, but the tie-aware accuracy of "
                  f"the model's outputs is {actual:.4f}.", None, details)


# -- form B: values recorded from the Keras calls -----------------------------

_FINAL_LINE = re.compile(
    r"classification\s+accuracy\s*[=:]\s*([0-9]*\.?[0-9]+)\s*(%?)", re.IGNORECASE)


def printed_final_accuracy(stdout: str) -> float | str:
    """The number on the last ``classification accuracy=`` line printed."""
    matches = _FINAL_LINE.findall(stdout)
    if not matches:
        return "no line 'classification accuracy=...' in the output"
    number, _percent = matches[-1]
    return float(number)


def _labels_as_classes(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] > 1:
        return np.argmax(labels, axis=1)
    return labels.ravel()


def check_fit_labels(points: float, record: StepRecord, reference: Reference) -> Check:
    """Form B: judge the loaded training set through what reached fit()."""
    if not (record.out_dir / f"{record.id}__fit_labels.npy").exists():
        return step_failed("loader", points, record, "nn_keras()")
    inputs, labels = record.array("fit_inputs"), record.array("fit_labels")
    want = reference.training_labels.ravel()
    details = [f"fit() received inputs of shape {inputs.shape} and labels of "
               f"shape {labels.shape}; the training file has "
               f"{reference.training_inputs.shape} and {len(want)} labels"]
    if inputs.shape != reference.training_inputs.shape:
        return _check("loader", points, False,
                      f"The training inputs passed to fit() have shape {inputs.shape}; "
                      f"the file holds {reference.training_inputs.shape}.", None,
                      details)
    got = _labels_as_classes(labels)
    if got.shape != want.shape or not np.array_equal(got.astype(np.int64), want):
        return _check("loader", points, False,
                      "The training labels passed to fit() do not follow the "
                      "course mapping (integers 0..K-1 by first appearance, training "
                      "file first).", Defect(6, "label mapping differs from the "
                                                "course's"), details)
    return _check("loader", points, True,
                  "The training inputs and labels your code passed to fit() match "
                  "the course loader.", None, details)


def check_fit_inputs(points: float, record: StepRecord, reference: Reference) -> Check:
    """Form B: judge normalization through the inputs that reached fit()."""
    if not (record.out_dir / f"{record.id}__fit_inputs.npy").exists():
        return step_failed("normalization", points, record, "nn_keras()")
    got = record.array("fit_inputs")
    raw = reference.training_inputs
    scale = normalization_scale(raw)
    if got.shape != raw.shape:
        return _check("normalization", points, False,
                      "Not checked: the inputs passed to fit() do not have the "
                      "training file's shape.")
    if np.allclose(got, raw / scale):
        note = ("" if raw.min() < 0 else " (This data has no negative values, so "
                "the plain maximum would pass here too.)")
        return _check("normalization", points, True,
                      "The inputs passed to fit() are divided by the training set's "
                      f"maximum absolute value.{note}")
    if np.allclose(got, raw):
        return _check("normalization", points, False,
                      "The inputs passed to fit() are not normalized: divide training "
                      "and test inputs by the largest absolute training value "
                      f"({scale:g}).")
    return _check("normalization", points, False,
                  "The inputs passed to fit() are scaled differently from the "
                  f"course rule (divide by the training set's maximum absolute "
                  f"value, {scale:g}).")
