"""Normalization by the training set's maximum absolute value."""

from __future__ import annotations

import numpy as np


def normalization_scale(training_inputs) -> float:
    """The one scalar both sets are divided by: max |x| over the training set."""
    scale = float(np.max(np.abs(training_inputs)))
    if scale == 0.0:
        raise ValueError(
            "every training attribute is 0, so there is no scale to divide by"
        )
    return scale


def normalize(training_inputs, test_inputs):
    """Divide training and test inputs by the training set's max absolute value."""
    scale = normalization_scale(training_inputs)
    return training_inputs / scale, test_inputs / scale
