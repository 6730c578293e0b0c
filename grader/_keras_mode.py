"""Which Keras a job runs: Keras 3, or Keras 2 compatibility mode (tf-keras).

TensorFlow 2.16 and later make ``tf.keras`` Keras 3, which dropped idioms
that code written for Keras 2 still uses (an optimizer's ``lr=``,
``fit_generator()``). The ``tf-keras`` package is Keras 2 for the same
TensorFlow: with ``TF_USE_LEGACY_KERAS=1`` set before TensorFlow is imported,
``tf.keras`` is ``tf_keras``. A spec's ``keras`` key chooses per assignment:

    "3"     Keras 3 (the default)
    "2"     every job, the reference's included, in Keras 2 mode
    "auto"  Keras 3; a submission that fails on a Keras 2 idiom recognized
            here is graded again in Keras 2 mode

A job's mode travels in its ``job.json`` (``"keras"``), where the sandbox
reads it to choose a zygote and an environment.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from grader._records import StepRecord

KERAS_MODES = ("3", "2", "auto")
#: Read by TensorFlow when it is imported: "1" makes ``tf.keras`` tf_keras.
LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"
INSTALL_TF_KERAS = "pip install 'tf-keras==2.21.*'"


def job_keras(spec_keras: str) -> str:
    """The mode a spec's jobs start in: "auto" starts in Keras 3."""
    return "2" if spec_keras == "2" else "3"


def tf_keras_installed() -> bool:
    return importlib.util.find_spec("tf_keras") is not None


def describe_keras(mode: str) -> str:
    """The Keras a job of ``mode`` ran, in words for reports."""
    if mode == "2":
        return f"Keras 2 compatibility mode (tf-keras {_version('tf-keras')})"
    return f"Keras {_version('keras')}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Keras2Idiom:
    """A Keras 2 idiom that Keras 3 rejects, as the student should read it."""

    #: What the code uses, e.g. "the optimizer argument `lr=`".
    what: str
    #: How to write it for Keras 3, as an imperative.
    fix: str

    def explanation(self) -> str:
        return (f"The error comes from a Keras 2 idiom that Keras 3, which grading "
                f"uses, no longer accepts: {self.what}. To fix it, {self.fix}.")


#: (error type, pattern of its message, what, fix): the what and the fix are
#: formatted with the pattern's groups. Each was measured to fail in Keras
#: 3.15 and to work in tf-keras 2.21.
_IDIOMS = (
    ("ValueError", r"Argument\(s\) not recognized: \{.*'lr':",
     "the optimizer argument `lr=`", "write `learning_rate=` instead"),
    ("AttributeError", r"object has no attribute 'lr'$",
     "an optimizer's `lr` attribute", "read `optimizer.learning_rate` instead"),
    ("AttributeError", r"object has no attribute '(fit|predict|evaluate)_generator'",
     "`model.{0}_generator()`", "call `model.{0}()`, which takes generators too"),
    ("AttributeError", r"'\w+' object has no attribute '(input|output)_shape'",
     "a layer's `{0}_shape` attribute",
     "read the layer's `{0}.shape`, or the model's `{0}_shape`"),
    ("AttributeError",
     r"module 'keras[\w.]*\.(layers|optimizers)' has no attribute 'experimental'",
     "`tf.keras.{0}.experimental`",
     "drop `.experimental`: `tf.keras.{0}.experimental.X` is `tf.keras.{0}.X`"),
    ("ModuleNotFoundError",
     r"No module named '(?:tensorflow\.)?keras\.(layers|optimizers)\.experimental",
     "`tf.keras.{0}.experimental`",
     "drop `.experimental`: `tf.keras.{0}.experimental.X` is `tf.keras.{0}.X`"),
    ("ImportError", r"`keras\.optimizers\.legacy` is not supported in Keras 3",
     "`tf.keras.optimizers.legacy`",
     "use the optimizers of `tf.keras.optimizers`, such as "
     "`tf.keras.optimizers.Adam(learning_rate=...)`"),
)


def keras_2_idiom(records: Iterable[StepRecord]) -> Keras2Idiom | None:
    """The Keras 2 idiom the first failed step that shows one tripped on."""
    for record in records:
        if record.ok:
            continue
        kind = str(record.error.get("type", ""))
        message = str(record.error.get("message", ""))
        for error_type, pattern, what, fix in _IDIOMS:
            match = re.search(pattern, message) if kind == error_type else None
            if match:
                groups = match.groups()
                return Keras2Idiom(what.format(*groups), fix.format(*groups))
    return None


def regraded_note(idiom: Keras2Idiom) -> str:
    """The note for a submission that "auto" graded again in Keras 2 mode."""
    return (f"Your code uses a Keras 2 idiom that Keras 3 no longer accepts "
            f"({idiom.what}), so it was graded again in "
            f"{describe_keras('2')}, as this assignment allows. To run it on a "
            f"current Keras, {idiom.fix}.")


def not_regraded_note(idiom: Keras2Idiom) -> str:
    """The note when the Keras 2 run of "auto" got no further than Keras 3's."""
    return (f"Your code uses a Keras 2 idiom ({idiom.what}). The grader ran it "
            f"again in {describe_keras('2')} too, which got no further, so the "
            "Keras 3 run is graded.")
