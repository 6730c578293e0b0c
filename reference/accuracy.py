"""The tie-aware classification accuracy, with exact equality."""

from __future__ import annotations

import numpy as np


def object_accuracy(outputs, true_class: int) -> float:
    """Score one test object from its vector of network outputs.

    The tied classes are those whose output equals the largest output
    exactly. The object scores 1/|ties| when its true class is among them,
    else 0.

    >>> object_accuracy([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2], 3)
    0.16666666666666666
    """
    outputs = np.asarray(outputs).ravel()
    # A true class read from an (n, 1) label column is a one-element array,
    # which int() refuses in current NumPy; .item() takes any size-1 value.
    true_class = int(np.asarray(true_class).item())
    tied = np.flatnonzero(outputs == outputs.max())
    return 1.0 / tied.size if true_class in tied else 0.0


def tie_aware_accuracy(outputs, true_classes) -> float:
    """Mean of :func:`object_accuracy` over rows of ``outputs``."""
    outputs = np.asarray(outputs)
    true_classes = np.asarray(true_classes).ravel().astype(np.int64)
    if outputs.ndim != 2 or outputs.shape[0] != true_classes.size:
        raise ValueError(
            f"expected one row of outputs per test object: got outputs of shape "
            f"{outputs.shape} for {true_classes.size} labels"
        )
    row_maxima = outputs.max(axis=1, keepdims=True)
    tied = outputs == row_maxima
    tie_sizes = tied.sum(axis=1)
    hits = tied[np.arange(true_classes.size), true_classes]
    return float(np.mean(np.where(hits, 1.0 / tie_sizes, 0.0)))
