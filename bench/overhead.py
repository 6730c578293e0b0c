"""The grader's own cost per submission, beyond the student's code.

For each submission this runs the child that grading would run, cold (a new
interpreter that imports TensorFlow) and warm (forked from the zygote), and
reports the wall time of the job minus the time spent inside the student's
functions (every step but the import, which is mostly TensorFlow's). The
zygote's one-off start is reported apart.

    python bench/overhead.py [--repeat N] [SUBMISSION_FOLDER ...]

Defaults to the sample class's three correct submissions on the ``sample``
assignment. Results are recorded by hand in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from grader._forms import detect_form, find_submission_file
from grader._grading import prepare_data
from grader._jobs import prepare_job, run_job, steps_for_form
from grader._limits import Limits
from grader._resources import bundled_datasets_dir, sample_class_dir
from grader._sandbox import Zygote
from grader._spec import load_spec

DEFAULT_STUDENTS = ("alice_form_d_correct", "bob_form_a_correct",
                    "carol_form_b_correct")


def student_seconds(job_dir: Path) -> float:
    total = 0.0
    for path in (job_dir / "out").glob("*.json"):
        record = json.loads(path.read_text())
        if record.get("id") not in (None, "import"):
            total += float(record.get("seconds", 0.0))
    return total


def measure(folder: Path, spec, zygote, root: Path, number: int) -> dict:
    detected = detect_form(find_submission_file(folder))
    data = prepare_data(spec, detected.form, bundled_datasets_dir())
    job_dir = root / f"{folder.name}-{'warm' if zygote else 'cold'}-{number}"
    steps = steps_for_form(detected.form, data, job_dir / "probe_data")
    started = time.monotonic()
    prepare_job(job_dir, detected.path, steps, data, spec.seed)
    outcome = run_job(job_dir, Limits(wall_seconds=300, cpu_threads=2), spec.seed,
                      zygote)
    total = time.monotonic() - started
    inside = student_seconds(job_dir)
    return {"student": folder.name, "total_s": total, "student_s": inside,
            "overhead_s": total - inside, "start": outcome.run.start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args()
    folders = arguments.folders or [sample_class_dir() / s for s in DEFAULT_STUDENTS]
    spec = load_spec("sample")

    with tempfile.TemporaryDirectory(prefix="nngrade-bench-") as temporary:
        root = Path(temporary)
        cold = [measure(f, spec, None, root, n)
                for n in range(arguments.repeat) for f in folders]
        started = time.monotonic()
        zygote = Zygote(root)
        zygote_start = time.monotonic() - started
        try:
            warm = [measure(f, spec, zygote, root, n)
                    for n in range(arguments.repeat) for f in folders]
        finally:
            zygote.close()

    for label, runs in (("cold", cold), ("warm", warm)):
        overheads = [run["overhead_s"] for run in runs]
        print(f"{label}: overhead per submission median "
              f"{statistics.median(overheads):.3f} s, max {max(overheads):.3f} s "
              f"over {len(runs)} runs; student time median "
              f"{statistics.median(r['student_s'] for r in runs):.2f} s")
        for run in runs:
            print(f"  {run['student']:<28} total {run['total_s']:6.2f} s  "
                  f"student {run['student_s']:6.2f} s  overhead "
                  f"{run['overhead_s']:6.3f} s  ({run['start']})")
    print(f"zygote start (TensorFlow import, once per grading run): "
          f"{zygote_start:.2f} s")


if __name__ == "__main__":
    main()
