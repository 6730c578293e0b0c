"""The reference loader: the course file format, its label mapping and errors."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import course_data_or_skip
from reference.loader import DataFormatError, load_dataset, read_course_file


@pytest.fixture
def course_data() -> Path:
    return course_data_or_skip()


def write(path: Path, text: str, newline: str = "\n") -> Path:
    """Write ``text`` byte for byte, with ``newline`` for each line break."""
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def write_pair(directory: Path, training: str, test: str,
               name: str = "toy", newline: str = "\n") -> str:
    write(directory / f"{name}_training.txt", training, newline)
    write(directory / f"{name}_test.txt", test, newline)
    return name


TRAINING = "1 2 a\n3 4 b\n5 6 a\n"
TEST = "7 8 b\n9 10 a\n"


@pytest.mark.parametrize(
    ("newline", "final_newline"),
    [("\n", True), ("\r\n", True), ("\n", False), ("\r\n", False)],
    ids=["lf", "crlf", "lf-no-final-newline", "crlf-no-final-newline"],
)
def test_line_endings_and_missing_final_newline_read_the_same(
    tmp_path: Path, newline: str, final_newline: bool
):
    text = TRAINING if final_newline else TRAINING.rstrip("\n")
    path = write(tmp_path / "toy_training.txt", text, newline)

    rows, labels = read_course_file(path)

    assert rows == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert labels == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("newline", "trailer"),
    [("\n", "\n"), ("\n", "\n\n\n"), ("\r\n", "\n\n"), ("\n", "\n   \n\t\n")],
    ids=["one-lf", "several-lf", "crlf", "whitespace-only-lines"],
)
def test_trailing_blank_lines_are_accepted_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], newline: str, trailer: str
):
    name = write_pair(tmp_path, TRAINING + trailer, TEST + trailer, newline=newline)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (train_x, _), (test_x, _), _ = load_dataset(tmp_path, name)

    assert train_x.shape == (3, 2)
    assert test_x.shape == (2, 2)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_blank_line_between_objects_is_an_error_naming_that_line(
    tmp_path: Path, newline: str
):
    path = write(tmp_path / "toy_training.txt", "1 2 a\n3 4 b\n\n5 6 a\n", newline)

    with pytest.raises(DataFormatError, match=re.escape(
            f"{path}, line 3: blank line between objects")) as caught:
        read_course_file(path)

    assert caught.value.line == 3
    assert caught.value.path == path


def test_labels_map_to_integers_by_first_appearance_across_both_files(
    tmp_path: Path,
):
    name = write_pair(tmp_path, "1 1 b\n2 2 a\n3 3 b\n", "4 4 c\n5 5 a\n6 6 b\n")

    (_, train_y), (_, test_y), ints_to_labels = load_dataset(tmp_path, name)

    assert ints_to_labels == {0: "b", 1: "a", 2: "c"}
    assert train_y.ravel().tolist() == [0, 1, 0]
    assert test_y.ravel().tolist() == [2, 1, 0]


def test_label_seen_only_in_the_test_file_gets_the_next_integer(tmp_path: Path):
    name = write_pair(tmp_path, "1 x\n2 y\n", "3 y\n4 z\n5 x\n")

    _, (_, test_y), ints_to_labels = load_dataset(tmp_path, name)

    assert test_y.ravel().tolist() == [1, 2, 0]
    assert ints_to_labels[2] == "z"


def test_pendigits_like_file_maps_its_first_label_8_to_0(tmp_path: Path):
    name = write_pair(
        tmp_path,
        " 47 100  27  8\n  0  89  27  2\n  0  57  31  1\n 10  20  30  8\n",
        "  5   6   7  2\n  1   2   3  8\n",
    )

    (_, train_y), (_, test_y), ints_to_labels = load_dataset(tmp_path, name)

    assert ints_to_labels[0] == "8"
    assert train_y.ravel().tolist() == [0, 1, 2, 0]
    assert test_y.ravel().tolist() == [1, 0]


@pytest.mark.parametrize(
    "tokens",
    [
        ["1.0000", "2.0000", "1.0000"],
        ["eight", "two", "eight"],
        ["class7", "class1", "class7"],
        ["1.0000", "1", "1.0"],
    ],
    ids=["float-like", "word", "prefixed", "same-number-different-token"],
)
def test_label_tokens_are_opaque_and_kept_verbatim(tmp_path: Path, tokens: list[str]):
    training = "".join(f"{i} {i + 1} {token}\n" for i, token in enumerate(tokens))
    name = write_pair(tmp_path, training, f"9 9 {tokens[0]}\n")

    (_, train_y), _, ints_to_labels = load_dataset(tmp_path, name)

    distinct = list(dict.fromkeys(tokens))
    assert ints_to_labels == dict(enumerate(distinct))
    assert [ints_to_labels[i] for i in train_y.ravel()] == tokens


def test_arrays_have_the_documented_shapes_and_dtypes(tmp_path: Path):
    name = write_pair(tmp_path, "1 2 3 a\n4 5 6 b\n7 8 9 a\n", "1.5 -2 3e2 b\n")

    (train_x, train_y), (test_x, test_y), _ = load_dataset(tmp_path, name)

    assert (train_x.shape, train_x.dtype) == ((3, 3), np.float64)
    assert (train_y.shape, train_y.dtype) == ((3, 1), np.int64)
    assert (test_x.shape, test_x.dtype) == ((1, 3), np.float64)
    assert (test_y.shape, test_y.dtype) == ((1, 1), np.int64)
    np.testing.assert_array_equal(test_x, [[1.5, -2.0, 300.0]])


def test_ints_to_labels_turns_every_label_back_into_its_token(tmp_path: Path):
    training_tokens = ["eight", "two", "class1", "two", "1.0000"]
    test_tokens = ["class1", "new", "eight"]
    name = write_pair(
        tmp_path,
        "".join(f"{i} 0 {t}\n" for i, t in enumerate(training_tokens)),
        "".join(f"{i} 0 {t}\n" for i, t in enumerate(test_tokens)),
    )

    (_, train_y), (_, test_y), ints_to_labels = load_dataset(tmp_path, name)

    assert sorted(ints_to_labels) == list(range(len(ints_to_labels)))
    assert [ints_to_labels[int(i)] for i in train_y.ravel()] == training_tokens
    assert [ints_to_labels[int(i)] for i in test_y.ravel()] == test_tokens


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("1 2 a\n3 4 b\n5 6 7 a\n", 3,
         "ragged row: expected 3 fields like the first object, found 4"),
        ("1 2 a\n3 4 b\n5 a\n", 3,
         "ragged row: expected 3 fields like the first object, found 2"),
        ("1 2 a\n3 x b\n", 2,
         "attribute 2 is 'x', not a number; only the last field may be a label"),
        ("1 2 3 a\nseven 2 3 b\n", 2, "attribute 1 is 'seven', not a number"),
        ("1 2 a\nlonely\n", 2,
         "expected at least one attribute and a label, found 1 field"),
        ("lonely\n1 2 a\n", 1,
         "expected at least one attribute and a label, found 1 field"),
    ],
    ids=["ragged-long", "ragged-short", "non-numeric-attribute",
         "non-numeric-first-column", "single-field", "single-field-first-line"],
)
def test_malformed_line_raises_naming_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
):
    path = write(tmp_path / "toy_training.txt", text)

    with pytest.raises(DataFormatError,
                       match=re.escape(f"{path}, line {line}: {problem}")) as caught:
        read_course_file(path)

    assert (caught.value.path, caught.value.line) == (path, line)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "the file holds no objects"),
     ("\n\n   \n\r\n", "the file holds no objects")],
    ids=["empty", "only-blank-lines"],
)
def test_file_without_objects_raises_naming_the_file(
    tmp_path: Path, text: str, problem: str
):
    path = write(tmp_path / "toy_training.txt", text)

    with pytest.raises(DataFormatError, match=re.escape(f"{path}: {problem}")):
        read_course_file(path)


def test_missing_file_raises_naming_the_file_and_the_expected_pair(tmp_path: Path):
    write(tmp_path / "toy_training.txt", TRAINING)
    missing = tmp_path / "toy_test.txt"

    with pytest.raises(DataFormatError, match=re.escape(
            f"{missing}: file not found; expected <name>_training.txt and "
            "<name>_test.txt")) as caught:
        load_dataset(tmp_path, "toy")

    assert caught.value.line is None


def test_error_in_the_test_file_names_the_test_file(tmp_path: Path):
    name = write_pair(tmp_path, TRAINING, "7 8 b\n9 ten a\n")

    with pytest.raises(DataFormatError, match=re.escape(
            f"{tmp_path / 'toy_test.txt'}, line 2: attribute 2 is 'ten'")):
        load_dataset(tmp_path, name)


def test_training_and_test_attribute_counts_must_match(tmp_path: Path):
    name = write_pair(tmp_path, TRAINING, "7 8 9 b\n")

    with pytest.raises(DataFormatError, match=re.escape(
            f"{tmp_path / 'toy_test.txt'}, line 1: 3 attributes, but the "
            "training file has 2")):
        load_dataset(tmp_path, name)


def test_data_format_error_is_a_value_error():
    assert issubclass(DataFormatError, ValueError)


@pytest.mark.parametrize("dataset", ["pendigits", "pendigits_string"])
def test_course_pendigits_has_the_documented_shapes(course_data: Path, dataset: str):
    (train_x, train_y), (test_x, test_y), ints_to_labels = load_dataset(
        course_data, dataset)

    assert train_x.shape == (7494, 16)
    assert train_y.shape == (7494, 1)
    assert test_x.shape == (3498, 16)
    assert test_y.shape == (3498, 1)
    assert len(ints_to_labels) == 10
    assert set(np.unique(np.concatenate([train_y, test_y]))) == set(range(10))


def test_course_pendigits_integer_0_means_the_digit_8(course_data: Path):
    _, _, ints_to_labels = load_dataset(course_data, "pendigits")

    assert ints_to_labels[0] == "8"


def test_course_satellite_labels_1_to_7_without_6_give_6_classes(course_data: Path):
    (train_x, train_y), (test_x, _), ints_to_labels = load_dataset(
        course_data, "satellite")

    assert (train_x.shape, test_x.shape) == ((4435, 36), (2000, 36))
    assert len(ints_to_labels) == 6
    assert {float(token) for token in ints_to_labels.values()} == {1, 2, 3, 4, 5, 7}
    assert int(train_y.max()) == 5
