"""Normalization by the training set's maximum absolute value."""

from __future__ import annotations

import numpy as np
import pytest

from reference.normalize import normalization_scale, normalize


def test_both_sets_are_divided_by_the_training_max_absolute_value():
    training = np.array([[1.0, 2.0], [4.0, 0.5]])
    test = np.array([[2.0, 8.0]])

    normalized_training, normalized_test = normalize(training, test)

    np.testing.assert_array_equal(normalized_training, training / 4.0)
    np.testing.assert_array_equal(normalized_test, [[0.5, 2.0]])


def test_negative_value_of_largest_magnitude_sets_the_scale():
    training = np.array([[1.0, -10.0], [5.0, 2.0]])
    test = np.array([[-5.0, 3.0]])

    normalized_training, normalized_test = normalize(training, test)

    assert normalization_scale(training) == 10.0
    np.testing.assert_array_equal(normalized_training, [[0.1, -1.0], [0.5, 0.2]])
    np.testing.assert_array_equal(normalized_test, [[-0.5, 0.3]])


def test_test_data_does_not_enter_the_scale():
    training = np.array([[1.0, 2.0]])
    test = np.array([[-100.0, 50.0]])

    _, normalized_test = normalize(training, test)

    np.testing.assert_array_equal(normalized_test, [[-50.0, 25.0]])


def test_scale_is_one_scalar_over_all_columns():
    training = np.array([[1.0, 100.0], [2.0, 50.0]])

    normalized_training, _ = normalize(training, training)

    np.testing.assert_array_equal(normalized_training, [[0.01, 1.0], [0.02, 0.5]])


def test_inputs_are_left_unchanged():
    training = np.array([[3.0, -6.0]])
    test = np.array([[1.0, 2.0]])

    normalize(training, test)

    np.testing.assert_array_equal(training, [[3.0, -6.0]])
    np.testing.assert_array_equal(test, [[1.0, 2.0]])


def test_all_zero_training_set_raises():
    with pytest.raises(ValueError, match="every training attribute is 0, so there "
                                         "is no scale to divide by"):
        normalize(np.zeros((3, 2)), np.ones((1, 2)))
