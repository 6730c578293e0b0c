"""The grader's own cost per submission, beyond the student's code.

For each submission this runs the child that grading would run, cold (a new
interpreter that imports TensorFlow) and warm (forked from the zygote), and
reports the wall time of the job minus the time spent inside the student's
functions (every step but the import, which is mostly TensorFlow's). The
zygote's one-off start is reported apart.

    python bench/overhead.py [--repeat N] [--sandbox auto|process|bwrap|docker]
                             [SUBMISSION_FOLDER ...]

Defaults to the sample class's three correct submissions on the ``sample``
assignment. Results are recorded by hand in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from grader import _records
from grader._backends import SANDBOX_CHOICES, select_backend
from grader._forms import detect_form, find_submission_file
from grader._grading import prepare_data
from grader._jobs import prepare_job, run_job, steps_for_form
from grader._limits import Limits
from grader._resources import bundled_datasets_dir, sample_class_dir
from grader._sandbox import Sandbox, View
from grader._spec import load_spec

DEFAULT_STUDENTS = ("alice_form_d_correct", "bob_form_a_correct",
                    "carol_form_b_correct")


def student_seconds(results: bytes) -> float:
    """Seconds the child spent in the student's functions, import excepted."""
    seen = []
    take = _records._take

    def noting_seconds(parsed, header, blobs):
        if header.get("id") not in (None, "import"):
            seen.append(float(header.get("seconds", 0.0)))
        take(parsed, header, blobs)

    with mock.patch.object(_records, "_take", noting_seconds):
        _records.parse_channel(results)
    return sum(seen)


def measure(folder: Path, spec, sandbox: Sandbox, root: Path, number: int) -> dict:
    detected = detect_form(find_submission_file(folder))
    data = prepare_data(spec, detected.form, bundled_datasets_dir())
    label = "warm" if sandbox.zygote else "cold"
    job_dir = root / f"{folder.name}-{label}-{number}"
    steps = steps_for_form(detected.form, data, job_dir / "probe_data")
    started = time.monotonic()
    prepare_job(job_dir, detected.path, steps, data, spec.seed)
    outcome = run_job(job_dir, Limits(wall_seconds=300, cpu_threads=2), spec.seed,
                      sandbox)
    total = time.monotonic() - started
    inside = student_seconds(outcome.run.results)
    return {"student": folder.name, "total_s": total, "student_s": inside,
            "overhead_s": total - inside,
            "start": f"{outcome.run.backend}, {outcome.run.start}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--sandbox", choices=SANDBOX_CHOICES, default="auto")
    arguments = parser.parse_args()
    folders = arguments.folders or [sample_class_dir() / s for s in DEFAULT_STUDENTS]
    spec = load_spec("sample")
    backend = select_backend(arguments.sandbox, require_isolation=False)
    print(f"sandbox: {backend.describe()}")

    with tempfile.TemporaryDirectory(prefix="nngrade-bench-") as temporary:
        root = Path(temporary).resolve()
        cold = [measure(f, spec, Sandbox(backend), root, n)
                for n in range(arguments.repeat) for f in folders]
        view = View((root,), (*{f.resolve() for f in folders},
                              bundled_datasets_dir().resolve()))
        started = time.monotonic()
        zygote = backend.start_zygote(root, view)
        zygote_start = time.monotonic() - started
        warm = []
        if zygote is not None:  # docker has no warm start
            try:
                warm = [measure(f, spec, Sandbox(backend, zygote), root, n)
                        for n in range(arguments.repeat) for f in folders]
            finally:
                zygote.close()

    for label, runs in (("cold", cold), ("warm", warm)):
        if not runs:
            continue
        overheads = [run["overhead_s"] for run in runs]
        print(f"{label}: overhead per submission median "
              f"{statistics.median(overheads):.3f} s, max {max(overheads):.3f} s "
              f"over {len(runs)} runs; student time median "
              f"{statistics.median(r['student_s'] for r in runs):.2f} s")
        for run in runs:
            print(f"  {run['student']:<28} total {run['total_s']:6.2f} s  "
                  f"student {run['student_s']:6.2f} s  overhead "
                  f"{run['overhead_s']:6.3f} s  ({run['start']})")
    if warm:
        print(f"zygote start (TensorFlow import, once per grading run): "
              f"{zygote_start:.2f} s")


if __name__ == "__main__":
    main()
