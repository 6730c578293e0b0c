"""Inputs the grader makes itself to tell right code from common mistakes.

Each probe is small and chosen so that the known defects give answers that
differ from the correct one and from each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TieCase:
    outputs: tuple[float, ...]
    true_class: int
    #: Why this case is in the probe, shown with a failure.
    purpose: str


def _after(value: float) -> float:
    """The next float32 above ``value``: unequal, yet ``isclose`` calls it equal."""
    return float(np.nextafter(np.float32(value), np.float32(2.0)))


#: Ten-class output vectors. Values are exact in float32 so a probe model
#: returning float32 keeps every tie.
TIE_CASES = (
    TieCase((0.1, 0.7, 0.2, 0, 0, 0, 0, 0, 0, 0), 1, "no tie, true class wins"),
    TieCase((0.1, 0.7, 0.2, 0, 0, 0, 0, 0, 0, 0), 2, "no tie, true class loses"),
    TieCase((0.5, 0.5, 0.25, 0, 0, 0, 0, 0, 0, 0), 0,
            "two-way tie, true class first"),
    TieCase((0.5, 0.5, 0.25, 0, 0, 0, 0, 0, 0, 0), 1,
            "two-way tie, true class second"),
    TieCase((0.25, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0), 0,
            "two-way tie without the true class"),
    TieCase((0, 1, 1, 1, 0.5, 1, 0, 1, 1, 0), 7,
            "six classes tied at 1.0, as in the lecture"),
    TieCase((0.125,) * 10, 4, "all ten classes tied"),
    TieCase((0.5, _after(0.5), 0.25, 0, 0, 0, 0, 0, 0, 0), 0,
            "almost tied (one float32 step apart), true class below"),
)


def tie_probe_arrays() -> tuple[np.ndarray, np.ndarray]:
    outputs = np.array([case.outputs for case in TIE_CASES], dtype=np.float32)
    true_classes = np.array([case.true_class for case in TIE_CASES], dtype=np.int64)
    return outputs, true_classes


def normalization_probe(seed: int = 4309) -> tuple[np.ndarray, np.ndarray]:
    """Training inputs whose largest magnitude is negative, test inputs beyond it.

    The plain maximum (100), the maximum absolute value (900), the maximum
    over both sets (1500) and per-column maxima all differ here.
    """
    generator = np.random.RandomState(seed)
    training = generator.uniform(-50, 50, size=(12, 4)).round(3)
    training[3, 1] = -900.0
    training[7, 2] = 100.0
    training[5, 0] = -300.0
    test = generator.uniform(-50, 50, size=(6, 4)).round(3)
    test[2, 3] = 1500.0
    return training, test


#: Loader probe: CRLF training file, test file without a final newline, a
#: test file whose labels first appear in another order, and a label seen
#: only in the test file.
LOADER_PROBE_TRAINING = (
    "1.5 -2 3 beta\r\n"
    "0.25 4 -1e2 alpha\r\n"
    "7 8 9 beta\r\n"
    "-3 0 2.5 gamma\r\n"
)
LOADER_PROBE_TEST = (
    "1 1 1 gamma\n"
    "2 2 2 delta\n"
    "3 3 3 alpha\n"
    "4 4 4 beta"
)
LOADER_PROBE_NAME = "probe"


def write_loader_probe(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{LOADER_PROBE_NAME}_training.txt").write_bytes(
        LOADER_PROBE_TRAINING.encode()
    )
    (directory / f"{LOADER_PROBE_NAME}_test.txt").write_bytes(
        LOADER_PROBE_TEST.encode()
    )


def printed_tie_probe(true_classes: np.ndarray,
                      classes: int) -> tuple[np.ndarray, list[str]]:
    """Outputs, one row per test object, that put its true class in every
    kind of tie, for submissions that compute and print the tie rule
    themselves (forms B and C). Returns the rows and what each row tests.
    """
    rows = np.full((len(true_classes), classes), 0.0625, dtype=np.float32)
    purposes = []
    for index, true_class in enumerate(int(t) for t in np.ravel(true_classes)):
        row = rows[index]
        other = (true_class + 1) % classes
        third = (true_class + 2) % classes
        kind = index % 6
        if classes < 3 and kind == 3:
            kind = 0
        if kind == 0:
            row[true_class] = 0.75
            purposes.append("no tie, true class wins")
        elif kind in (1, 2):
            partner = other if kind == 1 else (true_class - 1) % classes
            row[true_class] = row[partner] = 0.5
            place = "first" if true_class < partner else "second"
            purposes.append(f"two-way tie, true class {place}")
        elif kind == 3:
            row[other] = row[third] = 0.5
            row[true_class] = 0.25
            purposes.append("two-way tie without the true class")
        elif kind == 4:
            row[:] = 0.125
            purposes.append("all classes tied")
        else:
            row[true_class] = 0.5
            row[other] = _after(0.5)
            purposes.append("almost tied (one float32 step apart), true class below")
    return rows, purposes
