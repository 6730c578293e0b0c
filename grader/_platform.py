"""What the operating system enforces of a job's limits, and what stands in.

Linux holds every limit the grader sets (see ``_limits`` and ``_cgroups``).
macOS accepts the same rlimits but does not count large allocations against
``RLIMIT_DATA``, has no child subreaper to catch a process that leaves the
job's session, and is not safe to fork after TensorFlow is imported; there the
parent watches each job's processes itself (:class:`TreeWatch`) and every
job starts cold. Each result lists what its system did not enforce, and the
report shows it. Windows has neither rlimits nor process sessions, and the
child's results channel is an inherited file descriptor: grading there is
refused with a pointer to WSL.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass

import psutil

from grader._errors import UsageError

logger = logging.getLogger(__name__)

#: How often a :class:`TreeWatch` looks at a job's processes.
WATCH_SECONDS = 0.25


@dataclass(frozen=True)
class Platform:
    """What one operating system does for a job's limits."""

    #: The system's name, as reports give it.
    name: str
    #: Whether ``RLIMIT_DATA`` bounds a process's heap.
    heap_limit: bool = True
    #: Whether orphans of a job come back to the grader (a child subreaper).
    subreaper: bool = True
    #: Whether a job may be forked from a process that imported TensorFlow.
    warm_start: bool = True
    #: Bytes in the unit of ``ru_maxrss``: KiB on Linux, bytes on macOS.
    maxrss_unit: int = 1024

    @property
    def watches_processes(self) -> bool:
        """Whether the parent must watch a job's processes itself."""
        return not (self.heap_limit and self.subreaper)

    def gaps(self) -> list[str]:
        """Sentences for reports: what this system leaves out, and what stands in."""
        gaps = []
        if not self.heap_limit:
            gaps.append(
                f"{self.name} does not hold a process to its heap limit: the grader "
                "measured the memory of all the submission's processes together "
                f"every {WATCH_SECONDS:g} s instead, so a short burst between two "
                "measurements went unseen.")
        if not self.subreaper:
            gaps.append(
                f"{self.name} cannot hand back a process that leaves the "
                "submission's session: such processes were found by looking at "
                f"the submission's processes every {WATCH_SECONDS:g} s, and one "
                "started and detached between two looks could outlive the run.")
        if not self.warm_start:
            gaps.append(
                f"{self.name} is not safe to fork after TensorFlow is imported: the "
                "submission started in an interpreter of its own.")
        return gaps


LINUX = Platform("Linux")
MACOS = Platform("macOS", heap_limit=False, subreaper=False, warm_start=False,
                 maxrss_unit=1)

WINDOWS_UNSUPPORTED = (
    "nngrade does not grade on Windows: it needs process sessions and resource "
    "limits that Windows lacks, so a submission could not be held to its "
    "limits. Install WSL 2 (run 'wsl --install' in an administrator's "
    "PowerShell), then install and run nngrade inside it, where every limit holds.")


def platform_named(name: str) -> Platform:
    """The :class:`Platform` of ``sys.platform`` ``name``; a UsageError on Windows."""
    if name.startswith("linux"):
        return LINUX
    if name == "darwin":
        return MACOS
    if name in ("win32", "cygwin"):
        raise UsageError(WINDOWS_UNSUPPORTED)
    # Other Unix systems: assume no more than macOS offers.
    return Platform(name, heap_limit=False, subreaper=False, warm_start=False)


def current() -> Platform:
    """The system this grader runs on."""
    return platform_named(sys.platform)


class TreeWatch(threading.Thread):
    """Watches one job's processes where the system does not hold them.

    Every :data:`WATCH_SECONDS` it sums the resident memory of the job's
    process and all its descendants, and remembers every descendant it saw.
    Over ``memory_bytes`` it sets :attr:`exceeded`, and the job is stopped as
    at the wall-clock limit. :meth:`stop` kills the descendants it saw that
    are still running, since no subreaper brings back one that left the
    job's session.
    """

    def __init__(self, pid: int, memory_bytes: int, platform: Platform):
        super().__init__(name=f"tree-watch-{pid}", daemon=True)
        self.pid = pid
        self.memory_bytes = memory_bytes if not platform.heap_limit else 0
        self.exceeded = threading.Event()
        self.peak_bytes = 0
        self.seen: dict[int, psutil.Process] = {}
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stopping.is_set():
            self._look(root)
            self._stopping.wait(WATCH_SECONDS)

    def _look(self, root: psutil.Process) -> None:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for process in processes:
            if process.pid != self.pid:
                # psutil.Process remembers its start time, so a pid the system
                # has given to another process since is never mistaken for it.
                self.seen.setdefault(process.pid, process)
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        self.peak_bytes = max(self.peak_bytes, total)
        if self.memory_bytes and total > self.memory_bytes:
            self.exceeded.set()

    def stop(self) -> list[int]:
        """Stop watching; kill the descendants still running; return their pids."""
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        survivors = []
        for pid, process in self.seen.items():
            try:
                if process.is_running():
                    process.kill()
                    survivors.append(pid)
            except psutil.Error:
                continue
        if survivors:
            logger.warning("killed %d process(es) that outlived job %d: %s",
                           len(survivors), self.pid, survivors)
        return survivors


def start_tree_watch(pid: int | None, memory_bytes: int,
                     platform: Platform) -> TreeWatch | None:
    """A running :class:`TreeWatch` for job ``pid`` where ``platform`` needs one."""
    if pid is None or not platform.watches_processes or pid == os.getpid():
        return None
    watch = TreeWatch(pid, memory_bytes, platform)
    watch.start()
    return watch
