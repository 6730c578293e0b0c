"""Rebuild the UCI data sets that ship with nngrade in the course file format.

The four sets come from the copies bundled inside scikit-learn, so a rebuild
needs no network access. Each set becomes ``<name>_training.txt`` and
``<name>_test.txt``: one object per line, right-aligned space-separated
columns, every attribute a number and the last field the original class name.

The split is fixed and documented in ``uci_datasets/README.md``: for each set,
``numpy.random.RandomState(SPLIT_SEED).permutation(rows)`` gives an order, and
walking that order each object goes to the training file while its class has
fewer than ``(7 * class_size + 5) // 10`` training objects (70 %, rounded half
up), otherwise to the test file. Both files keep the permuted order.
``RandomState`` streams are frozen by numpy's compatibility policy, so the
files are the same on every numpy version.

scikit-learn is an optional dependency (``pip install 'nngrade[rebuild]'``);
it is imported only when a rebuild runs, because grading never needs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader._resources import bundled_datasets_dir

__all__ = [
    "DATASET_NAMES",
    "SPLIT_SEED",
    "TRAINING_PERCENT",
    "build_datasets",
    "main",
    "split_indices",
]

#: Seed of the ``RandomState`` that orders and splits every set.
SPLIT_SEED = 20240601

#: Share of each class that goes to the training file, in percent.
TRAINING_PERCENT = 70

#: The data sets written by :func:`build_datasets`, in build order.
DATASET_NAMES = ("iris", "wine", "breast_cancer", "digits")

_INSTALL_HINT = "pip install 'nngrade[rebuild]'"


@dataclass(frozen=True)
class _Table:
    """One data set as loaded from scikit-learn, before the split."""

    inputs: np.ndarray
    label_tokens: list[str]


def _load_sklearn_loader(name: str) -> Callable[[], Any]:
    """Return scikit-learn's bundled loader for ``name``.

    Raises:
        ImportError: scikit-learn is not installed; the message gives the
            install command.
    """
    try:
        from sklearn import datasets
    except ImportError as error:
        raise ImportError(
            "Rebuilding the bundled data sets needs scikit-learn, which is not "
            f"installed. Install it with: {_INSTALL_HINT}"
        ) from error

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
    }
    return loaders[name]


def _load_table(name: str) -> _Table:
    bunch = _load_sklearn_loader(name)()
    inputs = np.asarray(bunch.data, dtype=np.float64)
    # target_names holds the original class names (for digits the integers
    # 0..9), and target indexes into it, so the tokens are the real names.
    names = [str(label) for label in bunch.target_names]
    tokens = [names[int(index)] for index in bunch.target]
    return _Table(inputs=inputs, label_tokens=tokens)


def split_indices(
    labels: Sequence[int | str] | np.ndarray, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into training and test by the documented rule.

    Args:
        labels: The class of each row, as integers or label tokens.
        seed: Seed for ``numpy.random.RandomState``.

    Returns:
        The training row indices and the test row indices, each in the order
        of the seeded permutation.
    """
    labels = np.asarray(labels)
    order = np.random.RandomState(seed).permutation(len(labels))
    values, sizes = np.unique(labels, return_counts=True)
    # Integer arithmetic, because round() rounds half to even (0.7 * 15 = 10.5
    # would give 10) and products such as 0.7 * 3 are not exact in floats.
    remaining = {
        value: (TRAINING_PERCENT * int(size) + 50) // 100
        for value, size in zip(values.tolist(), sizes.tolist())
    }

    training: list[int] = []
    test: list[int] = []
    for row in order.tolist():
        key = labels[row].item()
        if remaining[key] > 0:
            remaining[key] -= 1
            training.append(row)
        else:
            test.append(row)
    return np.array(training, dtype=np.int64), np.array(test, dtype=np.int64)


def _format_number(value: float) -> str:
    """Format one attribute so that it reads back as exactly the same float."""
    # Ten significant digits print integers without a decimal point (digits
    # pixels come out as 0..16) and are more than the sources' precision.
    text = format(value, ".10g")
    if float(text) != value:
        raise ValueError(
            f"attribute {value!r} does not survive formatting as {text!r}; the "
            "source data has more precision than this builder expects, so "
            "widen the format in grader/_datasets_build.py"
        )
    return text


def _render_rows(cells: list[list[str]], widths: list[int], rows: np.ndarray) -> str:
    lines = [
        " ".join(cells[row][col].rjust(width) for col, width in enumerate(widths))
        for row in rows.tolist()
    ]
    return "\n".join(lines) + "\n"


def _write_dataset(name: str, out_dir: Path) -> list[Path]:
    table = _load_table(name)
    cells = [
        [_format_number(value) for value in row] + [token]
        for row, token in zip(table.inputs.tolist(), table.label_tokens)
    ]
    # Widths span both files so the training and test columns line up.
    widths = [max(len(row[col]) for row in cells) for col in range(len(cells[0]))]
    training_rows, test_rows = split_indices(table.label_tokens)
    written = []
    for suffix, rows in (("training", training_rows), ("test", test_rows)):
        path = out_dir / f"{name}_{suffix}.txt"
        # Bytes, not text mode, so Windows cannot turn LF into CRLF.
        path.write_bytes(_render_rows(cells, widths, rows).encode("ascii"))
        written.append(path)
    return written


def build_datasets(out_dir: Path) -> list[Path]:
    """Write every bundled data set into ``out_dir`` and return the paths.

    The folder is created if missing; existing files of the same names are
    overwritten, and nothing else in it is touched.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in DATASET_NAMES:
        written.extend(_write_dataset(name, out_dir))
    return written


def build_parser(prog: str = "nngrade build-datasets") -> argparse.ArgumentParser:
    """The argument parser of the ``build-datasets`` command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Rebuild the UCI data sets bundled with nngrade (iris, wine, "
            "breast_cancer, digits) from scikit-learn's own copies."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder to write into (default: the bundled uci_datasets folder)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``build-datasets`` command; return the process exit status."""
    args = build_parser().parse_args(argv)
    out_dir = args.out if args.out is not None else bundled_datasets_dir()
    try:
        written = build_datasets(out_dir)
    except ImportError as error:
        # The CLI is the one place that talks to the user directly.
        print(f"nngrade build-datasets: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
