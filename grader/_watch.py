"""What the parent sees of one running job, and how the job ended.

A :class:`JobWatch` drains the job's stdout, stderr and results channel up to
their caps, and says when the job must be stopped: at the wall-clock limit,
at the output cap, past its GPU memory cap (see ``_gpu``), or past its memory
where the system does not hold it (see ``_platform``). :meth:`JobWatch.finish`
turns the job's wait status into a :class:`ChildRun`. Every backend starts
jobs its own way and shares this.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from grader import _platform
from grader._gpu import JobGpuWatch
from grader._limits import MIB, Limits


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
    #: The sandbox backend the child ran in ("process", "bwrap", "docker").
    backend: str = "process"
    #: Whether the kernel killed the job for going over its memory cgroup's limit.
    memory_cgroup_killed: bool = False
    #: Forks and new threads the kernel refused at the job's process limit.
    processes_refused: int = 0
    #: How the job's number of processes was limited: "cgroup", "RLIMIT_NPROC",
    #: "none" (see ``_cgroups``), or "" where the backend has its own way.
    process_limit: str = ""
    #: Whether the job was stopped for holding more GPU memory than its cap.
    gpu_memory_exceeded: bool = False
    #: Whether the parent stopped the job for holding more memory, all its
    #: processes together, than the limit (where the system does not hold
    #: the heap limit; see ``_platform``).
    memory_watch_exceeded: bool = False


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


#: Most bytes of results a child may send; far above any honest answer.
RESULTS_CAP = 768 * 1024 * 1024


class JobWatch:
    """Reads a job's output and results, and enforces wall-clock and output limits.

    Once :meth:`watch` knows the job's pid: with a GPU and a cap, also the
    job's device memory, and where the system does not hold a job's memory
    or its orphans (see ``_platform``), its processes.
    """

    def __init__(self, stdout, stderr, results, limits: Limits):
        self.limits = limits
        self.overflow = threading.Event()
        self.readers = [_CappedReader(stdout, limits.output_bytes, self.overflow.set),
                        _CappedReader(stderr, limits.output_bytes, self.overflow.set),
                        _CappedReader(results, RESULTS_CAP, self.overflow.set)]
        for reader in self.readers:
            reader.start()
        self.started = time.monotonic()
        self.gpu = JobGpuWatch(limits.gpu_device, limits.gpu_memory_mb)
        self.platform = _platform.current()
        self.tree: _platform.TreeWatch | None = None

    def needs_pid(self) -> bool:
        """Whether :meth:`watch` has a use for the job's pid: a GPU memory cap,
        or a platform whose processes the grader watches itself."""
        return self.gpu.caps_memory() or self.platform.watches_processes

    def watch(self, pid: int | None) -> None:
        """Watch job ``pid`` (numbered here) and its children."""
        self.gpu.start(pid)
        self.tree = _platform.start_tree_watch(pid, self.limits.group_memory_bytes,
                                               self.platform)

    def memory_exceeded(self) -> bool:
        return self.tree is not None and self.tree.exceeded.is_set()

    def should_stop(self) -> bool:
        return (self.overflow.is_set() or self.expired() or self.gpu.exceeded()
                or self.memory_exceeded())

    def expired(self) -> bool:
        return time.monotonic() - self.started > self.limits.wall_seconds

    def finish(self, status: int, cpu_s: float, peak_bytes: float, timed_out: bool,
               start: str, backend: str = "process") -> ChildRun:
        wall = time.monotonic() - self.started
        self.gpu.stop()
        if self.tree is not None:
            self.tree.stop()
            peak_bytes = max(peak_bytes, self.tree.peak_bytes)
        for reader in self.readers:
            reader.join(timeout=5)
        code = os.waitstatus_to_exitcode(status)
        gpu_memory_exceeded = self.gpu.exceeded()
        memory_exceeded = self.memory_exceeded()
        return ChildRun(
            returncode=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            # A stop asked for by a memory watch is no timeout.
            timed_out=timed_out and not (gpu_memory_exceeded or memory_exceeded),
            gpu_memory_exceeded=gpu_memory_exceeded,
            memory_watch_exceeded=memory_exceeded,
            output_exceeded=self.overflow.is_set(),
            stdout=self.readers[0].text(),
            stderr=self.readers[1].text(),
            results=bytes(self.readers[2].kept),
            wall_s=round(wall, 3),
            cpu_s=round(cpu_s, 3),
            peak_rss_mb=round(peak_bytes / MIB, 1),
            start=start,
            backend=backend,
        )


def failed_start(reason: str, backend: str = "process",
                 start: str = "cold") -> ChildRun:
    """The run of a child that never started: a grader error, never the student's."""
    return ChildRun(None, None, False, False, "", "", 0.0, 0.0, 0.0,
                    start_error=reason, start=start, backend=backend)
