"""Do correct submissions get full marks whatever the seed?

Grades the sample class's correct submissions (one per form) with seeds
0..N-1 on the ``sample`` assignment and counts full marks per form. The
reference accuracies are computed once and cached.

    python bench/full_marks.py [--runs 20] [--jobs 2]

Results are recorded by hand in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from grader._grading import ClassGrader, discover
from grader._resources import bundled_datasets_dir, sample_class_dir
from grader._spec import load_spec

CORRECT = ("alice_form_d_correct", "bob_form_a_correct", "carol_form_b_correct",
           "kim_form_c_correct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    arguments = parser.parse_args()
    spec = load_spec("sample")
    full = defaultdict(int)
    misses = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nngrade-full-marks-") as temporary:
        class_dir = Path(temporary) / "class"
        for student in CORRECT:
            shutil.copytree(sample_class_dir() / student, class_dir / student)
        submissions = discover(class_dir, spec.entry_points())
        for seed in range(arguments.runs):
            seeded = dataclasses.replace(spec, seed=seed)
            grader = ClassGrader(seeded, bundled_datasets_dir(), arguments.jobs,
                                 warm=True)
            try:
                results = grader.grade(submissions)
            finally:
                grader.close()
            for result in results:
                if result.score == result.max_score:
                    full[result.form] += 1
                else:
                    lost = [(c.name, c.message) for c in result.checks
                            if c.points < c.max_points]
                    misses.append((seed, result.student, lost))
            print(f"seed {seed}: " + ", ".join(
                f"{r.form} {r.score:g}/{r.max_score:g}" for r in results), flush=True)
    print(f"full marks in {arguments.runs} runs per form: "
          + ", ".join(f"{form}: {full[form]}/{arguments.runs}"
                      for form in sorted(full)))
    for seed, student, lost in misses:
        print(f"  seed {seed} {student}: {lost}")
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
