"""The child side of a grading run: imports one submission and runs its steps.

Run as ``python -m grader._child JOB_DIR`` inside the sandbox. It only runs
student code and writes raw values (JSON and ``.npy`` files) to
``JOB_DIR/out``; the parent judges them against reference values that never
come here. Nothing in this module decides a score.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import getopt
import importlib.abc
import importlib.util
import inspect
import io
import json
import os
import random
import runpy
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from grader._gpu import configure_job_gpus
from grader._keras_mode import LEGACY_KERAS_VARIABLE
from grader._records import ChannelWriter, npy_bytes

STEP_OUTPUT_CAP = 200_000
MAX_RECORDED_PREDICT_ROWS = 500_000


class _CappedText(io.TextIOBase):
    """Keep the start and the end of what a step prints, and pass all of it on.

    The end matters as much as the start: the final accuracy line comes last.
    Everything still reaches the real stdout, so the parent's output limit
    sees a flood however the student prints it.
    """

    def __init__(self, cap: int):
        self.half = cap // 2
        self.head = ""
        self.tail = ""
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        sys.__stdout__.flush()

    def write(self, text: str) -> int:
        written = len(text)
        sys.__stdout__.write(text)
        room = self.half - len(self.head)
        if room > 0:
            self.head += text[:room]
            text = text[room:]
        self.tail += text
        if len(self.tail) > 2 * self.half:
            self.dropped += len(self.tail) - self.half
            self.tail = self.tail[-self.half:]
        return written

    def getvalue(self) -> str:
        if self.dropped:
            return f"{self.head}\n[... {self.dropped} characters ...]\n{self.tail}"
        return self.head + self.tail


class StepFailed(Exception):
    """A step could not produce its values; the message is for the student."""


class _Job:
    def __init__(self, job_dir: Path, channel: ChannelWriter):
        self.job_dir = job_dir
        self.spec = json.loads((job_dir / "job.json").read_text())
        self.inputs_dir = job_dir / "inputs"
        self.channel = channel
        self.submission_path = Path(self.spec["submission"])
        self.module: Any = None
        self.model: Any = None
        #: Arrays of the step being run, sent with its record.
        self.arrays: dict[str, bytes] = {}

    def array(self, name: str) -> np.ndarray:
        return np.load(self.inputs_dir / f"{name}.npy", allow_pickle=False)

    def save_array(self, step_id: str, name: str, value: Any) -> list[int]:
        array = np.asarray(value)
        if array.dtype == object:
            raise StepFailed(
                f"{name} is not a numeric array (it holds Python objects of "
                f"type {type(array.flat[0]).__name__ if array.size else '?'})"
            )
        self.arrays[name] = npy_bytes(array)
        return list(array.shape)

    def send_record(self, record: dict[str, Any]) -> None:
        arrays, self.arrays = self.arrays, {}
        self.channel.send(record, arrays, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def _student_traceback(error: BaseException, submission: Path) -> str:
    """Format only the frames of the student's file, then the error line."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve() == submission
    ]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if any(name in sys.modules for name in ("tensorflow", "keras", "tf_keras")):
        _keras().utils.set_random_seed(seed)


#: The package ``tf.keras`` is in this job: Keras 3, or tf_keras in Keras 2
#: compatibility mode (see ``_enter_keras_2_mode``).
_keras_package = "keras"


def _keras() -> Any:
    """The Keras the submission's ``tf.keras`` is, imported."""
    return importlib.import_module(_keras_package)


def _enter_keras_2_mode() -> None:
    """Make this job's Keras tf_keras, before TensorFlow is imported.

    The parent sets the variable too; setting it here keeps a cold start in
    Keras 2 mode whatever environment its backend passed on.
    """
    global _keras_package
    _keras_package = "tf_keras"
    os.environ[LEGACY_KERAS_VARIABLE] = "1"


def _alias_keras_to_tf_keras() -> None:
    """In Keras 2 mode ``import keras`` gives tf_keras, as it did up to TF 2.15.

    Its submodules (``keras.layers``) load from tf_keras's folder and hold
    the same classes.
    """
    sys.modules["keras"] = importlib.import_module("tf_keras")


def _keras_model(model: Any) -> Any:
    """The model itself, if it really is a Keras model."""
    keras = sys.modules.get(_keras_package)
    if keras is None or not isinstance(model, keras.Model):
        raise StepFailed(
            f"expected a trained Keras model, got a {type(model).__name__}"
        )
    return model


def _layer_class(layer: Any) -> str:
    # A class of the student's own that calls itself Dense is not Keras's.
    kind = type(layer)
    if kind.__module__.startswith(("keras.", "tf_keras.")):
        return kind.__name__
    return f"{kind.__module__}.{kind.__name__}"


def _predict(model: Any, inputs: np.ndarray) -> np.ndarray:
    """Keras's own predict(), whatever the model's class says predict() is."""
    return np.asarray(_keras().Model.predict(model, inputs, verbose=0))


def _describe_model(model: Any) -> dict[str, Any]:
    layers = _keras_model(model).layers
    described = []
    for layer in layers:
        entry: dict[str, Any] = {"class": _layer_class(layer)}
        if hasattr(layer, "units"):
            entry["units"] = int(layer.units)
        activation = getattr(layer, "activation", None)
        if activation is not None:
            entry["activation"] = getattr(activation, "__name__", str(activation))
        described.append(entry)
    loss = getattr(model, "loss", None)
    optimizer = getattr(model, "optimizer", None)
    return {
        "layers": described,
        "loss": loss if isinstance(loss, str) or loss is None else (
            getattr(loss, "name", None) or getattr(loss, "__name__", None)
            or type(loss).__name__
        ),
        "optimizer": None if optimizer is None else type(optimizer).__name__,
        "learning_rate": _learning_rate(optimizer),
    }


def _learning_rate(optimizer: Any) -> float | str | None:
    """The optimizer's learning rate as a number, "schedule" for a schedule
    (which Keras 3 would report as its current value), None if unreadable."""
    for rate in (getattr(optimizer, "_learning_rate", None),
                 getattr(optimizer, "learning_rate", None)):
        if any(kind.__name__ == "LearningRateSchedule"
               for kind in type(rate).__mro__):
            return "schedule"
    try:
        return float(np.asarray(optimizer.learning_rate))
    except Exception:
        return None


class ProbeModel:
    """A stand-in model whose outputs the grader chose.

    Input row ``i`` carries ``i`` in its first attribute, so the outputs can
    be found again however the student batches or reshapes the inputs.
    """

    def __init__(self, outputs: np.ndarray, width: int):
        self.outputs = outputs.astype(np.float32)
        self.width = width
        self.calls: list[str] = []

    def _rows(self, inputs: Any) -> np.ndarray:
        inputs = np.asarray(inputs, dtype=np.float64).reshape(-1, self.width)
        return self.outputs[np.rint(inputs[:, 0]).astype(int)]

    def predict(self, inputs: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        self.calls.append("predict")
        return self._rows(inputs)

    def predict_on_batch(self, inputs: Any) -> np.ndarray:
        self.calls.append("predict_on_batch")
        return self._rows(inputs)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("call")
        rows = self._rows(inputs)
        if "tensorflow" in sys.modules:
            return sys.modules["tensorflow"].constant(rows)
        return rows

    def evaluate(self, inputs: Any, labels: Any, *args: Any, **kwargs: Any):
        """Answer as Keras would: the argmax accuracy, which ignores ties."""
        self.calls.append("evaluate")
        rows = self._rows(inputs)
        labels = np.asarray(labels).ravel().astype(int)
        return [0.0, float(np.mean(np.argmax(rows, axis=1) == labels))]


class _KerasRecorder:
    """Records the Keras calls of a submission that hides its steps (form B)."""

    def __init__(self, job: _Job):
        self.job = job
        self.fit_model: Any = None
        self.fit_inputs: np.ndarray | None = None
        self.fit_labels: np.ndarray | None = None
        self.predictions: list[np.ndarray] = []
        self.predicted_rows = 0
        self.evaluate_inputs: np.ndarray | None = None

    def install(self) -> None:
        keras = _keras()
        recorder = self
        original_fit = keras.Model.fit
        original_predict = keras.Model.predict
        original_evaluate = keras.Model.evaluate

        def fit(model, x=None, y=None, *args, **kwargs):
            if recorder.fit_model is None:
                recorder.fit_inputs = np.array(x, dtype=np.float64, copy=True)
                recorder.fit_labels = np.array(y, copy=True)
            recorder.fit_model = model
            return original_fit(model, x, y, *args, **kwargs)

        def predict(model, x, *args, **kwargs):
            outputs = original_predict(model, x, *args, **kwargs)
            if recorder.predicted_rows < MAX_RECORDED_PREDICT_ROWS:
                recorder.predictions.append(np.array(outputs, copy=True))
                recorder.predicted_rows += len(outputs)
            return outputs

        def evaluate(model, x=None, y=None, *args, **kwargs):
            if recorder.evaluate_inputs is None:
                recorder.evaluate_inputs = np.array(x, dtype=np.float64, copy=True)
            return original_evaluate(model, x, y, *args, **kwargs)

        keras.Model.fit = fit
        keras.Model.predict = predict
        keras.Model.evaluate = evaluate


class _ProbeAnswers:
    """Answers a hidden-steps submission's Keras calls with chosen outputs.

    fit() trains nothing, and predict() returns rows of the grader's probe
    matrix, one per test object in file order, however the submission
    batches its calls: that drives its tie rule the way a probe model drives
    test_model() in the other forms.
    """

    def __init__(self, outputs: np.ndarray):
        self.outputs = outputs.astype(np.float32)
        self.cursor = 0
        self.calls: list[str] = []

    def rows(self, count: int) -> np.ndarray:
        if count == len(self.outputs):
            self.cursor = 0
        picked = np.take(self.outputs, range(self.cursor, self.cursor + count),
                         axis=0, mode="wrap")
        self.cursor = (self.cursor + count) % len(self.outputs)
        return picked

    def install(self) -> None:
        # Limitation: model(x) is not answered; a program that calls the
        # model directly gets untrained outputs in the probe run.
        keras = _keras()
        answers = self

        def fit(model, *args, **kwargs):
            answers.calls.append("fit")
            return keras.callbacks.History()

        def predict(model, x, *args, **kwargs):
            answers.calls.append("predict")
            return answers.rows(len(np.asarray(x)))

        def evaluate(model, *args, **kwargs):
            answers.calls.append("evaluate")
            return [0.0, 0.0]

        keras.Model.fit = fit
        keras.Model.predict = predict
        keras.Model.evaluate = evaluate


class _HiddenPackages(importlib.abc.MetaPathFinder):
    """Keeps the reference solution out of reach of ``import``.

    Limitation: this stops imports only; code that opens the reference's
    files by path can still read them, until a backend hides the files.
    """

    HIDDEN = ("reference",)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.HIDDEN:
            raise ModuleNotFoundError(
                f"No module named {name!r}: the reference solution is not "
                "available to submissions", name=name)
        return None


class _WatchedArgv(list):
    """``sys.argv`` that remembers the submission reading past the program's
    name, so a failed import can be told apart as a script reading its
    command line. Libraries read it too (TensorFlow does, at import): only
    the submission's own lines and the command-line parsers count."""

    read_arguments = False

    def __init__(self, submission: Path):
        super().__init__([str(submission)])
        self.readers = (str(submission), argparse.__file__, getopt.__file__)

    def _note_read(self) -> None:
        # Two frames up: past this method and the list method that called it.
        if sys._getframe(2).f_code.co_filename in self.readers:
            self.read_arguments = True

    def __getitem__(self, index):
        if not (isinstance(index, int) and index in (0, -1)):
            self._note_read()
        return super().__getitem__(index)

    def __len__(self):
        self._note_read()
        return super().__len__()

    def __iter__(self):
        self._note_read()
        return super().__iter__()


def _argv_read() -> bool:
    return isinstance(sys.argv, _WatchedArgv) and sys.argv.read_arguments


def _step_import(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    _prepare_keras(job.submission_path)
    sys.meta_path.insert(0, _HiddenPackages())
    sys.path.insert(0, str(job.submission_path.parent))
    sys.argv = _WatchedArgv(job.submission_path)
    spec = importlib.util.spec_from_file_location("submission", job.submission_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    job.module = module
    return {}


def _function(job: _Job, name: str) -> Callable[..., Any]:
    function = getattr(job.module, name, None)
    if not callable(function):
        raise StepFailed(f"the submission defines no function {name}()")
    return function


def _step_load_dataset(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    loaded = _function(job, "load_dataset")(step["directory"], step["dataset"])
    try:
        (training_inputs, training_labels), (test_inputs, test_labels), mapping = loaded
    except (TypeError, ValueError):
        raise StepFailed(
            "load_dataset() should return ((training_inputs, training_labels), "
            "(test_inputs, test_labels), ints_to_labels); it returned a "
            f"{type(loaded).__name__}"
        ) from None
    shapes = {}
    for name, value in [
        ("training_inputs", training_inputs),
        ("training_labels", training_labels),
        ("test_inputs", test_inputs),
        ("test_labels", test_labels),
    ]:
        shapes[name] = job.save_array(step["id"], name, value)
    return {"shapes": shapes, "ints_to_labels": _mapping_as_pairs(mapping)}


def _mapping_as_pairs(mapping: Any) -> list[list[str]] | str:
    if isinstance(mapping, dict):
        return [[str(key), str(value)] for key, value in mapping.items()]
    try:
        return [[str(index), str(value)] for index, value in enumerate(mapping)]
    except TypeError:
        return f"not a mapping: {type(mapping).__name__}"


def _step_normalize(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    returned = _function(job, "normalize")(
        job.array("normalize_training"), job.array("normalize_test")
    )
    try:
        training, test = returned
    except (TypeError, ValueError):
        raise StepFailed(
            "normalize() should return (training_inputs, test_inputs); it "
            f"returned a {type(returned).__name__}"
        ) from None
    job.save_array(step["id"], "training", training)
    job.save_array(step["id"], "test", test)
    return {}


def _step_object_accuracy(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    object_accuracy = _function(job, "object_accuracy")
    outputs = job.array("tie_outputs")
    true_classes = job.array("tie_true")
    scores = []
    for row, true_class in zip(outputs, true_classes):
        scores.append(float(object_accuracy(row.copy(), int(true_class))))
    return {"scores": scores}


def _step_train(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    settings = step["settings"]
    _seed_everything(job.spec["seed"])
    model = _function(job, "create_and_train_model")(
        job.array("training_inputs"),
        job.array("training_labels"),
        settings["layers"],
        list(settings["units_per_layer"]),
        settings["epochs"],
        list(settings["hidden_activations"]),
    )
    description = _describe_model(model)
    job.model = model
    job.save_array(step["id"], "outputs", _predict(model, job.array("test_inputs")))
    return {"model": description}


def _step_test_model(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    if job.model is None:
        raise StepFailed("no trained model: create_and_train_model() did not finish")
    mapping = {int(key): value for key, value in step["ints_to_labels"]}
    accuracy = _function(job, "test_model")(
        job.model, job.array("test_inputs"), job.array("test_labels"), mapping
    )
    return {"accuracy": _as_float(accuracy)}


def _step_test_model_probe(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    outputs = job.array("tie_outputs")
    true_classes = job.array("tie_true")
    probe = ProbeModel(outputs, int(step["width"]))
    inputs = np.zeros((len(outputs), probe.width))
    inputs[:, 0] = np.arange(len(outputs))
    mapping = {index: f"class{index}" for index in range(outputs.shape[1])}
    accuracy = _function(job, "test_model")(
        probe, inputs, true_classes.reshape(-1, 1), mapping
    )
    return {"accuracy": _as_float(accuracy), "calls": sorted(set(probe.calls))}


def _as_float(value: Any) -> float | str:
    """``value`` as a float when it is a real number, else its repr.

    Real numbers are Python ints and floats, numpy integer and floating
    scalars, and numeric arrays (or tensors) of one element. Booleans and
    strings such as "0.87" are not numbers, whatever float() makes of them.
    """
    number: Any = None
    if (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool)):
        number = value
    elif not isinstance(value, (str, bytes)) and hasattr(value, "__array__"):
        try:
            array = np.asarray(value)
        except Exception:
            array = None
        if array is not None and array.size == 1 and array.dtype.kind in "iuf":
            number = array.ravel()[0]
    if number is not None:
        try:
            return float(number)
        except OverflowError:
            pass
    try:
        text = repr(value)
    except Exception:
        text = f"<a {type(value).__name__} that cannot be shown>"
    return text if len(text) <= 200 else text[:197] + "..."


def _nn_keras_call(job: _Job, step: dict[str, Any]) -> Callable[[], None]:
    def call() -> None:
        _function(job, "nn_keras")(
            step["directory"], step["dataset"], step["layers"],
            step["units_per_layer"], step["epochs"],
        )

    return call


def _step_nn_keras(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    return _recorded(job, step, _nn_keras_call(job, step), "nn_keras()")


def _step_script(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    """Run a form C script as a program, with the grader's command line."""
    return _recorded(job, step, _script_call(job, step), "your script")


def _step_probe(job: _Job, step: dict[str, Any]) -> dict[str, Any]:
    """Run the hidden steps again with Keras answering from the tie probe."""
    call = (_script_call(job, step) if step["form"] == "C"
            else _nn_keras_call(job, step))
    answers = _ProbeAnswers(job.array("printed_tie_outputs"))
    answers.install()
    call()
    return {"calls": sorted(set(answers.calls))}


def _script_call(job: _Job, step: dict[str, Any]) -> Callable[[], None]:
    def call() -> None:
        _prepare_keras(job.submission_path)
        sys.meta_path.insert(0, _HiddenPackages())
        sys.path.insert(0, str(job.submission_path.parent))
        sys.argv = [str(job.submission_path), *step["argv"]]
        try:
            runpy.run_path(str(job.submission_path), run_name="__main__")
        except SystemExit as exit_request:
            # Ending a script with sys.exit(0) is fine; any other status is not.
            if exit_request.code not in (None, 0):
                raise

    return call


def _recorded(job: _Job, step: dict[str, Any], call: Callable[[], None],
              name: str) -> dict[str, Any]:
    """Run code that hides its steps, recording what reaches Keras."""
    recorder = _KerasRecorder(job)
    recorder.install()
    _seed_everything(job.spec["seed"])
    try:
        call()
    finally:
        # What reached fit() is worth judging even when nn_keras() fails later.
        if recorder.fit_inputs is not None:
            job.save_array(step["id"], "fit_inputs", recorder.fit_inputs)
            job.save_array(step["id"], "fit_labels", recorder.fit_labels)
    values: dict[str, Any] = {}
    if recorder.fit_model is None:
        raise StepFailed(f"{name} never called fit(), so no model was trained")
    values["model"] = _describe_model(recorder.fit_model)
    found, source = _test_outputs(job, recorder, int(step["test_rows"]))
    if found is None:
        values["outputs_missing"] = source
    else:
        values["outputs_from"] = source
        job.save_array(step["id"], "outputs", found)
    return values


def _test_outputs(job: _Job, recorder: _KerasRecorder,
                  test_rows: int) -> tuple[np.ndarray | None, str]:
    """The trained model's outputs on the test set, in file order.

    The submission's own predict() calls are searched from the last one back:
    one call on exactly the test rows, or consecutive calls (one object at a
    time) adding up to them. Failing that, the model is run on the grader's
    normalized test inputs, rescaled to the scale the submission trained on.
    """
    calls = [p.reshape(len(p), -1) for p in recorder.predictions]
    for index in range(len(calls) - 1, -1, -1):
        if len(calls[index]) == test_rows:
            return calls[index], "the submission's own predict() call"
    total = 0
    for index in range(len(calls) - 1, -1, -1):
        total += len(calls[index])
        if total == test_rows:
            return np.concatenate(calls[index:]), "the submission's predict() calls"
        if total > test_rows:
            break
    reference = job.array("training_inputs")
    fitted = recorder.fit_inputs
    if fitted is None or fitted.shape != reference.shape:
        return None, "the inputs passed to fit() do not have the training set's shape"
    nonzero = np.abs(reference) > 1e-12
    ratios = fitted[nonzero] / reference[nonzero]
    if ratios.size == 0 or not np.allclose(ratios, ratios[0], rtol=1e-6):
        return None, ("no predict() call covered the test set, and the training "
                      "inputs were not scaled by one number, so the grader cannot "
                      "prepare the test inputs the way the submission would")
    outputs = _predict(recorder.fit_model, job.array("test_inputs") * ratios[0])
    return outputs, ("the trained model run by the grader on the test inputs, "
                     "scaled as the submission scaled its training inputs")


# -- compatibility shims ---------------------------------------------------
#
# Keras 3.13 and later refuse a numpy integer as a layer's unit count, and the
# lecture's ``np.max(labels) + 1`` is one. That is a change of the environment,
# not the student's mistake, so the child converts such counts before Keras
# sees them and tells the parent in a "compat" message on the channel.

_compat_events: list[str] = []
_channel: ChannelWriter | None = None


def _mentions_keras(path: Path) -> bool:
    """Whether the submission's text names TensorFlow or Keras at all.

    Importing Keras costs seconds; a numpy-only submission never pays it.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "tensorflow" in text or "keras" in text


def _prepare_keras(path: Path) -> None:
    """Ready the job's Keras for a submission that uses it.

    tf_keras accepts numpy integer unit counts, and needs no shim.
    """
    if not _mentions_keras(path):
        return
    if _keras_package == "tf_keras":
        _alias_keras_to_tf_keras()
    else:
        _install_keras_compat()


def _integer_like_units(value: Any) -> int | None:
    """The plain ``int`` behind a numpy integer unit count, or None.

    Only numpy integer scalars and 0-d integer arrays count, and only when
    positive: anything else goes to Keras unchanged, which accepts or rejects
    it with its own message.
    """
    if isinstance(value, np.integer):
        converted = int(value)
    elif (isinstance(value, np.ndarray) and value.ndim == 0
          and np.issubdtype(value.dtype, np.integer)):
        converted = int(value)
    else:
        return None
    return converted if converted > 0 else None


def _record_compat_event(event: str) -> None:
    """Tell the parent at once, so that a later kill keeps the event."""
    if event in _compat_events:
        return
    _compat_events.append(event)
    if _channel is not None:
        _channel.send({"compat": _compat_events})


def _install_keras_compat() -> None:
    """Make ``keras.layers.Dense`` accept numpy integer unit counts.

    ``tf.keras.layers.Dense`` is the same class, so one patch serves both
    spellings, and subclasses reach it through ``super().__init__``.
    """
    try:
        import keras

        dense = keras.layers.Dense
    except Exception:
        # No usable Keras: the submission's own import will say so.
        return
    original = dense.__init__
    if getattr(original, "_nngrade_compat", False):
        return

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        if args:
            converted = _integer_like_units(args[0])
            if converted is not None:
                args = (converted, *args[1:])
                _record_compat_event("numpy_int_units")
        elif "units" in kwargs:
            converted = _integer_like_units(kwargs["units"])
            if converted is not None:
                kwargs["units"] = converted
                _record_compat_event("numpy_int_units")
        original(self, *args, **kwargs)

    # Keras reads the constructor's signature in Operation.__new__ (for its
    # automatic config); it must see the original one, not (*args, **kwargs).
    __init__.__signature__ = inspect.signature(original)
    __init__._nngrade_compat = True
    dense.__init__ = __init__


STEPS: dict[str, Callable[[_Job, dict[str, Any]], dict[str, Any]]] = {
    "import": _step_import,
    "load_dataset": _step_load_dataset,
    "normalize": _step_normalize,
    "object_accuracy": _step_object_accuracy,
    "train": _step_train,
    "test_model": _step_test_model,
    "test_model_probe": _step_test_model_probe,
    "nn_keras": _step_nn_keras,
    "script": _step_script,
    "probe": _step_probe,
}


def run_step(job: _Job, step: dict[str, Any]) -> bool:
    """Run one step, write its record, and say whether it succeeded."""
    captured = _CappedText(STEP_OUTPUT_CAP)
    started = time.monotonic()
    record: dict[str, Any] = {"id": step["id"], "kind": step["kind"]}
    try:
        with contextlib.redirect_stdout(captured):
            record["values"] = STEPS[step["kind"]](job, step)
        record["ok"] = True
    except StepFailed as failure:
        record.update(ok=False, error={"type": "StepFailed", "message": str(failure)})
    except (Exception, SystemExit) as error:
        record.update(
            ok=False,
            error={
                "type": type(error).__name__,
                "message": str(error)[:2000],
                "traceback": _student_traceback(error, job.submission_path)[-5000:],
                "line": getattr(error, "lineno", None),
                "argv_read": _argv_read(),
            },
        )
    record["seconds"] = round(time.monotonic() - started, 3)
    record["stdout"] = captured.getvalue()
    record["stdout_dropped_chars"] = captured.dropped
    job.send_record(record)
    return record["ok"]


def main(argv: list[str] | None = None) -> int:
    """Run a job: ``JOB_DIR RESULTS_FD``, the pipe the parent reads results from."""
    global _channel
    argv = sys.argv[1:] if argv is None else argv
    _channel = ChannelWriter(int(argv[1]))
    job = _Job(Path(argv[0]).resolve(), _channel)
    job.submission_path = job.submission_path.resolve()
    if job.spec.get("keras") == "2":
        _enter_keras_2_mode()
    # Before any TensorFlow operation, which fixes the devices' settings. A
    # numpy-only submission never imports TensorFlow for it.
    if "tensorflow" in sys.modules or _mentions_keras(job.submission_path):
        configure_job_gpus(os.environ)
    _seed_everything(job.spec["seed"])
    for step in job.spec["steps"]:
        succeeded = run_step(job, step)
        if not succeeded and step.get("required", False):
            break
    _channel.send({"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
