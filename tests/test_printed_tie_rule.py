"""Forms B and C: the tie rule judged from what the program printed while its
predict() calls answered with outputs the grader chose."""

from __future__ import annotations

import numpy as np
import pytest

from grader._judge import Reference
from grader._output_check import check_printed_tie_rule
from grader._probes import printed_tie_probe
from grader._records import StepRecord
from reference import object_accuracy

LABELS = np.array([[0], [1], [2], [3], [2], [1], [0], [3], [1], [2], [0], [3]])


def reference() -> Reference:
    mapping = {0: "a", 1: "b", 2: "c", 3: "d"}
    inputs = np.zeros((len(LABELS), 2))
    return Reference(inputs, LABELS, inputs, LABELS, mapping, [0.9])


def printed(rule, final_only: bool = False) -> str:
    outputs, _ = printed_tie_probe(LABELS, 4)
    scores = [rule(row, int(t)) for row, t in zip(outputs, LABELS.ravel())]
    lines = [] if final_only else [
        f"ID={i:5d}, predicted={'a':>10}, true={'a':>10}, accuracy={s:4.2f}"
        for i, s in enumerate(scores)]
    lines.append(f"classification accuracy={np.mean(scores):6.4f}")
    return "\n".join(lines) + "\n"


def first_maximum_only(row, true_class):
    return 1.0 if int(np.argmax(row)) == true_class else 0.0


def judge(stdout: str, ok: bool = True):
    record = StepRecord("nn_keras_probe", ok, stdout=stdout,
                        error={} if ok else {"type": "ValueError", "message": "x"})
    return check_printed_tie_rule(2.0, record, reference(), "nn_keras()")


def test_the_probe_puts_the_true_class_in_every_kind_of_tie():
    outputs, purposes = printed_tie_probe(LABELS, 4)
    scores = {round(object_accuracy(row, int(t)), 4)
              for row, t in zip(outputs, LABELS.ravel())}

    assert scores == {1.0, 0.5, 0.0, 0.25}
    assert {"two-way tie, true class first", "two-way tie, true class second",
            "all classes tied"} <= set(purposes)


@pytest.mark.parametrize("final_only", [False, True], ids=["per-object", "final-line"])
def test_a_correct_rule_passes(final_only):
    check = judge(printed(object_accuracy, final_only))

    assert (check.status, check.points) == ("passed", 2.0), check.message


@pytest.mark.parametrize("final_only", [False, True], ids=["per-object", "final-line"])
def test_credit_only_for_the_first_maximum_is_named(final_only):
    check = judge(printed(first_maximum_only, final_only))

    assert (check.status, check.points) == ("failed", 0.0)
    assert check.defect.number == 1
    assert "first maximal class" in check.message


def test_output_with_nothing_readable_fails_and_says_why():
    check = judge("chatter only\n")

    assert check.status == "failed"
    assert "could not be judged" in check.message


def test_a_crash_in_the_probe_run_fails_the_check():
    check = judge("", ok=False)

    assert check.status == "failed"
    assert "did not finish" in check.message
