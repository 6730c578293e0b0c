"""The result model: one record per graded submission, written as JSON.

Every output (the student's HTML report, the class index, the gradebook and
the terminal summary) is rendered from these records.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1

CheckStatus = Literal["passed", "failed", "not_run", "hidden"]
VerdictKind = Literal[
    "grader_error",
    "wall_time",
    "memory",
    "gpu_memory",
    "cpu_time",
    "output_limit",
    "processes",
    "network",
    "forbidden",
    "crash",
    "exception",
    "syntax_error",
    "no_submission",
    "finished",
]


@dataclass
class Defect:
    """A known defect from the course's list, recognized in a submission."""

    #: Number in the list of defects of assignment.md.
    number: int
    #: Short name, e.g. "tie credit only for the first maximum".
    name: str


@dataclass
class Check:
    """The outcome of one check against the reference."""

    #: Stable identifier used as a gradebook column, e.g. "loader".
    name: str
    #: Title shown to people, e.g. "Data loader".
    title: str
    status: CheckStatus
    points: float
    max_points: float
    #: One or two sentences for the student.
    message: str
    defect: Defect | None = None
    #: Supporting lines: expected/found pairs, the smallest failing input.
    details: list[str] = field(default_factory=list)
    #: False for a check the spec hides from students until release.
    visible: bool = True


@dataclass
class Verdict:
    """How the run of the submission ended, decided by the parent."""

    kind: VerdictKind
    #: A sentence for the student: what happened, the limit, the usual cause.
    message: str
    #: The student's own frames of a traceback, when there is one.
    traceback: str = ""
    #: A known defect that ended the run before any check could judge it
    #: (the crashes of defect 12 at import).
    defect: Defect | None = None


@dataclass
class Resources:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    backend: str = "process"
    #: The GPU the run used, e.g. "GPU 0: NVIDIA H200 (GPU-...)", or "none";
    #: "" where nothing ran, and in results from before GPUs were handed out.
    gpu: str = ""
    #: The Keras the graded run used, e.g. "Keras 3.15.1" or "Keras 2
    #: compatibility mode (tf-keras 2.21.0)"; "" where no run was graded.
    keras: str = ""
    #: How the run's number of processes was limited: "cgroup", "RLIMIT_NPROC"
    #: or "none" (see ``_cgroups``); "" where the backend has its own way.
    process_limit: str = ""
    #: What the grading system did not enforce for this run, and what stood
    #: in for it, one sentence each (see ``_platform``); empty on Linux.
    unenforced: list[str] = field(default_factory=list)


@dataclass
class Result:
    """Everything known about one graded submission."""

    student: str
    submission: str
    assignment: str
    form: str | None
    verdict: Verdict
    checks: list[Check]
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    #: Remarks that cost no points (compatibility notes, what was detected).
    notes: list[str] = field(default_factory=list)
    stdout_tail: str = ""
    stderr_tail: str = ""
    graded_at: str = ""
    schema: int = SCHEMA_VERSION

    @property
    def score(self) -> float:
        return round(sum(check.points for check in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(check.max_points for check in self.checks), 4)

    def counts(self, check: Check) -> bool:
        """Whether ``check``'s points count: not when a grader error
        stopped it, which costs the student nothing."""
        return self.scored or check.status != "not_run"

    @property
    def scored(self) -> bool:
        """False when the grader failed: the student has no score yet, not
        zero, and must be graded again."""
        return self.verdict.kind != "grader_error"

    def student_view(self, release: bool = False) -> Result:
        """The result as a student may see it.

        A hidden check keeps only its title: no status, points, message or
        details, so nothing about hidden probes or data reaches the student
        until the instructor releases the checks.
        """
        if release:
            return self
        checks = [
            check if check.visible else Check(
                name=check.name, title=check.title, status="hidden", points=0.0,
                max_points=0.0, visible=False,
                message="This check is hidden until your instructor releases it.")
            for check in self.checks
        ]
        return dataclasses.replace(self, checks=checks)

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["score"] = self.score if self.scored else None
        record["max_score"] = self.max_score
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Result:
        record = dict(record)
        record.pop("score", None)
        record.pop("max_score", None)
        verdict = dict(record["verdict"])
        if verdict.get("defect"):
            verdict["defect"] = Defect(**verdict["defect"])
        record["verdict"] = Verdict(**verdict)
        record["resources"] = Resources(**record.get("resources", {}))
        record["checks"] = [
            Check(
                **{
                    **check,
                    "defect": (Defect(**check["defect"]) if check.get("defect")
                               else None),
                }
            )
            for check in record["checks"]
        ]
        return cls(**record)


def write_json_atomically(path: Path, record: dict[str, Any]) -> None:
    """Write JSON so that a reader never sees half a file, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(record, stream, indent=2, sort_keys=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
