from __future__ import annotations

import os
import shutil
import textwrap
import typing
from pathlib import Path

import psutil
import pytest

#: The course's own data, next to the repository; tests that need it skip
#: when it is absent, and it is never copied into the repository.
COURSE_DATA = Path(__file__).resolve().parents[2] / "shared" / "uci_datasets"


@pytest.fixture(autouse=True)
def _private_reference_cache(tmp_path_factory, monkeypatch):
    """Keep reference accuracies cached per test session, never in ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "reference-cache"
    monkeypatch.setenv("NNGRADE_CACHE_DIR", str(cache))


def skip_unless_required(variable: str, reason: str) -> typing.NoReturn:
    """Skip a test whose part is missing here, or fail it where ``variable``
    is set: CI sets one per part it installs, so that a missing browser,
    sandbox or data set fails there instead of passing quietly."""
    if os.environ.get(variable):
        pytest.fail(f"{reason} (and {variable} is set)")
    pytest.skip(reason)


def course_data_or_skip() -> Path:
    if not COURSE_DATA.is_dir():
        skip_unless_required("NNGRADE_REQUIRE_COURSE_DATA",
                             f"the course data is not at {COURSE_DATA}")
    return COURSE_DATA


def cgroups_or_skip(controller: str) -> None:
    """Skip where the grader has no writable ``controller`` control group."""
    from grader import _cgroups

    if controller not in _cgroups.controllers():
        skip_unless_required(
            "NNGRADE_REQUIRE_CGROUPS",
            f"no writable {controller} control group here (see the grader's log); "
            "the grader runs without one")


def running_with(marker: str) -> list[int]:
    """Pids of live processes with ``marker`` among their arguments."""
    return [process.pid for process in psutil.process_iter(["cmdline", "status"])
            if marker in (process.info["cmdline"] or [])
            and process.info["status"] != psutil.STATUS_ZOMBIE]


def fork_bomb(marker: str) -> str:
    """Source that forks until refused; each child becomes ``sleep MARKER``,
    so that survivors can be found by :func:`running_with` in any sandbox."""
    return f"""
import os

while True:
    if os.fork() == 0:
        try:
            os.execvp("sleep", ["sleep", "{marker}"])
        finally:
            os._exit(1)
"""


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # A zombie has ended; only its exit status is left to collect.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


FIXTURES = Path(__file__).parent / "fixtures"

#: A correct form D whose steps come from a numpy-only helper
#: (fixtures/numpy_steps.py, copied beside it); it never trains.
CORRECT_STEPS = """
from numpy_steps import load_dataset, normalize, object_accuracy


def create_and_train_model(*args):
    raise NotImplementedError


def test_model(model, test_inputs, test_labels, ints_to_labels):
    outputs = model.predict(test_inputs, verbose=0)
    scores = [object_accuracy(o, int(t)) for o, t in zip(outputs, test_labels.ravel())]
    return sum(scores) / len(scores)
"""


def numpy_only_spec(name: str, *, wall: float = 20, cpu: float = 600,
                    memory: int = 2048, file_mb: int = 64, processes: int = 256,
                    extra: str = "") -> str:
    """A spec that grades only what needs no training, so no test imports
    TensorFlow for it: the loader, the normalization and the tie rule."""
    return f"""
name = "{name}"
datasets = "bundled"
{extra}
[limits]
wall_seconds = {wall}
cpu_seconds = {cpu}
memory_mb = {memory}
file_mb = {file_mb}
processes = {processes}
output_bytes = 20000
[forms.D]
dataset = "iris"
layers = 3
units_per_layer = [4]
hidden_activations = ["relu"]
epochs = 1
[points]
loader = 2
normalization = 2
tie_accuracy = 2
"""


def write_student(class_dir: Path, student: str, source: str) -> Path:
    """A student's folder holding ``source`` as a form A or D file, beside
    the numpy-only helper that :data:`CORRECT_STEPS` imports."""
    folder = class_dir / student
    folder.mkdir(parents=True)
    (folder / "nn_keras_solution.py").write_text(textwrap.dedent(source))
    shutil.copy(FIXTURES / "numpy_steps.py", folder)
    return folder


def grade_with_spec(work_root: Path, spec_text: str, *, jobs: int = 1,
                    datasets: Path | None = None,
                    **grader_options: typing.Any) -> list:
    """Grade ``work_root/class`` as ``nngrade grade`` would, with a spec
    written from ``spec_text``, on ``datasets`` (default: the bundled ones)."""
    from grader._grading import ClassGrader, discover
    from grader._resources import bundled_datasets_dir
    from grader._spec import load_spec

    spec_path = work_root / "spec.toml"
    spec_path.write_text(spec_text)
    spec = load_spec(str(spec_path))
    grader = ClassGrader(spec, datasets or bundled_datasets_dir(), jobs=jobs,
                         work_root=work_root, **grader_options)
    try:
        return grader.grade(discover(work_root / "class", spec.entry_points()))
    finally:
        grader.close()
