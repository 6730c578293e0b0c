"""Reference implementation of the course assignment.

The grader compares every submission with these functions; they never run
inside a sandbox.
"""

from reference.accuracy import object_accuracy, tie_aware_accuracy
from reference.loader import DataFormatError, load_dataset, read_course_file
from reference.normalize import normalization_scale, normalize

__all__ = [
    "DataFormatError",
    "load_dataset",
    "normalization_scale",
    "normalize",
    "object_accuracy",
    "read_course_file",
    "tie_aware_accuracy",
]
