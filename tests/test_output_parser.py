"""Parsing and reviewing what a student's program prints (forms A and B)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from grader._judge import Reference
from grader._output_check import check_printed_output
from grader._output_parser import (
    FINDINGS,
    ParsedOutput,
    final_accuracy,
    object_mean,
    parse_output,
    review_output,
)
from grader._result import Check, Defect

#: Eight test objects with string labels, ties of sizes 2, 3 and 4 among them.
TRUE = ["eight", "two", "one", "four", "eight", "two", "seven", "one"]
PREDICTED = ["eight", "four", "one", "four", "eight", "one", "two", "one"]
ACCURACIES = [1.0, 0.0, 0.5, 1 / 3, 1.0, 0.25, 0.0, 1.0]
LABELS = {"eight", "two", "one", "four", "seven"}
MEAN = sum(ACCURACIES) / len(ACCURACIES)

#: The same objects in a data set whose labels are numbers (satellite-like).
NUMERIC_TRUE = ["7", "2", "1", "4", "7", "2", "5", "1"]
NUMERIC_PREDICTED = ["7", "4", "1", "4", "7", "1", "2", "1"]
NUMERIC_LABELS = {"1", "2", "3", "4", "5", "7"}

KERAS3_BAR = ("\x1b[1m1/1\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m "
              "\x1b[1m0s\x1b[0m 25ms/step")
KERAS2_BAR = "1/1 [==============================] - 0s 25ms/step"
#: What Keras 3.15 writes for one predict() call into a pipe: the bar drawn,
#: erased with backspaces, and drawn again with the final timing.
KERAS3_PREDICT = ("\r" + KERAS3_BAR.replace("25ms", "14ms") + "\b" * 37 + "\r"
                  + KERAS3_BAR + "\n")

KERAS3_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┓
┃ Layer (type)                 ┃ Output Shape        ┃    Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━┩
│ dense (Dense)                │ (None, 50)          │        850 │
├──────────────────────────────┼─────────────────────┼────────────┤
│ dense_1 (Dense)              │ (None, 5)           │        255 │
└──────────────────────────────┴─────────────────────┴────────────┘
 Total params: 1,105 (4.32 KB)
 Trainable params: 1,105 (4.32 KB)
 Non-trainable params: 0 (0.00 B)
"""

KERAS2_SUMMARY = """\
Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #
=================================================================
 dense (Dense)               (None, 50)                850

 dense_1 (Dense)             (None, 5)                 255

=================================================================
Total params: 1,105
Trainable params: 1,105
Non-trainable params: 0
_________________________________________________________________
"""

#: Two epochs as Keras 3 prints them into a pipe: header, then a coloured bar.
KERAS3_EPOCHS = "".join(
    f"Epoch {e}/2\n\x1b[1m235/235\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m"
    f"\x1b[37m\x1b[0m \x1b[1m1s\x1b[0m 2ms/step - accuracy: 0.{e}012 - loss: 1.60\n"
    for e in (1, 2)
)

#: Two epochs as Keras 2 draws them on a terminal: redrawn with \b and \r.
KERAS2_EPOCHS = "".join(
    f"Epoch {e}/2\n"
    "  1/235 [..............................] - ETA: 1:02 - loss: 2.30 - accuracy:"
    " 0.10" + "\b" * 70 + "\r"
    " 50/235 [=====>........................] - ETA: 0s - loss: 1.90 - accuracy:"
    " 0.40" + "\b" * 70 + "\r"
    "235/235 [==============================] - 1s 2ms/step - loss: 1.20 - accuracy:"
    " 0.60\n"
    for e in (1, 2)
)

CHATTER = ("Loading data from /data/yeast_string_training.txt\n"
           "Training accuracy: 0.95\n"
           "normalizing by 100.0\n")


def object_line(identifier: int, predicted: str, true: str, accuracy: float) -> str:
    return (f"ID={identifier:5d}, predicted={predicted:>10}, true={true:>10}, "
            f"accuracy={accuracy:4.2f}")


def course_output(predicted: list[str] = PREDICTED, true: list[str] = TRUE,
                  accuracies: list[float] = ACCURACIES, *, first_id: int = 0,
                  final: str | None = None, before_each: str = "",
                  blank: bool = True) -> str:
    """Output as the course's print statements write it: a blank line after each."""
    end = "\n\n" if blank else "\n"
    rows = [
        before_each + object_line(i + first_id, p, t, a) + end
        for i, (p, t, a) in enumerate(zip(predicted, true, accuracies))
    ]
    if final is None:
        final = f"classification accuracy={sum(accuracies) / len(accuracies):6.4f}"
    return "".join(rows) + (final + end if final else "")


def objects(parsed: ParsedOutput) -> list[tuple]:
    return [(o.id, o.predicted, o.true, o.accuracy) for o in parsed.lines]


EXPECTED_OBJECTS = [
    (i, p, t, round(a, 2))
    for i, (p, t, a) in enumerate(zip(PREDICTED, TRUE, ACCURACIES))
]


def codes(text: str, true: list[str] = TRUE, labels: set[str] = LABELS) -> list[str]:
    return [f.code for f in review_output(parse_output(text), true, labels)]


# -- clean output -------------------------------------------------------------

def test_clean_output_parses_to_the_exact_lines_and_final_value():
    parsed = parse_output(course_output())

    assert objects(parsed) == EXPECTED_OBJECTS
    assert [o.line_number for o in parsed.lines] == [1, 3, 5, 7, 9, 11, 13, 15]
    assert parsed.lines[3].accuracy_text == "0.33"
    assert parsed.lines[0].text == object_line(0, "eight", "eight", 1.0)
    [final] = parsed.final_lines
    assert (final.value, final.is_percent, final.standard, final.line_number) == (
        0.5104, False, True, 17)
    assert final.wording == "classification accuracy="
    assert final_accuracy(parsed) == 0.5104
    assert (parsed.progress_bar_lines, parsed.summary_lines, parsed.epoch_lines,
            parsed.chatter_lines, parsed.chatter_count) == (0, 0, 0, [], 0)


@pytest.mark.parametrize(
    ("predicted", "true", "labels"),
    [(PREDICTED, TRUE, LABELS), (NUMERIC_PREDICTED, NUMERIC_TRUE, NUMERIC_LABELS)],
    ids=["string-labels", "numeric-labels"],
)
def test_clean_output_has_no_findings(predicted, true, labels):
    assert codes(course_output(predicted, true), true, labels) == []


# -- lenient parsing ----------------------------------------------------------

NOISE: dict[str, tuple[Callable[[], str], dict[str, int]]] = {
    "no-blank-lines": (lambda: course_output(blank=False), {}),
    "keras3-bar-before-each-object": (
        lambda: course_output(before_each=KERAS3_BAR + "\n"),
        {"progress_bar_lines": 8}),
    "keras3-predict-as-piped": (
        lambda: course_output(before_each=KERAS3_PREDICT),
        {"progress_bar_lines": 8}),
    "keras2-bar-before-each-object": (
        lambda: course_output(before_each=KERAS2_BAR + "\n"),
        {"progress_bar_lines": 8}),
    "bar-drawn-with-carriage-returns": (
        lambda: course_output(before_each="\r" + KERAS2_BAR + "\r\n"),
        {"progress_bar_lines": 8}),
    "bar-then-print-without-newline": (
        lambda: course_output(before_each="\r" + KERAS3_BAR + "\r"),
        {"progress_bar_lines": 8}),
    "bar-erased-with-backspaces": (
        lambda: course_output(before_each=KERAS2_BAR + "\b" * 52),
        {"progress_bar_lines": 8}),
    "keras3-summary": (lambda: KERAS3_SUMMARY + course_output(),
                       {"summary_lines": 11}),
    "keras2-summary": (lambda: KERAS2_SUMMARY + course_output(),
                       {"summary_lines": 11}),
    "keras3-epoch-log": (lambda: KERAS3_EPOCHS + course_output(), {"epoch_lines": 4}),
    "keras2-epoch-log-redrawn": (lambda: KERAS2_EPOCHS + course_output(),
                                 {"epoch_lines": 4}),
    "chatter": (lambda: CHATTER + course_output() + "done.\n", {"chatter_count": 4}),
    "crlf": (lambda: course_output().replace("\n", "\r\n"), {}),
    "extra-spaces": (
        lambda: "".join(
            f"   ID=  {i} ,predicted =  {p} ,  true={t},accuracy =  {a:.2f}  \n"
            for i, p, t, a in EXPECTED_OBJECTS)
        + "  classification  accuracy =  0.5104 \n",
        {}),
    "everything-at-once": (
        lambda: (CHATTER + KERAS2_SUMMARY + KERAS3_EPOCHS + KERAS3_BAR + "\n"
                 + course_output().replace("\n", "\r\n")),
        {"summary_lines": 11, "epoch_lines": 4, "progress_bar_lines": 1,
         "chatter_count": 3}),
}


@pytest.mark.parametrize("name", list(NOISE), ids=list(NOISE))
def test_noise_around_the_lines_does_not_change_what_is_parsed(name: str):
    make, counts = NOISE[name]
    parsed = parse_output(make())

    assert objects(parsed) == EXPECTED_OBJECTS
    assert [f.value for f in parsed.final_lines] == [0.5104]
    assert final_accuracy(parsed) == 0.5104
    found = {key: getattr(parsed, key) for key in (
        "progress_bar_lines", "summary_lines", "epoch_lines", "chatter_count")}
    assert found == {"progress_bar_lines": 0, "summary_lines": 0, "epoch_lines": 0,
                     "chatter_count": 0, **counts}


@pytest.mark.parametrize(
    "name",
    ["no-blank-lines", "keras3-summary", "keras2-epoch-log-redrawn", "chatter",
     "crlf", "extra-spaces", "everything-at-once"],
)
def test_noise_alone_is_no_finding(name: str):
    assert codes(NOISE[name][0]()) == []


def test_chatter_keeps_the_first_twenty_lines_and_counts_all():
    parsed = parse_output("".join(f"step {i}\n" for i in range(30)) + course_output())

    assert parsed.chatter_count == 30
    assert parsed.chatter_lines == [f"step {i}" for i in range(20)]


@pytest.mark.parametrize(
    ("text", "bars"),
    [("\r 1/9 ━━\r 5/9 ━━━━━\r 9/9 ━━━━━━━━━ 0s 2ms/step\n", 1),
     ("\r1/1 ━━━━ 0s 1ms/step" + "\b" * 20 + "\r1/1 ━━━━ 0s 2ms/step\n", 1),
     (KERAS3_PREDICT * 3, 3),
     ("\r 5/9 ━━━━━\r 1/9 ━━━━━━━━━ 0s 2ms/step\n", 2),
     ("1/1 ━━━━ 0s 2ms/step\n\n1/1 ━━━━ 0s 2ms/step\n", 2)],
    ids=["one-bar-redrawn", "redrawn-at-the-same-step", "keras3-predict-three-times",
         "step-goes-back", "two-bars-two-lines"],
)
def test_a_bar_redrawn_in_place_counts_once(text: str, bars: int):
    assert parse_output(text).progress_bar_lines == bars


# -- findings -----------------------------------------------------------------

def _swap(items: list, a: int, b: int) -> list:
    items = list(items)
    items[a], items[b] = items[b], items[a]
    return items


def _out_of_order() -> str:
    rows = [object_line(i, p, t, a)
            for i, (p, t, a) in enumerate(zip(PREDICTED, TRUE, ACCURACIES))]
    rows = _swap(rows, 2, 3)
    return "\n".join(rows) + f"\nclassification accuracy={MEAN:6.4f}\n"


def _sum_over(count: int) -> str:
    return f"classification accuracy={sum(ACCURACIES) / count:6.4f}"


#: name -> (output, expected findings, (true labels, label set) or None)
CASES: dict[str, tuple[Callable[[], str], set[str], tuple | None]] = {
    "ids-from-one": (lambda: course_output(first_id=1), {"ids_from_one"}, None),
    "missing-line": (
        lambda: course_output(PREDICTED[:-1], TRUE[:-1], ACCURACIES[:-1]),
        {"object_count", "missing_ids"}, None),
    "extra-line": (
        lambda: course_output(PREDICTED + ["one"], TRUE + ["one"], ACCURACIES + [1]),
        {"object_count", "extra_ids"}, None),
    "duplicate-id": (
        lambda: course_output() + object_line(3, "four", "four", 1.0) + "\n",
        {"object_count", "duplicate_ids"}, None),
    "ids-out-of-order": (_out_of_order, {"ids_out_of_order"}, None),
    "true-and-predicted-as-indices": (
        lambda: course_output(
            ["0", "3", "2", "3", "0", "2", "1", "2"],
            ["0", "1", "2", "3", "0", "1", "4", "2"]),
        {"labels_as_indices"}, None),
    "numeric-labels-as-indices": (
        lambda: course_output(
            ["4", "2", "0", "2", "4", "0", "1", "0"],
            ["4", "1", "0", "2", "4", "1", "3", "0"]),
        {"labels_as_indices"}, (NUMERIC_TRUE, NUMERIC_LABELS)),
    "predicted-only-as-indices": (
        lambda: course_output(["0", "3", "2", "3", "0", "2", "1", "2"]),
        {"labels_as_indices"}, None),
    "one-element-arrays": (
        lambda: course_output([f"[{t}]" for t in PREDICTED],
                              [f"['{t}']" for t in TRUE]),
        {"labels_bracketed"}, None),
    "numpy-repr-arrays": (
        lambda: course_output([f"array(['{t}'])" for t in PREDICTED]),
        {"labels_bracketed"}, None),
    "arrays-of-indices": (
        lambda: course_output(["[0]", "[3]", "[2]", "[3]", "[0]", "[2]", "[1]", "[2]"],
                              ["[0]", "[1]", "[2]", "[3]", "[0]", "[1]", "[4]", "[2]"]),
        {"labels_bracketed", "labels_as_indices"}, None),
    "labels-as-floats": (
        lambda: course_output([f"{t}.0" for t in NUMERIC_PREDICTED],
                              [f"{t}.0" for t in NUMERIC_TRUE]),
        {"labels_reformatted"}, (NUMERIC_TRUE, NUMERIC_LABELS)),
    "true-labels-drift": (
        lambda: course_output(true=_swap(TRUE, 1, 2)),
        {"true_labels_mismatch"}, None),
    "labels-unrecognized": (
        lambda: course_output(true=["None"] * 8), {"labels_unrecognized"}, None),
    "object-accuracy-percent": (
        lambda: course_output(accuracies=[a * 100 for a in ACCURACIES], final=""
                              ) + _sum_over(8) + "\n",
        {"object_accuracy_out_of_range"}, None),
    "object-accuracy-missing": (
        lambda: course_output().replace(", accuracy=0.33", ""),
        {"object_accuracy_unreadable"}, None),
    "final-percentage": (
        lambda: course_output(final="classification accuracy=%.2f%%" % (MEAN * 100)),
        {"final_percentage"}, None),
    "final-percentage-without-sign": (
        lambda: course_output(final="classification accuracy=%.4f" % (MEAN * 100)),
        {"final_percentage"}, None),
    "final-twice": (
        lambda: course_output() + _sum_over(8) + "\n", {"final_repeated"}, None),
    "final-other-wording": (
        lambda: course_output(final=f"Accuracy: {MEAN:.4f}"), {"final_wording"}, None),
    "final-test-accuracy-equals": (
        lambda: course_output(final=f"test accuracy = {MEAN:.2f}"),
        {"final_wording"}, None),
    "lecture-style-final": (
        lambda: course_output() + "Test accuracy: %.2f%%\n" % (MEAN * 100),
        {"final_wording", "final_repeated", "final_percentage"}, None),
    "final-over-n-plus-one": (
        lambda: course_output(final=_sum_over(9)),
        {"final_divided_by_n_plus_one"}, None),
    "final-inconsistent": (
        lambda: course_output(final="classification accuracy=0.8125"),
        {"final_inconsistent"}, None),
    "final-missing": (lambda: course_output(final=""), {"final_missing"}, None),
    "final-unreadable": (
        lambda: course_output(final="classification accuracy=None"),
        {"final_unreadable"}, None),
    "no-object-lines": (
        lambda: KERAS3_SUMMARY + "classification accuracy=0.5104\n",
        {"no_object_lines"}, None),
    "progress-bar-per-object": (
        lambda: course_output(before_each=KERAS3_BAR + "\n"),
        {"progress_bar_per_object"}, None),
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_each_problem_gives_its_finding_and_no_other(name: str):
    make, expected, data = CASES[name]
    true, labels = data or (TRUE, LABELS)
    findings = review_output(parse_output(make()), true, labels)

    assert {f.code for f in findings} == expected
    for finding in findings:
        assert finding.defect == FINDINGS[finding.code][0]
        assert finding.message.endswith(".") and "\n" not in finding.message


def test_every_finding_code_has_a_case():
    produced = set().union(*(expected for _, expected, _ in CASES.values()))
    assert produced == set(FINDINGS)


@pytest.mark.parametrize(
    ("name", "code", "defect", "words"),
    [("ids-from-one", "ids_from_one", 11, ["start at 1", "line 1", "ID=    1"]),
     ("true-and-predicted-as-indices", "labels_as_indices", 7,
      ["true=0 where the label is eight", "line 1"]),
     ("one-element-arrays", "labels_bracketed", 7, ["[eight]", "line 1"]),
     ("final-percentage", "final_percentage", 10, ["51.04%", "line 17", "0.5104 here"]),
     ("final-twice", "final_repeated", 10, ["2 times", "lines 17 and 19"]),
     ("final-other-wording", "final_wording", 10, ["Accuracy: 0.5104"]),
     ("final-over-n-plus-one", "final_divided_by_n_plus_one", 10,
      ["0.5104", "0.4537", "divided by 9"]),
     ("progress-bar-per-object", "progress_bar_per_object", 9,
      ["8 Keras progress bars", "8 test objects", "verbose=0"]),
     ("missing-line", "missing_ids", None, ["IDs 0 to 7", "ID 7"])],
    ids=["ids-from-one", "indices", "bracketed", "percentage", "twice", "wording",
         "n-plus-one", "progress-bars", "missing"],
)
def test_messages_name_what_was_expected_and_where(name, code, defect, words):
    make, _, data = CASES[name]
    true, labels = data or (TRUE, LABELS)
    [finding] = [f for f in review_output(parse_output(make()), true, labels)
                 if f.code == code]

    assert finding.defect == defect
    for word in words:
        assert word in finding.message
    if defect is not None:
        assert finding.to_defect() == Defect(defect, FINDINGS[code][1])
    else:
        assert finding.to_defect() is None


def test_one_based_ids_are_not_also_reported_as_missing_or_extra():
    findings = review_output(parse_output(course_output(first_id=1)), TRUE, LABELS)

    assert [f.code for f in findings] == ["ids_from_one"]
    assert findings[0].line_number == 1


def test_ids_without_an_id_one_are_not_taken_for_counting_from_one():
    text = object_line(8, "one", "one", 1.0) + "\nclassification accuracy=1.0000\n"

    found = codes(text)

    assert "ids_from_one" not in found
    assert {"object_count", "missing_ids", "extra_ids"} <= set(found)


def test_without_expected_labels_only_the_form_is_checked():
    assert codes(course_output(first_id=1), [], set()) == ["ids_from_one"]
    assert codes(course_output(), [], set()) == []


# -- the final accuracy -------------------------------------------------------

@pytest.mark.parametrize(
    ("final", "expected"),
    [("classification accuracy=0.5104", 0.5104),
     ("classification accuracy=51.04%", 0.5104),
     ("classification accuracy=51.04", 0.5104),
     ("Accuracy: 0.51", 0.51),
     ("classification accuracy=0.5104\nclassification accuracy=0.51", 0.5104),
     ("Test accuracy: 0.81\nclassification accuracy=0.5104", 0.5104),
     ("classification accuracy=0.5104\nclassification accuracy=0.6000", None),
     ("classification accuracy=nan", None),
     ("classification accuracy=150.0", None),
     ("", None)],
    ids=["fraction", "percent", "percent-without-sign", "other-wording",
         "twice-agreeing", "course-wording-preferred", "twice-disagreeing", "nan",
         "above-100", "missing"],
)
def test_final_accuracy_is_a_fraction_when_unambiguous(final: str, expected):
    parsed = parse_output(course_output(final=final))

    assert final_accuracy(parsed) == pytest.approx(expected)


@pytest.mark.parametrize(
    "line",
    ["Training accuracy: 0.95", "val_accuracy: 0.9",
     "accuracy improved from 0.5 to 0.6", "computing accuracy for 3498 objects",
     "ID=3, true=8, accuracy=1.00", "predicted=8, true=8, accuracy=1.00"],
    ids=["training", "validation", "improved-from", "for-n-objects",
         "object-without-predicted", "object-without-id"],
)
def test_lines_that_only_resemble_reports_are_chatter(line: str):
    parsed = parse_output(line + "\n")

    assert (parsed.lines, parsed.final_lines, parsed.chatter_lines) == ([], [], [line])


# -- robustness ---------------------------------------------------------------

def _junk(seed: int) -> str:
    rng = random.Random(seed)
    alphabet = "ID=predictrueacuy,[]%:\r\n\b\x1b0123456789. \t━─┃/-"
    pieces = [rng.choice(alphabet) for _ in range(20_000)]
    pieces += [chr(rng.randrange(0x110000)) for _ in range(2_000)]
    rng.shuffle(pieces)
    return "".join(pieces)


PATHOLOGICAL = {
    "long-escape": "\x1b[" + "0" * 1_000_000,
    "many-ids": "ID=1, " * 200_000,
    "many-half-objects": "ID=1, predicted=" * 60_000,
    "long-blank-line": " " * 1_000_000 + "\n" + "\t" * 1_000_000,
    "long-word-before-accuracy": "x" * 1_000_000 + " accuracy" + " " * 1_000_000,
    "huge-id": "ID=" + "9" * 1_000_000 + ", predicted=1, true=1, accuracy=1",
    "huge-number": "classification accuracy=" + "9" * 1_000_000,
    "long-bar": "1/" + "1" * 1_000_000 + " [" + "=" * 1_000_000,
    "backspaces": "\b" * 1_000_000,
    "carriage-returns": "\r" * 1_000_000,
    "summary-underscores": "_" * 1_000_000 + "x",
    "blank-lines": "\n" * 2_000_000,
    "nul-bytes": "\x00" * 100_000,
    "lone-surrogates": "\ud800ID=\udfff" * 1000,
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL), ids=list(PATHOLOGICAL))
def test_pathological_lines_do_not_raise(name: str):
    parsed = parse_output(PATHOLOGICAL[name])
    review_output(parsed, TRUE, LABELS)
    final_accuracy(parsed)


@pytest.mark.parametrize("seed", range(5))
def test_random_junk_does_not_raise(seed: int):
    parsed = parse_output(_junk(seed))
    review_output(parsed, TRUE, LABELS)
    review_output(parsed, [], set())
    final_accuracy(parsed)


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfeID=\x00 binary", bytearray(b"classification accuracy=0.5"), None, 42],
    ids=["bytes", "bytearray", "none", "int"],
)
def test_input_that_is_not_text_does_not_raise(value):
    review_output(parse_output(value), TRUE, LABELS)


def test_ten_megabytes_of_output_are_parsed():
    block = course_output(before_each=KERAS3_BAR + "\n") + CHATTER
    repeats = 10_000_000 // len(block) + 1
    parsed = parse_output(block * repeats)

    assert len(parsed.lines) == 8 * repeats
    assert parsed.progress_bar_lines == 8 * repeats
    assert len(parsed.final_lines) == repeats
    codes_found = {f.code for f in review_output(parsed, TRUE, LABELS)}
    assert {"object_count", "duplicate_ids", "final_repeated"} <= codes_found


# -- the printed-output check: one mistake, one check's points -----------------

def test_object_mean_averages_the_first_line_of_each_id():
    doubled = course_output() + object_line(0, "two", "eight", 0.0) + "\n"

    assert object_mean(parse_output(course_output()), 5) == pytest.approx(MEAN)
    assert object_mean(parse_output(doubled), 5) == pytest.approx(MEAN)


@pytest.mark.parametrize("text", [
    "classification accuracy=0.5000\n",
    "ID=    0, predicted=eight, true=eight, accuracy=\n",
    "ID=    0, predicted=eight, true=eight, accuracy=1.50\n",
], ids=["no-lines", "unreadable", "out-of-range"])
def test_object_mean_is_none_without_usable_lines(text):
    assert object_mean(parse_output(text), 5) is None


def printed_reference(true: list[str] = TRUE) -> Reference:
    names = list(dict.fromkeys(true))
    labels = np.array([[names.index(token)] for token in true])
    inputs = np.zeros((len(true), 2))
    return Reference(inputs, labels, inputs, labels, dict(enumerate(names)), [0.9])


def printed_check(text: str, true: list[str] = TRUE, **reported) -> Check:
    return check_printed_output(1.0, text, printed_reference(true), "nn_keras()",
                                **reported)


N_PLUS_ONE_LINE = f"classification accuracy={sum(ACCURACIES) / 9:6.4f}"
PERCENT_LINE = f"classification accuracy={100 * MEAN:.2f}%"


@pytest.mark.parametrize("reported", [
    pytest.param({}, id="final-line-is-the-report"),
    pytest.param({"reported": sum(ACCURACIES) / 9}, id="same-value-returned"),
])
def test_a_final_line_divided_by_n_plus_one_is_left_to_the_reported_check(reported):
    check = printed_check(course_output(final=N_PLUS_ONE_LINE), **reported)

    assert (check.status, check.points, check.defect) == ("passed", 1.0, None)
    assert "Reported accuracy check takes the points" in check.message
    assert any(d.startswith("judged under Reported accuracy: The overall accuracy "
                            "should be the mean") for d in check.details)


def test_a_percentage_returned_and_printed_is_left_to_the_reported_check():
    check = printed_check(course_output(final=PERCENT_LINE), reported=100 * MEAN)

    assert (check.status, check.points) == ("passed", 1.0)
    assert any("as a percentage" in detail for detail in check.details)


@pytest.mark.parametrize(("final", "reported", "code"), [
    # Form B: the reported-accuracy check reads a percentage as its fraction,
    # so only this check can charge the percent sign.
    pytest.param(PERCENT_LINE, {}, "final_percentage", id="percentage-printed"),
    pytest.param(PERCENT_LINE, {"reported": MEAN}, "final_percentage",
                 id="percentage-printed-fraction-returned"),
    pytest.param(N_PLUS_ONE_LINE, {"reported": MEAN}, "final_divided_by_n_plus_one",
                 id="n-plus-one-printed-right-value-returned"),
    pytest.param(N_PLUS_ONE_LINE, {"reported": "'0.45'"},
                 "final_divided_by_n_plus_one", id="returned-value-not-a-number"),
])
def test_a_wrong_final_line_the_reported_check_does_not_judge_is_charged_here(
        final, reported, code):
    check = printed_check(course_output(final=final), **reported)

    assert (check.status, check.points) == ("failed", 0.0)
    assert check.defect == Defect(10, FINDINGS[code][1])


def test_n_plus_one_within_the_reported_checks_tolerance_is_charged_here():
    # Over 2000 objects, N + 1 moves the accuracy by less than the reported
    # check's tolerance: that check passes it, so this one must not.
    true = TRUE * 250
    accuracies = [1.0 if i % 10 else 0.0 for i in range(len(true))]
    final = f"classification accuracy={sum(accuracies) / (len(true) + 1):6.4f}"

    check = printed_check(course_output(true, true, accuracies, final=final), true)

    assert (check.status, check.defect) == (
        "failed", Defect(10, "overall accuracy divided by N + 1"))


def test_the_left_finding_is_still_shown_when_another_one_fails_the_check():
    check = printed_check(course_output(first_id=1, final=N_PLUS_ONE_LINE))

    assert check.status == "failed"
    assert check.defect == Defect(11, "IDs starting at 1")
    assert any(d.startswith("judged under Reported accuracy") for d in check.details)
