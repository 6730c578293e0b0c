"""Judge the raw values a child returned against reference values.

Runs in the parent only. Every check returns a :class:`~grader._result.Check`
whose message names the defect when one is recognized, with the smallest
input that shows it.

Nothing a child returned is trusted. A check must never raise on such a
value, since one exception here would stop the grading of the whole class:
an array that cannot be read back, or that holds strings, booleans, NaN or
values of the wrong shape, fails the check it belongs to with a message for
the student instead.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from grader import _probes
from grader._records import _NOT_NUMBERS, InvalidValue, StepRecord, _shorten
from grader._result import Check, Defect
from grader._spec import canonical_activation
from reference import normalization_scale, object_accuracy, tie_aware_accuracy

TITLES = {
    "loader": "Data loader",
    "normalization": "Normalization",
    "tie_accuracy": "Tie-aware accuracy",
    "architecture": "Model architecture",
    "test_accuracy": "Test accuracy of the trained model",
    "reported_accuracy": "Reported accuracy",
    "printed_output": "Printed results",
}

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


def step_failed(name: str, points: float, record: StepRecord, call: str,
                labels: set[str] | frozenset[str] = frozenset()) -> Check:
    """Fail a check whose step raised, naming the defect when the error shows one.

    ``labels`` are the data set's label tokens, when the step read a data
    file: a label that could not be read as a number shows defect 12.
    """
    traceback = record.error.get("traceback")
    details = [str(traceback)] if traceback else []
    message = f"{call} did not finish: {record.failure_text()}"
    known = _known_crash(record, labels)
    if known is None:
        return _check(name, points, False, message, details=details)
    defect, advice = known
    return _check(name, points, False, f"{message.rstrip('.')}. {advice}", defect,
                  details)


#: Errors whose message shows a known defect: (error type, pattern, defect,
#: advice for the student). Messages as Keras 3.15 words them.
_KNOWN_CRASHES = [
    ("ValueError", re.compile(r"must have rank \(ndim\) `target\.ndim - 1`"),
     Defect(12, "sparse loss given one-hot targets"),
     ("The labels passed to fit() are one-hot vectors, but sparse categorical "
      "cross-entropy expects one class number per object. Pass the integer labels "
      "to fit(), or use categorical cross-entropy with the one-hot labels.")),
]

# float('six'), numpy's astype(float) and numpy's loadtxt() word it so.
_NOT_A_FLOAT = re.compile(
    r"could not convert string (?:to float: (?:np\.str_\()?'([^'\n]{0,200})'"
    r"|'([^'\n]{0,200})' to float)")


def _known_crash(record: StepRecord, labels: set[str] | frozenset[str]
                 ) -> tuple[Defect, str] | None:
    kind = str(record.error.get("type", ""))
    message = str(record.error.get("message", ""))
    for error_type, pattern, defect, advice in _KNOWN_CRASHES:
        if kind == error_type and pattern.search(message):
            return defect, advice
    match = _NOT_A_FLOAT.search(message) if kind == "ValueError" else None
    token = match and (match.group(1) if match.group(1) is not None
                       else match.group(2))
    if token and token in labels:
        advice = (f"Your code reads the class label '{token}' as a number. The "
                  "last field of each line is a label, a token such as '8', "
                  "'eight' or 'class7': keep it as text and map the labels to "
                  "integers 0..K-1 in order of first appearance, training file "
                  "first.")
        return Defect(12, "string labels parsed as floats"), advice
    return None


_Judge = TypeVar("_Judge", bound=Callable[..., Any])


def _refusing_invalid(name: str, *, with_accuracy: bool = False
                      ) -> Callable[[_Judge], _Judge]:
    """Make a check fail, not raise, on a value it cannot judge.

    ``with_accuracy`` marks a check that returns ``(check, accuracy)``.
    """
    def decorate(judge: _Judge) -> _Judge:
        @functools.wraps(judge)
        def guarded(points: float, *args: Any, **kwargs: Any) -> Any:
            try:
                return judge(points, *args, **kwargs)
            except InvalidValue as error:
                failed = _check(name, points, False, str(error))
                return (failed, None) if with_accuracy else failed
        return guarded  # type: ignore[return-value]
    return decorate


def _not_numbers(array: np.ndarray) -> str | None:
    """What ``array`` holds instead of real numbers; None when it holds numbers."""
    if array.dtype.kind in "iuf":
        return None
    return _NOT_NUMBERS.get(array.dtype.kind, f"values of type {array.dtype}")


def _require_finite_numbers(array: np.ndarray, subject: str) -> None:
    """Refuse an array of anything but finite real numbers.

    ``subject`` starts the student's sentence, e.g. "normalize() returned
    arrays".
    """
    kind = _not_numbers(array)
    if kind is not None:
        raise InvalidValue(f"{subject} of {kind}; expected numbers.")
    if not np.isfinite(array).all():
        raise InvalidValue(f"{subject} with NaN or infinite values; expected "
                           "finite numbers.")


def _is_number(value: Any) -> bool:
    """Whether a value read from a child's JSON record is a real number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- loader ---------------------------------------------------------------

def _first_appearance(tokens: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for token in tokens:
        mapping.setdefault(token, len(mapping))
    return mapping


def _sorted_order(tokens: list[str]) -> dict[str, int]:
    return {token: index for index, token in enumerate(sorted(set(tokens)))}


def _continued(mapping: dict[str, int], tokens: list[str]) -> dict[str, int]:
    """``mapping`` extended by first appearance over ``tokens``."""
    extended = dict(mapping)
    for token in tokens:
        extended.setdefault(token, len(extended))
    return extended


def _probe_tokens() -> tuple[list[str], list[str]]:
    def tokens(text: str) -> list[str]:
        return [line.split()[-1] for line in text.splitlines() if line.strip()]

    return (tokens(_probes.LOADER_PROBE_TRAINING), tokens(_probes.LOADER_PROBE_TEST))


def _mapping_pairs(value: Any) -> list[tuple[str, str]] | None:
    """The ``ints_to_labels`` pairs of a child's record, or None if malformed."""
    if not isinstance(value, list):
        return None
    pairs = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(part, str) for part in pair)):
            return None
        pairs.append((pair[0], pair[1]))
    return pairs


def _loader_mismatches(record: StepRecord, expected) -> list[str]:
    """Differences between a load_dataset() result and the reference's."""
    (train_x, train_y), (test_x, test_y), mapping = expected
    problems = []
    for name, want in [("training_inputs", train_x), ("test_inputs", test_x)]:
        got = record.array(name)
        kind = _not_numbers(got)
        if kind is not None:
            problems.append(f"{name}: expected numbers, got {kind}")
        elif got.shape != want.shape:
            problems.append(f"{name}: expected shape {want.shape}, got {got.shape}")
        elif not np.isfinite(got).all():
            problems.append(f"{name}: holds NaN or infinite values")
        elif not np.allclose(got, want):
            problems.append(f"{name}: values differ from the file's attributes")
    for name, want in [("training_labels", train_y), ("test_labels", test_y)]:
        got = record.array(name)
        kind = _not_numbers(got)
        if kind is not None:
            problems.append(f"{name}: expected integers, got {kind}")
        elif got.shape not in (want.shape, (want.shape[0],)):
            problems.append(
                f"{name}: expected shape {want.shape} (or {(want.shape[0],)}), "
                f"got {got.shape}"
            )
        elif not np.array_equal(got.ravel(), want.ravel()):
            first = int(np.flatnonzero(got.ravel() != want.ravel())[0])
            problems.append(
                f"{name}: object {first} should have class "
                f"{int(want.ravel()[first])}, got {got.ravel()[first]}"
            )
    got_mapping = record.values.get("ints_to_labels")
    got_pairs = _mapping_pairs(got_mapping)
    want_pairs = sorted((str(key), str(value)) for key, value in mapping.items())
    if isinstance(got_mapping, str):
        problems.append(f"ints_to_labels: {_shorten(got_mapping)}")
    elif got_pairs is None:
        problems.append("ints_to_labels: expected a dict from class numbers to "
                        f"labels, got {_shorten(got_mapping)}")
    elif sorted(got_pairs) != want_pairs:
        problems.append(
            f"ints_to_labels: expected {({int(k): v for k, v in want_pairs})}, "
            f"got {_shorten(dict(got_pairs), 300)}"
        )
    return problems


#: How a loader may number labels wrongly: the kind of mistake, the mapping
#: it uses for the training file and the one for the test file.
_MAPPING_MISTAKES: list[tuple[str, Callable[[list[str], list[str]],
                                            tuple[dict, dict]]]] = [
    ("sorted", lambda train, test: (_sorted_order(train + test),) * 2),
    ("sorted", lambda train, test: (
        _sorted_order(train), _continued(_sorted_order(train), test))),
    ("separate", lambda train, test: (
        _first_appearance(train), _first_appearance(test))),
    ("separate", lambda train, test: (_first_appearance(train), _sorted_order(test))),
    ("sorted and separate", lambda train, test: (
        _sorted_order(train), _sorted_order(test))),
]

_MAPPING_DEFECTS = {
    "sorted": (
        Defect(6, "labels numbered in sorted order"),
        ("Your loader numbers the labels in sorted order instead of in order of "
         "first appearance. Number them 0..K-1 as they first appear, reading the "
         "training file first and then the test file with the same mapping."),
    ),
    "separate": (
        Defect(6, "separate label mapping for the test file"),
        ("Your loader numbers the test file's labels with a mapping of its own, "
         "so test labels drift from training labels. Build one mapping by first "
         "appearance over the training file, then continue it over the test file."),
    ),
    "sorted and separate": (
        Defect(6, "labels sorted, with a separate mapping for the test file"),
        ("Your loader sorts the labels of each file on its own: it numbers them "
         "in sorted order instead of in order of first appearance, and it gives "
         "the test file a separate mapping. Build one mapping by first appearance "
         "over the training file, then continue it over the test file."),
    ),
}


def _classes_text(values: np.ndarray, limit: int = 20) -> str:
    text = ", ".join(f"{value:g}" for value in values[:limit])
    return text + (", ..." if len(values) > limit else "")


def _probe_labels(record: StepRecord) -> tuple[np.ndarray, np.ndarray] | None:
    """The probe's training and test labels as 1-D numbers, or None."""
    arrays = (record.array("training_labels"), record.array("test_labels"))
    if any(_not_numbers(array) is not None for array in arrays):
        return None
    return arrays[0].ravel(), arrays[1].ravel()


def _label_details(got: tuple[np.ndarray, np.ndarray], probe_reference
                   ) -> list[str]:
    """Expected and found classes of the probe's labels, for the details."""
    lines = []
    for tokens, want, found, which in zip(
            _probe_tokens(), (probe_reference[0][1], probe_reference[1][1]), got,
            ("training", "test")):
        lines.append(
            f"grader's edge-case files: {which} labels {', '.join(tokens)} should "
            f"be classes {_classes_text(np.ravel(want))}; yours are "
            f"{_classes_text(found)}")
    return lines


def _label_mistake(got: tuple[np.ndarray, np.ndarray]) -> str | None:
    """Which known label-mapping mistake the probe's labels show, if any."""
    got_train, got_test = got
    train_tokens, test_tokens = _probe_tokens()
    for mistake, mappings in _MAPPING_MISTAKES:
        train_mapping, test_mapping = mappings(train_tokens, test_tokens)
        if (np.array_equal(got_train, [train_mapping[t] for t in train_tokens])
                and np.array_equal(got_test, [test_mapping[t] for t in test_tokens])):
            return mistake
    return None


@_refusing_invalid("loader")
def check_loader(points: float, course: StepRecord, probe: StepRecord,
                 reference: Reference, probe_reference) -> Check:
    labels = set(reference.ints_to_labels.values()) | {
        str(label) for label in probe_reference[2].values()}
    for record in (course, probe):
        if not record.ok:
            return step_failed("loader", points, record, "load_dataset()", labels)
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
    got = _probe_labels(probe)
    want = (np.ravel(probe_reference[0][1]), np.ravel(probe_reference[1][1]))
    if got is None or (np.array_equal(got[0], want[0])
                       and np.array_equal(got[1], want[1])):
        return _check("loader", points, False,
                      "load_dataset() does not match the reference loader.", None,
                      details)
    details += _label_details(got, probe_reference)
    mistake = _label_mistake(got)
    if mistake is None:
        return _check("loader", points, False,
                      "load_dataset() does not match the reference loader.", None,
                      details)
    defect, advice = _MAPPING_DEFECTS[mistake]
    train_tokens, test_tokens = _probe_tokens()
    example = (
        f" On the grader's edge-case files (training labels "
        f"{', '.join(train_tokens)}; test labels {', '.join(test_tokens)}) the "
        f"test classes should be {_classes_text(want[1])}; yours are "
        f"{_classes_text(got[1])}."
    )
    return _check("loader", points, False, advice + example, defect, details)


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


@_refusing_invalid("normalization")
def check_normalization(points: float, record: StepRecord) -> Check:
    if not record.ok:
        return step_failed("normalization", points, record, "normalize()")
    training, test = _probes.normalization_probe()
    scale = normalization_scale(training)
    got_training, got_test = record.array("training"), record.array("test")
    for got in (got_training, got_test):
        _require_finite_numbers(got, "normalize() returned arrays")
    if got_training.shape != training.shape or got_test.shape != test.shape:
        return _check("normalization", points, False,
                      f"normalize() returned arrays of shapes {got_training.shape} "
                      f"and {got_test.shape}; expected the shapes of its inputs, "
                      f"{training.shape} and {test.shape}.")
    if (np.allclose(got_training, training / scale)
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
        if (np.allclose(got_training, want_training)
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

#: How far a score may be from the expected one and still count as equal.
_SCORE_TOLERANCE = 1e-6


def _same_score(got: float, expected: float) -> bool:
    # Written so that NaN never counts as equal.
    return abs(got - expected) <= _SCORE_TOLERANCE


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


def _scores(value: Any, count: int) -> list[float]:
    """The object_accuracy() scores of a child's record, one per tie case."""
    if not isinstance(value, list) or len(value) != count:
        raise InvalidValue(
            f"The grader expected {count} scores from object_accuracy(), one per "
            f"output vector it passed, and found {_shorten(value)}.")
    for index, score in enumerate(value):
        if not _is_number(score):
            raise InvalidValue(
                f"object_accuracy() returned {_shorten(repr(score))} for output vector "
                f"{index}; expected a number between 0 and 1.")
    return [float(score) for score in value]


@_refusing_invalid("tie_accuracy")
def check_object_accuracy(points: float, record: StepRecord) -> Check:
    if not record.ok:
        return step_failed("tie_accuracy", points, record, "object_accuracy()")
    cases = _probes.TIE_CASES
    got = _scores(record.values.get("scores"), len(cases))
    expected = [object_accuracy(np.float32(c.outputs), c.true_class) for c in cases]
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if not _same_score(g, e)]
    if not wrong:
        return _check("tie_accuracy", points, True,
                      "object_accuracy() scores exact ties of every size as "
                      "1/|ties| and nearly equal outputs as no tie.")
    first = wrong[0]
    smallest = _describe_case(cases[first], expected[first], got[first])
    details = [_describe_case(cases[i], expected[i], got[i]) for i in wrong]
    for defect, rule, sentence in TIE_DEFECTS:
        predicted = [rule(np.float32(c.outputs), c.true_class) for c in cases]
        if all(_same_score(g, p) for g, p in zip(got, predicted)):
            return _check("tie_accuracy", points, False, f"{sentence}: {smallest}.",
                          defect, details)
    return _check("tie_accuracy", points, False,
                  f"object_accuracy() differs from the tie-aware rule: {smallest}.",
                  None, details)


def _scaled_accuracy(got: float, expected: float, objects: int) -> str | None:
    """How ``got`` is the right accuracy wrongly scaled, if it is (defect 10)."""
    if abs(got - expected * 100) < 1e-4:
        return "a percentage instead of a fraction"
    if abs(got - expected * objects / (objects + 1)) < 1e-6:
        return (f"the sum of the {objects} objects' accuracies divided by "
                f"{objects + 1}, N + 1 instead of N")
    return None


@_refusing_invalid("tie_accuracy")
def check_test_model_probe(points: float, record: StepRecord) -> Check:
    """Judge test_model() driven by the probe model whose outputs we chose."""
    if not record.ok:
        return step_failed("tie_accuracy", points, record,
                           "test_model() on the grader's probe model")
    cases = _probes.TIE_CASES
    got = record.values.get("accuracy")
    calls = record.values.get("calls")
    outputs, true_classes = _probes.tie_probe_arrays()
    expected = tie_aware_accuracy(outputs, true_classes)
    details = [
        f"probe: {len(cases)} test objects with chosen outputs; "
        f"the tie-aware accuracy is {expected:.4f}"
    ] + [f"object {i}: {c.purpose}" for i, c in enumerate(cases)]
    if not isinstance(got, float):
        return _check("tie_accuracy", points, False,
                      f"test_model() should return the accuracy as a number, it "
                      f"returned {_shorten(got)}.", None, details)
    if not math.isfinite(got):
        return _check("tie_accuracy", points, False,
                      f"test_model() returned {got}; return the accuracy as a "
                      f"number between 0 and 1 (here {expected:.4f}).", None, details)
    if abs(got - expected) < 1e-6:
        return _check("tie_accuracy", points, True,
                      "test_model() gives the tie-aware accuracy on outputs with "
                      "ties of every size.", None, details)
    scaled = _scaled_accuracy(got, expected, len(cases))
    if scaled is not None:
        # The tie rule is right; the scale is the reported accuracy's defect,
        # and that check takes the points for it, not this one too.
        return _check("tie_accuracy", points, True,
                      "test_model() applies the tie rule correctly on outputs with "
                      f"ties of every size, but it returns {got:.4f} where the "
                      f"tie-aware accuracy is {expected:.4f}: {scaled}. The "
                      "Reported accuracy check takes the points for that.", None,
                      details)
    if isinstance(calls, list) and "evaluate" in calls:
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
    return _check("tie_accuracy", points, False,
                  f"test_model() returned {got:.4f} on outputs whose tie-aware "
                  f"accuracy is {expected:.4f}.", None, details)


# -- architecture -------------------------------------------------------------

def _model_layers(record: StepRecord, call: str) -> tuple[dict, list[dict]]:
    """The model description of a child's record, checked for its shape."""
    model = record.values.get("model")
    layers = model.get("layers") if isinstance(model, dict) else None
    if not isinstance(model, dict) or not isinstance(layers, list) or not all(
            isinstance(layer, dict) and isinstance(layer.get("class"), str)
            for layer in layers):
        raise InvalidValue(
            f"The grader could not read the description of the model {call} "
            f"built (found {_shorten(model)}).")
    return model, layers


@_refusing_invalid("architecture")
def check_architecture(points: float, record: StepRecord, settings,
                       number_of_classes: int, output_activations: tuple[str, ...],
                       call: str) -> Check:
    if not record.ok:
        return step_failed("architecture", points, record, call)
    model, layers = _model_layers(record, call)
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
        f"found: {_shorten(found, 600) or 'no Dense layer'}",
        f"loss: {_shorten(model.get('loss'))}, "
        f"optimizer: {_shorten(model.get('optimizer'))} "
        f"(learning rate {_format_rate(model.get('learning_rate'))})",
    ]
    if others:
        return _check("architecture", points, False,
                      "The model has layers other than Dense "
                      f"({_shorten(', '.join(others), 300)}); the assignment allows "
                      "Dense layers only.", None, details)
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
                      f"The output layer has {_shorten(output.get('units'))} units; "
                      f"it needs one per class, {number_of_classes}. Count the "
                      "classes from the mapped labels, not from the largest label "
                      "value.",
                      Defect(5, "output layer of the wrong size"), details)
    for index, (layer, units, activation) in enumerate(
            zip(hidden, settings.units_per_layer, settings.hidden_activations), 1):
        if (layer.get("units") != units
                or canonical_activation(layer.get("activation"))
                != canonical_activation(activation)):
            found = (f"Dense({_shorten(layer.get('units'))}, "
                     f"{_shorten(layer.get('activation'))})")
            return _check("architecture", points, False,
                          f"Hidden layer {index} is {found}; the settings ask for "
                          f"Dense({units}, {activation}).", None, details)
    if output.get("activation") not in output_activations:
        return _check("architecture", points, False,
                      f"The output layer uses {_shorten(output.get('activation'))}; "
                      f"expected {' or '.join(output_activations)}.", None, details)
    problem = _training_setup_problem(model)
    if problem is not None:
        return _check("architecture", points, False, problem, None, details)
    return _check("architecture", points, True,
                  f"{expected_hidden} hidden layers with the requested units and "
                  f"activations, and {number_of_classes} output units, trained "
                  "with Adam on a cross-entropy loss.", None, details)


#: Cross-entropy losses by the names Keras gives them, written without
#: underscores or case: the string, the class and the function all match.
_CROSS_ENTROPY = ("categoricalcrossentropy", "sparsecategoricalcrossentropy")
#: Keras's default learning rate for Adam, the only setting the assignment
#: lets a student pass (by leaving it out).
_ADAM_LEARNING_RATE = 0.001


def _training_setup_problem(model: dict) -> str | None:
    """What breaks the assignment's rule of Adam with its defaults and a
    categorical cross-entropy loss, or None."""
    loss = model.get("loss")
    if not isinstance(loss, str) or loss.replace("_", "").lower() not in _CROSS_ENTROPY:
        return (f"The model is compiled with the loss {_shorten(loss)}; the "
                "assignment asks for categorical cross-entropy "
                "('categorical_crossentropy', or 'sparse_categorical_crossentropy' "
                "for integer labels).")
    optimizer = model.get("optimizer")
    if optimizer != "Adam":
        return (f"The model is compiled with the optimizer {_shorten(optimizer)}; "
                "the assignment asks for Adam with its default settings "
                "(optimizer='adam').")
    rate = model.get("learning_rate")
    if rate == "schedule" or isinstance(rate, (int, float)) and not math.isclose(
            rate, _ADAM_LEARNING_RATE, rel_tol=1e-6):
        return (f"Adam's learning rate is {_format_rate(rate)}; the assignment asks "
                f"for its default, {_ADAM_LEARNING_RATE:g}: leave the argument out.")
    return None


def _format_rate(rate: Any) -> str:
    if rate == "schedule":
        return "a schedule"
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        return f"{rate:g}"
    return _shorten(rate)


# -- accuracy -----------------------------------------------------------------

#: How far a reported accuracy may be from the model's own and still match.
_REPORT_TOLERANCE = 0.0015


@_refusing_invalid("test_accuracy", with_accuracy=True)
def check_test_accuracy(points: float, record: StepRecord, reference: Reference,
                        tolerance: float, call: str) -> tuple[Check, float | None]:
    if not record.ok:
        return step_failed("test_accuracy", points, record, call), None
    outputs = record.array("outputs")
    labels = reference.test_labels.ravel()
    kind = _not_numbers(outputs)
    if kind is not None:
        return _check("test_accuracy", points, False,
                      f"The model's outputs on the test objects are {kind}; "
                      "expected numbers.", None), None
    if outputs.ndim != 2 or outputs.shape[0] != labels.size:
        return _check("test_accuracy", points, False,
                      f"The model's outputs on the {labels.size} test objects have "
                      f"shape {outputs.shape}; expected ({labels.size}, classes).",
                      None), None
    if not np.isfinite(outputs).all():
        rows = int((~np.isfinite(outputs)).any(axis=1).sum())
        return _check("test_accuracy", points, False,
                      f"The model's outputs hold NaN or infinite values for {rows} "
                      f"of the {labels.size} test objects, so no class can be "
                      "read from them; training has likely diverged.", None), None
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
                            source: str, test_objects: int | None = None) -> Check:
    """Judge the accuracy a submission reports against its model's outputs.

    Args:
        reported: What the submission returned or printed.
        actual: The tie-aware accuracy of the model's outputs, or None when
            there are no outputs.
        source: Who reported it, starting the student's sentence.
        test_objects: The number N of test objects; when given, an accuracy
            divided by N + 1 instead of N is recognized.
    """
    if actual is None:
        return not_run("reported_accuracy", points,
                       "Not checked: there are no model outputs to compare with.")
    if not isinstance(reported, float):
        return _check("reported_accuracy", points, False,
                      f"{source} gave no accuracy as a number "
                      f"(got {_shorten(reported)}).")
    details = [f"reported: {reported:.4f}; tie-aware accuracy of the model's own "
               f"outputs: {actual:.4f}"]
    if not math.isfinite(reported):
        return _check("reported_accuracy", points, False,
                      f"{source} reports {reported}, not an accuracy between 0 and "
                      f"1; the model's outputs give {actual:.4f}.", None, details)
    if abs(reported - actual) <= _REPORT_TOLERANCE:
        return _check("reported_accuracy", points, True,
                      f"{source} reports {reported:.4f}, the tie-aware accuracy of "
                      "the model's outputs.", None, details)
    if abs(reported - actual * 100) <= 100 * _REPORT_TOLERANCE:
        return _check("reported_accuracy", points, False,
                      f"{source} reports a percentage ({reported:.2f}); report a "
                      "fraction between 0 and 1.",
                      Defect(10, "accuracy as a percentage"), details)
    if (isinstance(test_objects, int) and test_objects > 0
            and abs(reported - actual * test_objects / (test_objects + 1))
            <= _REPORT_TOLERANCE):
        return _check("reported_accuracy", points, False,
                      f"{source} reports {reported:.4f}, which is the tie-aware "
                      f"accuracy {actual:.4f} times N/(N + 1) for the N = "
                      f"{test_objects} test objects: the sum of the objects' "
                      "accuracies is divided by N + 1. Divide it by the number of "
                      "test objects.",
                      Defect(10, "overall accuracy divided by N + 1"), details)
    return _check("reported_accuracy", points, False,
                  f"{source} reports {reported:.4f}, but the tie-aware accuracy of "
                  f"the model's outputs is {actual:.4f}.", None, details)


# -- form B: values recorded from the Keras calls -----------------------------

def _labels_as_classes(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] > 1:
        return np.argmax(labels, axis=1)
    return labels.ravel()


@_refusing_invalid("loader")
def check_fit_labels(points: float, record: StepRecord, reference: Reference,
                     call: str = "nn_keras()") -> Check:
    """Forms B and C: judge the loaded training set through what reached fit()."""
    if not record.has_array("fit_labels"):
        return step_failed("loader", points, record, call,
                           set(reference.ints_to_labels.values()))
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
    if labels.dtype.kind in "US":
        examples = ", ".join(str(token) for token in labels.ravel()[:3])
        return _check("loader", points, False,
                      "The training labels passed to fit() are strings (such as "
                      f"{_shorten(examples)}): the label tokens as the file holds "
                      "them. Keras trains on numbers, so map the labels to integers "
                      "0..K-1 in order of first appearance, training file first.",
                      Defect(12, "string labels passed to fit()"), details)
    _require_finite_numbers(labels, "Your code passed fit() training labels")
    got = _labels_as_classes(labels)
    if got.shape != want.shape or not np.array_equal(got, want):
        return _check("loader", points, False,
                      "The training labels passed to fit() do not follow the "
                      "course mapping (integers 0..K-1 by first appearance, training "
                      "file first).", Defect(6, "label mapping differs from the "
                                                "course's"), details)
    return _check("loader", points, True,
                  "The training inputs and labels your code passed to fit() match "
                  "the course loader.", None, details)


@_refusing_invalid("normalization")
def check_fit_inputs(points: float, record: StepRecord, reference: Reference,
                     call: str = "nn_keras()") -> Check:
    """Forms B and C: judge normalization through the inputs that reached fit()."""
    if not record.has_array("fit_inputs"):
        return step_failed("normalization", points, record, call)
    got = record.array("fit_inputs")
    raw = reference.training_inputs
    scale = normalization_scale(raw)
    if got.shape != raw.shape:
        return _check("normalization", points, False,
                      "Not checked: the inputs passed to fit() do not have the "
                      "training file's shape.")
    _require_finite_numbers(got, "Your code passed fit() training inputs")
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
