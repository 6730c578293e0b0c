"""Judge what a submission printed: the per-object lines and the final line."""

from __future__ import annotations

import enum
import math

from grader._judge import Reference, _check, check_reported_accuracy
from grader._output_parser import (FinalLine, OutputFinding, ParsedOutput,
                                   final_accuracy, object_mean, parse_output,
                                   review_output)
from grader._result import Check, Defect


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
    sentence_start = source[0].upper() + source[1:]
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
