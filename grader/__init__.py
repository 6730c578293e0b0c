"""nngrade: grade TensorFlow/Keras dense-network assignments."""

from grader._errors import GraderError, NngradeError, SpecError, UsageError
from grader._result import Check, Defect, Resources, Result, Verdict
from grader._spec import Spec, load_spec

__all__ = [
    "Check",
    "Defect",
    "GraderError",
    "NngradeError",
    "Resources",
    "Result",
    "Spec",
    "SpecError",
    "UsageError",
    "Verdict",
    "load_spec",
]
