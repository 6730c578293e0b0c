"""Finding the students of a class folder: nobody silently drops out."""

from __future__ import annotations

import pytest

from grader._errors import UsageError
from grader._grading import discover

FORM_A = "def create_and_train_model(*a):\n    pass\n\ndef test_model(*a):\n    pass\n"


def student(root, name, files):
    folder = root / name
    folder.mkdir(parents=True)
    for file_name, text in files.items():
        (folder / file_name).write_text(text)
    return folder


def test_every_sub_folder_is_a_student_even_with_nothing_to_grade(tmp_path):
    student(tmp_path, "ada", {"nn_keras_solution.py": FORM_A})
    student(tmp_path, "bo", {"notes.txt": "no code"})
    student(tmp_path, "_cy", {"nn_keras_solution.py": FORM_A})
    (tmp_path / "helper.py").write_text("x = 1\n")

    submissions = {s.student: s for s in discover(tmp_path)}

    assert sorted(submissions) == ["_cy", "ada", "bo"]
    assert submissions["ada"].form == "A"
    assert submissions["bo"].detected is None
    assert "expected nn_keras_solution.py or nn_keras.py" in submissions["bo"].problem


def test_hidden_folders_are_not_students(tmp_path):
    student(tmp_path, "ada", {"nn_keras_solution.py": FORM_A})
    student(tmp_path, ".git", {"hook.py": "x = 1\n"})

    assert [s.student for s in discover(tmp_path)] == ["ada"]


def test_names_that_would_share_a_report_folder_are_refused_before_grading(tmp_path):
    student(tmp_path, "Alice", {"nn_keras_solution.py": FORM_A})
    student(tmp_path, "alice", {"nn_keras_solution.py": FORM_A})

    with pytest.raises(UsageError, match="'Alice' and 'alice' would share one report"):
        discover(tmp_path)


def test_one_students_folder_or_file_is_graded_alone(tmp_path):
    folder = student(tmp_path, "ada", {"nn_keras_solution.py": FORM_A})

    assert [s.student for s in discover(folder)] == ["ada"]
    assert [s.student for s in discover(folder / "nn_keras_solution.py")] == ["ada"]
