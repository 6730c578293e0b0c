"""The whole path, for real: ``nngrade grade`` on the bundled sample class.

Each student's README says what the grader should find; this test holds the
grader to it. It trains real TensorFlow models in real child processes.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

#: student -> (verdict, {check: defect number or None} of the checks it loses)
EXPECTED = {
    "alice_form_d_correct": ("finished", {}),
    "bob_form_a_correct": ("finished", {}),
    "carol_form_b_correct": ("finished", {}),
    "dave_form_d_tie_first_max": ("finished", {"tie_accuracy": 1}),
    "erin_form_a_hidden_layers": ("finished", {"architecture": 4}),
    "frank_form_d_output_size": ("finished", {"architecture": 5}),
    "grace_form_d_label_mapping": ("finished", {"loader": 6}),
    "heidi_form_d_plain_max": ("finished", {"normalization": 8}),
    "kim_form_c_correct": ("finished", {}),
    "ivan_form_d_never_finishes": ("wall_time", {
        "architecture": None, "test_accuracy": None, "reported_accuracy": None,
        "printed_output": None}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-class")
    completed = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "--out", str(out)],
        capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 0, completed.stderr + completed.stdout
    results = {}
    for path in out.glob("*/result.json"):
        record = json.loads(path.read_text())
        results[record["student"]] = record
    return out, results, completed.stdout


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_loses_exactly_the_checks_their_defect_touches(graded, student):
    _, results, _ = graded
    verdict, losses = EXPECTED[student]
    result = results[student]

    assert result["verdict"]["kind"] == verdict
    lost = {c["name"]: c for c in result["checks"] if c["points"] < c["max_points"]}
    assert set(lost) == set(losses), {n: c["message"] for n, c in lost.items()}
    for name, number in losses.items():
        if number is not None:
            assert lost[name]["defect"]["number"] == number
            assert lost[name]["status"] == "failed"
        else:
            assert lost[name]["status"] == "not_run"
    if not losses:
        assert result["score"] == result["max_score"] > 0


def test_checks_that_finished_before_the_wall_limit_are_kept(graded):
    _, results, _ = graded
    ivan = results["ivan_form_d_never_finishes"]

    assert "60 s, the wall-clock limit" in ivan["verdict"]["message"]
    assert ivan["resources"]["wall_s"] < 75
    kept = {c["name"] for c in ivan["checks"] if c["status"] == "passed"}
    assert kept == {"loader", "normalization", "tie_accuracy"}


def test_syntax_error_is_reported_with_its_line(graded):
    _, results, _ = graded
    judy = results["judy_form_a_syntax_error"]

    assert judy["verdict"]["kind"] == "syntax_error"
    assert "line 19" in judy["verdict"]["message"]
    assert judy["score"] == 0
    assert {c["status"] for c in judy["checks"]} == {"not_run"}


def test_defect_messages_name_the_defect_for_the_student(graded):
    _, results, _ = graded

    dave = next(c for c in results["dave_form_d_tie_first_max"]["checks"]
                if c["name"] == "tie_accuracy")
    assert "first maximal class" in dave["message"]
    assert "should score 0.5" in dave["message"]
    heidi = next(c for c in results["heidi_form_d_plain_max"]["checks"]
                 if c["name"] == "normalization")
    assert "plain maximum" in heidi["message"]


def test_gradebook_reports_and_summary_are_written(graded):
    out, results, stdout = graded

    with open(out / "grades.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["student"] for row in rows] == sorted(results)
    assert list(rows[0])[:3] == ["student", "score", "max_score"]
    for row in rows:
        assert float(row["score"]) == results[row["student"]]["score"]
        assert (out / row["student"] / "report.html").is_file()
    assert (out / "index.html").is_file()
    assert "Summary" in stdout and str(out / "index.html") in stdout
