"""Assignment specs: which runs to grade, with which settings and points.

A spec is a TOML file. The shipped ones live in ``grader/assignments``;
``--assignment`` takes one of their names or a path to an edited copy.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader._errors import SpecError
from grader._gpu import CONTEXT_RESERVE_MB, MIN_GPU_MEMORY_MB
from grader._keras_mode import KERAS_MODES
from grader._resources import assignments_dir

FORMS = ("A", "B", "C", "D")
CHECK_NAMES = (
    "loader",
    "normalization",
    "tie_accuracy",
    "architecture",
    "test_accuracy",
    "reported_accuracy",
    "printed_output",
)
#: The checks each form exposes; the others need entry points it lacks.
FORM_CHECKS = {
    "D": CHECK_NAMES,
    "A": ("tie_accuracy", "architecture", "test_accuracy", "reported_accuracy",
          "printed_output"),
    "B": ("loader", "normalization", "tie_accuracy", "architecture",
          "test_accuracy", "reported_accuracy", "printed_output"),
    "C": ("loader", "normalization", "tie_accuracy", "architecture",
          "test_accuracy", "reported_accuracy", "printed_output"),
}

#: The child's steps each check judges, by form: a check runs only when its
#: steps ran, and a step runs only when a check with points needs it.
_CHECK_STEPS = {
    "loader": ("load_course", "load_probe"),
    "normalization": ("normalize",),
    "architecture": ("train",),
    "test_accuracy": ("train",),
    "reported_accuracy": ("train", "test_model"),
    "printed_output": ("train", "test_model"),
}
_TIE_STEPS = {"D": ("object_accuracy", "test_model_probe"), "A": ("test_model_probe",)}

#: The student's functions each step calls.
STEP_FUNCTIONS = {
    "load_course": "load_dataset",
    "load_probe": "load_dataset",
    "normalize": "normalize",
    "object_accuracy": "object_accuracy",
    "test_model_probe": "test_model",
    "train": "create_and_train_model",
    "test_model": "test_model",
    "nn_keras": "nn_keras",
    "nn_keras_probe": "nn_keras",
}
#: Form C is a script run as a program: it defines no function of its own.


def check_steps(form: str, check: str) -> tuple[str, ...]:
    """The steps whose records ``check`` judges in ``form``."""
    if form in ("B", "C"):
        # The tie rule is judged on a second run whose Keras calls answer
        # with chosen outputs.
        step = "nn_keras" if form == "B" else "script"
        return (f"{step}_probe",) if check == "tie_accuracy" else (step,)
    if check == "tie_accuracy":
        return _TIE_STEPS[form]
    return _CHECK_STEPS[check]


#: Activation names a Dense layer of Keras 3 (3.15, as TensorFlow 2.21
#: installs it) accepts and can train with. Keras also knows "glu", which
#: halves the layer's width, and "threshold", which needs arguments a name
#: cannot give; neither works as a hidden layer's activation by name.
HIDDEN_ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "hard_shrink", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear",
    "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
    "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink",
)
#: Names Keras maps to another function: a layer built with the key reports
#: the value as its activation.
ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
#: The names tf-keras 2.21 (Keras 2 compatibility mode) accepts among them.
KERAS_2_ACTIVATIONS = (
    "elu", "exponential", "gelu", "hard_sigmoid", "leaky_relu", "linear",
    "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu", "softmax",
    "softplus", "softsign", "swish", "tanh",
)


def canonical_activation(name: Any) -> Any:
    """The name a Keras layer reports for activation ``name``."""
    return ACTIVATION_ALIASES.get(name, name) if isinstance(name, str) else name


@dataclass(frozen=True)
class RunSettings:
    """The settings of the graded training run for one form."""

    dataset: str
    layers: int
    units_per_layer: tuple[int, ...]
    hidden_activations: tuple[str, ...]
    epochs: int
    #: What the student's function receives as ``units_per_layer``: one
    #: number in form B, a list elsewhere.
    units_argument: int | tuple[int, ...] = ()
    #: What a form C script receives as its activation argument.
    activation_argument: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "layers": self.layers,
            "units_per_layer": list(self.units_per_layer),
            "hidden_activations": list(self.hidden_activations),
            "epochs": self.epochs,
        }


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    path: Path
    #: "bundled", or a directory; ``--datasets`` overrides it.
    datasets: str
    seed: int
    reference_seeds: tuple[int, ...]
    accuracy_tolerance: float
    wall_seconds: float
    output_bytes: int
    #: CPU seconds of the job (all threads together).
    cpu_seconds: float
    memory_mb: int
    #: Largest file a job may write.
    file_mb: int
    runs: dict[str, RunSettings]
    points: dict[str, float] = field(default_factory=dict)
    #: Checks whose results students see only after release.
    hidden_checks: tuple[str, ...] = ()
    #: Points taken off the architecture check when a submission passes a
    #: numpy integer as a unit count (accepted by the grader; see README).
    compat_penalty_numpy_units: float = 0.0
    #: Packages the instructor allows beyond numpy and TensorFlow, by import
    #: or install name; one that is missing is the grader's problem.
    allowed_packages: tuple[str, ...] = ()
    #: "3", "2" (Keras 2 compatibility mode, tf-keras) or "auto" (Keras 3,
    #: then Keras 2 for code that fails on a Keras 2 idiom); see _keras_mode.
    keras: str = "3"
    #: GPU memory a job may hold, in MiB; 0 for no cap. Only jobs given a
    #: GPU (``--gpus``) have one to hold; see ``_gpu``.
    gpu_memory_mb: int = 0
    #: Processes and threads a job may hold at once, all together.
    processes: int = 256

    def checks_for(self, form: str) -> list[str]:
        return [name for name in FORM_CHECKS[form] if self.points.get(name, 0) > 0]

    def steps_for(self, form: str) -> set[str]:
        """The child's steps the graded checks of ``form`` need."""
        return {step for check in self.checks_for(form)
                for step in check_steps(form, check)}

    def entry_points(self) -> dict[str, set[str]]:
        """The functions a file must define to be graded as each form.

        A form D spec that grades only some steps (say the loader alone)
        asks only for the functions of those steps.
        """
        return {form: {STEP_FUNCTIONS[step] for step in self.steps_for(form)
                       if step in STEP_FUNCTIONS}
                for form in self.runs}


def shipped_specs() -> dict[str, Path]:
    return {path.stem: path for path in sorted(assignments_dir().glob("*.toml"))}


def load_spec(name_or_path: str) -> Spec:
    """Load a shipped spec by name, or any spec file by path."""
    shipped = shipped_specs()
    if name_or_path in shipped:
        path = shipped[name_or_path]
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise SpecError(
                f"no assignment {name_or_path!r}: it is neither a shipped spec "
                f"({', '.join(shipped)}) nor a TOML file. Run 'nngrade "
                "assignments' to list the shipped ones."
            )
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML: {error}") from None
    return _parse(table, path)


#: Every key a spec may set, by table; any other is a typo to report, not to
#: ignore (a misspelt limit would otherwise grade with the default).
_TOP_KEYS = ("name", "title", "datasets", "seed", "reference_seeds",
             "accuracy_tolerance", "hidden_checks", "allowed_packages",
             "compat_penalty_numpy_units", "keras", "limits", "forms", "points")
_LIMIT_KEYS = ("wall_seconds", "cpu_seconds", "memory_mb", "file_mb",
               "output_bytes", "processes", "gpu_memory_mb")
_RUN_KEYS = {
    "A": ("dataset", "layers", "units_per_layer", "hidden_activations", "epochs"),
    "B": ("dataset", "layers", "units_per_layer", "epochs"),
    "C": ("dataset", "layers", "units_per_layer", "activation", "epochs"),
    "D": ("dataset", "layers", "units_per_layer", "hidden_activations", "epochs"),
}


def _reject_unknown_keys(table: dict, known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpecError(
            f"{where}: unknown key {key!r}; {hint}the keys here are "
            f"{', '.join(known)}"
        )


def _require(table: dict, key: str, kind: type | tuple, where: str) -> Any:
    if key not in table:
        raise SpecError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(
            k.__name__ for k in kind)
        raise SpecError(
            f"{where}: {key!r} must be {expected}, got {value!r}"
        )
    _finite(value, key, where)
    return value


def _finite(value: Any, key: str, where: str) -> None:
    # TOML has nan and inf, and both slip through every comparison with a
    # bound: a limit of nan would never be reached, points of inf or nan
    # would spoil every score.
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(
            f"{where}: {key!r} must be a finite number, got {value!r}"
        )


def _optional(table: dict, key: str, kind: type | tuple, default: Any,
              where: str) -> Any:
    if key not in table:
        return default
    return _require(table, key, kind, where)


def _positive(value: float, key: str, where: str) -> float:
    if value <= 0:
        raise SpecError(f"{where}: {key!r} must be positive, got {value!r}")
    return value


def _parse_run(form: str, table: dict, where: str) -> RunSettings:
    _reject_unknown_keys(table, _RUN_KEYS[form], where)
    layers = _positive(_require(table, "layers", int, where), "layers", where)
    hidden = layers - 2
    if hidden < 0:
        raise SpecError(
            f"{where}: 'layers' counts the input and output layers, so it must "
            f"be at least 2, got {layers}"
        )
    if form in ("B", "C"):
        units_argument = _positive(_require(table, "units_per_layer", int, where),
                                   "units_per_layer", where)
        units = [units_argument] * hidden
        # Form B's skeleton fixes sigmoid; form C takes one on its command line.
        activation = (_require(table, "activation", str, where) if form == "C"
                      else "sigmoid")
        if activation not in HIDDEN_ACTIVATIONS:
            raise SpecError(
                f"{where}: 'activation' is {activation!r}, which is not an "
                "activation a Keras Dense layer accepts by name; use one of "
                f"{', '.join(HIDDEN_ACTIVATIONS)}")
        activations = [activation] * hidden
        activation_argument = activation
    else:
        units = _require(table, "units_per_layer", list, where)
        activations = _require(table, "hidden_activations", list, where)
        for key, values in (("units_per_layer", units),
                            ("hidden_activations", activations)):
            if len(values) != hidden:
                raise SpecError(
                    f"{where}: {key!r} needs one entry per hidden layer "
                    f"(layers - 2 = {hidden}), got {len(values)}"
                )
        if not all(type(u) is int and u > 0 for u in units):
            raise SpecError(f"{where}: 'units_per_layer' entries must be positive "
                            f"integers, got {units!r}")
        if not all(isinstance(a, str) for a in activations):
            raise SpecError(f"{where}: 'hidden_activations' entries must be "
                            f"strings, got {activations!r}")
        unknown = [a for a in activations if a not in HIDDEN_ACTIVATIONS]
        if unknown:
            raise SpecError(
                f"{where}: 'hidden_activations' has {unknown[0]!r}, which is not "
                "an activation a Keras Dense layer accepts by name; use one of "
                f"{', '.join(HIDDEN_ACTIVATIONS)}"
            )
        units_argument = tuple(int(u) for u in units)
        activation_argument = ""
    return RunSettings(
        dataset=_require(table, "dataset", str, where),
        layers=layers,
        units_per_layer=tuple(int(u) for u in units),
        hidden_activations=tuple(str(a) for a in activations),
        epochs=int(_positive(_require(table, "epochs", int, where), "epochs", where)),
        units_argument=units_argument,
        activation_argument=activation_argument,
    )


def _parse(table: dict, path: Path) -> Spec:
    where = str(path)
    if not {"forms", "points"} <= set(table):
        # A required table that is missing is most likely misspelt.
        _reject_unknown_keys(table, _TOP_KEYS, where)
    runs_table = _require(table, "forms", dict, where)
    unknown = set(runs_table) - set(FORMS)
    if unknown:
        raise SpecError(
            f"{where}: unknown form(s) {sorted(unknown)}; this grader knows "
            f"forms {', '.join(FORMS)}"
        )
    runs = {
        form: _parse_run(form, _require(runs_table, form, dict, f"{where} [forms]"),
                         f"{where} [forms.{form}]")
        for form in runs_table
    }
    points = _require(table, "points", dict, where)
    for name, value in points.items():
        if name not in CHECK_NAMES:
            raise SpecError(
                f"{where} [points]: unknown check {name!r}; the checks are "
                f"{', '.join(CHECK_NAMES)}"
            )
        _finite(value, name, f"{where} [points]")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SpecError(
                f"{where} [points]: {name!r} must be a number of points >= 0, "
                f"got {value!r}"
            )
    limits = _optional(table, "limits", dict, {}, where)
    limits_where = f"{where} [limits]"
    _reject_unknown_keys(limits, _LIMIT_KEYS, limits_where)
    seeds = _optional(table, "reference_seeds", list, [1, 2, 3], where)
    if not seeds or not all(type(seed) is int for seed in seeds):
        raise SpecError(
            f"{where}: 'reference_seeds' must be a non-empty list of integers, "
            f"got {seeds!r}"
        )
    tolerance = _optional(table, "accuracy_tolerance", (int, float), 0.05, where)
    if not 0 <= tolerance < 1:
        raise SpecError(
            f"{where}: 'accuracy_tolerance' is a fraction of accuracy between 0 and "
            f"1, got {tolerance!r}"
        )
    penalty = _optional(table, "compat_penalty_numpy_units", (int, float), 0, where)
    if penalty < 0:
        raise SpecError(
            f"{where}: 'compat_penalty_numpy_units' is a number of points >= 0, "
            f"got {penalty!r}; remove the key to take no points off"
        )
    allowed = _optional(table, "allowed_packages", list, [], where)
    if not all(isinstance(name, str) and name.strip() for name in allowed):
        raise SpecError(
            f"{where}: 'allowed_packages' must be a list of package names, "
            f"got {allowed!r}"
        )
    _reject_unknown_keys(table, _TOP_KEYS, where)
    return Spec(
        name=_optional(table, "name", str, path.stem, where),
        title=_optional(table, "title", str, path.stem, where),
        path=path,
        datasets=_optional(table, "datasets", str, "bundled", where),
        seed=_optional(table, "seed", int, 0, where),
        reference_seeds=tuple(seeds),
        accuracy_tolerance=float(tolerance),
        wall_seconds=float(_positive(
            _optional(limits, "wall_seconds", (int, float), 120, limits_where),
            "wall_seconds", limits_where)),
        output_bytes=int(_positive(
            _optional(limits, "output_bytes", int, 1_000_000, limits_where),
            "output_bytes", limits_where)),
        # Training uses every thread it is given, so CPU time may outrun the
        # wall clock: by default the CPU limit only stops runaway loops.
        cpu_seconds=float(_positive(
            _optional(limits, "cpu_seconds", (int, float), 600, limits_where),
            "cpu_seconds", limits_where)),
        memory_mb=int(_positive(
            _optional(limits, "memory_mb", int, 4096, limits_where),
            "memory_mb", limits_where)),
        file_mb=int(_positive(
            _optional(limits, "file_mb", int, 256, limits_where),
            "file_mb", limits_where)),
        # Threads count too, and TensorFlow starts a dozen or two of its own.
        processes=int(_positive(
            _optional(limits, "processes", int, 256, limits_where),
            "processes", limits_where)),
        gpu_memory_mb=_gpu_memory_mb(limits, limits_where),
        runs=runs,
        points={name: float(value) for name, value in points.items()},
        compat_penalty_numpy_units=float(penalty),
        allowed_packages=tuple(name.strip() for name in allowed),
        hidden_checks=_hidden_checks(table, where),
        keras=_keras_setting(table, runs, where),
    )


def _keras_setting(table: dict, runs: dict[str, RunSettings], where: str) -> str:
    """The spec's ``keras`` mode; one that may run Keras 2 needs its activations."""
    value = table.get("keras", "3")
    # TOML's keras = 2 reads as the number; 2.0 and true are no mode.
    keras = (str(value) if isinstance(value, (str, int))
             and not isinstance(value, bool) else "")
    if keras not in KERAS_MODES:
        raise SpecError(
            f"{where}: 'keras' must be \"3\" (Keras 3, the default), \"2\" (Keras 2 "
            "compatibility mode, the tf-keras package) or \"auto\" (Keras 3, and "
            f"Keras 2 for code that fails on a Keras 2 idiom), got {value!r}"
        )
    if keras == "3":
        return keras
    for form, settings in runs.items():
        unknown = [a for a in settings.hidden_activations
                   if a not in KERAS_2_ACTIVATIONS]
        if unknown:
            raise SpecError(
                f"{where} [forms.{form}]: activation {unknown[0]!r} exists only in "
                f"Keras 3, and keras = \"{keras}\" may grade in Keras 2; use one of "
                f"{', '.join(KERAS_2_ACTIVATIONS)}, or keras = \"3\""
            )
    return keras


def _gpu_memory_mb(limits: dict, where: str) -> int:
    memory_mb = _optional(limits, "gpu_memory_mb", int, 0, where)
    if memory_mb != 0 and memory_mb < MIN_GPU_MEMORY_MB:
        raise SpecError(
            f"{where}: 'gpu_memory_mb' must be at least {MIN_GPU_MEMORY_MB} (MiB of "
            f"GPU memory, {CONTEXT_RESERVE_MB} of them for CUDA itself), got "
            f"{memory_mb!r}; remove the key for no cap"
        )
    return memory_mb


def _hidden_checks(table: dict, where: str) -> tuple[str, ...]:
    hidden = _optional(table, "hidden_checks", list, [], where)
    unknown = [name for name in hidden if name not in CHECK_NAMES]
    if unknown:
        raise SpecError(
            f"{where}: 'hidden_checks' names unknown check(s) {unknown}; the checks "
            f"are {', '.join(CHECK_NAMES)}"
        )
    return tuple(hidden)
