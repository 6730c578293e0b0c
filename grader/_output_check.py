"""Judge what a submission printed: the per-object lines and the final line."""

from __future__ import annotations

from grader._judge import Reference, _check
from grader._output_parser import parse_output, review_output
from grader._result import Check, Defect


def check_printed_output(points: float, printed: str, reference: Reference,
                         source: str) -> Check:
    """Parse leniently, then hold the lines that matter to the course format."""
    parsed = parse_output(printed)
    true_tokens = [reference.ints_to_labels[int(label)]
                   for label in reference.test_labels.ravel()]
    findings = review_output(parsed, true_tokens, set(reference.ints_to_labels.values()))
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
    if not findings:
        return _check("printed_output", points, True,
                      f"{source} prints one line per test object in the course "
                      "format, with the original labels, and a final accuracy "
                      "consistent with them.", None, [read])
    first = findings[0]
    defect = first.to_defect() or next(
        (f.to_defect() for f in findings if f.defect is not None), None)
    return _check("printed_output", points, False, first.message,
                  defect if isinstance(defect, Defect) else None,
                  [read] + [finding.message for finding in findings[1:]])
