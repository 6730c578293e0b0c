"""Build child jobs, run them, and read back what the child recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import _probes
from grader._records import StepRecord, parse_channel
from grader._sandbox import Limits, Zygote, job_keras, run_child
from grader._watch import ChildRun
from grader._spec import RunSettings


@dataclass
class PreparedData:
    """Reference-loaded and normalized arrays handed to a training step."""

    datasets_dir: Path
    settings: RunSettings
    training_inputs: np.ndarray
    training_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray
    ints_to_labels: dict[int, str]
    #: The inputs as the files hold them, before normalization.
    raw_training_inputs: np.ndarray
    raw_test_inputs: np.ndarray


@dataclass
class JobOutcome:
    run: ChildRun
    records: dict[str, StepRecord] = field(default_factory=dict)
    finished: bool = False
    #: Compatibility shims the child had to use (see ``_child``).
    compat: list[str] = field(default_factory=list)
    #: Why the child's results could not all be read, if so.
    channel_problem: str = ""
    #: The Keras the job ran: "3", or "2" for Keras 2 compatibility mode.
    keras: str = "3"
    #: The GPU the job was given (``_gpu.Device.describe``), or "none".
    gpu: str = "none"


def steps_for_form(form: str, data: PreparedData, probe_dir: Path,
                   wanted: set[str] | None = None) -> list[dict]:
    """The steps a child runs for a submission of ``form``, in order.

    With ``wanted``, only those steps (and the import) are kept.
    """
    steps = _all_steps(form, data, probe_dir)
    if wanted is None:
        return steps
    return [step for step in steps if step["id"] == "import" or step["id"] in wanted]


def _all_steps(form: str, data: PreparedData, probe_dir: Path) -> list[dict]:
    settings = data.settings
    load_course = {"id": "load_course", "kind": "load_dataset",
                   "directory": str(data.datasets_dir), "dataset": settings.dataset}
    load_probe = {"id": "load_probe", "kind": "load_dataset",
                  "directory": str(probe_dir), "dataset": _probes.LOADER_PROBE_NAME}
    train = {"id": "train", "kind": "train", "settings": settings.as_dict()}
    test_model = {"id": "test_model", "kind": "test_model",
                  "ints_to_labels": [[k, v] for k, v in data.ints_to_labels.items()]}
    probe = {"id": "test_model_probe", "kind": "test_model_probe",
             "width": int(data.test_inputs.shape[1])}
    import_step = {"id": "import", "kind": "import", "required": True}
    if form == "D":
        return [import_step, load_course, load_probe,
                {"id": "normalize", "kind": "normalize"},
                {"id": "object_accuracy", "kind": "object_accuracy"},
                probe, train, test_model]
    if form == "A":
        return [import_step, probe, train, test_model]
    if form == "C":
        # A script does its work when run, so there is no import step.
        script = {
            "id": "script", "kind": "script",
            "argv": [str(data.datasets_dir / f"{settings.dataset}_training.txt"),
                     str(data.datasets_dir / f"{settings.dataset}_test.txt"),
                     str(settings.layers), str(settings.units_argument),
                     str(settings.epochs), settings.activation_argument],
            "test_rows": int(len(data.test_labels)),
        }
        return [script, {**script, "id": "script_probe", "kind": "probe",
                         "form": "C"}]
    if form == "B":
        nn_keras = {
            "id": "nn_keras", "kind": "nn_keras",
            "directory": str(data.datasets_dir), "dataset": settings.dataset,
            "layers": settings.layers,
            "units_per_layer": settings.units_argument,
            "epochs": settings.epochs,
            "test_rows": int(len(data.test_labels)),
        }
        return [import_step, nn_keras,
                {**nn_keras, "id": "nn_keras_probe", "kind": "probe", "form": "B"}]
    raise ValueError(f"unknown form {form!r}")


def prepare_job(job_dir: Path, submission: Path, steps: list[dict],
                data: PreparedData, seed: int, keras: str = "3") -> None:
    """Lay out a job folder: ``job.json``, input arrays, probe files.

    ``keras`` "2" runs the job in Keras 2 compatibility mode (see
    ``_keras_mode``).
    """
    inputs = job_dir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    tie_outputs, tie_true = _probes.tie_probe_arrays()
    normalize_training, normalize_test = _probes.normalization_probe()
    arrays = {
        "training_inputs": data.training_inputs,
        "training_labels": data.training_labels,
        "test_inputs": data.test_inputs,
        "test_labels": data.test_labels,
        "tie_outputs": tie_outputs,
        "tie_true": tie_true,
        "normalize_training": normalize_training,
        "normalize_test": normalize_test,
        "printed_tie_outputs": _probes.printed_tie_probe(
            data.test_labels, len(data.ints_to_labels))[0],
    }
    for name, array in arrays.items():
        np.save(inputs / f"{name}.npy", array, allow_pickle=False)
    _probes.write_loader_probe(job_dir / "probe_data")
    job = {"submission": str(submission.resolve()), "seed": seed, "keras": keras,
           "steps": steps}
    (job_dir / "job.json").write_text(json.dumps(job, indent=1))


def run_job(job_dir: Path, limits: Limits, seed: int,
            zygote: Zygote | None = None) -> JobOutcome:
    run = run_child(job_dir, limits, seed, zygote)
    channel = parse_channel(run.results)
    return JobOutcome(
        run=run,
        records=channel.records,
        finished=channel.finished,
        compat=channel.compat,
        channel_problem=channel.problem,
        keras=job_keras(job_dir),
    )


def job_settings_summary(data: PreparedData, form: str) -> dict[str, Any]:
    summary = {"form": form, **data.settings.as_dict(),
               "datasets_dir": str(data.datasets_dir)}
    if form in ("B", "C"):
        summary["units_per_layer"] = data.settings.units_argument
    if form == "C":
        summary["activation"] = data.settings.activation_argument
    return summary
