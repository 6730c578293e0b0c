"""Control groups per job: limits that hold for all of a job's processes together.

``RLIMIT_NPROC`` counts every process of the user, and root ignores it;
``RLIMIT_DATA`` holds per process. A control group holds for the job as a
whole, root or not. The parent makes one group per job, inside one group per
grading run (per grader process), inside its own group, in each hierarchy it
may write:

    <its own group>/nngrade-PID-XXXXXX/   the run's group, removed at exit
    └── job-7/                            one job: pids.max, memory limit

The job joins its group before any student code runs (:func:`join`), so
whatever it starts is counted too: threads as well as processes, since
``pids.max`` counts tasks. When the job has ended, the parent reads how often
a fork was refused and whether the kernel killed a process for memory, kills
whatever is still in the group, and removes it (:meth:`JobGroup.finish`).

Both cgroup v1 (a hierarchy per controller, ``/sys/fs/cgroup/pids``) and v2
(one unified hierarchy) are read; v2 is used only where the grader's own
group already hands ``pids`` or ``memory`` down to its children
(``cgroup.subtree_control``). Where neither can be written, a job gets
``RLIMIT_NPROC`` when the grader is not root, and no process limit when it
is; that is logged once and recorded in each result.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from grader._limits import Limits

logger = logging.getLogger(__name__)

#: The controllers used, in the order they are looked for.
CONTROLLERS = ("pids", "memory")
#: How long the parent waits for a job's last processes to die and its group to go.
_CLEANUP_SECONDS = 5.0


@dataclass(frozen=True)
class _Hierarchy:
    """A mounted hierarchy in which this process may make groups."""

    version: int
    #: The controllers of CONTROLLERS it limits for groups made here.
    controllers: tuple[str, ...]
    #: This process's own group.
    own: Path


@dataclass(frozen=True)
class _Folder:
    """One job's group in one hierarchy."""

    version: int
    controllers: tuple[str, ...]
    path: Path


@dataclass
class GroupEvents:
    """What the kernel did to a job's processes, read when the job has ended."""

    #: Forks (and new threads) refused at ``pids.max``.
    processes_refused: int = 0
    #: Processes the kernel killed for going over the group's memory limit.
    memory_kills: int = 0
    #: Processes still in the group after the job ended, killed then.
    survivors: list[int] = field(default_factory=list)


@dataclass
class JobGroup:
    """A job's control groups, or where there are none, what stands in for them."""

    folders: tuple[_Folder, ...] = ()
    #: How the number of processes is limited: "cgroup", "RLIMIT_NPROC" or "none".
    process_limit: str = "none"
    #: The job's ``RLIMIT_NPROC``, only where no pids group could be had; else 0.
    nproc: int = 0

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes "0" into to join the job's groups."""
        return [str(folder.path / "cgroup.procs") for folder in self.folders]

    def finish(self) -> GroupEvents:
        """Read what happened, kill whatever is left, and remove the groups."""
        if not self.folders:
            return GroupEvents()
        survivors = _kill_everything_in(self.folders)
        events = GroupEvents(survivors=survivors)
        for folder in self.folders:
            if "pids" in folder.controllers:
                events.processes_refused = _counter(folder.path / "pids.events", "max")
            if "memory" in folder.controllers:
                name = "memory.oom_control" if folder.version == 1 else "memory.events"
                events.memory_kills = _counter(folder.path / name, "oom_kill")
            _remove(folder.path)
        if survivors:
            logger.info("killed %d process(es) left in the control group of a "
                        "finished job: %s", len(survivors), survivors)
        return events


def join(procs_files: Iterable[str]) -> None:
    """Move the calling process into a job's groups; all it starts follows it."""
    for path in procs_files:
        descriptor = os.open(path, os.O_WRONLY)
        try:
            os.write(descriptor, b"0")
        finally:
            os.close(descriptor)


def job_group(limits: Limits) -> JobGroup:
    """Make a job's groups with ``limits``; never fails, at worst there are none."""
    run = _run_groups()
    name = f"job-{next(_job_numbers)}"
    made: list[_Folder] = []
    for hierarchy, parent in run.folders:
        folder = _Folder(hierarchy.version, hierarchy.controllers, parent / name)
        try:
            folder.path.mkdir()
            made.append(folder)
            _set_limits(folder, limits)
        except OSError as error:
            logger.warning("could not set up the control group %s (%s); the job "
                           "runs without its control groups", folder.path, error)
            for done in made:
                _remove(done.path)
            made = []
            break
    if any("pids" in folder.controllers for folder in made):
        return JobGroup(tuple(made), "cgroup")
    if os.geteuid() != 0:
        # Counts every task of the user, the grader's and other jobs' too.
        return JobGroup(tuple(made), "RLIMIT_NPROC",
                        _tasks_of_user(os.getuid()) + limits.processes)
    return JobGroup(tuple(made), "none")


def controllers() -> set[str]:
    """The controllers of CONTROLLERS that this run's groups limit."""
    return {c for hierarchy, _ in _run_groups().folders for c in hierarchy.controllers}


def run_folders() -> list[Path]:
    """The run's own groups, one per hierarchy, where every job's group is made."""
    return [folder for _, folder in _run_groups().folders]


def _set_limits(folder: _Folder, limits: Limits) -> None:
    if "pids" in folder.controllers:
        _write(folder.path / "pids.max", limits.processes)
    if "memory" not in folder.controllers:
        return
    memory = limits.group_memory_bytes
    if folder.version == 1:
        _write(folder.path / "memory.limit_in_bytes", memory)
        # Memory plus swap, where swap is accounted: no swapping past the limit.
        _write_if_present(folder.path / "memory.memsw.limit_in_bytes", memory)
    else:
        _write(folder.path / "memory.max", memory)
        _write_if_present(folder.path / "memory.swap.max", 0)
        # One process over the limit takes the whole job with it.
        _write_if_present(folder.path / "memory.oom.group", 1)


def _write(path: Path, value: int | str) -> None:
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.write(descriptor, str(value).encode())
    finally:
        os.close(descriptor)


def _write_if_present(path: Path, value: int | str) -> None:
    try:
        _write(path, value)
    except OSError:
        pass


def _counter(path: Path, key: str) -> int:
    """The value of ``key`` in a flat-keyed cgroup file; 0 when absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _pids_in(folder: Path) -> set[int]:
    try:
        return {int(pid) for pid in (folder / "cgroup.procs").read_text().split()}
    except (OSError, ValueError):
        return set()


def _kill_everything_in(folders: tuple[_Folder, ...]) -> list[int]:
    """SIGKILL every process in the groups until none is left; return their pids."""
    for folder in folders:
        _write_if_present(folder.path / "cgroup.kill", 1)
    killed: list[int] = []
    deadline = time.monotonic() + _CLEANUP_SECONDS
    while True:
        pids = set().union(*(_pids_in(folder.path) for folder in folders))
        if not pids:
            return killed
        if time.monotonic() > deadline:
            logger.warning("processes %s of a finished job would not die",
                           sorted(pids))
            return killed
        for pid in pids - set(killed):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _remove(folder: Path) -> None:
    """Remove an emptied group; its last processes may take a moment to go."""
    deadline = time.monotonic() + _CLEANUP_SECONDS
    while True:
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if time.monotonic() > deadline:
                logger.warning("could not remove the control group %s: %s",
                               folder, error)
                return
            time.sleep(0.02)


def _tasks_of_user(uid: int) -> int:
    """Threads of every process of ``uid``, as ``RLIMIT_NPROC`` counts them."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines()
                      if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1"))
    return count


# -- finding the hierarchies ------------------------------------------------------


def _unescape(path: str) -> str:
    """A path as /proc/self/mountinfo writes it: spaces and tabs as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), path)


def _group_folder(mount_point: str, mount_root: str, group: str | None) -> Path | None:
    """Where ``group`` (a path in the hierarchy) lies under a mount of it."""
    if group is None:
        return None
    if mount_root != "/":
        if group != mount_root and not group.startswith(mount_root + "/"):
            return None
        group = group[len(mount_root):]
    folder = Path(mount_point) / group.lstrip("/")
    return folder if folder.is_dir() else None


def _hierarchies() -> list[_Hierarchy]:
    """The hierarchies holding this process's own groups, and the controllers used."""
    try:
        own_lines = Path("/proc/self/cgroup").read_text().splitlines()
        mount_lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    own: dict[str, str] = {}
    for line in own_lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            own[controller] = path
    found: list[_Hierarchy] = []
    taken: set[str] = set()
    unified = None
    for line in mount_lines:
        mount, _, filesystem = line.partition(" - ")
        fields, filesystem_fields = mount.split(), filesystem.split()
        if len(fields) < 5 or len(filesystem_fields) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        kind, options = filesystem_fields[0], filesystem_fields[2].split(",")
        if kind == "cgroup":
            controllers = tuple(c for c in CONTROLLERS
                                if c in options and c not in taken)
            if not controllers:
                continue
            folder = _group_folder(point, root, own.get(controllers[0]))
            if folder is not None:
                found.append(_Hierarchy(1, controllers, folder))
                taken.update(controllers)
        elif kind == "cgroup2" and unified is None:
            unified = (point, root)
    if unified is not None:
        folder = _group_folder(*unified, own.get(""))
        wanted = [c for c in CONTROLLERS if c not in taken]
        if folder and wanted:
            try:
                delegated = (folder / "cgroup.subtree_control").read_text().split()
            except OSError:
                delegated = []
            controllers = tuple(c for c in wanted if c in delegated)
            if controllers:
                found.append(_Hierarchy(2, controllers, folder))
    return found


class _RunGroups:
    """The groups of this grading run, one per writable hierarchy."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        name = f"nngrade-{self.pid}-{secrets.token_hex(3)}"
        self.folders: list[tuple[_Hierarchy, Path]] = []
        problems = []
        hierarchies = _hierarchies()
        for hierarchy in hierarchies:
            folder = hierarchy.own / name
            try:
                folder.mkdir()
                if hierarchy.version == 2:
                    _write(folder / "cgroup.subtree_control",
                           " ".join(f"+{c}" for c in hierarchy.controllers))
            except OSError as error:
                problems.append(f"{folder}: {error.strerror}")
                _remove(folder)
                continue
            self.folders.append((hierarchy, folder))
        atexit.register(self.remove)
        used = {c for hierarchy, _ in self.folders for c in hierarchy.controllers}
        why = "; ".join(problems) or (
            "none found" if not hierarchies else "no pids controller here")
        if "pids" not in used:
            limit = ("RLIMIT_NPROC, which counts every process of the grader's user"
                     if os.geteuid() != 0 else
                     "no limit at all, since RLIMIT_NPROC does not hold for root")
            logger.warning("no writable pids control group (%s): the number of "
                           "processes a submission starts has %s", why, limit)
        if "memory" not in used:
            logger.info("no writable memory control group: memory is limited per "
                        "process only (RLIMIT_DATA)")
        logger.debug("control groups of this run: %s",
                     [str(folder) for _, folder in self.folders])

    def remove(self) -> None:
        for _, folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                pass


_lock = threading.Lock()
_run: _RunGroups | None = None
_job_numbers = itertools.count(1)


def _run_groups() -> _RunGroups:
    global _run
    with _lock:
        if _run is None or _run.pid != os.getpid():
            _run = _RunGroups()
        return _run
