"""Write what a grading run leaves behind: result files, gradebook, reports."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Sequence

from grader._report import report_dirname, write_reports
from grader._result import Result, write_json_atomically


def gradebook_csv(results: Sequence[Result]) -> str:
    """``student, score, max_score``, then one column of points per check.

    A grader error leaves the score, and every check it stopped, empty: no
    gradebook import may read the grader's failure as a student's zero.
    """
    check_names: list[str] = []
    for result in results:
        for check in result.checks:
            if check.name not in check_names:
                check_names.append(check.name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", *check_names, "verdict"])
    for result in results:
        points = {check.name: check.points for check in result.checks
                  if result.counts(check)}
        writer.writerow([
            result.student, _number(result.score) if result.scored else "",
            _number(result.max_score),
            *(_number(points[name]) if name in points else "" for name in check_names),
            result.verdict.kind,
        ])
    return buffer.getvalue()


def _number(value: float) -> str:
    return f"{value:g}"


def write_outputs(results: Sequence[Result], out_dir: Path,
                  release: bool = False) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for result in results:
        write_json_atomically(out_dir / report_dirname(result.student) / "result.json",
                              result.to_dict())
    write_reports(results, out_dir, release=release)
    handle, temporary = tempfile.mkstemp(dir=out_dir, prefix=".", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
        stream.write(gradebook_csv(results))
    os.replace(temporary, out_dir / "grades.csv")
