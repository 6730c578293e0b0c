"""The ``nngrade`` command line."""

from __future__ import annotations

import argparse
import enum
import itertools
import logging
import os
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.progress import TimeElapsedColumn
from rich.table import Table

from grader import _platform
from grader._backends import SANDBOX_CHOICES, select_backend
from grader._errors import NngradeError, SpecError, UsageError
from grader._gpu import GpuPool, select_gpus
from grader._report import verdict_label
from grader._resources import bundled_datasets_dir, sample_class_dir
from grader._result import Result
from grader._spec import Spec, load_spec, shipped_specs

logger = logging.getLogger("grader")


class ExitCode(enum.IntEnum):
    #: Grading ran; scores say how the students did.
    OK = 0
    #: Grading ran, but at least one submission met a grader error.
    GRADER_ERRORS = 1
    #: The command line, a spec or the data is wrong.
    USAGE_ERROR = 2
    #: Grading itself broke.
    INTERNAL_ERROR = 3
    INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nngrade",
        description="Grade TensorFlow/Keras dense-network assignments against a "
                    "reference implementation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log each step of the grader")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser(
        "grade", help="grade a class of submissions",
        description="Grade every submission under SUBMISSIONS (one folder per "
                    "student) and write a report per student, index.html and "
                    "grades.csv.")
    grade.add_argument("submissions", nargs="?", type=Path,
                       help="class folder, one student's folder, or a .py file "
                            "(default: the bundled sample class)")
    grade.add_argument("--assignment", default="sample",
                       help="shipped spec name or path to a spec TOML file "
                            "(default: sample; see 'nngrade assignments')")
    grade.add_argument("--datasets", type=Path,
                       help="folder with <name>_training.txt and <name>_test.txt "
                            "(default: the spec's, or the bundled UCI sets)")
    grade.add_argument("--out", type=Path, default=Path("nngrade-results"),
                       help="output folder (default: ./nngrade-results)")
    grade.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                       help="submissions graded at once (default: %(default)s)")
    grade.add_argument("--release", action="store_true",
                       help="show the checks the spec hides (hidden_checks) in the "
                            "students' reports too")
    grade.add_argument("--cold", action="store_true",
                       help="start every submission in a new interpreter instead of "
                            "forking it from one warm TensorFlow process")
    grade.add_argument("--sandbox", choices=SANDBOX_CHOICES, default="auto",
                       help="where submissions run: docker (a container per "
                            "submission), bwrap (no network, only their own files; "
                            "Linux), process (limits only), or auto, the strongest "
                            "that works here (default: auto)")
    grade.add_argument("--docker-image", default=os.environ.get("NNGRADE_DOCKER_IMAGE"),
                       help="the image built from nngrade's Dockerfile, for --sandbox "
                            "docker; auto then prefers docker. Without it, docker runs "
                            "the host's interpreter in an empty image (default: "
                            "$NNGRADE_DOCKER_IMAGE)")
    grade.add_argument("--require-isolation", action="store_true",
                       help="fail instead of grading without an isolating sandbox "
                            "(for official runs)")
    grade.add_argument("--gpus", default="auto",
                       help="GPUs the submissions take turns on: auto (every GPU "
                            "NVML lists; none without NVML), none, or indices such "
                            "as 0,2 (default: auto)")

    commands.add_parser("assignments", help="list the shipped assignment specs")

    build = commands.add_parser(
        "build-datasets",
        help="rebuild the bundled UCI data sets from scikit-learn's copies")
    build.add_argument("--out", type=Path, default=None,
                       help="output folder (default: the bundled uci_datasets)")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s")
    console = Console(stderr=False)
    try:
        if arguments.command == "assignments":
            return _list_assignments(console)
        if arguments.command == "build-datasets":
            from grader._datasets_build import main as build_main

            return build_main([] if arguments.out is None
                              else ["--out", str(arguments.out)])
        return _grade(arguments, console)
    except (UsageError, SpecError) as error:
        # Escaped: a message may hold brackets, such as pip's 'nngrade[gpu]'.
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(error))}",
                                   highlight=False)
        return ExitCode.USAGE_ERROR
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        return ExitCode.INTERRUPTED
    except NngradeError as error:
        Console(stderr=True).print(f"[bold red]grader error:[/] {escape(str(error))}")
        return ExitCode.INTERNAL_ERROR


def _list_assignments(console: Console) -> int:
    table = Table("name", "title", "forms", "data", title="Shipped assignments")
    for name, path in shipped_specs().items():
        spec = load_spec(str(path))
        data = ", ".join(sorted({run.dataset for run in spec.runs.values()}))
        table.add_row(name, spec.title, " ".join(sorted(spec.runs)), data)
    console.print(table)
    return ExitCode.OK


def _datasets_dir(spec: Spec, given: Path | None) -> Path:
    if given is not None:
        if not given.is_dir():
            raise UsageError(f"--datasets {given}: no such folder")
        return given.resolve()
    if spec.datasets == "bundled":
        return bundled_datasets_dir()
    if spec.datasets == "required":
        raise UsageError(
            f"assignment {spec.name!r} grades on the course's own data, which does "
            "not ship with nngrade: pass --datasets DIR, the folder holding "
            f"{', '.join(sorted({r.dataset for r in spec.runs.values()}))} files")
    return (spec.path.parent / spec.datasets).resolve()


def _grade(arguments: argparse.Namespace, console: Console) -> int:
    from grader._grading import ClassGrader, discover
    from grader._outputs import write_outputs

    # First: on Windows nothing else is worth checking.
    _platform.current()
    spec = load_spec(arguments.assignment)
    datasets = _datasets_dir(spec, arguments.datasets)
    submissions_path = arguments.submissions or sample_class_dir()
    submissions = discover(submissions_path, spec.entry_points())
    if arguments.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {arguments.jobs}")
    gpus = select_gpus(arguments.gpus)
    out = _prepare_out_dir(arguments.out)
    backend = select_backend(arguments.sandbox, arguments.require_isolation,
                             arguments.docker_image)
    console.print(
        f"Grading {len(submissions)} submission(s) from {submissions_path} "
        f"for assignment [bold]{spec.name}[/] with data from {datasets}\n"
        f"Sandbox: {backend.describe()}",
        highlight=False)
    for gap in backend.unenforced():
        console.print(f"[yellow]Not enforced here:[/] {escape(gap)}", highlight=False)
    if gpus:
        backend.use_gpus(gpus)
        console.print("GPUs: " + "; ".join(gpu.describe() for gpu in gpus),
                      highlight=False)

    grader = ClassGrader(spec, datasets, arguments.jobs, warm=not arguments.cold,
                         backend=backend, gpus=GpuPool(gpus))
    try:
        results = _grade_with_progress(grader, submissions, console)
    finally:
        grader.close()

    write_outputs(results, out, release=arguments.release)
    _print_summary(console, results)
    console.print(f"Reports: {out / 'index.html'}\nGradebook: {out / 'grades.csv'}",
                  highlight=False)
    if any(result.verdict.kind == "grader_error" for result in results):
        return ExitCode.GRADER_ERRORS
    return ExitCode.OK


def _prepare_out_dir(out: Path) -> Path:
    """Check the output folder before grading, so no result is lost at the end."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; expected a folder (it will be "
                         "created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".nngrade-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"--out {out} cannot be written: {error.strerror}") from None
    return out


def _grade_with_progress(grader, submissions, console: Console) -> list[Result]:
    total = grader.tasks(submissions)
    if not console.is_terminal:
        # In CI logs a redrawn bar is noise: one line per finished run instead.
        finished = itertools.count(1)
        lock = threading.Lock()

        def log_line(label: str) -> None:
            with lock:
                console.print(f"[{next(finished)}/{total}] done: {label}",
                              highlight=False)

        return grader.grade(submissions, log_line)

    with Progress(TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("grading", total=total)
        results = grader.grade(submissions, lambda label: progress.update(
            task, advance=1, description=f"done: {label}"))
        progress.update(task, completed=total, description="grading finished")
    return results


def _print_summary(console: Console, results: list[Result]) -> None:
    table = Table(title="Summary")
    table.add_column("student", no_wrap=True)
    for header in ("form", "score", "verdict", "lost points on"):
        table.add_column(header)
    for result in results:
        lost = [
            check.name + (f" (defect {check.defect.number})" if check.defect else "")
            for check in result.checks
            if check.points < check.max_points and result.counts(check)
        ]
        score = f"{result.score:g}" if result.scored else "none"
        verdict = verdict_label(result.verdict.kind)
        if result.verdict.defect:
            verdict += f" (defect {result.verdict.defect.number})"
        table.add_row(result.student, result.form or "?",
                      f"{score}/{result.max_score:g}", verdict, ", ".join(lost) or "-")
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
