"""The course file loader.

One object per line, fields separated by runs of whitespace, every field but
the last a number and the last a class label taken as an opaque token.
Labels become integers in order of first appearance, reading the training
file first and then the test file with the same mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class DataFormatError(ValueError):
    """A course data file that does not follow the format, with its place."""

    def __init__(self, path: Path | str, line: int | None, problem: str):
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


def read_course_file(path: Path | str) -> tuple[list[list[float]], list[str]]:
    """Read one data file into rows of attributes and a list of label tokens.

    Accepts LF and CRLF line endings, a missing final newline and blank lines
    at the end of the file. A blank line followed by more data is an error.

    Raises:
        DataFormatError: the file is missing, empty, ragged, or holds a
            non-numeric attribute; the message names the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(
            path, None, "file not found; expected <name>_training.txt and "
            "<name>_test.txt in the data directory"
        ) from None
    except UnicodeDecodeError as error:
        raise DataFormatError(
            path, None, f"not a UTF-8 text file ({error.reason} at byte {error.start})"
        ) from None

    rows: list[list[float]] = []
    labels: list[str] = []
    width: int | None = None
    first_blank_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            first_blank_line = first_blank_line or number
            continue
        if first_blank_line is not None:
            raise DataFormatError(
                path, first_blank_line,
                "blank line between objects; only trailing blank lines are allowed",
            )
        if len(fields) < 2:
            raise DataFormatError(
                path, number,
                "expected at least one attribute and a label, found "
                f"{len(fields)} field",
            )
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise DataFormatError(
                path, number,
                f"ragged row: expected {width} fields like the first object, "
                f"found {len(fields)}",
            )
        try:
            rows.append([float(field) for field in fields[:-1]])
        except ValueError:
            bad = next(f for f in fields[:-1] if not _is_number(f))
            column = fields.index(bad) + 1
            raise DataFormatError(
                path, number,
                f"attribute {column} is {bad!r}, not a number; only the last "
                "field may be a label",
            ) from None
        labels.append(fields[-1])

    if not rows:
        raise DataFormatError(path, None, "the file holds no objects")
    return rows, labels


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def load_dataset(directory: Path | str, dataset: str):
    """Load ``<dataset>_training.txt`` and ``<dataset>_test.txt``.

    Returns:
        ``((training_inputs, training_labels), (test_inputs, test_labels),
        ints_to_labels)``: inputs are float64 arrays of shape (rows,
        attributes), labels int64 arrays of shape (rows, 1), and
        ``ints_to_labels`` maps each integer back to its original token.

    Raises:
        DataFormatError: either file breaks the format, or the two files
            disagree on the number of attributes.
    """
    directory = Path(directory)
    training_path = directory / f"{dataset}_training.txt"
    test_path = directory / f"{dataset}_test.txt"
    training_rows, training_tokens = read_course_file(training_path)
    test_rows, test_tokens = read_course_file(test_path)

    training_width = len(training_rows[0])
    if len(test_rows[0]) != training_width:
        raise DataFormatError(
            test_path, 1,
            f"{len(test_rows[0])} attributes, but the training file has "
            f"{training_width}",
        )

    labels_to_ints: dict[str, int] = {}
    for token in training_tokens + test_tokens:
        labels_to_ints.setdefault(token, len(labels_to_ints))
    ints_to_labels = {number: token for token, number in labels_to_ints.items()}

    def as_arrays(rows, tokens):
        inputs = np.array(rows, dtype=np.float64)
        labels = np.array([labels_to_ints[t] for t in tokens], dtype=np.int64)
        return inputs, labels.reshape(-1, 1)

    return (
        as_arrays(training_rows, training_tokens),
        as_arrays(test_rows, test_tokens),
        ints_to_labels,
    )
