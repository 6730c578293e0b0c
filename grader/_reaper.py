"""No process of a submission outlives its run.

A grandchild that starts its own session escapes a process-group kill. On
Linux the process that starts children declares itself a *child subreaper*,
so such orphans are re-parented to it instead of to init; it then kills
every child it did not start on purpose.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

import psutil

logger = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt the orphans of our descendants; False where the OS cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


class Reaper:
    """Kills the children of this process that no job owns.

    Whoever starts a child must hold :attr:`lock` from the start until
    :meth:`own` is called, so that a sweep never mistakes it for an orphan.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owned: set[int] = set()
        self.enabled = become_subreaper()

    def own(self, pid: int) -> None:
        self.owned.add(pid)

    def release(self, pid: int) -> None:
        self.owned.discard(pid)

    def sweep(self) -> list[int]:
        """Kill and reap adopted orphans; return their pids."""
        if not self.enabled:
            return []
        killed = []
        with self.lock:
            try:
                children = psutil.Process().children()
            except psutil.Error:
                return []
            ended = []
            for child in children:
                if child.pid in self.owned:
                    continue
                try:
                    # Sandboxes leave helpers of their own that have ended:
                    # those only need reaping.
                    if child.status() == psutil.STATUS_ZOMBIE:
                        ended.append(child.pid)
                        continue
                    os.kill(child.pid, signal.SIGKILL)
                    killed.append(child.pid)
                except (ProcessLookupError, psutil.Error):
                    pass
            for pid in killed + ended:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        if killed:
            logger.info("killed %d orphaned process(es) of submissions: %s",
                        len(killed), killed)
        return killed
