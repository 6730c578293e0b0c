"""Grade a class: detect forms, run children, judge, and keep every result.

One broken submission is a result, never a crash of the batch: whatever
happens to one child, the others are graded and written.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from grader import _judge, _probes, _references
from grader._errors import GraderError, UsageError
from grader._forms import (SUBMISSION_NAMES, Detected, detect_form,
                           find_submission_file)
from grader._jobs import (JobOutcome, PreparedData, job_settings_summary,
                          prepare_job, run_job, steps_for_form)
from grader._judge import Reference, StepRecord
from grader._keras_mode import (INSTALL_TF_KERAS, Keras2Idiom, describe_keras,
                                job_keras, keras_2_idiom, not_regraded_note,
                                regraded_note, tf_keras_installed)
from grader._output_check import check_printed_output, check_printed_tie_rule
from grader._output_parser import final_accuracy, parse_output
from grader._report import sharing_a_folder
from grader._gpu import GpuPool
from grader._result import Check, Resources, Result, Verdict
from grader._limits import MIB
from grader._sandbox import (Backend, Limits, ProcessBackend, Sandbox, View, Zygote,
                             spellings)
from grader._spec import Spec, check_steps
from grader._verdicts import decide_verdict, spare_the_student
from reference import DataFormatError, load_dataset, normalize

logger = logging.getLogger(__name__)

#: A borderline accuracy is retried with the spec's seed plus this.
RERUN_SEED_OFFSET = 1000

#: Output activations each form may use: the course skeleton of form B uses
#: sigmoid, forms A and D ask for softmax.
OUTPUT_ACTIVATIONS = {"A": ("softmax",), "D": ("softmax",), "B": ("sigmoid", "softmax"),
                      "C": ("softmax",)}

#: The step that trains the model in each form, and how to name it to a student.
TRAINING_STEP = {"A": "train", "D": "train", "B": "nn_keras", "C": "script"}
TRAINING_CALL = {"A": "create_and_train_model()", "D": "create_and_train_model()",
                 "B": "nn_keras()", "C": "your script"}
#: Forms whose steps are hidden in one call: the grader judges the arrays and
#: the model that reached Keras, and what the submission printed.
RECORDED_FORMS = ("B", "C")


@dataclass
class Submission:
    student: str
    #: None when the student's folder holds nothing gradable.
    detected: Detected | None
    #: Why there is nothing to grade, for the student's report.
    problem: str = ""

    @property
    def form(self) -> str | None:
        return self.detected.form if self.detected else None


def discover(path: Path,
             entry_points: dict[str, set[str]] | None = None) -> list[Submission]:
    """The submissions under ``path``: a class folder, one student's folder, or a file.

    A folder with sub-folders holding Python files is a class folder, and every
    sub-folder is a student, even one with nothing gradable in it, so that no
    student silently drops out of the gradebook.
    """
    if not path.exists():
        raise UsageError(
            f"{path} does not exist; expected a folder with one sub-folder per "
            "student, one student's folder, or a .py file"
        )
    if path.is_file():
        student = path.parent.name if path.name in SUBMISSION_NAMES else path.stem
        return [Submission(student, detect_form(path, entry_points))]
    folders = sorted(p for p in path.iterdir()
                     if p.is_dir() and not p.name.startswith("."))
    if not any(any(folder.rglob("*.py")) for folder in folders):
        if any(path.glob("*.py")):
            return [_submission_in(path, entry_points)]
        raise UsageError(
            f"{path} holds no submissions: expected one sub-folder per student, "
            "each with nn_keras_solution.py or nn_keras.py"
        )
    for stray in sorted(path.glob("*.py")):
        logger.warning("ignoring %s: in a class folder, each student's files belong "
                       "in a sub-folder of their own", stray)
    submissions = [_submission_in(folder, entry_points) for folder in folders]
    _refuse_clashing_names([s.student for s in submissions])
    return submissions


def _submission_in(folder: Path,
                   entry_points: dict[str, set[str]] | None) -> Submission:
    try:
        return Submission(folder.name,
                          detect_form(find_submission_file(folder), entry_points))
    except UsageError as error:
        return Submission(folder.name, None, str(error))


def _refuse_clashing_names(students: list[str]) -> None:
    clash = sharing_a_folder(students)
    if clash:
        raise UsageError(
            f"students {clash[0]!r} and {clash[1]!r} would share one report "
            "folder; rename one of their folders so the names differ by more "
            "than case or punctuation"
        )


def prepare_data(spec: Spec, form: str, datasets_dir: Path) -> PreparedData:
    settings = spec.runs[form]
    try:
        (train_x, train_y), (test_x, test_y), mapping = load_dataset(
            datasets_dir, settings.dataset)
    except DataFormatError as error:
        raise UsageError(
            f"cannot load data set {settings.dataset!r} for form {form} of "
            f"assignment {spec.name!r}: {error}. Point --datasets at the folder "
            f"holding {settings.dataset}_training.txt and {settings.dataset}_test.txt."
        ) from None
    normalized_train_x, normalized_test_x = normalize(train_x, test_x)
    return PreparedData(datasets_dir, settings, normalized_train_x, train_y,
                        normalized_test_x, test_y, mapping, train_x, test_x)


class ClassGrader:
    """Runs reference and student jobs on a thread pool of child processes."""

    def __init__(self, spec: Spec, datasets_dir: Path, jobs: int,
                 work_root: Path | None = None, warm: bool = False,
                 backend: Backend | None = None, zygote: Zygote | None = None,
                 gpus: GpuPool | None = None):
        if spec.keras != "3" and not tf_keras_installed():
            raise UsageError(
                f"assignment {spec.name!r} sets keras = \"{spec.keras}\", which "
                f"needs the Keras 2 package tf-keras; install it with "
                f"{INSTALL_TF_KERAS}, or remove the key to grade in Keras 3")
        self.spec = spec
        #: The Keras every job starts in; "auto" grades again in Keras 2 only
        #: the submissions that fail on a Keras 2 idiom.
        self.keras = job_keras(spec.keras)
        #: With "auto": the Keras 2 idiom each student's Keras 3 run failed on.
        self.keras_2_idioms: dict[str, Keras2Idiom] = {}
        self.datasets_dir = datasets_dir
        self.jobs = max(1, jobs)
        cpu_share = max(1, (os.cpu_count() or 1) // self.jobs)
        self.limits = Limits(wall_seconds=spec.wall_seconds,
                             cpu_seconds=spec.cpu_seconds,
                             memory_bytes=spec.memory_mb * MIB,
                             file_bytes=spec.file_mb * MIB,
                             output_bytes=spec.output_bytes, cpu_threads=cpu_share,
                             gpu_memory_mb=spec.gpu_memory_mb,
                             processes=spec.processes)
        self.work_root = Path(tempfile.mkdtemp(prefix="nngrade-", dir=work_root))
        self.data: dict[str, PreparedData] = {}
        self.warm = warm
        #: Where every child runs: the backend, and its warm zygote once one
        #: runs. A zygote handed in (whose sandbox must show ``work_root``) is
        #: shared, and left running by :meth:`close`.
        self.zygote = Sandbox(backend or ProcessBackend(), zygote)
        self.job_numbers = itertools.count(1)
        #: The GPUs jobs take turns on; none unless given (``--gpus``).
        self.gpus = gpus or GpuPool()

    def close(self) -> None:
        self.zygote.close()
        shutil.rmtree(self.work_root, ignore_errors=True)

    def _run_job(self, job_dir: Path, seed: int) -> JobOutcome:
        """Run one job on a GPU of its own, when there is one to give."""
        with self.gpus.lease() as device:
            if device is None:
                return run_job(job_dir, self.limits, seed, self.zygote)
            limits = dataclasses.replace(self.limits, gpu_device=device.uuid)
            outcome = run_job(job_dir, limits, seed, self.zygote)
        outcome.gpu = device.describe()
        return outcome

    def _start_zygote(self, submissions: list[Submission]) -> None:
        """Import TensorFlow once for every job; on failure, start jobs cold.

        The zygote's sandbox shows every folder a job of this run may need;
        each job then sees only its own.
        """
        folders = {s.detected.path.resolve().parent for s in submissions
                   if self._runnable(s)}
        for form, data in self.data.items():
            folders |= spellings(data.datasets_dir)
            folders.add(_references.solution_path(form).resolve().parent)
        view = View((self.work_root.resolve(),), tuple(sorted(folders)))
        self.zygote.start_warm(self.work_root, view, keras=self.keras)

    def grade(self, submissions: list[Submission],
              on_done: Callable[[str], None] = lambda label: None) -> list[Result]:
        forms = sorted({s.form for s in submissions if s.form})
        for form in forms:
            if form not in self.spec.runs:
                continue
            self.data[form] = prepare_data(self.spec, form, self.datasets_dir)
        if self.warm and self.data:
            self._start_zygote(submissions)

        with ThreadPoolExecutor(self.jobs) as pool:
            reference_futures = self._start_references(pool, on_done)
            student_futures: dict[str, Future] = {}
            for submission in submissions:
                if self._runnable(submission):
                    student_futures[submission.student] = pool.submit(
                        self._run_student, submission, on_done)
            references = {form: self._collect_reference(form, futures)
                          for form, futures in reference_futures.items()}
            results = []
            for submission in submissions:
                future = student_futures.get(submission.student)
                results.append(self._guarded_result(submission, future, references))
                if future is None:
                    on_done(submission.student)
        return results

    def _guarded_result(self, submission: Submission, future: Future | None,
                        references: dict[str, Reference]) -> Result:
        """Judge one submission; a failure of ours costs no one else a result."""
        try:
            outcome = future.result() if future else None
            result = self._result(submission, outcome, references)
        except Exception as error:
            logger.exception("grading %s failed", submission.student)
            result = self._empty_result(submission)
            result.verdict = Verdict(
                "grader_error",
                "The grader failed while grading your submission "
                f"({type(error).__name__}: {error}). This is not your fault; your "
                "instructor can see the details in the grader's log.")
            result.checks = self._all_not_run(
                submission.form if submission.form in self.spec.runs else "D",
                "Not graded: the grader failed; this costs you nothing.")
        for check in result.checks:
            check.visible = check.name not in self.spec.hidden_checks
        return result

    def _empty_result(self, submission: Submission) -> Result:
        return Result(
            student=submission.student,
            submission=str(submission.detected.path) if submission.detected else "",
            assignment=self.spec.name,
            form=submission.form,
            verdict=Verdict("finished", ""),
            checks=[],
            seed=self.spec.seed,
            graded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def tasks(self, submissions: list[Submission]) -> int:
        """How many child runs grading these submissions will start, at most."""
        forms = {s.form for s in submissions if s.form in self.spec.runs
                 and "test_accuracy" in self.spec.checks_for(s.form)}
        return len(submissions) + len(forms) * len(self.spec.reference_seeds)

    def _runnable(self, submission: Submission) -> bool:
        return submission.form in self.data and not submission.detected.syntax_error

    def _start_references(self, pool, on_done):
        futures: dict[str, list] = {}
        # Forms A and D train the same reference solution: one run serves both.
        started: dict[str, Future] = {}
        for form, data in self.data.items():
            futures[form] = []
            if "test_accuracy" not in self.spec.checks_for(form):
                continue
            for seed in self.spec.reference_seeds:
                key = _references.cache_key(form, data, seed, self.keras)
                cached = _references.cached_accuracy(key)
                if cached is not None:
                    futures[form].append((seed, key, cached))
                    on_done(f"reference {form} seed {seed} (cached)")
                elif key in started:
                    futures[form].append((seed, key, started[key]))
                    on_done(f"reference {form} seed {seed} (shared)")
                else:
                    started[key] = pool.submit(
                        self._run_reference, form, data, seed, on_done)
                    futures[form].append((seed, key, started[key]))
        return futures

    def _run_reference(self, form: str, data: PreparedData, seed: int, on_done):
        job_dir = self.work_root / f"reference-{form}-{seed}"
        steps = steps_for_form(form, data, job_dir / "probe_data")
        steps = [s for s in steps if s["id"] in ("import", TRAINING_STEP[form])]
        prepare_job(job_dir, _references.solution_path(form), steps, data, seed,
                    self.keras)
        outcome = self._run_job(job_dir, seed)
        on_done(f"reference {form} seed {seed}")
        return outcome

    def _collect_reference(self, form: str, futures) -> Reference:
        data = self.data[form]
        accuracies = []
        for seed, key, value in futures:
            if isinstance(value, float):
                accuracies.append(value)
                continue
            outcome: JobOutcome = value.result()
            record = outcome.records.get(TRAINING_STEP[form])
            if record is None or not record.ok:
                reason = record.failure_text() if record else outcome.run.stderr[-2000:]
                raise GraderError(
                    f"the reference solution for form {form} failed with seed "
                    f"{seed}, so there is nothing to compare accuracies with: "
                    f"{reason}. Check the settings of [forms.{form}] in the "
                    f"assignment spec {self.spec.path}."
                )
            accuracy = _references.accuracy_from_outputs(record.array("outputs"), data)
            _references.store_accuracy(key, accuracy, {"form": form, "seed": seed})
            accuracies.append(accuracy)
        majority = np.bincount(data.test_labels.ravel()).max() / data.test_labels.size
        if accuracies and max(accuracies) <= majority + 0.01:
            logger.warning(
                "the reference solution for form %s reaches only %.4f on %s, no "
                "better than always predicting the most common class (%.4f): its "
                "training collapsed with these settings, so the accuracy check "
                "passes almost anything. Give [forms.%s] more epochs or units.",
                form, max(accuracies), data.settings.dataset, majority, form)
        return Reference(data.raw_training_inputs, data.training_labels,
                         data.raw_test_inputs, data.test_labels, data.ints_to_labels,
                         accuracies)

    def _run_student(self, submission: Submission, on_done) -> JobOutcome:
        outcome = self._student_job(submission, self.keras)
        idiom = keras_2_idiom(outcome.records.values())
        if self.spec.keras == "auto" and idiom is not None:
            self.keras_2_idioms[submission.student] = idiom
            # Cold, as the warm zygote runs Keras 3: seconds, for a few students.
            again = self._student_job(submission, "2")
            if _steps_done(again) > _steps_done(outcome):
                outcome = again
        on_done(submission.student)
        return outcome

    def _student_job(self, submission: Submission, keras: str) -> JobOutcome:
        form = submission.form
        data = self.data[form]
        job_dir = self.work_root / f"student-{next(self.job_numbers)}"
        steps = steps_for_form(form, data, job_dir / "probe_data",
                               self.spec.steps_for(form))
        prepare_job(job_dir, submission.detected.path, steps, data, self.spec.seed,
                    keras)
        return self._run_job(job_dir, self.spec.seed)

    def _result(self, submission: Submission, outcome: JobOutcome | None,
                references: dict[str, Reference]) -> Result:
        detected = submission.detected
        form = submission.form
        result = self._empty_result(submission)
        if detected is None:
            result.verdict = Verdict(
                "no_submission", f"Nothing to grade: {submission.problem}.")
            result.checks = self._all_not_run("D", "Not run: no submission file.")
            return result
        if detected.syntax_error:
            line, message = detected.syntax_error
            where = f"line {line}" if line else "the file"
            result.verdict = Verdict(
                "syntax_error",
                f"Python cannot read your file: {message} at {where} of "
                f"{detected.path.name}. Nothing was run; fix the syntax and submit "
                "again.")
            result.checks = self._all_not_run(
                form if form in self.spec.runs else "D",
                "Not run: the file does not parse.")
            return result
        if form is None or form not in self.spec.runs:
            entry_points = self.spec.entry_points()
            expected = "; ".join(f"form {f}: {', '.join(sorted(entry_points[f]))}"
                                 for f in sorted(entry_points))
            result.verdict = Verdict(
                "no_submission",
                "Your file does not define the functions this assignment asks for "
                f"({expected}). Found: "
                f"{', '.join(sorted(detected.functions)) or 'no functions'}. Nothing "
                "was run.")
            result.checks = self._all_not_run("D", "Not run: entry points missing.")
            return result

        run = outcome.run
        result.settings = job_settings_summary(self.data[form], form)
        result.resources = Resources(run.wall_s, run.cpu_s, run.peak_rss_mb,
                                     f"{run.backend}, {run.start} start",
                                     gpu=outcome.gpu,
                                     process_limit=run.process_limit,
                                     unenforced=self.zygote.backend.unenforced())
        result.stdout_tail = run.stdout[-4000:]
        result.stderr_tail = run.stderr[-4000:]
        result.verdict = decide_verdict(outcome, self.limits,
                                        self.spec.allowed_packages)
        result.resources.keras = describe_keras(outcome.keras)
        self._explain_keras_2_idiom(result, outcome)
        result.checks = self._checks(form, outcome.records, references[form],
                                     result.verdict, submission, outcome.keras)
        if result.verdict.kind == "grader_error":
            spare_the_student(result.checks, outcome.records)
        if "numpy_int_units" in _compat_events(outcome):
            result.notes.append(_numpy_units_note(
                result.checks, self.spec.compat_penalty_numpy_units))
        return result

    def _explain_keras_2_idiom(self, result: Result, outcome: JobOutcome) -> None:
        """Tell the student when a Keras 2 idiom broke the run, and what "auto" did."""
        idiom = (keras_2_idiom(outcome.records.values()) if outcome.keras == "3"
                 else None)
        if idiom is not None and result.verdict.kind == "exception":
            result.verdict.message += " " + idiom.explanation()
        tried = self.keras_2_idioms.get(result.student)
        if tried is not None:
            result.notes.append(regraded_note(tried) if outcome.keras == "2"
                                else not_regraded_note(tried))

    def _all_not_run(self, form: str, reason: str) -> list[Check]:
        return [_judge.not_run(name, self.spec.points[name], reason)
                for name in self.spec.checks_for(form)]

    def _checks(self, form: str, records: dict[str, StepRecord],
                reference: Reference, verdict: Verdict,
                submission: Submission, keras: str = "3") -> list[Check]:
        spec = self.spec
        settings = spec.runs[form]
        reason = {
            "wall_time": "Not run: the wall-clock limit stopped your submission first.",
            "output_limit": "Not run: the output limit stopped your submission first.",
            "memory": "Not run: your submission ran out of memory first.",
            "gpu_memory": "Not run: your submission ran out of GPU memory first.",
            "cpu_time": "Not run: the CPU-time limit stopped your submission first.",
            "processes": "Not run: the process limit stopped your submission first.",
            "crash": "Not run: your submission ended before this check.",
        }.get(verdict.kind, "Not run: an earlier step did not finish.")
        actual_accuracy: float | None = None
        checks = []
        for name in spec.checks_for(form):
            points = spec.points[name]
            needed = check_steps(form, name)
            if any(step not in records for step in needed):
                checks.append(_judge.not_run(name, points, reason))
                continue
            step, call = TRAINING_STEP[form], TRAINING_CALL[form]
            if name == "loader" and form == "D":
                probe_reference = load_dataset(_probe_dir(self.work_root),
                                               _probes.LOADER_PROBE_NAME)
                check = _judge.check_loader(points, records["load_course"],
                                            records["load_probe"], reference,
                                            probe_reference)
            elif name == "loader":
                check = _judge.check_fit_labels(points, records[step], reference, call)
            elif name == "normalization" and form == "D":
                check = _judge.check_normalization(points, records["normalize"])
            elif name == "normalization":
                check = _judge.check_fit_inputs(points, records[step], reference, call)
            elif name == "tie_accuracy" and form in RECORDED_FORMS:
                check = check_printed_tie_rule(points, records[needed[0]], reference,
                                               call)
            elif name == "tie_accuracy" and form == "D":
                check = _judge.check_object_accuracy(points, records["object_accuracy"])
                if check.status == "passed":
                    check = _judge.check_test_model_probe(
                        points, records["test_model_probe"])
            elif name == "tie_accuracy":
                check = _judge.check_test_model_probe(points,
                                                      records["test_model_probe"])
            elif name == "architecture":
                check = _judge.check_architecture(
                    points, records[step], settings, reference.number_of_classes,
                    OUTPUT_ACTIVATIONS[form], call)
            elif name == "test_accuracy" and "outputs_missing" in records[step].values:
                check = _judge.not_run(
                    name, points, "Not checked: the grader could not find your "
                    "model's outputs on the test set: "
                    f"{records[step].values['outputs_missing']}.")
            elif name == "test_accuracy":
                check, actual_accuracy = _judge.check_test_accuracy(
                    points, records[step], reference, spec.accuracy_tolerance, call)
                if self._borderline(check, actual_accuracy, reference):
                    check = self._rerun_accuracy(submission, check, actual_accuracy,
                                                 reference, call, keras)
            elif name == "reported_accuracy":
                check = self._reported_accuracy(form, points, records, actual_accuracy,
                                                reference.test_labels.size)
            else:
                check = self._printed_output(form, points, records, reference)
            checks.append(check)
        return checks

    def _borderline(self, check: Check, accuracy: float | None,
                    reference: Reference) -> bool:
        """A failure close enough to the pass mark that one seed may explain it."""
        if check.status != "failed" or accuracy is None or not reference.accuracies:
            return False
        floor = min(reference.accuracies) - self.spec.accuracy_tolerance
        return accuracy >= floor - self.spec.accuracy_tolerance

    def _rerun_accuracy(self, submission: Submission, first: Check, accuracy: float,
                        reference: Reference, call: str, keras: str = "3") -> Check:
        """Train once more with another seed, in the same Keras, before a
        borderline result can fail."""
        form = submission.form
        data = self.data[form]
        seed = self.spec.seed + RERUN_SEED_OFFSET
        job_dir = self.work_root / f"student-{next(self.job_numbers)}-rerun"
        steps = steps_for_form(form, data, job_dir / "probe_data",
                               {TRAINING_STEP[form]})
        prepare_job(job_dir, submission.detected.path, steps, data, seed, keras)
        outcome = self._run_job(job_dir, seed)
        record = outcome.records.get(TRAINING_STEP[form])
        if record is None:
            first.details.append(f"a re-run with seed {seed} did not finish")
            return first
        second, second_accuracy = _judge.check_test_accuracy(
            first.max_points, record, reference, self.spec.accuracy_tolerance, call)
        rerun = (f"Re-run with seed {seed}: "
                 + ("no accuracy" if second_accuracy is None
                    else f"{second_accuracy:.4f}") + ".")
        if second.status == "passed":
            second.message = (f"Test accuracy {accuracy:.4f} with seed "
                              f"{self.spec.seed} was just below the pass mark, so the "
                              f"grader trained your model again: {rerun} Passed.")
            second.details = first.details + second.details
            return second
        first.message += f" {rerun}"
        return first

    def _reported_accuracy(self, form, points, records, actual, objects) -> Check:
        if form in RECORDED_FORMS:
            record = records[TRAINING_STEP[form]]
            reported = final_accuracy(parse_output(record.stdout))
            return _judge.check_reported_accuracy(
                points, "no readable line 'classification accuracy=...' in the output"
                if reported is None else reported, actual,
                f"The final line {TRAINING_CALL[form]} prints", test_objects=objects)
        if not records["train"].ok:
            return _judge.not_run("reported_accuracy", points, "Not run: "
                                  "create_and_train_model() did not finish.")
        record = records["test_model"]
        if not record.ok:
            return _judge.step_failed("reported_accuracy", points, record,
                                      "test_model()")
        return _judge.check_reported_accuracy(
            points, record.values.get("accuracy"), actual,
            "test_model() on your trained model", test_objects=objects)

    def _printed_output(self, form, points, records, reference) -> Check:
        step, source = ((TRAINING_STEP[form], TRAINING_CALL[form])
                        if form in RECORDED_FORMS else ("test_model", "test_model()"))
        if form not in RECORDED_FORMS and not records["train"].ok:
            return _judge.not_run("printed_output", points, "Not run: "
                                  "create_and_train_model() did not finish.")
        record = records[step]
        if not record.ok and not record.stdout:
            return _judge.step_failed("printed_output", points, record, source)
        if form in RECORDED_FORMS:
            return check_printed_output(points, record.stdout, reference, source)
        return check_printed_output(points, record.stdout, reference, source,
                                    reported=record.values.get("accuracy"))


def _steps_done(outcome: JobOutcome) -> int:
    """How far a run got: its steps that succeeded."""
    return sum(record.ok for record in outcome.records.values())


def _probe_dir(work_root: Path) -> Path:
    directory = work_root / "loader-probe"
    if not directory.is_dir():
        _probes.write_loader_probe(directory)
    return directory


# -- missing packages -----------------------------------------------------------

#: Events the child may report on its channel; others are ignored.
COMPAT_EVENTS = ("numpy_int_units",)


def _compat_events(outcome: JobOutcome) -> list[str]:
    """The compatibility shims the child used, read as untrusted input."""
    return [event for event in COMPAT_EVENTS if event in outcome.compat]


def _numpy_units_note(checks: list[Check], penalty: float) -> str:
    """The note for a numpy integer unit count; takes the spec's penalty, if any."""
    note = ("Your code passes a numpy integer (such as np.max(...) + 1) as a "
            "layer's unit count. Keras 3.13 and later reject that with 'expected a "
            "positive integer', so on a current Keras your code would crash before "
            "training. The grader accepted it and graded your code on its merits; "
            "to fix it, wrap the count in int(...).")
    architecture = next((check for check in checks
                         if check.name == "architecture"), None)
    if penalty <= 0 or architecture is None or architecture.points <= 0:
        return note
    taken = min(penalty, architecture.points)
    architecture.points = round(architecture.points - taken, 4)
    architecture.details.append(
        f"{taken:g} point(s) off: a numpy integer unit count (see the notes)")
    return (f"{note} This assignment takes {taken:g} point(s) off the model "
            "architecture check for it.")
