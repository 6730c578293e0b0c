"""Judge what a submission printed: the per-object lines and the final line."""

from __future__ import annotations

import enum
import math

import numpy as np

from grader._judge import (TIE_DEFECTS, Reference, _check, check_reported_accuracy,
                           step_failed)
from grader._probes import printed_tie_probe
from grader._records import StepRecord
from grader._output_parser import (FinalLine, OutputFinding, ParsedOutput,
                                   final_accuracy, object_mean, parse_output,
                                   review_output)
from grader._result import Check, Defect
from reference import object_accuracy


class Reported(enum.Enum):
    """Where the accuracy judged by the reported-accuracy check comes from."""

    #: The printed final line itself, as in form B, which returns nothing.
    FINAL_LINE = "final line"


#: Findings about the final line's value that the reported-accuracy check can
#: name too, when it judges the same number.
_VALUE_FINDINGS = ("final_percentage", "final_divided_by_n_plus_one")


def check_printed_output(points: float, printed: str, reference: Reference,
                         source: str,
                         reported: float | str | None | Reported = Reported.FINAL_LINE,
                         ) -> Check:
    """Parse leniently, then hold the lines that matter to the course format.

    One mistake costs one check's points. When the final line prints the very
    number the reported-accuracy check judges, and that check names the same
    defect for it (a percentage, or a sum divided by N + 1), the finding is
    left to that check and only mentioned here.

    Args:
        reported: What the reported-accuracy check judges: test_model()'s
            return value in forms A and D; by default the printed final line,
            as in forms B and C, which return nothing. A value that is not a
            number shares nothing.
    """
    parsed = parse_output(printed)
    true_tokens = [reference.ints_to_labels[int(label)]
                   for label in reference.test_labels.ravel()]
    findings = review_output(parsed, true_tokens,
                             set(reference.ints_to_labels.values()))
    findings, left = _left_to_reported_accuracy(
        findings, parsed, reported, len(true_tokens), len(reference.ints_to_labels))
    noise = []
    if parsed.progress_bar_lines:
        noise.append(f"{parsed.progress_bar_lines} progress-bar lines")
    if parsed.summary_lines:
        noise.append(f"{parsed.summary_lines} model-summary lines")
    if parsed.epoch_lines:
        noise.append(f"{parsed.epoch_lines} epoch-log lines")
    read = (f"read {len(parsed.lines)} per-object lines and "
            f"{len(parsed.final_lines)} final line(s)"
            + (f", and skipped {', '.join(noise)}" if noise else ""))
    left_details = [f"judged under Reported accuracy: {finding.message}"
                    for finding in left]
    sentence_start = _sentence_start(source)
    if not findings and left:
        return _check("printed_output", points, True,
                      f"{sentence_start} prints one line per test object in the "
                      "course format, with the original labels. The value of its final "
                      "line is the reported accuracy, and the Reported accuracy "
                      "check takes the points for what is wrong with it.", None,
                      [read] + left_details)
    if not findings:
        return _check("printed_output", points, True,
                      f"{sentence_start} prints one line per test object in the "
                      "course format, with the original labels, and a final accuracy "
                      "consistent with them.", None, [read])
    first = findings[0]
    defect = first.to_defect() or next(
        (f.to_defect() for f in findings if f.defect is not None), None)
    return _check("printed_output", points, False, first.message,
                  defect if isinstance(defect, Defect) else None,
                  [read] + [finding.message for finding in findings[1:]]
                  + left_details)


def _left_to_reported_accuracy(findings: list[OutputFinding], parsed: ParsedOutput,
                               reported: float | str | None | Reported,
                               test_objects: int, classes: int
                               ) -> tuple[list[OutputFinding], list[OutputFinding]]:
    """Split off the findings the reported-accuracy check names as well.

    That check compares the reported number with the model's own accuracy;
    the mean of the printed per-object accuracies stands in for it here.
    """
    if not any(finding.code in _VALUE_FINDINGS for finding in findings):
        return findings, []
    mean = object_mean(parsed, classes)
    if mean is None:
        return findings, []
    if reported is Reported.FINAL_LINE:
        value = final_accuracy(parsed)
    elif isinstance(reported, (int, float)) and not isinstance(reported, bool):
        value = float(reported)
    else:
        value = None
    if value is None or not math.isfinite(value):
        return findings, []
    named = check_reported_accuracy(1.0, value, mean, "",
                                    test_objects=test_objects).defect
    kept: list[OutputFinding] = []
    left: list[OutputFinding] = []
    for finding in findings:
        shared = (finding.code in _VALUE_FINDINGS and named is not None
                  and named == finding.to_defect()
                  and (reported is Reported.FINAL_LINE
                       or _prints(parsed, finding.line_number, value)))
        (left if shared else kept).append(finding)
    return kept, left


def _prints(parsed: ParsedOutput, line_number: int | None, value: float) -> bool:
    """Whether the final line at ``line_number`` shows ``value``, as rounded."""
    final: FinalLine | None = next(
        (f for f in parsed.final_lines if f.line_number == line_number), None)
    if final is None or final.value is None:
        return False
    half_unit = 0.5 * 10.0 ** -min(final.decimals, 30)
    return abs(final.value - value) <= half_unit + 1e-9


def check_printed_tie_rule(points: float, record: StepRecord, reference: Reference,
                           source: str) -> Check:
    """Forms B and C: judge the tie rule by what the program printed while its
    predict() calls answered with outputs the grader chose."""
    if not record.ok:
        return step_failed("tie_accuracy", points, record, source)
    outputs, purposes = printed_tie_probe(reference.test_labels,
                                          len(reference.ints_to_labels))
    true_classes = [int(t) for t in reference.test_labels.ravel()]
    expected = [object_accuracy(row, t) for row, t in zip(outputs, true_classes)]
    parsed = parse_output(record.stdout)
    printed = [line.accuracy for line in parsed.lines[:len(expected)]]
    details = [f"the grader answered predict() with {len(expected)} chosen rows: "
               "no tie, two-way ties with and without the true class, all "
               "classes tied, and a near-tie that is not exact"]
    if len(printed) < len(expected) or any(value is None for value in printed):
        return _judge_final_line(points, parsed, expected, outputs, true_classes,
                                 source, details)

    def matches(scores) -> bool:
        return all(abs(p - round(s, 2)) <= 0.0051 for p, s in zip(printed, scores))

    if matches(expected):
        return _check("tie_accuracy", points, True,
                      f"{_sentence_start(source)} scores exact ties of every size as "
                      "1/|ties| and "
                      "nearly equal outputs as no tie.", None, details)
    wrong = next(i for i, (p, e) in enumerate(zip(printed, expected))
                 if abs(p - round(e, 2)) > 0.0051)
    case = (f"object {wrong} ({purposes[wrong]}, outputs "
            f"{_nonzero(outputs[wrong])}, true class {true_classes[wrong]}) should "
            f"score {expected[wrong]:.2f}, yours printed {printed[wrong]:.2f}")
    for defect, rule, sentence in TIE_DEFECTS:
        if matches([rule(row, t) for row, t in zip(outputs, true_classes)]):
            return _check("tie_accuracy", points, False, f"{sentence}: {case}.",
                          defect, details)
    return _check("tie_accuracy", points, False,
                  f"The accuracies {source} prints differ from the tie-aware rule: "
                  f"{case}.", None, details)


def _judge_final_line(points, parsed, expected, outputs, true_classes, source,
                      details) -> Check:
    final = final_accuracy(parsed)
    if final is None:
        return _check("tie_accuracy", points, False,
                      f"While the grader answered predict() with chosen outputs, "
                      f"{source} printed neither a line per test object nor a "
                      "final accuracy the grader could read, so its tie rule "
                      "could not be judged.", None, details)
    mean = float(np.mean(expected))
    if abs(final - mean) <= 0.0001:
        return _check("tie_accuracy", points, True,
                      f"The final accuracy {source} prints follows the tie-aware "
                      "rule on outputs with ties of every size.", None, details)
    for defect, rule, sentence in TIE_DEFECTS:
        if abs(final - np.mean([rule(r, t) for r, t in zip(outputs, true_classes)])
               ) <= 0.0001:
            return _check("tie_accuracy", points, False,
                          f"{sentence}: on the grader's chosen outputs the final "
                          f"accuracy should be {mean:.4f}, yours printed "
                          f"{final:.4f}.", defect, details)
    return _check("tie_accuracy", points, False,
                  f"On the grader's chosen outputs the final accuracy should be "
                  f"{mean:.4f}; {source} printed {final:.4f}.", None, details)


def _nonzero(row) -> str:
    top = sorted({float(v) for v in row}, reverse=True)[:3]
    parts = [f"{value:.9g} at class(es) "
             f"{', '.join(str(i) for i in np.flatnonzero(row == value))}"
             for value in top if value > 0.0625]
    return "[" + "; ".join(parts) + ", 0.0625 elsewhere]"


def _sentence_start(source: str) -> str:
    """``source`` fit to open a sentence: "your script" becomes "Your script",
    but a function name keeps its spelling."""
    return source[0].upper() + source[1:] if source.startswith("your ") else source
