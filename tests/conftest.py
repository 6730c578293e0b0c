from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The course's own data, next to the repository; tests that need it skip
#: when it is absent, and it is never copied into the repository.
COURSE_DATA = Path(__file__).resolve().parents[2] / "shared" / "uci_datasets"


@pytest.fixture(autouse=True)
def _private_reference_cache(tmp_path_factory, monkeypatch):
    """Keep reference accuracies cached per test session, never in ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "reference-cache"
    monkeypatch.setenv("NNGRADE_CACHE_DIR", str(cache))


def course_data_or_skip() -> Path:
    if not COURSE_DATA.is_dir():
        pytest.skip(f"the course data is not at {COURSE_DATA}")
    return COURSE_DATA


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
