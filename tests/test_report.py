"""The student's HTML report and the class index, rendered from results."""

from __future__ import annotations

import shutil
import subprocess
import typing
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import skip_unless_required
from grader._outputs import gradebook_csv
from grader._report import (
    VERDICT_LABELS,
    render_index,
    render_report,
    report_dirname,
    write_reports,
)
from grader._result import Check, Defect, Resources, Result, Verdict, VerdictKind

SCRIPT = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """The parts of a page the tests look at: tags, text, and table rows."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            return
        self.chunks.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def row_starting(self, first_cell: str) -> list[str]:
        for row in self.rows:
            if row and row[0].startswith(first_cell):
                return row
        raise AssertionError(f"no table row starts with {first_cell!r}: {self.rows}")


def _check(
    name: str, title: str, points: float, max_points: float = 2.0, **kw: typing.Any
) -> Check:
    status = kw.pop("status", "passed" if points == max_points else "failed")
    message = kw.pop("message", f"{title}: matches the reference.")
    return Check(name, title, status, points, max_points, message, **kw)


def _result(
    student: str, checks: list[Check], verdict: Verdict, **kw: typing.Any
) -> Result:
    defaults: dict[str, typing.Any] = {
        "submission": f"{student}/iris_net.py",
        "assignment": "dense-uci",
        "form": "functions",
        "seed": 7,
        "settings": {"epochs": 20, "batch_size": 32, "wall_limit_s": 60.0},
        "resources": Resources(wall_s=12.34, cpu_s=20.5, peak_rss_mb=612.4),
        "graded_at": "2026-09-01T10:00:00Z",
    }
    defaults.update(kw)
    return Result(student=student, verdict=verdict, checks=checks, **defaults)


def full_marks() -> Result:
    checks = [
        _check("loader", "Data loader", 2),
        _check("normalize", "Normalization", 2),
        _check("tie_accuracy", "Tie-aware accuracy", 3, 3),
        _check("model", "Model structure", 3, 3),
    ]
    return _result(
        "ada",
        checks,
        Verdict("finished", "Your program ran to the end."),
        notes=["Detected the 'functions' form from the names you defined."],
        stdout_tail="Epoch 20/20\nAccuracy: 0.967\n",
    )


def with_defect() -> Result:
    checks = [
        _check("loader", "Data loader", 2),
        _check("normalize", "Normalization", 2),
        _check(
            "tie_accuracy",
            "Tie-aware accuracy",
            0,
            3,
            message="A tie of 3 outputs that includes the true class earned 1, "
            "not 1/3.",
            defect=Defect(4, "tie credit only for the first maximum"),
            details=[
                "outputs [0.3, 0.3, 0.3], true class 1",
                "expected 0.3333, found 0",
            ],
        ),
        _check("model", "Model structure", 3, 3),
    ]
    return _result("brook", checks, Verdict("finished", "Your program ran to the end."))


def stopped_at_wall() -> Result:
    not_run = "Not run: the program stopped before this check."
    checks = [
        _check("loader", "Data loader", 2),
        _check("normalize", "Normalization", 0, status="not_run", message=not_run),
        _check(
            "tie_accuracy",
            "Tie-aware accuracy",
            0,
            3,
            status="not_run",
            message=not_run,
        ),
        _check("model", "Model structure", 0, 3, status="not_run", message=not_run),
    ]
    verdict = Verdict(
        "wall_time",
        "Your program was stopped after 60 s of wall-clock time. Training for "
        "far more epochs than asked is the usual cause.",
        traceback='  File "iris_net.py", line 41, in train\n'
        "    model.fit(x, y, epochs=5000)",
    )
    return _result(
        "cyd",
        checks,
        verdict,
        resources=Resources(wall_s=60.0, cpu_s=58.2, peak_rss_mb=800.0),
    )


def printing_script() -> Result:
    checks = [
        _check("loader", "Data loader", 2),
        _check("normalize", "Normalization", 1, message=f"Found {SCRIPT} in a value."),
    ]
    return _result(
        "dee<b>x</b>",
        checks,
        Verdict(
            "exception",
            f"ValueError: {SCRIPT}",
            traceback=f"raise ValueError({SCRIPT!r})",
        ),
        stdout_tail=f"loading...\n{SCRIPT}\n",
        stderr_tail=f"warning {SCRIPT}",
        notes=[f"note {SCRIPT}"],
        settings={"label": SCRIPT},
    )


def all_results() -> list[Result]:
    return [full_marks(), with_defect(), stopped_at_wall(), printing_script()]


def test_report_shows_student_score_and_finished_verdict() -> None:
    page = _Page(render_report(full_marks()))

    assert "Feedback for ada" in page.text
    assert "dense-uci" in page.text
    assert "functions" in page.text
    assert "10 / 10" in page.text
    assert "Full marks" in page.text
    assert "finished" in page.text
    assert page.row_starting("Data loader")[1:3] == ["✓ passed", "2 / 2"]
    assert "Detected the 'functions' form" in page.text


def test_report_names_the_defect_of_a_failed_check() -> None:
    page = _Page(render_report(with_defect()))

    row = page.row_starting("Tie-aware accuracy")
    assert row[1] == "✗ failed"
    assert row[2] == "0 / 3"
    assert "Defect 4: tie credit only for the first maximum" in row[3]
    assert "expected 0.3333, found 0" in row[3]
    assert "7 / 10" in page.text
    assert "Full marks" not in page.text


def test_report_after_wall_limit_keeps_earlier_checks_and_marks_the_rest() -> None:
    page = _Page(render_report(stopped_at_wall()))

    assert "stopped at the wall-clock limit" in page.text
    assert "stopped after 60 s" in page.text
    assert page.row_starting("Data loader")[1] == "✓ passed"
    for title in ("Normalization", "Tie-aware accuracy", "Model structure"):
        assert page.row_starting(title)[1] == "– not run"
    assert "model.fit(x, y, epochs=5000)" in page.text
    assert "60.0 s" in page.text


def grader_failed() -> Result:
    checks = [
        _check("loader", "Data loader", 2),
        _check("normalize", "Normalization", 0, status="not_run",
               message="Not graded: the grader failed; this costs you nothing."),
    ]
    verdict = Verdict("grader_error", "The grader failed. This is not your fault.")
    return _result("eve", checks, verdict)


def test_a_grader_error_is_no_score_anywhere() -> None:
    result = grader_failed()

    assert result.to_dict()["score"] is None
    report = _Page(render_report(result))
    assert "— / 4" in report.text
    assert "no score: the grader failed" in report.text
    assert "0 / 4" not in report.text
    index = _Page(render_index([result, full_marks()], "dense-uci"))
    assert index.row_starting("eve")[1:3] == ["—", "4"]
    header, eve, ada = gradebook_csv([result, full_marks()]).splitlines()
    assert header == ("student,score,max_score,loader,normalize,tie_accuracy,model,"
                      "verdict")
    # The check that finished keeps its points; the one the failure stopped
    # and the total are empty, never a zero a gradebook would import.
    assert eve == "eve,,4,2,,,,grader_error"
    assert ada == "ada,10,10,2,2,3,3,finished"


def test_report_shows_settings_and_resources() -> None:
    page = _Page(render_report(full_marks()))

    for expected in ("epochs", "20", "batch_size", "32", "wall_limit_s", "60"):
        assert expected in page.text
    assert "seed 7" in page.text
    assert "12.3 s" in page.text
    assert "612 MB" in page.text
    assert "process" in page.text


def test_report_escapes_markup_from_the_submission() -> None:
    html = render_report(printing_script())
    page = _Page(html)

    assert page.find("script") == []
    assert page.find("b") == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Feedback for dee<b>x</b>" in page.text
    # Shown as text in the message, the traceback, stdout, stderr, notes, settings.
    assert page.text.count(SCRIPT) >= 7


def test_report_is_self_contained_and_accessible() -> None:
    html = render_report(with_defect())
    page = _Page(html)

    assert page.find("html") == [{"lang": "en"}]
    assert page.find("script") == [] and page.find("link") == []
    assert "http://" not in html and "https://" not in html
    assert page.find("details"), "stdout and stderr should be collapsible"
    headers = [attrs for name, attrs in page.tags if name == "th"]
    assert headers and all(attrs.get("scope") in ("col", "row") for attrs in headers)
    assert page.find("h1") and page.find("h2")


@pytest.mark.parametrize("kind", typing.get_args(VerdictKind))
def test_every_verdict_kind_has_a_plain_words_label(kind: str) -> None:
    result = full_marks()
    result.verdict = Verdict(kind, "What happened.")  # type: ignore[arg-type]

    page = _Page(render_report(result))

    assert VERDICT_LABELS[kind] in page.text
    assert "_" not in VERDICT_LABELS[kind]


def test_index_has_a_row_per_student_with_link_and_points() -> None:
    page = _Page(render_index(all_results(), title="Dense UCI, autumn"))

    assert page.find("h1") and "Dense UCI, autumn" in page.text
    header = page.rows[0]
    assert header[:4] == ["Student", "Score", "Max", "Run"]
    assert header[4:] == [
        "Data loader",
        "Normalization",
        "Tie-aware accuracy",
        "Model structure",
    ]
    assert page.row_starting("ada") == [
        "ada",
        "10",
        "10",
        "finished",
        "2",
        "2",
        "3",
        "3",
    ]
    assert page.row_starting("brook")[4:] == ["2", "2", "✗ 0 D4", "3"]
    assert page.row_starting("cyd")[3:] == [
        "stopped at the wall-clock limit",
        "2",
        "–",
        "–",
        "–",
    ]
    links = [attrs["href"] for attrs in page.find("a")]
    assert "ada/instructor.html" in links and "brook/instructor.html" in links


def test_index_counts_finished_runs_and_full_marks() -> None:
    page = _Page(render_index(all_results(), title="Class"))

    assert "4 students" in page.text
    assert "2 finished" in page.text
    assert "1 full marks" in page.text
    assert "Python exception 1" in page.text
    assert page.find("script") == []
    assert "dee<b>x</b>" in page.text


def test_index_of_no_results_says_so() -> None:
    page = _Page(render_index([], title="Empty"))

    assert "No results yet." in page.text
    assert "0 students" in page.text


def test_write_reports_writes_a_page_per_student_and_the_index(tmp_path: Path) -> None:
    results = all_results()

    write_reports(results, tmp_path)

    for result in results:
        report = tmp_path / report_dirname(result.student) / "report.html"
        assert f"Feedback for {result.student}" in _Page(report.read_text("utf-8")).text
    index = _Page((tmp_path / "index.html").read_text("utf-8"))
    assert "Results: dense-uci" in index.text
    for attrs in index.find("a"):
        href = attrs["href"] or ""
        assert (tmp_path / href.replace("%3C", "<")).is_file(), href
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_reports_keeps_odd_student_names_inside_the_output_folder(
    tmp_path: Path,
) -> None:
    odd = [
        _result(name, [_check("loader", "Data loader", 2)], Verdict("finished", ""))
        for name in ("../escape", "/etc", "..", "dee<b>x</b>", "Ana María")
    ]
    out_dir = tmp_path / "out"

    write_reports(odd, out_dir)

    written = sorted(path.relative_to(out_dir) for path in out_dir.rglob("*.html"))
    # A student page and an instructor page per student, and the index.
    assert len(written) == 2 * len(odd) + 1
    assert all(len(path.parts) <= 2 for path in written)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]
    assert report_dirname("ada") == "ada"
    assert report_dirname("../escape") != report_dirname("_escape")


def test_write_reports_refuses_two_results_for_one_folder(tmp_path: Path) -> None:
    # "ada" and "Ada" are one folder on macOS and Windows file systems.
    same_folder = [full_marks(), _result("Ada", [], Verdict("finished", ""))]

    with pytest.raises(ValueError, match="same report folder 'Ada'"):
        write_reports(same_folder, tmp_path)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_reports_render_in_headless_chromium(tmp_path: Path) -> None:
    if _chromium() is None:
        missing = ("needs a Chromium binary on PATH ('chromium' or "
                   "'chromium-browser'); on Debian or Ubuntu: apt-get install -y "
                   "chromium")
        skip_unless_required("NNGRADE_REQUIRE_BROWSER", missing)
    out_dir = tmp_path / "reports"
    write_reports(all_results(), out_dir)
    profile = tmp_path / "profile"

    def chromium(*arguments: str) -> str:
        command = [
            _chromium() or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *arguments,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    pages = {
        "report": out_dir / report_dirname("dee<b>x</b>") / "report.html",
        "index": out_dir / "index.html",
    }
    expected_text = {
        "report": ["Feedback for dee<b>x</b>", "Python exception", SCRIPT, "3 / 4"],
        "index": ["4 students", "1 full marks", "Tie-aware accuracy", "dee<b>x</b>"],
    }
    for name, path in pages.items():
        dom = _Page(chromium("--dump-dom", path.as_uri()))
        assert dom.find("script") == [], f"{name}: a <script> element reached the DOM"
        for text in expected_text[name]:
            assert text in dom.text, f"{name}: {text!r} not shown"

        screenshot = tmp_path / f"{name}.png"
        chromium(f"--screenshot={screenshot}", "--window-size=1200,1600", path.as_uri())
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
