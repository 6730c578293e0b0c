"""HTML pages rendered from results: each student's report and the class index.

Pages are rendered by Jinja2 from the templates folder with autoescaping on,
because almost everything on them comes from the submission: the student's
name, messages quoting their values, and whatever their code printed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from grader._resources import templates_dir
from grader._result import Check, Result

__all__ = [
    "STATUS_LABELS",
    "VERDICT_LABELS",
    "render_index",
    "render_report",
    "report_dirname",
    "write_reports",
]

#: How each verdict kind is named to people, in plain words. A test checks
#: that every kind of ``VerdictKind`` has one.
VERDICT_LABELS: dict[str, str] = {
    "finished": "finished",
    "wall_time": "stopped at the wall-clock limit",
    "memory": "stopped: out of memory",
    "gpu_memory": "stopped: out of GPU memory",
    "cpu_time": "stopped at the CPU-time limit",
    "syntax_error": "syntax error",
    "no_submission": "nothing to grade",
    "crash": "crashed",
    "exception": "Python exception",
    "output_limit": "output limit",
    "processes": "stopped at the process limit",
    "network": "network blocked",
    "forbidden": "forbidden operation",
    "grader_error": "grader error — not your fault",
}

#: How each check status is named next to its colour, so colour is never alone.
STATUS_LABELS: dict[str, str] = {
    "passed": "passed",
    "failed": "failed",
    "not_run": "not run",
    "hidden": "hidden until release",
}

# Characters kept as they are in a student's folder name; anything else could
# climb out of the output folder or upset a file system or a URL.
_SAFE_DIRNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")


@dataclass(frozen=True)
class _IndexColumn:
    name: str
    title: str


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["points"] = _format_points
    environment.filters["seconds"] = _format_seconds
    environment.filters["verdict_label"] = verdict_label
    environment.filters["status_label"] = _status_label
    return environment


def verdict_label(kind: str) -> str:
    """Name a verdict kind in plain words, falling back to the kind itself."""
    return VERDICT_LABELS.get(kind, kind.replace("_", " "))


def _status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " "))


def _format_points(value: float) -> str:
    """Show points without trailing zeros: 2, 2.5, 0.33."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _format_seconds(value: float) -> str:
    return f"{value:.1f}"


def report_dirname(student: str) -> str:
    """The folder under the output folder that holds one student's report.

    A name made of letters, digits and ``._@+-`` is used as it is. Any other
    name is reduced to those characters and given a short hash of the full
    name, so that it stays unique and cannot name a path outside the output
    folder.
    """
    if _SAFE_DIRNAME.fullmatch(student) and len(student) <= 100:
        return student
    stem = re.sub(r"[^A-Za-z0-9._@+-]+", "_", student).strip("._-")[:60]
    digest = hashlib.sha256(student.encode("utf-8")).hexdigest()[:10]
    return f"{stem}-{digest}" if stem else f"student-{digest}"


def render_report(result: Result) -> str:
    """Render one student's feedback page as a self-contained HTML document."""
    template = _environment().get_template("report.html")
    return template.render(
        result=result,
        verdict_class=_verdict_class(result.verdict.kind),
        full_marks=_has_full_marks(result),
        settings=_settings_rows(result),
    )


def render_index(results: Sequence[Result], title: str) -> str:
    """Render the class page: one row per student, one column per check."""
    ordered = sorted(
        results, key=lambda result: (result.student.casefold(), result.student)
    )
    columns = _index_columns(ordered)
    rows = [
        {
            "result": result,
            "href": quote(report_dirname(result.student)) + "/instructor.html",
            "verdict_class": _verdict_class(result.verdict.kind),
            "full_marks": _has_full_marks(result),
            "cells": _index_cells(result, columns),
        }
        for result in ordered
    ]
    template = _environment().get_template("index.html")
    return template.render(
        title=title,
        columns=columns,
        rows=rows,
        summary=_summary(ordered),
    )


def write_reports(
    results: Sequence[Result], out_dir: Path, *, title: str | None = None,
    release: bool = False,
) -> None:
    """Write each student's pages and the class page ``index.html``.

    ``<student>/report.html`` is the student's view, in which checks the spec
    hides show only their titles unless ``release`` is set;
    ``<student>/instructor.html`` shows everything, and the class page links
    to it. The student folder is :func:`report_dirname` of the name. Each file is
    written to a temporary file and renamed into place, so a reader never
    sees half a page. The index is titled ``title``, by default after the
    assignment when all results share one.

    Raises:
        ValueError: two results would share a report folder, for instance the
            same student twice, or names that differ only in case.
    """
    out_dir = Path(out_dir)
    _check_distinct_folders(result.student for result in results)

    for result in results:
        folder = out_dir / report_dirname(result.student)
        _write_text_atomically(folder / "report.html",
                               render_report(result.student_view(release)))
        _write_text_atomically(folder / "instructor.html", render_report(result))

    if title is None:
        assignments = {result.assignment for result in results}
        title = f"Results: {assignments.pop()}" if len(assignments) == 1 else "Results"
    _write_text_atomically(out_dir / "index.html", render_index(results, title))


def sharing_a_folder(students: Iterable[str]) -> tuple[str, str] | None:
    """Two students whose reports would go to one folder, if there are any."""
    # Case is folded because macOS and Windows file systems ignore it.
    seen: dict[str, str] = {}
    for student in students:
        key = report_dirname(student).casefold()
        if key in seen:
            return seen[key], student
        seen[key] = student
    return None


def _check_distinct_folders(students: Iterable[str]) -> None:
    clash = sharing_a_folder(students)
    if clash:
        first, second = clash
        raise ValueError(
            f"Two results would write the same report folder "
            f"{report_dirname(second)!r}: students {first!r} and {second!r}. "
            "Give each submission its own student name."
        )


def _write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _verdict_class(kind: str) -> str:
    if kind == "finished":
        return "verdict-ok"
    if kind == "grader_error":
        return "verdict-ours"
    return "verdict-stopped"


def _has_full_marks(result: Result) -> bool:
    # With checks still hidden, the score shown is not the whole score.
    if any(check.status == "hidden" for check in result.checks):
        return False
    return (result.scored and result.max_score > 0
            and math.isclose(result.score, result.max_score))


def _settings_rows(result: Result) -> list[tuple[str, str]]:
    rows = [
        (str(key), _format_setting(value)) for key, value in result.settings.items()
    ]
    if "seed" not in result.settings:
        rows.append(("seed", str(result.seed)))
    return rows


def _format_setting(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_setting(item) for item in value)
    return str(value)


def _index_columns(results: Sequence[Result]) -> list[_IndexColumn]:
    # Checks appear in the order of the first result that has them, so a
    # student stopped early does not reorder the columns for everyone.
    columns: dict[str, _IndexColumn] = {}
    for result in results:
        for check in result.checks:
            columns.setdefault(check.name, _IndexColumn(check.name, check.title))
    return list(columns.values())


def _index_cells(result: Result, columns: Sequence[_IndexColumn]) -> list[Check | None]:
    by_name = {check.name: check for check in result.checks}
    return [by_name.get(column.name) for column in columns]


def _summary(results: Sequence[Result]) -> dict[str, Any]:
    verdict_counts: dict[str, int] = {}
    for result in results:
        label = verdict_label(result.verdict.kind)
        verdict_counts[label] = verdict_counts.get(label, 0) + 1
    return {
        "students": len(results),
        "finished": sum(result.verdict.kind == "finished" for result in results),
        "full_marks": sum(_has_full_marks(result) for result in results),
        "verdicts": sorted(
            verdict_counts.items(), key=lambda item: (-item[1], item[0])
        ),
    }
