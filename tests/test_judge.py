"""The parent's judges: what a child returned becomes a check, never a crash.

Each test writes step records the way a child leaves them (``.npy`` arrays
and a JSON record in an ``out`` folder) and judges them directly; no child
runs and no model trains. A value that cannot be judged must fail its check
with a message for the student, since one exception in the parent would
lose the results of the whole class.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from grader import _judge, _probes
from grader._child import _as_float
from grader import _records
from grader._judge import Reference
from grader._records import (ChannelWriter, InvalidValue, StepRecord, npy_bytes,
                             parse_channel)
from grader._result import Check
from grader._spec import RunSettings
from reference import load_dataset, object_accuracy, tie_aware_accuracy

POINTS = 2.0


def make_record(out: Path, step: str, arrays: dict | None = None,
                values: dict | None = None, ok: bool = True,
                error: dict | None = None) -> StepRecord:
    """Send a step's record over a real channel, as a child does, and read it back."""
    out.mkdir(parents=True, exist_ok=True)
    stream = out / f"{step}.channel"
    with stream.open("wb") as sink:
        images = {name: npy_bytes(np.asarray(array))
                  for name, array in (arrays or {}).items()}
        ChannelWriter(sink.fileno()).send(
            {"id": step, "ok": ok, "values": values or {}, "error": error or {}},
            images)
    return parse_channel(stream.read_bytes()).records[step]


def assert_failed(check: Check, name: str, message: str) -> None:
    assert isinstance(check, Check)
    assert (check.name, check.status, check.points) == (name, "failed", 0.0)
    assert re.search(message, check.message), check.message


def spoil(record: StepRecord, name: str, content: bytes = b"junk") -> None:
    """Replace a sent array with bytes that are not a plain .npy image."""
    record.blobs[name] = content


# -- reading arrays back -------------------------------------------------------

def test_array_reads_back_what_the_child_sent(tmp_path: Path):
    record = make_record(tmp_path, "normalize", {"training": np.eye(3)})

    assert np.array_equal(record.array("training"), np.eye(3))


def _pickled() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _truncated() -> bytes:
    return npy_bytes(np.arange(1000.0))[:200]


def _huge_header() -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    return buffer.getvalue() + b"\0" * 16


@pytest.mark.parametrize(("blob", "reason"), [
    (None, "the step sent no array 'training'"),
    (b"junk", "it is not a valid .npy image"),
    (b"", "it is not a valid .npy image"),
    (_pickled(), "it holds pickled Python objects"),
    (_truncated(), "it is shorter than its header says"),
    (_huge_header(), "it is shorter than its header says"),
], ids=["missing", "junk", "empty", "pickled", "truncated", "huge-header"])
def test_array_refuses_bytes_that_are_not_a_plain_npy(blob, reason):
    record = StepRecord("normalize", True,
                        blobs={} if blob is None else {"training": blob})

    with pytest.raises(InvalidValue, match=re.escape(
            "The grader could not read back the array 'training' sent by step "
            f"'normalize': {reason}")):
        record.array("training")


def test_array_refuses_an_image_over_the_size_limit(tmp_path, monkeypatch):
    record = make_record(tmp_path, "train", {"outputs": np.zeros((100, 10))})
    monkeypatch.setattr(_records, "MAX_ARRAY_BYTES", 1000)

    with pytest.raises(InvalidValue, match="larger than the limit of 1000 bytes"):
        record.array("outputs")


def test_channel_stops_at_garbage_and_keeps_what_came_before(tmp_path):
    record = make_record(tmp_path, "normalize", {"training": np.eye(2)})
    garbage = b"\x00\x00\x00\x09{not json"
    stream = (tmp_path / "normalize.channel").read_bytes() + garbage

    parsed = parse_channel(stream)

    assert np.array_equal(parsed.records["normalize"].array("training"), np.eye(2))
    assert not parsed.finished
    assert "could not all be read" in parsed.problem
    assert record.id == "normalize"


def test_invalid_value_is_a_value_error():
    assert issubclass(InvalidValue, ValueError)


# -- normalization -----------------------------------------------------------

def normalize_record(out: Path, training, test) -> StepRecord:
    return make_record(out, "normalize", {"training": training, "test": test})


def test_normalization_passes_division_by_the_maximum_absolute_value(tmp_path):
    training, test = _probes.normalization_probe()
    scale = np.abs(training).max()

    check = _judge.check_normalization(
        POINTS, normalize_record(tmp_path, training / scale, test / scale))

    assert (check.status, check.points) == ("passed", POINTS)


def test_normalization_names_the_plain_maximum(tmp_path):
    training, test = _probes.normalization_probe()

    check = _judge.check_normalization(POINTS, normalize_record(
        tmp_path, training / training.max(), test / training.max()))

    assert_failed(check, "normalization", "uses the plain maximum")
    assert check.defect.number == 8


def _scaled(transform):
    training, test = _probes.normalization_probe()
    scale = np.abs(training).max()
    return transform(training / scale, test / scale)


@pytest.mark.parametrize(("returned", "message"), [
    (_scaled(lambda a, b: (a.astype(str), b.astype(str))),
     r"^normalize\(\) returned arrays of strings; expected numbers\.$"),
    (_scaled(lambda a, b: (a > 0, b > 0)),
     r"^normalize\(\) returned arrays of booleans; expected numbers\.$"),
    (_scaled(lambda a, b: (a.astype(complex), b)),
     r"^normalize\(\) returned arrays of complex numbers; expected numbers\.$"),
    (_scaled(lambda a, b: (a * np.nan, b)),
     r"^normalize\(\) returned arrays with NaN or infinite values"),
    (_scaled(lambda a, b: (a, b + np.inf)),
     r"^normalize\(\) returned arrays with NaN or infinite values"),
    (_scaled(lambda a, b: (a.T, b)),
     (r"returned arrays of shapes \(4, 12\) and \(6, 4\); expected the shapes "
      r"of its inputs, \(12, 4\) and \(6, 4\)")),
    (_scaled(lambda a, b: (a, b[:, :2])),
     r"returned arrays of shapes \(12, 4\) and \(6, 2\)"),
    (_scaled(lambda a, b: (np.float64(0.5), b)),
     r"returned arrays of shapes \(\) and \(6, 4\)"),
], ids=["strings", "booleans", "complex", "nan", "inf", "transposed",
        "test-columns-dropped", "scalar"])
def test_normalization_fails_on_values_it_cannot_judge(tmp_path, returned, message):
    check = _judge.check_normalization(POINTS, normalize_record(tmp_path, *returned))

    assert_failed(check, "normalization", message)


def test_normalization_fails_on_an_overwritten_array(tmp_path):
    record = normalize_record(tmp_path, *_scaled(lambda a, b: (a, b)))
    spoil(record, "training")

    check = _judge.check_normalization(POINTS, record)

    assert_failed(check, "normalization", r"could not read back the array 'training'")


# -- tie-aware accuracy -------------------------------------------------------

def reference_scores() -> list[float]:
    return [object_accuracy(np.float32(case.outputs), case.true_class)
            for case in _probes.TIE_CASES]


def test_object_accuracy_passes_the_tie_aware_rule(tmp_path):
    record = make_record(tmp_path, "object_accuracy",
                         values={"scores": reference_scores()})

    check = _judge.check_object_accuracy(POINTS, record)

    assert (check.status, check.points) == ("passed", POINTS)


def test_object_accuracy_names_credit_for_the_first_maximum_only(tmp_path):
    scores = [1.0 if int(np.argmax(case.outputs)) == case.true_class else 0.0
              for case in _probes.TIE_CASES]
    record = make_record(tmp_path, "object_accuracy", values={"scores": scores})

    check = _judge.check_object_accuracy(POINTS, record)

    assert_failed(check, "tie_accuracy", "only when the first maximal class")
    assert check.defect.number == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")],
                         ids=["nan", "inf", "minus-inf"])
@pytest.mark.parametrize("where", [0, 5, -1], ids=["first", "middle", "last"])
def test_object_accuracy_counts_a_score_that_is_not_finite_as_wrong(
        tmp_path, bad, where):
    scores = reference_scores()
    scores[where] = bad
    record = make_record(tmp_path, "object_accuracy", values={"scores": scores})

    check = _judge.check_object_accuracy(POINTS, record)

    assert_failed(check, "tie_accuracy", f"yours scored {bad:.4g}")
    assert len(check.details) == 1


def test_object_accuracy_all_nan_fails_without_naming_a_defect(tmp_path):
    scores = [float("nan")] * len(_probes.TIE_CASES)
    record = make_record(tmp_path, "object_accuracy", values={"scores": scores})

    check = _judge.check_object_accuracy(POINTS, record)

    assert_failed(check, "tie_accuracy", "differs from the tie-aware rule")
    assert check.defect is None


@pytest.mark.parametrize(("scores", "message"), [
    (None, "expected 8 scores from object_accuracy"),
    ("0.5", "expected 8 scores from object_accuracy"),
    ([1.0, 0.0], "expected 8 scores from object_accuracy"),
    ([1.0] * 7 + ["0.5"], r"returned '0\.5' for output vector 7; expected a number"),
    ([1.0] * 7 + [None], r"returned None for output vector 7"),
    ([True] * 8, r"returned True for output vector 0"),
    ([[1.0]] * 8, r"returned \[1\.0\] for output vector 0"),
], ids=["missing", "string", "too-few", "string-score", "none-score",
        "booleans", "nested"])
def test_object_accuracy_fails_on_scores_it_cannot_judge(tmp_path, scores, message):
    values = {} if scores is None else {"scores": scores}
    record = make_record(tmp_path, "object_accuracy", values=values)

    check = _judge.check_object_accuracy(POINTS, record)

    assert_failed(check, "tie_accuracy", message)


def probe_accuracy() -> float:
    return tie_aware_accuracy(*_probes.tie_probe_arrays())


def test_test_model_probe_passes_the_tie_aware_accuracy(tmp_path):
    record = make_record(tmp_path, "test_model_probe",
                         values={"accuracy": probe_accuracy(), "calls": ["predict"]})

    check = _judge.check_test_model_probe(POINTS, record)

    assert (check.status, check.points) == ("passed", POINTS)


@pytest.mark.parametrize(("values", "message"), [
    ({"accuracy": float("nan")}, r"returned nan; return the accuracy as a number"),
    ({"accuracy": float("inf")}, r"returned inf; return the accuracy as a number"),
    ({"accuracy": "'0.4375'"}, r"as a number, it returned '0\.4375'"),
    ({"accuracy": "x" * 10_000}, r"it returned x+\.\.\.\.$"),
    ({}, r"as a number, it returned None"),
    ({"accuracy": 0.1, "calls": "evaluate"}, r"returned 0\.1000 on outputs"),
    ({"accuracy": 0.1, "calls": 7}, r"returned 0\.1000 on outputs"),
], ids=["nan", "inf", "string", "long-string", "missing", "calls-string",
        "calls-number"])
def test_test_model_probe_fails_on_values_it_cannot_judge(tmp_path, values, message):
    record = make_record(tmp_path, "test_model_probe", values=values)

    check = _judge.check_test_model_probe(POINTS, record)

    assert_failed(check, "tie_accuracy", message)


@pytest.mark.parametrize(("scale", "how"), [
    (100.0, "a percentage instead of a fraction"),
    (8 / 9, "divided by 9, N \\+ 1 instead of N"),
], ids=["percentage", "n-plus-one"])
def test_test_model_probe_leaves_a_wrongly_scaled_accuracy_to_the_reported_check(
        tmp_path, scale, how):
    # The tie rule is right; charging the scale here too would cost the
    # student two checks for one mistake.
    record = make_record(tmp_path, "test_model_probe",
                         values={"accuracy": probe_accuracy() * scale,
                                 "calls": ["predict"]})

    check = _judge.check_test_model_probe(POINTS, record)

    assert (check.status, check.points, check.defect) == ("passed", POINTS, None)
    assert "applies the tie rule correctly" in check.message
    assert re.search(how, check.message), check.message
    assert "Reported accuracy check takes the points" in check.message


def test_test_model_probe_names_evaluate_accuracy_as_defect_13(tmp_path):
    record = make_record(tmp_path, "test_model_probe",
                         values={"accuracy": 0.25, "calls": ["evaluate", "predict"]})

    check = _judge.check_test_model_probe(POINTS, record)

    assert_failed(check, "tie_accuracy", r"returns Keras evaluate\(\)'s accuracy")
    assert check.defect.number == 13


# -- crashes that show a defect -------------------------------------------------

#: What Keras 3.15 raises when sparse cross-entropy gets one-hot targets.
SPARSE_ONE_HOT = ("Argument `output` must have rank (ndim) `target.ndim - 1`. "
                  "Received: target.shape=(None, 10), output.shape=(None, 10)")


def failed_record(out: Path, step: str, kind: str, message: str) -> StepRecord:
    return make_record(out, step, ok=False, error={
        "type": kind, "message": message,
        "traceback": f"  File \"nn_keras_solution.py\", line 9\n{kind}: {message}\n"})


@pytest.mark.parametrize("name", ["architecture", "test_accuracy"])
def test_a_crash_of_sparse_loss_on_one_hot_targets_is_defect_12(tmp_path, name):
    record = failed_record(tmp_path, "train", "ValueError", SPARSE_ONE_HOT)

    check = _judge.step_failed(name, POINTS, record, "create_and_train_model()")

    assert_failed(check, name, re.escape(
        "create_and_train_model() did not finish: ValueError: Argument `output` "
        "must have rank (ndim)"))
    assert "one-hot vectors, but sparse categorical cross-entropy" in check.message
    assert (check.defect.number, check.defect.name) == (
        12, "sparse loss given one-hot targets")
    assert "line 9" in check.details[0]


@pytest.mark.parametrize("message", [
    "could not convert string to float: 'one'",
    "could not convert string to float: np.str_('one')",
    "could not convert string 'one' to float64 at row 1, column 3.",
], ids=["float", "numpy-astype", "numpy-loadtxt"])
def test_a_label_read_as_a_number_is_defect_12(tmp_path, message):
    record = failed_record(tmp_path, "nn_keras", "ValueError", message)

    check = _judge.check_fit_labels(POINTS, record, fit_reference())

    assert_failed(check, "loader", "nn_keras\\(\\) did not finish: ValueError")
    assert "reads the class label 'one' as a number" in check.message
    assert (check.defect.number, check.defect.name) == (
        12, "string labels parsed as floats")


@pytest.mark.parametrize(("kind", "message"), [
    ("ValueError", "could not convert string to float: '?'"),
    ("ValueError", "could not convert string to float: ''"),
    ("TypeError", "could not convert string to float: 'one'"),
    ("ValueError", "something else entirely"),
], ids=["not-a-label", "empty", "other-type", "other-error"])
def test_other_crashes_name_no_defect(tmp_path, kind, message):
    record = failed_record(tmp_path, "nn_keras", kind, message)

    check = _judge.check_fit_labels(POINTS, record, fit_reference())

    assert_failed(check, "loader", "nn_keras\\(\\) did not finish")
    assert check.defect is None


# -- loader -------------------------------------------------------------------

COURSE_TRAINING = "1 2 8\n3 4 1\n5 6 8\n7 8 3\n"
COURSE_TEST = "2 2 1\n4 4 3\n6 6 8\n"


@pytest.fixture
def loader_setup(tmp_path: Path):
    """The reference's view of a small course set and of the probe files."""
    course = tmp_path / "data"
    course.mkdir()
    (course / "toy_training.txt").write_text(COURSE_TRAINING)
    (course / "toy_test.txt").write_text(COURSE_TEST)
    _probes.write_loader_probe(tmp_path / "probe")
    loaded = load_dataset(course, "toy")
    (train_x, train_y), (test_x, test_y), mapping = loaded
    reference = Reference(train_x, train_y, test_x, test_y, mapping, [0.9])
    probe = load_dataset(tmp_path / "probe", _probes.LOADER_PROBE_NAME)
    return tmp_path / "out", reference, loaded, probe


#: Stands for "the pairs of the loader's own mapping" in loader_record().
OWN_MAPPING = object()


def loader_record(out: Path, step: str, loaded,
                  mapping_value: object = OWN_MAPPING) -> StepRecord:
    (train_x, train_y), (test_x, test_y), mapping = loaded
    if mapping_value is OWN_MAPPING:
        mapping_value = [[str(k), str(v)] for k, v in mapping.items()]
    return make_record(out, step, {
        "training_inputs": train_x, "training_labels": train_y,
        "test_inputs": test_x, "test_labels": test_y,
    }, {"ints_to_labels": mapping_value})


def check_loader(setup, course_loaded=None, probe_loaded=None,
                 course_mapping: object = OWN_MAPPING) -> Check:
    out, reference, course, probe = setup
    return _judge.check_loader(
        POINTS,
        loader_record(out, "load_course", course_loaded or course, course_mapping),
        loader_record(out, "load_probe", probe_loaded or probe),
        reference, probe)


def relabelled(loaded, train_mapping: dict, test_mapping: dict):
    """A loader's result on the probe files with its own label numbering."""
    def tokens(text: str) -> list[str]:
        return [line.split()[-1] for line in text.splitlines()]

    (train_x, _), (test_x, _), _ = loaded
    train_y = [train_mapping[t] for t in tokens(_probes.LOADER_PROBE_TRAINING)]
    test_y = [test_mapping[t] for t in tokens(_probes.LOADER_PROBE_TEST)]
    mapping = {number: label for label, number in test_mapping.items()}
    return ((train_x, np.array(train_y).reshape(-1, 1)),
            (test_x, np.array(test_y).reshape(-1, 1)), mapping)


def test_loader_passes_the_reference_loaders_result(loader_setup):
    check = check_loader(loader_setup)

    assert (check.status, check.points) == ("passed", POINTS)


SORTED_BOTH = {"alpha": 0, "beta": 1, "delta": 2, "gamma": 3}
FIRST_TRAINING = {"beta": 0, "alpha": 1, "gamma": 2}
SORTED_TRAINING = {"alpha": 0, "beta": 1, "gamma": 2}
TEST_BY_APPEARANCE = {"gamma": 0, "delta": 1, "alpha": 2, "beta": 3}


@pytest.mark.parametrize(("train_mapping", "test_mapping", "message", "name",
                          "got_test"), [
    (SORTED_BOTH, SORTED_BOTH,
     "numbers the labels in sorted order instead of in order of first appearance",
     "labels numbered in sorted order", "3, 2, 0, 1"),
    (SORTED_TRAINING, {**SORTED_TRAINING, "delta": 3},
     "numbers the labels in sorted order instead of in order of first appearance",
     "labels numbered in sorted order", "2, 3, 0, 1"),
    (FIRST_TRAINING, TEST_BY_APPEARANCE,
     "numbers the test file's labels with a mapping of its own",
     "separate label mapping for the test file", "0, 1, 2, 3"),
    (FIRST_TRAINING, SORTED_BOTH,
     "numbers the test file's labels with a mapping of its own",
     "separate label mapping for the test file", "3, 2, 0, 1"),
    (SORTED_TRAINING, SORTED_BOTH,
     ("sorts the labels of each file on its own: it numbers them in sorted order "
      "instead of in order of first appearance, and it gives the test file a "
      "separate mapping"),
     "labels sorted, with a separate mapping for the test file", "3, 2, 0, 1"),
], ids=["sorted-over-both-files", "sorted-then-continued", "test-by-appearance",
        "test-sorted-alone", "each-file-sorted-alone"])
def test_loader_names_how_the_label_mapping_drifts(
        loader_setup, train_mapping, test_mapping, message, name, got_test):
    probe = relabelled(loader_setup[3], train_mapping, test_mapping)

    check = check_loader(loader_setup, probe_loaded=probe)

    assert_failed(check, "loader", re.escape(message))
    assert (check.defect.number, check.defect.name) == (6, name)
    assert (f"test classes should be 2, 3, 1, 0; yours are {got_test}."
            in check.message)
    assert ("grader's edge-case files: test labels gamma, delta, alpha, beta "
            f"should be classes 2, 3, 1, 0; yours are {got_test}" in check.details)
    assert any(line.startswith("grader's edge-case files: training labels beta, "
                               "alpha, beta, gamma should be classes 0, 1, 0, 2")
               for line in check.details)


@pytest.mark.parametrize(("train_mapping", "test_mapping", "got_test"), [
    (FIRST_TRAINING, {"gamma": 1, "delta": 1, "alpha": 1, "beta": 1}, "1, 1, 1, 1"),
    # Test labels alone fit a mapping of the test file's own, but training
    # labels that fit no known mistake leave the cause open.
    ({"beta": 0, "alpha": 1, "gamma": 3}, TEST_BY_APPEARANCE, "0, 1, 2, 3"),
], ids=["all-one-class", "training-odd"])
def test_loader_with_other_wrong_labels_names_no_defect_but_shows_them(
        loader_setup, train_mapping, test_mapping, got_test):
    probe = relabelled(loader_setup[3], train_mapping, test_mapping)

    check = check_loader(loader_setup, probe_loaded=probe)

    assert_failed(check, "loader", "does not match the reference loader")
    assert check.defect is None
    assert ("grader's edge-case files: test labels gamma, delta, alpha, beta "
            f"should be classes 2, 3, 1, 0; yours are {got_test}" in check.details)


def test_loader_details_show_at_most_20_classes(loader_setup):
    (train_x, train_y), test, mapping = loader_setup[3]
    probe = ((train_x, np.arange(1000).reshape(-1, 1)), test, mapping)

    check = check_loader(loader_setup, probe_loaded=probe)

    line = next(d for d in check.details if "training labels beta" in d)
    assert line.endswith("yours are " + ", ".join(map(str, range(20))) + ", ...")


def _replace(loaded, which: int, position: int, value):
    parts = [list(loaded[0]), list(loaded[1])]
    parts[which][position] = value
    return (tuple(parts[0]), tuple(parts[1]), loaded[2])


@pytest.mark.parametrize(("change", "problem"), [
    (lambda l: _replace(l, 0, 1, l[0][1].astype(str)),
     "training_labels: expected integers, got strings"),
    (lambda l: _replace(l, 1, 1, l[1][1] > 0),
     "test_labels: expected integers, got booleans"),
    (lambda l: _replace(l, 0, 0, l[0][0].astype(str)),
     "training_inputs: expected numbers, got strings"),
    (lambda l: _replace(l, 1, 0, l[1][0] * np.nan),
     "test_inputs: holds NaN or infinite values"),
    (lambda l: _replace(l, 0, 1, l[0][1] * np.nan),
     "training_labels: object 0 should have class 0, got nan"),
    (lambda l: _replace(l, 1, 0, l[1][0][:2]),
     r"test_inputs: expected shape (3, 2), got (2, 2)"),
], ids=["string-labels", "bool-labels", "string-inputs", "nan-inputs",
        "nan-labels", "short-inputs"])
def test_loader_fails_on_course_values_it_cannot_use(loader_setup, change, problem):
    check = check_loader(loader_setup, course_loaded=change(loader_setup[2]))

    assert_failed(check, "loader", "does not match the reference loader")
    assert f"course data: {problem}" in check.details


@pytest.mark.parametrize("probe_change", [
    lambda l: _replace(l, 1, 1, l[1][1].astype(str)),
    lambda l: _replace(l, 1, 1, l[1][1] * np.nan),
    lambda l: _replace(l, 1, 1, np.zeros((2, 3, 4))),
], ids=["string-labels", "nan-labels", "3-d-labels"])
def test_loader_fails_on_probe_labels_it_cannot_use(loader_setup, probe_change):
    check = check_loader(loader_setup, probe_loaded=probe_change(loader_setup[3]))

    assert_failed(check, "loader", "does not match the reference loader")


@pytest.mark.parametrize("mapping", [
    None, 5, "not a mapping: int", [[1]], [["0", 8]], [["0"] * 3], {"0": "8"},
    [[str(i), "x" * 100] for i in range(5000)],
], ids=["null", "number", "child-note", "short-pair", "number-label",
        "long-pair", "dict", "huge"])
def test_loader_fails_on_a_mapping_it_cannot_read(loader_setup, mapping):
    check = check_loader(loader_setup, course_mapping=mapping)

    assert_failed(check, "loader", "does not match the reference loader")
    mapping_lines = [d for d in check.details if "ints_to_labels" in d]
    assert len(mapping_lines) == 1 and len(mapping_lines[0]) < 500


def test_loader_fails_on_an_overwritten_array(loader_setup):
    out, reference, course, probe = loader_setup
    course_record = loader_record(out, "load_course", course)
    probe_record = loader_record(out, "load_probe", probe)
    spoil(probe_record, "test_labels", b"\x93NUMPY garbage")

    check = _judge.check_loader(POINTS, course_record, probe_record, reference, probe)

    assert_failed(check, "loader", "could not read back the array 'test_labels' "
                                   "sent by step 'load_probe'")


def test_a_loader_that_reads_the_probes_labels_as_numbers_is_defect_12(loader_setup):
    # The course set's labels are numbers; the grader's edge-case files have
    # words for labels, so a float() on the label shows there.
    out, reference, course, probe = loader_setup
    course_record = loader_record(out, "load_course", course)
    probe_record = failed_record(out, "load_probe", "ValueError",
                                 "could not convert string to float: 'beta'")

    check = _judge.check_loader(POINTS, course_record, probe_record, reference, probe)

    assert_failed(check, "loader", r"load_dataset\(\) did not finish")
    assert check.defect.number == 12
    assert "reads the class label 'beta' as a number" in check.message


# -- architecture -------------------------------------------------------------

SETTINGS = RunSettings("toy", 4, (5, 3), ("relu", "swish"), 2, (5, 3))


def model_values(*layers, loss="categorical_crossentropy", optimizer="Adam",
                 learning_rate=0.001) -> dict:
    return {"model": {
        "layers": [{"class": "Dense", "units": u, "activation": a} for u, a in layers],
        "loss": loss, "optimizer": optimizer, "learning_rate": learning_rate,
    }}


def check_architecture(record: StepRecord) -> Check:
    return _judge.check_architecture(POINTS, record, SETTINGS, 3, ("softmax",),
                                     "create_and_train_model()")


def test_architecture_passes_the_requested_layers(tmp_path):
    # Keras reports "swish" as "silu"; the spec's name must still match.
    record = make_record(tmp_path, "train", values=model_values(
        (5, "relu"), (3, "silu"), (3, "softmax")))

    check = check_architecture(record)

    assert (check.status, check.points) == ("passed", POINTS)


@pytest.mark.parametrize("loss", [
    "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
    "CategoricalCrossentropy"])
def test_architecture_accepts_either_cross_entropy_by_any_keras_name(tmp_path, loss):
    record = make_record(tmp_path, "train", values=model_values(
        (5, "relu"), (3, "silu"), (3, "softmax"), loss=loss))

    assert check_architecture(record).status == "passed"


@pytest.mark.parametrize(("setup", "message"), [
    ({"loss": "mean_squared_error"},
     r"compiled with the loss mean_squared_error; the assignment asks for "
     r"categorical cross-entropy"),
    ({"loss": None}, r"compiled with the loss None"),
    ({"optimizer": "SGD"},
     r"compiled with the optimizer SGD; the assignment asks for Adam"),
    ({"learning_rate": 0.01},
     r"Adam's learning rate is 0.01; the assignment asks for its default, 0.001"),
    ({"learning_rate": "schedule"},
     r"Adam's learning rate is a schedule; the assignment asks for its default"),
], ids=["mse", "no-loss", "sgd", "learning-rate", "schedule"])
def test_architecture_holds_the_training_setup_to_adam_and_cross_entropy(
        tmp_path, setup, message):
    record = make_record(tmp_path, "train", values=model_values(
        (5, "relu"), (3, "silu"), (3, "softmax"), **setup))

    check = check_architecture(record)

    assert_failed(check, "architecture", message)
    assert check.defect is None


def test_architecture_still_names_an_extra_hidden_layer(tmp_path):
    record = make_record(tmp_path, "train", values=model_values(
        (5, "relu"), (3, "silu"), (3, "relu"), (3, "softmax")))

    check = check_architecture(record)

    assert_failed(check, "architecture", "Wrong number of hidden layers")
    assert check.defect.number == 4


@pytest.mark.parametrize("values", [
    {}, {"model": None}, {"model": "Sequential"}, {"model": {"layers": 3}},
    {"model": {"layers": [3, 4]}}, {"model": {"layers": [{"units": 3}]}},
    {"model": {"layers": [{"class": ["Dense"]}]}},
], ids=["missing", "null", "string", "layers-number", "layers-numbers",
        "layer-without-class", "class-list"])
def test_architecture_fails_on_a_description_it_cannot_read(tmp_path, values):
    record = make_record(tmp_path, "train", values=values)

    check = check_architecture(record)

    assert_failed(check, "architecture", r"could not read the description of the "
                                         r"model create_and_train_model\(\) built")


@pytest.mark.parametrize("layer", [
    {"class": "Dense", "units": [5], "activation": ["relu"]},
    {"class": "Dense", "units": "5", "activation": None},
    {"class": "Dense"},
], ids=["lists", "string-units", "bare"])
def test_architecture_fails_on_odd_layer_fields(tmp_path, layer):
    values = model_values((3, "silu"), (3, "softmax"))
    values["model"]["layers"].insert(0, layer)
    record = make_record(tmp_path, "train", values=values)

    check = check_architecture(record)

    assert_failed(check, "architecture", "Hidden layer 1 is Dense")


# -- test accuracy ------------------------------------------------------------

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 0])


def accuracy_reference() -> Reference:
    return Reference(np.zeros((8, 2)), LABELS.reshape(-1, 1), np.zeros((8, 2)),
                     LABELS.reshape(-1, 1), {0: "a", 1: "b", 2: "c"}, [0.8, 0.9])


def check_test_accuracy(record: StepRecord) -> tuple[Check, float | None]:
    return _judge.check_test_accuracy(POINTS, record, accuracy_reference(), 0.05,
                                      "create_and_train_model()")


def test_test_accuracy_passes_outputs_as_good_as_the_reference(tmp_path):
    record = make_record(tmp_path, "train", {"outputs": np.eye(3)[LABELS]})

    check, accuracy = check_test_accuracy(record)

    assert (check.status, accuracy) == ("passed", 1.0)


@pytest.mark.parametrize(("outputs", "message"), [
    (np.eye(3)[LABELS].astype(str),
     r"outputs on the test objects are strings; expected numbers"),
    (np.eye(3)[LABELS] > 0, r"outputs on the test objects are booleans"),
    (np.full((8, 3), np.nan), r"NaN or infinite values for 8 of the 8 test objects"),
    (np.where(np.eye(3)[LABELS] > 0, np.inf, 0), r"NaN or infinite values for 8 "),
    (np.eye(3), r"have shape \(3, 3\); expected \(8, classes\)"),
    (np.zeros(8), r"have shape \(8,\); expected \(8, classes\)"),
], ids=["strings", "booleans", "nan", "inf", "too-few-rows", "1-d"])
def test_test_accuracy_fails_on_outputs_it_cannot_judge(tmp_path, outputs, message):
    record = make_record(tmp_path, "train", {"outputs": outputs})

    check, accuracy = check_test_accuracy(record)

    assert_failed(check, "test_accuracy", message)
    assert accuracy is None


def test_test_accuracy_fails_on_an_overwritten_array(tmp_path):
    record = make_record(tmp_path, "train", {"outputs": np.eye(3)[LABELS]})
    spoil(record, "outputs")

    check, accuracy = check_test_accuracy(record)

    assert_failed(check, "test_accuracy", "could not read back the array 'outputs'")
    assert accuracy is None


# -- reported accuracy --------------------------------------------------------

SOURCE = "test_model() on your trained model"


def test_reported_accuracy_passes_the_models_own_accuracy():
    check = _judge.check_reported_accuracy(POINTS, 0.8123, 0.8125, SOURCE, 3498)

    assert check.status == "passed"


def test_reported_accuracy_names_division_by_n_plus_1():
    actual, n = 30 / 45, 45

    check = _judge.check_reported_accuracy(POINTS, 30 / 46, actual, SOURCE, n)

    assert_failed(check, "reported_accuracy", re.escape(
        "reports 0.6522, which is the tie-aware accuracy 0.6667 times N/(N + 1) "
        "for the N = 45 test objects"))
    assert (check.defect.number, check.defect.name) == (
        10, "overall accuracy divided by N + 1")


def test_reported_accuracy_needs_n_to_name_division_by_n_plus_1():
    check = _judge.check_reported_accuracy(POINTS, 30 / 46, 30 / 45, SOURCE)

    assert_failed(check, "reported_accuracy", "but the tie-aware accuracy")
    assert check.defect is None


def test_reported_accuracy_still_names_a_percentage():
    check = _judge.check_reported_accuracy(POINTS, 81.25, 0.8125, SOURCE, 100)

    assert_failed(check, "reported_accuracy", "reports a percentage")
    assert check.defect.number == 10


@pytest.mark.parametrize(("reported", "message"), [
    (float("nan"), r"reports nan, not an accuracy between 0 and 1"),
    (float("inf"), r"reports inf, not an accuracy between 0 and 1"),
    ("'0.8125'", r"gave no accuracy as a number \(got '0\.8125'\)"),
    (None, r"gave no accuracy as a number \(got None\)"),
    ([0.8125], r"gave no accuracy as a number"),
    (True, r"gave no accuracy as a number \(got True\)"),
], ids=["nan", "inf", "string", "none", "list", "bool"])
def test_reported_accuracy_fails_on_values_it_cannot_judge(reported, message):
    check = _judge.check_reported_accuracy(POINTS, reported, 0.8125, SOURCE, 40)

    assert_failed(check, "reported_accuracy", message)


def test_a_printed_accuracy_too_long_for_a_float_is_judged_as_infinite():
    reported = float("9" * 400)

    check = _judge.check_reported_accuracy(POINTS, reported, 0.8125, SOURCE, 40)

    assert_failed(check, "reported_accuracy", "reports inf")


# -- form B: what reached fit() -----------------------------------------------

def fit_reference() -> Reference:
    inputs = np.array([[1.0, -4.0], [2.0, 3.0], [0.5, 1.0], [8.0, 2.0]])
    labels = np.array([[0], [1], [0], [2]])
    return Reference(inputs, labels, inputs[:2], labels[:2],
                     {0: "8", 1: "one", 2: "x"}, [0.9])


def fit_record(out: Path, inputs=None, labels=None) -> StepRecord:
    reference = fit_reference()
    scaled = reference.training_inputs / 8.0
    return make_record(out, "nn_keras", {
        "fit_inputs": scaled if inputs is None else inputs,
        "fit_labels": reference.training_labels if labels is None else labels,
    })


@pytest.mark.parametrize("labels", [
    None, np.array([0, 1, 0, 2]), np.array([0.0, 1.0, 0.0, 2.0]),
    np.eye(3)[[0, 1, 0, 2]],
], ids=["column", "1-d", "floats", "one-hot"])
def test_fit_labels_pass_the_course_mapping(tmp_path, labels):
    check = _judge.check_fit_labels(POINTS, fit_record(tmp_path, labels=labels),
                                    fit_reference())

    assert (check.status, check.points) == ("passed", POINTS)


def test_fit_labels_name_string_labels_as_defect_12(tmp_path):
    tokens = np.array([["8"], ["one"], ["8"], ["x"]])

    check = _judge.check_fit_labels(POINTS, fit_record(tmp_path, labels=tokens),
                                    fit_reference())

    assert_failed(check, "loader", re.escape(
        "The training labels passed to fit() are strings (such as 8, one, 8): the "
        "label tokens as the file holds them."))
    assert (check.defect.number, check.defect.name) == (
        12, "string labels passed to fit()")


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([True, False, True, False]),
     r"passed fit\(\) training labels of booleans; expected numbers"),
    (np.array([0.0, np.nan, 0.0, 2.0]),
     r"passed fit\(\) training labels with NaN or infinite values"),
    (np.array([1, 0, 1, 2]), r"do not follow the course mapping"),
    (np.array([0.0, 1.5, 0.0, 2.0]), r"do not follow the course mapping"),
    (np.array([0, 1, 0]), r"do not follow the course mapping"),
], ids=["booleans", "nan", "other-mapping", "fractions", "too-few"])
def test_fit_labels_fail_on_labels_they_cannot_use(tmp_path, labels, message):
    check = _judge.check_fit_labels(POINTS, fit_record(tmp_path, labels=labels),
                                    fit_reference())

    assert_failed(check, "loader", message)


def test_fit_labels_fail_on_an_overwritten_array(tmp_path):
    record = fit_record(tmp_path)
    spoil(record, "fit_labels")

    check = _judge.check_fit_labels(POINTS, record, fit_reference())

    assert_failed(check, "loader", "could not read back the array 'fit_labels'")


def test_fit_labels_never_saved_means_the_step_failed(tmp_path):
    record = make_record(tmp_path, "nn_keras", ok=False, error={
        "type": "StepFailed", "message": "nn_keras() never called fit()"})

    check = _judge.check_fit_labels(POINTS, record, fit_reference())

    assert_failed(check, "loader", r"nn_keras\(\) did not finish: nn_keras\(\) never")


def test_fit_inputs_pass_division_by_the_maximum_absolute_value(tmp_path):
    check = _judge.check_fit_inputs(POINTS, fit_record(tmp_path), fit_reference())

    assert check.status == "passed"


@pytest.mark.parametrize(("inputs", "message"), [
    (np.array([["1", "-4"], ["2", "3"], ["0.5", "1"], ["8", "2"]]),
     r"passed fit\(\) training inputs of strings; expected numbers"),
    (np.full((4, 2), np.inf), r"passed fit\(\) training inputs with NaN or infinite"),
    (np.zeros((4, 2), dtype=bool), r"training inputs of booleans"),
    (np.zeros((2, 2)), r"do not have the training file's shape"),
], ids=["strings", "inf", "booleans", "shape"])
def test_fit_inputs_fail_on_inputs_they_cannot_use(tmp_path, inputs, message):
    check = _judge.check_fit_inputs(POINTS, fit_record(tmp_path, inputs=inputs),
                                    fit_reference())

    assert_failed(check, "normalization", message)


# -- step failures and odd records -------------------------------------------

def test_step_failed_shows_error_fields_of_any_type(tmp_path):
    record = make_record(tmp_path, "normalize", ok=False, error={
        "type": ["ValueError"], "message": {"text": 1}, "traceback": 42})

    check = _judge.step_failed("normalization", POINTS, record, "normalize()")

    assert_failed(check, "normalization", r"normalize\(\) did not finish")
    assert isinstance(check.message, str) and check.details == ["42"]


ODD_VALUES = [None, 0, -1.5, float("nan"), "x", True, [], [None], {"a": [1]},
              [[1, 2], [3]], "NaN"]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_no_judge_raises_on_odd_record_values(tmp_path, value):
    out = tmp_path / "out"
    odd = {key: value for key in ("scores", "accuracy", "calls", "model",
                                  "ints_to_labels")}
    records = {
        step: make_record(out, step, values=odd)
        for step in ("load_course", "load_probe", "normalize", "object_accuracy",
                     "test_model_probe", "train", "nn_keras")
    }
    reference = accuracy_reference()

    checks = [
        _judge.check_loader(POINTS, records["load_course"], records["load_probe"],
                            reference, (((), ()), ((), ()), {})),
        _judge.check_normalization(POINTS, records["normalize"]),
        _judge.check_object_accuracy(POINTS, records["object_accuracy"]),
        _judge.check_test_model_probe(POINTS, records["test_model_probe"]),
        check_architecture(records["train"]),
        check_test_accuracy(records["train"])[0],
        _judge.check_reported_accuracy(POINTS, value, 0.5, SOURCE, 10),
        _judge.check_fit_labels(POINTS, records["nn_keras"], reference),
        _judge.check_fit_inputs(POINTS, records["nn_keras"], reference),
    ]

    assert all(isinstance(c, Check) and c.status == "failed" for c in checks)
    assert all(isinstance(c.message, str) and c.message for c in checks)


# -- what the child reports as a number ---------------------------------------

class _Tensorish:
    """Anything numpy can read as an array, as a TensorFlow scalar is."""

    def __init__(self, value):
        self.value = value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)


@pytest.mark.parametrize(("value", "expected"), [
    (0.875, 0.875), (1, 1.0), (np.float32(0.5), 0.5), (np.float64(0.25), 0.25),
    (np.int64(1), 1.0), (np.uint8(0), 0.0), (np.array(0.75), 0.75),
    (np.array([0.125]), 0.125), (np.array([[0.5]], dtype=np.float16), 0.5),
    (_Tensorish(np.float32(0.375)), 0.375),
], ids=["float", "int", "float32", "float64", "int64", "uint8", "0-d",
        "one-element", "one-element-2-d", "tensor-like"])
def test_as_float_accepts_real_numbers(value, expected):
    assert _as_float(value) == expected


@pytest.mark.parametrize("value", [
    "0.87", np.str_("0.87"), b"0.87", True, np.bool_(False), np.array([True]),
    np.array("0.87"), np.array([0.1, 0.2]), np.array([]), [0.87], (0.87,), None,
    np.complex128(1), {"accuracy": 0.87}, 10**400, _Tensorish(["0.5"]),
], ids=["str", "numpy-str", "bytes", "bool", "numpy-bool", "bool-array",
        "str-array", "two-elements", "empty", "list", "tuple", "none", "complex",
        "dict", "huge-int", "tensor-of-strings"])
def test_as_float_gives_the_repr_of_anything_else(value):
    result = _as_float(value)

    assert isinstance(result, str)
    assert result == repr(value)[:197] + ("..." if len(repr(value)) > 200 else "")
