"""Exceptions of the grader itself (never the student's fault).

    NngradeError
    ├── UsageError        the instructor's command line or input is wrong
    ├── SpecError         an assignment spec is invalid
    └── GraderError       grading itself broke (a bug, or a broken install)
"""

from __future__ import annotations


class NngradeError(Exception):
    """Base class of the errors nngrade reports to the person running it."""


class UsageError(NngradeError):
    """The command line names something that does not exist or does not fit."""


class SpecError(NngradeError):
    """An assignment spec that cannot be used, with the key that is wrong."""


class GraderError(NngradeError):
    """Grading itself failed; the student is not to blame."""
