"""Run one child process under limits and collect how it ended.

This is the ``process`` backend: a new session so the whole process group
can be killed, a wall-clock deadline, rlimits (see ``_limits``), capped
reads of stdout and stderr, a scrubbed environment, and a sweep of orphans
that escaped into sessions of their own. The child is either started cold
(a new interpreter) or forked from the warm zygote (see ``_zygote``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader._errors import GraderError
from grader._limits import Limits, apply_rlimits
from grader._reaper import Reaper

logger = logging.getLogger(__name__)

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_POLL_SECONDS = 0.02
_reaper = Reaper()


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
    #: "cold" (a new interpreter) or "warm" (forked from the zygote).
    start: str = "cold"
    #: Everything the child sent on its results channel.
    results: bytes = b""


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
            if self.total > self.cap:
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


def _kill_group(process_group: int) -> None:
    try:
        os.killpg(process_group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


#: Most bytes of results a child may send; far above any honest answer.
RESULTS_CAP = 768 * 1024 * 1024


class _Watch:
    """Reads a job's output and results, and enforces wall-clock and output limits."""

    def __init__(self, stdout, stderr, results, limits: Limits):
        self.limits = limits
        self.overflow = threading.Event()
        self.readers = [_CappedReader(stdout, limits.output_bytes, self.overflow.set),
                        _CappedReader(stderr, limits.output_bytes, self.overflow.set),
                        _CappedReader(results, RESULTS_CAP, self.overflow.set)]
        for reader in self.readers:
            reader.start()
        self.started = time.monotonic()

    def should_stop(self) -> bool:
        return self.overflow.is_set() or self.expired()

    def expired(self) -> bool:
        return time.monotonic() - self.started > self.limits.wall_seconds

    def finish(self, status: int, cpu_s: float, maxrss_kb: float, timed_out: bool,
               start: str) -> ChildRun:
        wall = time.monotonic() - self.started
        for reader in self.readers:
            reader.join(timeout=5)
        code = os.waitstatus_to_exitcode(status)
        return ChildRun(
            returncode=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            timed_out=timed_out,
            output_exceeded=self.overflow.is_set(),
            stdout=self.readers[0].text(),
            stderr=self.readers[1].text(),
            results=bytes(self.readers[2].kept),
            wall_s=round(wall, 3),
            cpu_s=round(cpu_s, 3),
            peak_rss_mb=round(maxrss_kb / 1024, 1),
            start=start,
        )


def _failed_start(reason: str) -> ChildRun:
    return ChildRun(None, None, False, False, "", "", 0.0, 0.0, 0.0,
                    start_error=reason)


def run_cold(job_dir: Path, limits: Limits, seed: int) -> ChildRun:
    """Run ``python -m grader._child JOB_DIR`` in a new interpreter."""
    work_dir = job_dir / "work"
    work_dir.mkdir(exist_ok=True)
    results_read, results_write = os.pipe()
    command = [sys.executable, "-m", "grader._child", str(job_dir), str(results_write)]
    rlimits = limits.as_dict()
    try:
        with _reaper.lock:
            process = subprocess.Popen(
                command, cwd=work_dir, env=child_environment(work_dir, limits, seed),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=[results_write], preexec_fn=lambda: apply_rlimits(rlimits))
            _reaper.own(process.pid)
    except OSError as error:
        os.close(results_read)
        return _failed_start(f"could not start the child: {error}")
    finally:
        os.close(results_write)
    logger.debug("started cold child %d for %s", process.pid, job_dir)

    watch = _Watch(process.stdout, process.stderr, os.fdopen(results_read, "rb"),
                   limits)
    timed_out = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if watch.should_stop():
            timed_out = not watch.overflow.is_set()
            _kill_group(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(_POLL_SECONDS)
    # Grandchildren left in the group would keep the pipes open forever.
    _kill_group(process.pid)
    process.returncode = os.waitstatus_to_exitcode(status)
    _reaper.release(process.pid)
    _reaper.sweep()
    return watch.finish(status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
                        timed_out, "cold")


class Zygote:
    """The parent's handle on a warm TensorFlow process that forks jobs."""

    def __init__(self, work_dir: Path, start_timeout: float = 180.0):
        self.lock = threading.Lock()
        self.events: dict[str, dict] = {}
        self.changed = threading.Condition()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        base_env = child_environment(work_dir, Limits(), 0)
        self.log_path = work_dir / "zygote.log"
        with open(self.log_path, "wb") as log, _reaper.lock:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "grader._zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], env=base_env, cwd=work_dir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
            _reaper.own(self.process.pid)
        theirs.close()
        self.sock.settimeout(start_timeout)
        try:
            ready = json.loads(self.sock.recv(65536) or b"{}")
        except (socket.timeout, json.JSONDecodeError):
            ready = {}
        if not ready.get("ready"):
            self.close()
            raise GraderError(
                "the warm TensorFlow process did not start; see "
                f"{self.log_path}:\n{self.log_path.read_text(errors='replace')[-2000:]}")
        self.sock.settimeout(None)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.next_job = 0

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.changed:
                if not data:
                    self.events["closed"] = {}
                    self.changed.notify_all()
                    return
                message = json.loads(data)
                key = ("started:" + message["started"] if "started" in message
                       else "exited:" + message["exited"])
                self.events[key] = message
                self.changed.notify_all()

    def _wait_for(self, key: str, timeout: float | None) -> dict | None:
        with self.changed:
            self.changed.wait_for(
                lambda: key in self.events or "closed" in self.events, timeout)
            return self.events.pop(key, None)

    def alive(self) -> bool:
        return self.process.poll() is None and "closed" not in self.events

    def run(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        work_dir = job_dir / "work"
        work_dir.mkdir(exist_ok=True)
        with self.lock:
            self.next_job += 1
            job = str(self.next_job)
        pipes = [os.pipe() for _ in range(3)]
        request = {"job": job, "job_dir": str(job_dir),
                   "env": child_environment(work_dir, limits, seed),
                   "limits": limits.as_dict()}
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()],
                            [write for _, write in pipes])
        except OSError as error:
            for fd in (fd for pipe in pipes for fd in pipe):
                os.close(fd)
            return _failed_start(f"the warm TensorFlow process is gone: {error}")
        for _, write in pipes:
            os.close(write)
        watch = _Watch(*(os.fdopen(read, "rb") for read, _ in pipes), limits)
        started = self._wait_for("started:" + job, 30)
        if started is None:
            return _failed_start("the warm TensorFlow process did not start the job")
        pid = started["pid"]
        timed_out = False
        exited = None
        while exited is None:
            exited = self._wait_for("exited:" + job, _POLL_SECONDS * 5)
            if exited is None and watch.should_stop():
                timed_out = not watch.overflow.is_set()
                _kill_group(pid)
                exited = self._wait_for("exited:" + job, 30)
                if exited is None:
                    return _failed_start("a stopped job was never reaped")
            elif exited is None and "closed" in self.events:
                return _failed_start("the warm TensorFlow process died")
        _kill_group(pid)
        return watch.finish(exited["status"], exited["cpu_s"], exited["maxrss_kb"],
                            timed_out, "warm")

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid)
                self.process.wait()
            _reaper.release(self.process.pid)
            _reaper.sweep()


def run_child(job_dir: Path, limits: Limits, seed: int,
              zygote: Zygote | None = None) -> ChildRun:
    """Run a job warm when a zygote is given and alive, else cold."""
    if zygote is not None and zygote.alive():
        return zygote.run(job_dir, limits, seed)
    return run_cold(job_dir, limits, seed)
