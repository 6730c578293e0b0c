"""A normal (non-editable) install must find its templates, data and sample class."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out), str(CHECKOUT)],
        check=True, timeout=300)
    (built,) = out.glob("nngrade-*.whl")
    return built


def test_wheel_carries_templates_data_specs_and_sample_class(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    assert "grader/templates/report.html" in names
    assert "grader/templates/index.html" in names
    assert "grader/uci_datasets/digits_training.txt" in names
    assert "grader/assignments/sample.toml" in names
    assert "grader/sample_class/alice_form_d_correct/nn_keras_solution.py" in names
    assert "reference/solutions/form_a.py" in names
    assert not any(name.startswith("tests/") for name in names)


def test_unpacked_wheel_finds_its_resources_inside_the_package(wheel, tmp_path):
    zipfile.ZipFile(wheel).extractall(tmp_path)
    probe = (
        "from grader._resources import *; "
        "print(templates_dir()); print(bundled_datasets_dir()); "
        "print(sample_class_dir())"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, check=True)

    for line in completed.stdout.split():
        assert Path(line).is_relative_to(tmp_path / "grader"), line
        assert Path(line).is_dir()
