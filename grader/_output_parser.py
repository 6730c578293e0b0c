"""Read what a student's program prints, and review it against the course format.

Forms A and B print one line per test object in file order, then a final line::

    ID=    0, predicted=         8, true=         8, accuracy=1.00
    classification accuracy=0.7900

Student output is rarely that clean. :func:`parse_output` picks the lines that
matter out of blank lines, Keras progress bars, ``model.summary()`` tables,
epoch logs and chatter; :func:`review_output` turns what it found into
findings for the student, each naming a defect of assignment.md when one
applies. Neither function raises on any text, and both take time linear in its
length: every pattern is compiled once, and no pattern can backtrack over more
than a bounded stretch of a line.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass, field

from grader._result import Defect

__all__ = [
    "FINDINGS",
    "FinalLine",
    "ObjectLine",
    "OutputFinding",
    "ParsedOutput",
    "final_accuracy",
    "object_mean",
    "parse_output",
    "review_output",
]

#: Every finding :func:`review_output` can produce: code -> (defect, name).
FINDINGS: dict[str, tuple[int | None, str]] = {
    "no_object_lines": (None, "no per-object lines"),
    "object_count": (None, "wrong number of per-object lines"),
    "missing_ids": (None, "test objects without a line"),
    "extra_ids": (None, "IDs outside the test set"),
    "duplicate_ids": (None, "IDs printed more than once"),
    "ids_from_one": (11, "IDs starting at 1"),
    "ids_out_of_order": (None, "IDs out of file order"),
    "labels_bracketed": (7, "one-element arrays printed instead of labels"),
    "labels_as_indices": (7, "class indices printed instead of labels"),
    "labels_reformatted": (None, "labels printed as numbers, not as in the file"),
    "true_labels_mismatch": (None, "true labels differ from the test file"),
    "labels_unrecognized": (None, "labels that are neither labels nor indices"),
    "object_accuracy_unreadable": (None, "per-object accuracy missing"),
    "object_accuracy_out_of_range": (None, "per-object accuracy outside [0, 1]"),
    "final_missing": (None, "no final accuracy line"),
    "final_unreadable": (None, "final accuracy is not a number"),
    "final_wording": (10, "final accuracy with other wording"),
    "final_repeated": (10, "final accuracy printed more than once"),
    "final_percentage": (10, "accuracy as a percentage"),
    "final_divided_by_n_plus_one": (10, "overall accuracy divided by N + 1"),
    "final_inconsistent": (None, "final accuracy is not the per-object mean"),
    "progress_bar_per_object": (9, "a progress bar per test object"),
}

#: Longest piece of a student's line quoted in a message or kept in a record.
QUOTE_CHARS = 80
KEEP_CHARS = 200
#: How many chatter lines :class:`ParsedOutput` keeps.
CHATTER_KEPT = 20


@dataclass(slots=True)
class ObjectLine:
    """One ``ID=..., predicted=..., true=..., accuracy=...`` line."""

    id: int
    #: The value after ``predicted=``, stripped of spaces and a trailing comma.
    predicted: str
    true: str
    #: None when the line has no readable number after ``accuracy=``.
    accuracy: float | None
    #: 1-based line number in the output.
    line_number: int
    #: The accuracy as printed, e.g. "1.00"; its decimals give its rounding.
    accuracy_text: str = ""
    #: The line itself, cleaned of escapes and cut to 200 characters.
    text: str = ""


@dataclass(slots=True)
class FinalLine:
    """A line that reports the overall accuracy, in any wording."""

    #: The number as printed (87.5 for "87.50%"); None when there is none.
    value: float | None
    #: Whether a percent sign follows the number.
    is_percent: bool
    #: What precedes the number, e.g. "classification accuracy=" or "Accuracy:".
    wording: str
    line_number: int
    #: Whether the line starts with the course's ``classification accuracy=``.
    standard: bool = False
    #: Digits after the decimal point, which bound the rounding of `value`.
    decimals: int = 0
    text: str = ""


@dataclass(slots=True)
class ParsedOutput:
    """What :func:`parse_output` found in a program's output."""

    lines: list[ObjectLine] = field(default_factory=list)
    final_lines: list[FinalLine] = field(default_factory=list)
    #: Keras progress bars without metrics (``predict`` calls), one per bar.
    progress_bar_lines: int = 0
    #: Lines of ``model.summary()`` tables.
    summary_lines: int = 0
    #: ``Epoch n/m`` headers and bars that carry metrics (``fit``, ``evaluate``).
    epoch_lines: int = 0
    #: The first 20 lines that are none of the above.
    chatter_lines: list[str] = field(default_factory=list)
    chatter_count: int = 0


@dataclass(slots=True)
class OutputFinding:
    """One problem with the printed output, worded for the student."""

    #: A key of :data:`FINDINGS`, e.g. "ids_from_one".
    code: str
    #: Number in the list of defects of assignment.md, or None.
    defect: int | None
    #: One sentence: what was expected, what was found, and where.
    message: str
    #: The first offending line of the output, when there is one.
    line_number: int | None = None

    def to_defect(self) -> Defect | None:
        """The finding as the result model's :class:`~grader._result.Defect`."""
        if self.defect is None:
            return None
        return Defect(self.defect, FINDINGS.get(self.code, (None, self.code))[1])


def _finding(code: str, message: str, line_number: int | None = None) -> OutputFinding:
    return OutputFinding(code, FINDINGS[code][0], message, line_number)


# -- cleaning and classifying lines -------------------------------------------

# Terminal escapes: CSI sequences (colours, cursor moves), OSC strings and
# two-character escapes. Bounded so a stray ESC cannot start a long scan.
_ANSI = re.compile(
    r"\x1b(?:\[[0-?]{0,64}[ -/]{0,16}[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?"
    r"|[@-Z\\-_])"
)
# Older Keras erases a bar with backspaces before drawing the next one, so a
# run of them separates two pieces of text just as a carriage return does.
_BACKSPACES = re.compile(r"\x08+")
# A line that matches none of these can only be chatter: every line the parser
# looks for holds a digit, a control character, a box-drawing character, a
# summary rule or heading, or the word accuracy with a value like "nan".
_MAYBE_USEFUL = re.compile(
    r"[\d\r\x08\x1b\u2500-\u259f]|_{10}|={10}|Model|Layer|None|[Aa]cc|ACC")
#: Text is split into lines a piece of about this many characters at a time,
#: so that ten million short lines never sit in one list.
CHUNK_CHARS = 1 << 20

_NUMBER = (
    r"(?:[-+]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][-+]?\d{1,4})?(?!\d)"
    r"|[-+]?inf(?:inity)?\b|nan\b)"
)
_NUMBER_AT = re.compile(rf"({_NUMBER})[^\S\n]*(%)?", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(
    r"[-+]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][-+]?\d{1,4})?")
_INTEGER = re.compile(r"\+?(\d{1,9})(?:\.0*)?")

_EPOCH_HEADER = re.compile(r"Epoch\s*\d{1,9}\s*/\s*\d{1,9}(?!\d)", re.IGNORECASE)
# "1/1 ━━━━ 0s 25ms/step", "1/1 [=====] - 0s ...", "235/235 - 1s - loss: ...".
_BAR = re.compile(
    r"(\d{1,12})\s*/\s*(\d{1,12})(?!\d)\s*"
    r"(?:\[[=>.]*\]|[\u2500-\u259f]|-\s|\d{1,6}(?:\.\d{1,6})?m?s\b)"
)
_METRIC = re.compile(r"(?:loss|acc(?:uracy)?|mse|mae)\s*:\s*(?:[-+]?\.?\d|nan|inf)",
                     re.IGNORECASE)

_OBJECT_ID = re.compile(r"\bID\s*[=:]\s*([-+]?\d{1,18})(?!\d)", re.IGNORECASE)
_PREDICTED_KEY = re.compile(r"\bpred(?:icted|iction)?\s*[=:]\s*", re.IGNORECASE)
_TRUE_KEY = re.compile(r"\btrue\s*[=:]\s*", re.IGNORECASE)
_ACCURACY_KEY = re.compile(r"\bacc(?:uracy)?\s*[=:]\s*", re.IGNORECASE)
_FIELD_EDGES = " \t,;"

_STANDARD_FINAL = re.compile(r"classification\s+accuracy\s*=\s*", re.IGNORECASE)
# Any other "accuracy ... number" report: "Accuracy: 0.87", "test accuracy =
# 0.87", "Classification accuracy on test set: 87.50%". What lies between the
# word and the number is at most 40 characters without digits.
_OTHER_FINAL = re.compile(
    rf"\bacc(?:uracy)?\b([^\d\n]{{0,40}}?)({_NUMBER})[^\S\n]*(%)?", re.IGNORECASE)
_CONNECTOR = re.compile(r"[=:]|\bis\b|\bof\b", re.IGNORECASE)
# Students also print training or validation accuracy; that is not the final
# line, just chatter.
_NOT_TEST = re.compile(r"train|valid|\bval\b|epoch|history")

_SUMMARY_BOX = re.compile(r"[\u2500-\u259f]")
_SUMMARY_TEXT = re.compile(
    r"(?:_{10,}|={10,})$|Model:\s*\"|(?:Total|Trainable|Non-trainable|Optimizer)"
    r"\s+params\s*:|Layer \(type\)|\S+ \(\w+\)\s+\((?:None|\d)",
    re.IGNORECASE,
)

_QUOTES = "'\"`"


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except (ValueError, OverflowError):
        return None


def _decimals(number: str) -> int:
    mantissa = number.lower().split("e", 1)[0]
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def _parse_object(segment: str, id_match: re.Match[str],
                  line_number: int) -> ObjectLine | None:
    predicted = _PREDICTED_KEY.search(segment, id_match.end())
    if predicted is None:
        return None
    true = _TRUE_KEY.search(segment, predicted.end())
    if true is None:
        return None
    accuracy_key = _ACCURACY_KEY.search(segment, true.end())
    true_end = accuracy_key.start() if accuracy_key else len(segment)
    accuracy: float | None = None
    accuracy_text = ""
    if accuracy_key is not None:
        number = _NUMBER_AT.match(segment, accuracy_key.end())
        if number is not None:
            accuracy_text = number.group(1)
            accuracy = _to_float(accuracy_text)
    predicted_value = segment[predicted.end():true.start()].strip(_FIELD_EDGES)
    true_value = segment[true.end():true_end].strip(_FIELD_EDGES)
    return ObjectLine(
        id=int(id_match.group(1)),
        predicted=predicted_value[:KEEP_CHARS],
        true=true_value[:KEEP_CHARS],
        accuracy=accuracy,
        line_number=line_number,
        accuracy_text=accuracy_text,
        text=segment[:KEEP_CHARS],
    )


def _parse_final(segment: str, line_number: int) -> FinalLine | None:
    # Plain string searches on a lower-cased copy find the candidates; the
    # patterns then only run where "acc" occurs. (Should lower() change the
    # length of some exotic character, a match merely fails.)
    lowered = segment.lower()
    if "acc" not in lowered:
        return None
    standard = _STANDARD_FINAL.match(segment) if lowered[0] == "c" else None
    if standard is not None:
        number = _NUMBER_AT.match(segment, standard.end())
        start = standard.end()
    else:
        match = None
        at = lowered.find("acc")
        while match is None and at >= 0:
            match = _OTHER_FINAL.match(segment, at)
            at = lowered.find("acc", at + 1)
        if match is None:
            return None
        between = match.group(1).strip()
        if between and not _CONNECTOR.search(between):
            return None
        if _NOT_TEST.search(lowered, 0, match.start(2)):
            return None
        number = _NUMBER_AT.match(segment, match.start(2))
        start = match.start(2)
    value = _to_float(number.group(1)) if number else None
    return FinalLine(
        value=value,
        is_percent=bool(number and number.group(2)),
        wording=segment[:start].strip()[:QUOTE_CHARS],
        line_number=line_number,
        standard=standard is not None,
        decimals=_decimals(number.group(1)) if number else 0,
        text=segment[:KEEP_CHARS],
    )


class _Collector:
    """Sorts the cleaned pieces of each line into a :class:`ParsedOutput`."""

    def __init__(self) -> None:
        self.parsed = ParsedOutput()

    def chunk(self, chunk: str, line_number: int) -> int:
        """Read the lines of `chunk`, the first being `line_number`."""
        parsed = self.parsed
        chatter = parsed.chatter_lines
        maybe_useful = _MAYBE_USEFUL.search
        for line in chunk.split("\n"):
            if line and not line.isspace():
                if maybe_useful(line):
                    self.line(line, line_number)
                else:
                    parsed.chatter_count += 1
                    if len(chatter) < CHATTER_KEPT:
                        chatter.append(line.strip()[:KEEP_CHARS])
            line_number += 1
        return line_number

    def line(self, line: str, line_number: int) -> None:
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if "\x08" in line:
            line = _BACKSPACES.sub("\r", line)
        # One bar redrawn in place ("\r 1/9 ━\r 2/9 ━━", or Keras 3 drawing
        # "1/1" twice, erased by backspaces between) is one bar; a bar whose
        # step goes back is a new one.
        previous_step: tuple[int, int] | None = None
        for piece in line.split("\r") if "\r" in line else (line,):
            segment = piece.strip()
            if segment:
                previous_step = self.segment(segment, line_number, previous_step)

    def segment(self, segment: str, line_number: int,
                previous_step: tuple[int, int] | None) -> tuple[int, int] | None:
        parsed = self.parsed
        first = segment[0]
        if first in "Ee" and _EPOCH_HEADER.match(segment):
            parsed.epoch_lines += 1
            return None
        bar = _BAR.match(segment) if first.isdigit() else None
        if bar is not None:
            step = (int(bar.group(1)), int(bar.group(2)))
            same_bar = (previous_step is not None and step[1] == previous_step[1]
                        and step[0] >= previous_step[0])
            if not same_bar:
                if _METRIC.search(segment):
                    parsed.epoch_lines += 1
                else:
                    parsed.progress_bar_lines += 1
            # A print() that follows a bar with no newline in between.
            id_match = _OBJECT_ID.search(segment, bar.end())
            if id_match is not None:
                obj = _parse_object(segment, id_match, line_number)
                if obj is not None:
                    parsed.lines.append(obj)
            return step
        id_match = _OBJECT_ID.search(segment)
        if id_match is not None:
            obj = _parse_object(segment, id_match, line_number)
            if obj is not None:
                parsed.lines.append(obj)
                return None
        final = _parse_final(segment, line_number)
        # Half an object line ("ID=3, true=8, accuracy=1.00") is chatter, not
        # a report of the overall accuracy.
        if final is not None and (id_match or _PREDICTED_KEY.search(segment)):
            final = None
        if final is not None:
            parsed.final_lines.append(final)
        elif _SUMMARY_BOX.search(segment) or _SUMMARY_TEXT.match(segment):
            parsed.summary_lines += 1
        else:
            parsed.chatter_count += 1
            if len(parsed.chatter_lines) < CHATTER_KEPT:
                parsed.chatter_lines.append(segment[:KEEP_CHARS])
        return None


def parse_output(text: str) -> ParsedOutput:
    """Find the per-object lines, final lines and noise in a program's output.

    Args:
        text: Everything the program printed. Bytes are decoded as UTF-8 with
            replacement characters; any other object is read as its ``str()``.

    Returns:
        The per-object and final lines in output order, with counts of progress
        bars, summary-table lines and epoch-log lines, and the first chatter
        lines. Line numbers count from 1, lines being split at ``\\n`` only.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    text = text.replace("\r\n", "\n")
    collector = _Collector()
    line_number, start = 1, 0
    while start <= len(text):
        end = text.find("\n", start + CHUNK_CHARS)
        if end < 0:
            end = len(text)
        line_number = collector.chunk(text[start:end], line_number)
        start = end + 1
    return collector.parsed


# -- the final accuracy -------------------------------------------------------

def _as_fraction(final: FinalLine) -> tuple[float, float] | None:
    """The final line's value as a fraction, with half its last printed unit."""
    value = final.value
    if value is None or not math.isfinite(value) or value < 0:
        return None
    half_unit = 0.5 * 10.0 ** -min(final.decimals, 30)
    if final.is_percent or value > 1:
        if value > 100:
            return None
        return value / 100, half_unit / 100
    return value, half_unit


def _chosen_fraction(parsed: ParsedOutput) -> tuple[float, float] | None:
    finals = [f for f in parsed.final_lines if f.standard] or parsed.final_lines
    fractions: list[tuple[float, float]] = []
    for final in finals:
        fraction = _as_fraction(final)
        if fraction is None:
            return None
        fractions.append(fraction)
    if not fractions:
        return None
    best = min(fractions, key=lambda pair: pair[1])
    for value, half_unit in fractions:
        if abs(value - best[0]) > half_unit + best[1] + 1e-12:
            return None
    return best


def final_accuracy(parsed: ParsedOutput) -> float | None:
    """The overall accuracy the student printed, as a fraction.

    Lines in the course's wording are preferred over other wordings. A
    percentage (a percent sign, or a value above 1) is divided by 100.

    Returns:
        The fraction, or None when no final line was printed, when one is not
        a number between 0 and 100, or when the lines disagree.
    """
    chosen = _chosen_fraction(parsed)
    return None if chosen is None else chosen[0]


# -- review -------------------------------------------------------------------

def _quote(line: str) -> str:
    line = line.strip()
    if len(line) > QUOTE_CHARS:
        line = line[:QUOTE_CHARS - 3] + "..."
    return f'"{line}"'


def _at(obj: ObjectLine | FinalLine) -> str:
    return f"line {obj.line_number} ({_quote(obj.text)})"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _some(tokens: list[str], limit: int = 5) -> str:
    return ", ".join(tokens[:limit]) + (", ..." if len(tokens) > limit else "")


def _listed(values: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _review_ids(lines: list[ObjectLine], expected: int | None,
                findings: list[OutputFinding]) -> int:
    """Check count, start, order and coverage of IDs; return the ID offset."""
    ids = [line.id for line in lines]
    present = set(ids)
    from_one = 0 not in present and 1 in present
    if expected is None:
        from_one = from_one and min(ids) == 1
    elif from_one:
        from_zero = sum(1 for i in present if 0 <= i < expected)
        from_one = sum(1 for i in present if 1 <= i <= expected) > from_zero
    offset = 1 if from_one else 0
    if from_one:
        first = next(line for line in lines if line.id == 1)
        findings.append(_finding(
            "ids_from_one",
            "IDs should count from 0, the course convention, but they start at 1 "
            f"on {_at(first)}.", first.line_number))

    if expected is not None and len(lines) != expected:
        findings.append(_finding(
            "object_count",
            f"Expected one per-object line for each of the {expected} test objects, "
            f"found {_plural(len(lines), 'line')}."))

    seen: set[int] = set()
    duplicates: list[ObjectLine] = []
    first_occurrences: list[ObjectLine] = []
    for line in lines:
        if line.id in seen:
            duplicates.append(line)
        else:
            seen.add(line.id)
            first_occurrences.append(line)
    if duplicates:
        repeated = sorted({line.id for line in duplicates})
        which = (f"ID {repeated[0]} appears" if len(repeated) == 1
                 else f"IDs {_listed(repeated)} appear")
        findings.append(_finding(
            "duplicate_ids",
            f"Each ID should appear once, but {which} more than once, repeated "
            f"first on {_at(duplicates[0])}.", duplicates[0].line_number))

    for before, after in itertools.pairwise(first_occurrences):
        if after.id < before.id:
            findings.append(_finding(
                "ids_out_of_order",
                "Per-object lines should follow the test file's order, but ID "
                f"{after.id} comes after ID {before.id} on {_at(after)}.",
                after.line_number))
            break

    if expected is not None:
        shifted = {i - offset for i in present}
        missing = [i for i in range(expected) if i not in shifted]
        if missing:
            shown = [i + offset for i in missing]
            which = "ID" if len(missing) == 1 else "IDs"
            findings.append(_finding(
                "missing_ids",
                f"Expected IDs {offset} to {expected - 1 + offset}, but there is no "
                f"line for {which} {_listed(shown)}."))
        extra = [line for line in first_occurrences
                 if not 0 <= line.id - offset < expected]
        if extra:
            findings.append(_finding(
                "extra_ids",
                f"Expected IDs {offset} to {expected - 1 + offset}, but "
                f"{len(extra)} of {len(lines)} lines have IDs outside that range, "
                f"the first being {_at(extra[0])}.", extra[0].line_number))
    return offset


# Labels repeat over thousands of lines; remember how each spelling reads.
@functools.lru_cache(maxsize=4096)
def _unwrap(value: str) -> tuple[str, bool]:
    """Strip brackets and quotes: "[3]" -> ("3", True), "'a'" -> ("a", False)."""
    inner = value.strip()
    bracketed = False
    if inner.startswith("array(") and inner.endswith(")"):
        inner, bracketed = inner[6:-1].strip(), True
    while len(inner) >= 2 and inner[0] in "[(" and inner[-1] in "])":
        inner, bracketed = inner[1:-1].strip(), True
    if inner[:2] in ("b'", 'b"'):
        inner = inner[1:]
    if len(inner) >= 2 and inner[0] in _QUOTES and inner[-1] == inner[0]:
        inner = inner[1:-1]
    return inner, bracketed


def _number(text: str) -> float | None:
    return _to_float(text) if _PLAIN_NUMBER.fullmatch(text) else None


def _index(text: str, classes: int) -> int | None:
    match = _INTEGER.fullmatch(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value < classes else None


def _is_index_mapping(pairs: list[tuple[str, str]], classes: int) -> bool:
    """Whether printed values are class numbers: one per label, all distinct."""
    forward: dict[str, int] = {}
    backward: dict[int, str] = {}
    for token, printed in pairs:
        index = _index(printed, classes)
        if index is None:
            return False
        if forward.setdefault(token, index) != index:
            return False
        if backward.setdefault(index, token) != token:
            return False
    return True


def _review_labels(lines: list[ObjectLine], offset: int, true_tokens: list[str],
                   label_tokens: set[str], findings: list[OutputFinding]) -> None:
    known = label_tokens | set(true_tokens)
    classes = len(known)
    numeric_tokens = {n for n in map(_number, known) if n is not None}
    bracketed: list[tuple[ObjectLine, str]] = []
    as_indices: list[tuple[ObjectLine, str]] = []

    # The true= column, compared object by object with the test file.
    pairs: list[tuple[ObjectLine, str, str]] = []
    for line in lines:
        inner, wrapped = _unwrap(line.true)
        if wrapped:
            bracketed.append((line, "true"))
        position = line.id - offset
        if 0 <= position < len(true_tokens):
            pairs.append((line, true_tokens[position], inner))
    true_kind = "tokens"
    mismatched = [(line, want, got) for line, want, got in pairs if got != want]
    if mismatched:
        line, want, got = mismatched[0]
        if all(_number(got) is not None and _number(got) == _number(want)
               for _, want, got in mismatched):
            true_kind = "reformatted"
            findings.append(_finding(
                "labels_reformatted",
                "Print each label exactly as the data file writes it: the file has "
                f"{want} where {_at(line)} prints true={got}.", line.line_number))
        elif _is_index_mapping([(want, got) for _, want, got in pairs], classes):
            true_kind = "indices"
            as_indices.append((line, f"true={got} where the label is {want}"))
        elif all(got in known for _, _, got in mismatched):
            findings.append(_finding(
                "true_labels_mismatch",
                f"The true label of ID {line.id} in the test file is {want}, but "
                f"{_at(line)} prints true={got}.", line.line_number))
        else:
            odd = next((m for m in mismatched if m[2] not in known),
                       mismatched[0])
            findings.append(_finding(
                "labels_unrecognized",
                "Expected true= to hold the test file's label, such as "
                f"{odd[1]}, but {_at(odd[0])} prints true={odd[2]}.",
                odd[0].line_number))

    # The predicted= column: no reference per object, so judge its form.
    predicted = [(line, *_unwrap(line.predicted)) for line in lines]
    bracketed += [(line, "predicted") for line, _, wrapped in predicted if wrapped]
    unknown = [(line, got) for line, got, _ in predicted if got not in known]
    if true_kind == "indices" and all(_index(got, classes) is not None
                                      for _, got, _ in predicted):
        as_indices.append((predicted[0][0], "predicted= too"))
    elif unknown and known:
        line, got = unknown[0]
        as_numbers = all(_number(g) in numeric_tokens for _, g in unknown)
        as_index = all(_index(g, classes) is not None for _, g in unknown)
        if as_numbers and (true_kind == "reformatted" or not as_index):
            if true_kind != "reformatted":
                findings.append(_finding(
                    "labels_reformatted",
                    "Print each label exactly as the data file writes it, not as "
                    f"{got} on {_at(line)}.", line.line_number))
        elif as_index:
            as_indices.append((line, f"predicted={got}, a class number"))
        else:
            findings.append(_finding(
                "labels_unrecognized",
                "Expected predicted= to hold one of the data set's labels "
                f"({_some(sorted(known))}), but {_at(line)} prints "
                f"predicted={got}.", line.line_number))

    if bracketed:
        line = bracketed[0][0]
        columns = sorted({c for _, c in bracketed}, reverse=True)
        findings.append(_finding(
            "labels_bracketed",
            f"Print {' and '.join(c + '=' for c in columns)} as plain labels, not "
            f"as one-element arrays like {_at(line)}; index the array, e.g. "
            "labels[i][0].", line.line_number))
    if as_indices:
        line, what = as_indices[0]
        findings.append(_finding(
            "labels_as_indices",
            "Print the original labels (through ints_to_labels), not class "
            f"numbers: {_at(line)} has {what}.", line.line_number))


def _review_object_accuracies(lines: list[ObjectLine],
                              findings: list[OutputFinding]) -> bool:
    """Report unreadable or out-of-range values; True when all are usable."""
    unreadable = [line for line in lines if line.accuracy is None]
    if unreadable:
        findings.append(_finding(
            "object_accuracy_unreadable",
            "Each per-object line should end with accuracy= and a number such as "
            f"1.00, but {len(unreadable)} of {len(lines)} lines do not, the first "
            f"being {_at(unreadable[0])}.", unreadable[0].line_number))
    outside = [line for line in lines
               if line.accuracy is not None and not 0 <= line.accuracy <= 1]
    if outside:
        findings.append(_finding(
            "object_accuracy_out_of_range",
            "A per-object accuracy is a fraction between 0 and 1, but "
            f"{len(outside)} of {len(lines)} values are not, the first on "
            f"{_at(outside[0])}.", outside[0].line_number))
    return not unreadable and not outside


def _object_sum(lines: list[ObjectLine], classes: int) -> tuple[float, float]:
    """Sum of per-object accuracies, and a bound on its error from rounding.

    A per-object accuracy is 0 or 1/k for a tie of k classes, so a printed
    "0.33" stands for exactly 1/3 when no other candidate rounds to it; only
    values that match no single candidate add their rounding to the bound.
    """
    # Beyond a thousand classes, ties that large would print as 0.00 anyway.
    candidates = [0.0] + [1.0 / k for k in range(1, min(max(classes, 1), 1000) + 1)]
    cache: dict[str, tuple[float, float]] = {}
    total = error = 0.0
    for line in lines:
        key = line.accuracy_text
        if key not in cache:
            value = line.accuracy if line.accuracy is not None else 0.0
            half_unit = 0.5 * 10.0 ** -min(_decimals(key), 30)
            near = [c for c in candidates if abs(c - value) <= half_unit + 1e-12]
            cache[key] = (near[0], 0.0) if len(near) == 1 else (value, half_unit)
        value, bound = cache[key]
        total += value
        error += bound
    return total, error


def _first_of_each_id(lines: list[ObjectLine]) -> list[ObjectLine]:
    """A line printed twice is one object still: keep the first of each ID."""
    return list({line.id: line for line in reversed(lines)}.values())


def object_mean(parsed: ParsedOutput, classes: int) -> float | None:
    """The mean of the printed per-object accuracies, the first line of each ID.

    Args:
        parsed: What :func:`parse_output` returned.
        classes: The number of classes, which bounds the size of a tie and so
            tells what a rounded value such as "0.33" stands for.

    Returns:
        The mean, or None when there are no per-object lines or one of them has
        no accuracy between 0 and 1.
    """
    unique = _first_of_each_id(parsed.lines)
    if not unique or any(line.accuracy is None or not 0 <= line.accuracy <= 1
                         for line in unique):
        return None
    total, _ = _object_sum(unique, classes)
    return total / len(unique)


def _review_final(parsed: ParsedOutput, classes: int, objects_usable: bool,
                  findings: list[OutputFinding]) -> None:
    finals = parsed.final_lines
    if not finals:
        findings.append(_finding(
            "final_missing",
            "Expected a last line 'classification accuracy=' with the overall "
            "accuracy (%6.4f), found none."))
        return
    unreadable = [f for f in finals if f.value is None or math.isnan(f.value)]
    if unreadable:
        findings.append(_finding(
            "final_unreadable",
            "Expected a number after 'classification accuracy=', found "
            f"{_at(unreadable[0])}.", unreadable[0].line_number))
    other = [f for f in finals if not f.standard]
    if other:
        findings.append(_finding(
            "final_wording",
            "Print the overall accuracy as 'classification accuracy=%6.4f', not "
            f"as {_at(other[0])}.", other[0].line_number))
    if len(finals) > 1:
        numbers = [f.line_number for f in finals]
        where = (_listed(numbers) if len(numbers) > 2
                 else f"{numbers[0]} and {numbers[1]}")
        findings.append(_finding(
            "final_repeated",
            "Print the overall accuracy once, at the end; it appears "
            f"{len(finals)} times, on lines {where}.", finals[1].line_number))
    percent = [(f, f.value) for f in finals
               if f.value is not None and (f.is_percent or f.value > 1)]
    if percent:
        first, value = percent[0]
        fraction = f" ({value / 100:.4f} here)" if 1 < value <= 100 else ""
        findings.append(_finding(
            "final_percentage",
            f"Print the overall accuracy as a fraction between 0 and 1{fraction}, "
            f"not as a percentage like {_at(first)}.", first.line_number))

    chosen = _chosen_fraction(parsed)
    if chosen is None or not objects_usable or not parsed.lines:
        return
    value, half_unit = chosen
    unique = _first_of_each_id(parsed.lines)
    count = len(unique)
    total, error = _object_sum(unique, classes)
    slack = half_unit + 1e-9
    if abs(value - total / count) <= error / count + slack:
        return
    line = next(f for f in reversed(finals) if f.standard) if any(
        f.standard for f in finals) else finals[-1]
    if abs(value - total / (count + 1)) <= error / (count + 1) + slack:
        findings.append(_finding(
            "final_divided_by_n_plus_one",
            f"The overall accuracy should be the mean over the {count} per-object "
            f"accuracies, {total / count:.4f}; {_at(line)} reports "
            f"{value:.4f}, their sum divided by {count + 1}.", line.line_number))
        return
    findings.append(_finding(
        "final_inconsistent",
        f"The overall accuracy should be the mean of the {count} per-object "
        f"accuracies, {total / count:.4f}, but {_at(line)} reports {value:.4f}.",
        line.line_number))


def review_output(parsed: ParsedOutput, true_tokens: list[str],
                  label_tokens: set[str]) -> list[OutputFinding]:
    """Compare parsed output with the course's per-object format.

    Args:
        parsed: What :func:`parse_output` returned.
        true_tokens: The label token of each test object, in file order. Its
            length is the expected number of per-object lines; when empty, the
            count and the true labels are not checked.
        label_tokens: Every label token of the data set.

    Returns:
        Findings in a fixed order (IDs, labels, per-object accuracies, final
        line, progress bars); empty when the output follows the format.
    """
    findings: list[OutputFinding] = []
    true_tokens = [str(token) for token in true_tokens]
    label_tokens = {str(token) for token in label_tokens}
    expected = len(true_tokens) or None
    classes = len(label_tokens | set(true_tokens))
    lines = parsed.lines
    objects_usable = False
    if not lines:
        findings.append(_finding(
            "no_object_lines",
            "Expected one line 'ID=..., predicted=..., true=..., accuracy=...' "
            f"per test object{f' ({expected})' if expected else ''}, found none."))
    else:
        offset = _review_ids(lines, expected, findings)
        _review_labels(lines, offset, true_tokens, label_tokens, findings)
        objects_usable = _review_object_accuracies(lines, findings)
    _review_final(parsed, classes, objects_usable, findings)

    objects = expected or len(lines)
    bars = parsed.progress_bar_lines
    if objects and bars >= max(objects, 2):
        findings.append(_finding(
            "progress_bar_per_object",
            f"The output holds {bars} Keras progress bars for {objects} test "
            "objects, one per predict() call; predict all objects in one call, or "
            "pass verbose=0."))
    return findings
