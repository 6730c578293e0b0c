"""Reference accuracies: the reference solution trained with several seeds.

Runs go through the same child as a submission, and their accuracies are
cached on disk by data, settings, seed and library versions, so a class is
never charged for them twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path

import platformdirs

import reference
from grader._jobs import PreparedData
from reference import tie_aware_accuracy

logger = logging.getLogger(__name__)

_SOLUTIONS = Path(reference.__file__).resolve().parent / "solutions"
#: The reference solution whose accuracy a form is compared with. Form D
#: trains through create_and_train_model(), as form A does.
SOLUTION_FOR_FORM = {"A": "form_a.py", "D": "form_a.py", "B": "form_b.py",
                     "C": "form_c.py"}


def solution_path(form: str) -> Path:
    return _SOLUTIONS / SOLUTION_FOR_FORM[form]


def cache_dir() -> Path:
    override = os.environ.get("NNGRADE_CACHE_DIR")
    return Path(override) if override else Path(
        platformdirs.user_cache_dir("nngrade")) / "reference"


def cache_key(form: str, data: PreparedData, seed: int, keras: str = "3") -> str:
    digest = hashlib.sha256()
    settings = data.settings.as_dict()
    settings["units_argument"] = data.settings.units_argument
    versions = {name: _version(name) for name in ("tensorflow", "keras", "numpy")}
    if keras == "2":
        # Keras 3 runs keep the keys they always had.
        versions.update({"tf-keras": _version("tf-keras"), "mode": "keras 2"})
    digest.update(json.dumps({
        "solution": SOLUTION_FOR_FORM[form],
        "solution_source": solution_path(form).read_text(),
        "settings": settings,
        "seed": seed,
        "versions": versions,
    }, sort_keys=True, default=list).encode())
    for name in ("training", "test"):
        digest.update((data.datasets_dir / f"{data.settings.dataset}_{name}.txt")
                      .read_bytes())
    return digest.hexdigest()[:32]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def cached_accuracy(key: str) -> float | None:
    path = cache_dir() / f"{key}.json"
    try:
        return float(json.loads(path.read_text())["accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_accuracy(key: str, accuracy: float, description: dict) -> None:
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{key}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps({"accuracy": accuracy, **description}, indent=1))
    os.replace(temporary, directory / f"{key}.json")


def accuracy_from_outputs(outputs, data: PreparedData) -> float:
    return tie_aware_accuracy(outputs, data.test_labels.ravel())
