"""The tie-aware accuracy: exact ties, per object and over a test set."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reference.accuracy import object_accuracy, tie_aware_accuracy

#: The lecture's object: six classes tied at 1.0, true class 3 among them.
LECTURE_OUTPUTS = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.0, 0.7, 0.1]


@pytest.mark.parametrize(
    ("outputs", "true_class", "expected"),
    [
        ([0.1, 0.7, 0.2], 1, 1.0),
        ([0.1, 0.7, 0.2], 2, 0.0),
        ([0.4, 0.4, 0.2], 0, 0.5),
        ([0.4, 0.4, 0.2], 2, 0.0),
        ([0.3, 0.3, 0.3, 0.3], 2, 0.25),
        ([0.0, 0.0, 0.0, 0.0, 0.0], 4, 0.2),
        (LECTURE_OUTPUTS, 3, 1 / 6),
        (LECTURE_OUTPUTS, 8, 0.0),
    ],
    ids=["no-tie-hit", "no-tie-miss", "tie-with-true-class",
         "tie-without-true-class", "all-tied-1-of-4", "all-zero-1-of-5",
         "lecture-six-tied", "lecture-true-class-outside-tie"],
)
def test_object_accuracy_scores_one_over_tie_size_when_true_class_is_tied(
    outputs: list[float], true_class: int, expected: float
):
    assert object_accuracy(outputs, true_class) == pytest.approx(expected)


@pytest.mark.parametrize("true_class", [0, 1], ids=["largest", "next-below"])
def test_nearly_equal_outputs_are_not_a_tie(true_class: int):
    outputs = np.array([0.5, np.nextafter(0.5, 0.0), 0.1])

    assert object_accuracy(outputs, true_class) == (1.0 if true_class == 0 else 0.0)
    assert tie_aware_accuracy(outputs[np.newaxis], [true_class]) == (
        1.0 if true_class == 0 else 0.0)


def test_float32_outputs_tie_only_when_exactly_equal():
    outputs = np.array([1.0, 1.0, 1.0 - 1e-7], dtype=np.float32)

    assert object_accuracy(outputs, 1) == 0.5
    assert object_accuracy(outputs, 2) == 0.0


@pytest.mark.parametrize(
    "true_class",
    [np.int64(3), np.array(3), np.array([3]), np.array([[3]])],
    ids=["numpy-int", "0-d-array", "row-of-n-by-1-labels", "1-by-1-array"],
)
def test_object_accuracy_accepts_the_true_class_as_a_one_element_array(true_class):
    assert object_accuracy(LECTURE_OUTPUTS, true_class) == pytest.approx(1 / 6)


def test_object_accuracy_accepts_a_row_of_an_outputs_matrix():
    outputs = np.array([LECTURE_OUTPUTS])

    assert object_accuracy(outputs, 0) == pytest.approx(1 / 6)


@pytest.mark.parametrize("label_shape", [(4, 1), (4,)], ids=["n-by-1", "flat"])
def test_tie_aware_accuracy_takes_labels_as_a_column_or_flat(
    label_shape: tuple[int, ...]
):
    outputs = np.array([
        [0.1, 0.9, 0.0],   # hit: 1
        [0.5, 0.5, 0.0],   # two-way tie with the true class: 1/2
        [0.2, 0.2, 0.2],   # all tied: 1/3
        [0.7, 0.2, 0.1],   # miss: 0
    ])
    labels = np.array([1, 0, 2, 2]).reshape(label_shape)

    accuracy = tie_aware_accuracy(outputs, labels)

    assert accuracy == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)


def test_tie_aware_accuracy_of_lecture_object_is_one_sixth():
    assert tie_aware_accuracy([LECTURE_OUTPUTS], [[3]]) == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("outputs_shape", "labels_shape", "described"),
    [((3, 4), (2,), "(3, 4) for 2 labels"),
     ((3, 4), (4, 1), "(3, 4) for 4 labels"),
     ((4,), (4,), "(4,) for 4 labels"),
     ((2, 2, 2), (2,), "(2, 2, 2) for 2 labels")],
    ids=["fewer-labels", "more-labels", "one-dimensional-outputs",
         "three-dimensional-outputs"],
)
def test_tie_aware_accuracy_rejects_mismatched_shapes(
    outputs_shape: tuple[int, ...], labels_shape: tuple[int, ...], described: str
):
    outputs = np.zeros(outputs_shape)
    labels = np.zeros(labels_shape, dtype=int)

    with pytest.raises(ValueError, match=re.escape(
            "expected one row of outputs per test object: got outputs of shape "
            + described)):
        tie_aware_accuracy(outputs, labels)


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["seed-0", "seed-1", "seed-2"])
def test_vectorized_accuracy_equals_mean_of_object_accuracy_with_many_ties(seed: int):
    random = np.random.RandomState(seed)
    outputs = random.randint(0, 3, size=(400, 6)).astype(np.float64)
    labels = random.randint(0, 6, size=(400, 1))
    tie_sizes = (outputs == outputs.max(axis=1, keepdims=True)).sum(axis=1)
    assert np.mean(tie_sizes > 1) > 0.5, "the data should be mostly ties"

    per_object = [object_accuracy(row, label) for row, label in zip(outputs, labels)]

    assert tie_aware_accuracy(outputs, labels) == pytest.approx(np.mean(per_object))
