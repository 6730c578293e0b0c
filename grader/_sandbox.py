"""Run one child process under limits and collect how it ended.

This is the ``process`` backend: a new session so the whole process group
can be killed, a wall-clock deadline, rlimits for core dumps and file size,
capped reads of stdout and stderr, and a scrubbed environment.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


@dataclass
class Limits:
    wall_seconds: float = 120.0
    output_bytes: int = 1_000_000
    file_bytes: int = 256 * 1024 * 1024
    cpu_threads: int = 1


@dataclass
class ChildRun:
    """How a child process ended, as seen from outside."""

    returncode: int | None
    #: The signal that ended the child, if one did.
    signal: int | None
    timed_out: bool
    output_exceeded: bool
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    start_error: str = ""


class _CappedReader(threading.Thread):
    """Drain a pipe, keeping the first ``cap`` bytes and counting the rest."""

    def __init__(self, stream, cap: int, on_overflow):
        super().__init__(daemon=True)
        self.stream = stream
        self.cap = cap
        self.kept = bytearray()
        self.total = 0
        self.on_overflow = on_overflow

    def run(self) -> None:
        while chunk := self.stream.read1(65536):
            self.total += len(chunk)
            room = self.cap - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
            elif self.total > self.cap:
                self.on_overflow()
        self.stream.close()

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        if self.total > len(self.kept):
            text += f"\n[... {self.total - len(self.kept)} more bytes not kept]"
        return text


def child_environment(work_dir: Path, limits: Limits, seed: int) -> dict[str, str]:
    """The only environment a child sees: no secrets of the grader's shell."""
    threads = str(max(1, limits.cpu_threads))
    return {
        "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
        "HOME": str(work_dir),
        "TMPDIR": str(work_dir),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(_PACKAGE_PARENT),
        "PYTHONHASHSEED": str(seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MALLOC_ARENA_MAX": "2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "CUDA_VISIBLE_DEVICES": "",
        "KERAS_HOME": str(work_dir / ".keras"),
        **{
            name: os.environ[name]
            for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
            if name in os.environ
        },
    }


def _apply_rlimits(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))


def _kill_group(process_group: int) -> None:
    try:
        os.killpg(process_group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_child(job_dir: Path, limits: Limits, seed: int) -> ChildRun:
    """Run ``python -m grader._child JOB_DIR`` and wait for it within the limits."""
    work_dir = job_dir / "work"
    work_dir.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "grader._child", str(job_dir)]
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            command,
            cwd=work_dir,
            env=child_environment(work_dir, limits, seed),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=lambda: _apply_rlimits(limits),
        )
    except OSError as error:
        return ChildRun(None, None, False, False, "", "", 0.0, 0.0, 0.0,
                        start_error=f"could not start the child: {error}")
    logger.debug("started child %d for %s", process.pid, job_dir)

    overflow = threading.Event()
    readers = [
        _CappedReader(process.stdout, limits.output_bytes, overflow.set),
        _CappedReader(process.stderr, limits.output_bytes, overflow.set),
    ]
    for reader in readers:
        reader.start()

    deadline = started + limits.wall_seconds
    timed_out = False
    status = usage = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if overflow.is_set() or time.monotonic() > deadline:
            timed_out = not overflow.is_set()
            _kill_group(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.05)
    wall = time.monotonic() - started
    # Grandchildren left in the group would keep the pipes open forever.
    _kill_group(process.pid)
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)

    return ChildRun(
        returncode=process.returncode if process.returncode >= 0 else None,
        signal=-process.returncode if process.returncode < 0 else None,
        timed_out=timed_out,
        output_exceeded=overflow.is_set(),
        stdout=readers[0].text(),
        stderr=readers[1].text(),
        wall_s=round(wall, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
    )
