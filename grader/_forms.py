"""Find a student's submission file and tell its form without running it."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from grader._errors import UsageError

#: File names the forms ask for, in order of preference.
SUBMISSION_NAMES = ("nn_keras_solution.py", "nn_keras.py")

#: The functions that make up each form, checked from the most detailed down.
FORM_FUNCTIONS = {
    "D": {"load_dataset", "normalize", "object_accuracy", "create_and_train_model",
          "test_model"},
    "A": {"create_and_train_model", "test_model"},
    "B": {"nn_keras"},
}


@dataclass
class Detected:
    """What reading the source (never running it) tells about a submission."""

    path: Path
    form: str | None
    functions: set[str]
    #: Set when the file does not parse: (line, message).
    syntax_error: tuple[int | None, str] | None = None


def find_submission_file(folder: Path) -> Path:
    """The Python file to grade in a student's folder."""
    for name in SUBMISSION_NAMES:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(folder.glob("*.py"))
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in candidates) or "no .py file"
    raise UsageError(
        f"{folder}: expected {' or '.join(SUBMISSION_NAMES)} (or a single .py "
        f"file), found {found}"
    )


def detect_form(path: Path,
                entry_points: dict[str, set[str]] | None = None) -> Detected:
    """Parse the file and choose the form from the functions it defines.

    ``entry_points`` gives the functions each form needs, most detailed form
    first (an assignment spec's, see ``Spec.entry_points``); by default all
    the functions of each form.
    """
    entry_points = FORM_FUNCTIONS if entry_points is None else entry_points
    source = path.read_bytes()
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as error:
        return Detected(path, _guess_form(source, entry_points), set(),
                        (error.lineno, error.msg))
    except (ValueError, RecursionError, MemoryError) as error:
        return Detected(path, _guess_form(source, entry_points), set(),
                        (None, f"cannot be parsed: {error}"))

    functions = _top_level_names(tree)
    for form in _most_detailed_first(entry_points):
        # A form C script defines nothing the grader calls; it reads its
        # settings from the command line.
        if form == "C" and b"argv" not in source:
            continue
        if entry_points[form] <= functions:
            return Detected(path, form, functions)
    return Detected(path, None, functions)


def _most_detailed_first(entry_points: dict[str, set[str]]) -> list[str]:
    order = list(FORM_FUNCTIONS)
    return sorted(entry_points, key=lambda form: (
        order.index(form) if form in order else len(order), form))


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level: its functions, and the names
    it imports or assigns, since a student may take a step from a helper."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0]
                         for alias in node.names)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets
                         if isinstance(target, ast.Name))
    return names


def _guess_form(source: bytes, entry_points: dict[str, set[str]]) -> str | None:
    """The form a file that does not parse was meant to be, from its text,
    so that its report lists the checks it would have faced."""
    defined = set(re.findall(rb"^def\s+(\w+)", source, re.MULTILINE))
    for form in _most_detailed_first(entry_points):
        if form == "C" and b"argv" not in source:
            continue
        if {name.encode() for name in entry_points[form]} <= defined:
            return form
    return None
