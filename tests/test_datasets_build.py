"""The bundled UCI data sets: rebuilt exactly, loadable, and split as documented."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from grader import _datasets_build as build
from grader._resources import bundled_datasets_dir
from reference.loader import load_dataset

# name: (rows, attributes, label tokens, training rows)
EXPECTED = {
    "iris": (150, 4, {"setosa", "versicolor", "virginica"}, 105),
    "wine": (178, 13, {"class_0", "class_1", "class_2"}, 125),
    "breast_cancer": (569, 30, {"malignant", "benign"}, 398),
    "digits": (1797, 64, {str(digit) for digit in range(10)}, 1258),
}

SHIPPED_FILES = sorted(
    f"{name}_{part}.txt" for name in EXPECTED for part in ("training", "test")
)


def test_expected_table_covers_every_built_set():
    assert set(EXPECTED) == set(build.DATASET_NAMES)


def test_shipped_files_are_identical_to_a_fresh_rebuild(tmp_path: Path):
    pytest.importorskip("sklearn")
    written = build.build_datasets(tmp_path)

    assert sorted(path.name for path in written) == SHIPPED_FILES
    shipped_dir = bundled_datasets_dir()
    for name in SHIPPED_FILES:
        shipped = (shipped_dir / name).read_bytes()
        rebuilt = (tmp_path / name).read_bytes()
        assert shipped == rebuilt, (
            f"{shipped_dir / name} differs from a rebuild; run "
            "'nngrade build-datasets' and commit the result"
        )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_set_loads_with_expected_shapes_and_labels(name: str):
    rows, attributes, tokens, training_rows = EXPECTED[name]
    directory = bundled_datasets_dir()

    (train_x, train_y), (test_x, test_y), ints_to_labels = load_dataset(
        directory, name
    )

    assert train_x.shape == (training_rows, attributes)
    assert test_x.shape == (rows - training_rows, attributes)
    assert train_y.shape == (training_rows, 1)
    assert test_y.shape == (rows - training_rows, 1)
    assert set(ints_to_labels.values()) == tokens
    assert sorted(ints_to_labels) == list(range(len(tokens)))
    assert (train_x >= 0).all() and (test_x >= 0).all()

    # Integers follow first appearance, training file first, so reading the
    # label column of both files in order must give 0, 1, 2, ... as they
    # first occur.
    file_tokens = [
        line.split()[-1]
        for part in ("training", "test")
        for line in (directory / f"{name}_{part}.txt").read_text().splitlines()
    ]
    first_seen = list(dict.fromkeys(file_tokens))
    assert [ints_to_labels[i] for i in range(len(first_seen))] == first_seen
    decoded = [ints_to_labels[int(i)] for i in np.vstack([train_y, test_y]).ravel()]
    assert decoded == file_tokens


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_set_holds_sklearn_values_exactly(name: str):
    datasets = pytest.importorskip("sklearn.datasets")
    bunch = getattr(datasets, f"load_{name}")()
    tokens = [str(bunch.target_names[i]) for i in bunch.target]
    training_rows, test_rows = build.split_indices(tokens)

    (train_x, train_y), (test_x, test_y), ints_to_labels = load_dataset(
        bundled_datasets_dir(), name
    )

    np.testing.assert_array_equal(train_x, bunch.data[training_rows])
    np.testing.assert_array_equal(test_x, bunch.data[test_rows])
    assert [ints_to_labels[int(i)] for i in train_y.ravel()] == [
        tokens[row] for row in training_rows
    ]
    assert [ints_to_labels[int(i)] for i in test_y.ravel()] == [
        tokens[row] for row in test_rows
    ]


def test_split_is_stratified_seventy_percent_rounded_half_up():
    # Class sizes 50, 5 and 3 give quotas 35, 4 (3.5 rounds up) and 2 (2.1).
    labels = ["a"] * 50 + ["b"] * 5 + ["c"] * 3
    training, test = build.split_indices(labels)

    assert sorted(np.concatenate([training, test]).tolist()) == list(range(58))
    counts = {label: 0 for label in "abc"}
    for row in training.tolist():
        counts[labels[row]] += 1
    assert counts == {"a": 35, "b": 4, "c": 2}


def test_split_follows_the_seeded_permutation():
    labels = [0, 1] * 20
    training, test = build.split_indices(labels, seed=3)
    order = np.random.RandomState(3).permutation(len(labels)).tolist()

    training_set, test_set = set(training.tolist()), set(test.tolist())

    assert training.tolist() == [row for row in order if row in training_set]
    assert test.tolist() == [row for row in order if row in test_set]
    # Within each class, the first 14 rows of the permutation are training.
    for label in (0, 1):
        in_class = [row for row in order if labels[row] == label]
        assert set(in_class[:14]) == {r for r in training_set if labels[r] == label}


def test_cli_writes_the_eight_files(tmp_path: Path, capsys: pytest.CaptureFixture):
    pytest.importorskip("sklearn")

    status = build.main(["--out", str(tmp_path)])

    assert status == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == SHIPPED_FILES
    printed = capsys.readouterr().out.splitlines()
    assert sorted(Path(line).name for line in printed) == SHIPPED_FILES


def test_missing_sklearn_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "sklearn", None)

    with pytest.raises(ImportError, match=r"pip install 'nngrade\[rebuild\]'"):
        build.build_datasets(tmp_path)
    assert build.main(["--out", str(tmp_path)]) == 2
    assert "nngrade[rebuild]" in capsys.readouterr().err
