"""Run one child process under limits and collect how it ended.

What every backend shares: a new session so the whole process group can be
killed, a wall-clock deadline, rlimits (see ``_limits``), control groups
where they can be had (see ``_cgroups``), capped reads of stdout and stderr,
a scrubbed environment, and a sweep of orphans that escaped into sessions of
their own; what the parent watches while a job runs is in ``_watch``. The
child is either started cold (a new interpreter) or forked from the warm
zygote (see ``_zygote``). This module
holds the ``process`` backend, which adds nothing more; ``_backends`` holds
the isolating ones and the choice between them.

    Sandbox             the children of one grading run
    ├── Backend         how a child is started: ProcessBackend here,
    │                   BwrapBackend in _backends
    └── Zygote          the warm TensorFlow process, when one runs
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader import _cgroups, _platform
from grader._errors import GraderError
from grader._gpu import Device, host_pid, job_environment
from grader._keras_mode import LEGACY_KERAS_VARIABLE
from grader._limits import Limits, apply_rlimits
from grader._reaper import Reaper
from grader._watch import ChildRun, JobWatch, failed_start

logger = logging.getLogger(__name__)

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_POLL_SECONDS = 0.02
_reaper = Reaper()


def child_environment(work_dir: Path, limits: Limits, seed: int,
                      keras: str = "3") -> dict[str, str]:
    """The only environment a child sees: no secrets of the grader's shell.

    ``keras`` "2" makes ``tf.keras`` tf-keras (see ``_keras_mode``).
    """
    threads = str(max(1, limits.cpu_threads))
    keras_2 = {LEGACY_KERAS_VARIABLE: "1"} if keras == "2" else {}
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
        **job_environment(limits.gpu_device, limits.gpu_memory_mb),
        "KERAS_HOME": str(work_dir / ".keras"),
        **keras_2,
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


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class View:
    """Folders a sandbox shows besides the interpreter and system libraries."""

    writable: tuple[Path, ...] = ()
    read_only: tuple[Path, ...] = ()

    def roots(self) -> list[Path]:
        """Every folder shown, without those inside another one."""
        folders = sorted(set(self.writable + self.read_only),
                         key=lambda p: len(p.parts))
        roots: list[Path] = []
        for folder in folders:
            if not any(_inside(folder, root) for root in roots):
                roots.append(folder)
        return roots

    def shows(self, other: View) -> bool:
        """Whether all of ``other`` is visible here, and writable where it must be."""
        everything = self.writable + self.read_only
        return (all(any(_inside(p, root) for root in self.writable)
                    for p in other.writable)
                and all(any(_inside(p, root) for root in everything)
                        for p in other.read_only))


def spellings(path: Path) -> set[Path]:
    """The path as given and as it really is: a sandbox must show both."""
    return {path.absolute(), path.resolve()}


def _paths_in(value) -> list[Path]:
    """Every absolute path of an existing file or folder in a job's steps."""
    if isinstance(value, dict):
        return [path for item in value.values() for path in _paths_in(item)]
    if isinstance(value, list):
        return [path for item in value for path in _paths_in(item)]
    if isinstance(value, str) and os.path.isabs(value) and os.path.exists(value):
        return [Path(value)]
    return []


def job_view(job_dir: Path) -> View:
    """What a job must see: its own folder, its submission's folder, its data.

    The data is every file or folder the job's steps name (a data set folder,
    a script's data files), read from ``job.json`` before the job runs.
    """
    job_dir = job_dir.resolve()
    job = json.loads((job_dir / "job.json").read_text())
    read_only = spellings(Path(job["submission"]).parent)
    for path in _paths_in(job["steps"]):
        folder = path if path.is_dir() else path.parent
        read_only |= {spelling for spelling in spellings(folder)
                      if not _inside(spelling, job_dir)}
    return View((job_dir,), tuple(sorted(read_only)))


def job_keras(job_dir: Path) -> str:
    """The Keras a job asks for in its ``job.json``: "3" or "2"."""
    job = json.loads((job_dir / "job.json").read_text())
    return "2" if job.get("keras") == "2" else "3"


def in_job_group(limits: Limits,
                 run: Callable[[_cgroups.JobGroup], ChildRun]) -> ChildRun:
    """``run(group)`` with control groups of the job's own, then what they saw.

    ``run`` must have the job join ``group`` before any student code runs.
    Whatever is left in the group afterwards is killed, however ``run`` ends.
    """
    group = _cgroups.job_group(limits)
    try:
        child = run(group)
    finally:
        events = group.finish()
    child.processes_refused = events.processes_refused
    child.memory_cgroup_killed = child.memory_cgroup_killed or events.memory_kills > 0
    child.process_limit = group.process_limit
    if events.survivors:
        # Those the grader had adopted are its zombies now.
        _reaper.sweep()
    return child


def run_cold(job_dir: Path, limits: Limits, seed: int) -> ChildRun:
    """Run ``python -m grader._child JOB_DIR`` in a new interpreter."""
    return in_job_group(limits, lambda group: _run_cold(job_dir, limits, seed, group))


def _run_cold(job_dir: Path, limits: Limits, seed: int,
              group: _cgroups.JobGroup) -> ChildRun:
    work_dir = job_dir / "work"
    work_dir.mkdir(exist_ok=True)
    results_read, results_write = os.pipe()
    command = [sys.executable, "-m", "grader._child", str(job_dir), str(results_write)]
    rlimits = {**limits.as_dict(), "nproc": group.nproc}

    def enter_limits() -> None:
        _cgroups.join(group.procs_files)
        apply_rlimits(rlimits)

    try:
        with _reaper.lock:
            process = subprocess.Popen(
                command, cwd=work_dir,
                env=child_environment(work_dir, limits, seed, job_keras(job_dir)),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=[results_write], preexec_fn=enter_limits)
            _reaper.own(process.pid)
    except (OSError, subprocess.SubprocessError) as error:
        os.close(results_read)
        return failed_start(f"could not start the child: {error}")
    finally:
        os.close(results_write)
    logger.debug("started cold child %d for %s", process.pid, job_dir)

    watch = JobWatch(process.stdout, process.stderr, os.fdopen(results_read, "rb"),
                   limits)
    watch.watch(process.pid)
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
    return watch.finish(status, usage.ru_utime + usage.ru_stime,
                        usage.ru_maxrss * watch.platform.maxrss_unit, timed_out,
                        "cold")


class Zygote:
    """The parent's handle on a process that forks jobs: warm, or a cold one-off.

    With no ``wrapper`` this is the ``process`` backend's warm TensorFlow
    process, whose job pids are this machine's. A wrapper (the bwrap command
    line) starts it inside a sandbox, where pids mean nothing out here: jobs
    are then stopped through the zygote. With a ``view``, each job runs in
    namespaces of its own that show only its own folders of the view.
    ``system`` (the interpreter, the grader) and ``hidden`` (the reference
    package) are the folders the sandbox shows and hides besides the view.
    TensorFlow fixes what ``tf.keras`` is when it is imported, so a warm
    zygote serves only jobs of its own ``keras`` mode.

    Each job runs in control groups of its own (see ``_cgroups``), which it
    joins before student code runs; inside bwrap the init of its PID
    namespace joins, then hides them. A cold one-off is started in its job's
    ``cgroup`` as a whole, sandbox and all, so that its job never sees the
    groups' files, which it could otherwise rewrite.
    """

    def __init__(self, work_dir: Path, start_timeout: float = 180.0, *,
                 wrapper: Sequence[str] = (), view: View | None = None,
                 system: Sequence[Path] = (), hidden: Sequence[Path] = (),
                 import_tensorflow: bool = True, backend: str = "process",
                 keras: str = "3", cgroup: _cgroups.JobGroup | None = None):
        self.lock = threading.Lock()
        self.cgroup = cgroup
        self.events: dict[str, dict] = {}
        self.changed = threading.Condition()
        self.wrapped = bool(wrapper)
        self.view = view
        self.system = tuple(system)
        self.hidden = tuple(hidden)
        # A job's covers would hide the interpreter if a folder of the view
        # held it; every job then starts cold, in a sandbox of its own.
        self.isolates_warm = view is None or not any(
            _inside(path, root) for path in system for root in view.roots())
        self.backend = backend
        self.start_kind = "warm" if import_tensorflow else "cold"
        #: The Keras mode of its jobs; None when it has not imported TensorFlow.
        self.keras = keras if import_tensorflow else None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        base_env = child_environment(work_dir, Limits(), 0, keras)
        self.log_path = work_dir / "zygote.log"
        command = [*wrapper, sys.executable, "-m", "grader._zygote",
                   str(theirs.fileno())]
        if not import_tensorflow:
            command.append("--no-tensorflow")
        join_cgroup = (functools.partial(_cgroups.join, cgroup.procs_files)
                       if cgroup is not None else None)
        try:
            with open(self.log_path, "wb") as log, _reaper.lock:
                self.process = subprocess.Popen(
                    command, pass_fds=[theirs.fileno()], env=base_env, cwd=work_dir,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, preexec_fn=join_cgroup)
                _reaper.own(self.process.pid)
        except (OSError, subprocess.SubprocessError) as error:
            ours.close()
            raise GraderError(f"could not start {command[0]}: {error}") from None
        finally:
            theirs.close()
        self.sock.settimeout(start_timeout)
        try:
            ready = json.loads(self.sock.recv(65536) or b"{}")
        except (socket.timeout, json.JSONDecodeError):
            ready = {}
        if not ready.get("ready"):
            self.close()
            what = ("the warm TensorFlow process" if import_tensorflow
                    else "the sandbox")
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise GraderError(f"{what} did not start; see {self.log_path}:\n{log}")
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

    def can_run(self, job_dir: Path) -> bool:
        """Whether this zygote runs the job's Keras and can show the job its
        folders, and nothing more."""
        if self.keras is not None and self.keras != job_keras(job_dir):
            return False
        if self.view is None:
            return True
        needed = job_view(job_dir)
        if not self.isolates_warm or not self.view.shows(needed):
            return False
        # A job's folder shown again brings along whatever lies inside it.
        others = [*self.view.writable, *self.view.read_only, *self.hidden]
        return not any(_inside(other, folder) and other != folder
                       for folder in (*needed.writable, *needed.read_only)
                       for other in others)

    def _isolation(self, job_dir: Path, limits: Limits) -> dict:
        """How the zygote narrows its view down to this job's folders."""
        needed = job_view(job_dir)
        reveal = ([[str(p), True] for p in needed.writable]
                  + [[str(p), False] for p in needed.read_only])
        # Each job gets a /tmp and /dev/shm of its own, which would hide these.
        keep = [str(p) for p in self.system
                if _inside(p, Path("/tmp")) or _inside(p, Path("/dev/shm"))]
        # The job's init joins its control groups, then covers them with the
        # rest: a job that saw them could raise its own limits.
        cover = [*self.view.roots(), *_cgroups.run_folders()]
        return {"cover": [str(p) for p in cover], "reveal": reveal,
                "keep": keep, "tmp_bytes": limits.file_bytes}

    def _kill(self, job: str, pid: int) -> None:
        if not self.wrapped:
            _kill_group(pid)
            return
        try:
            self.sock.send(json.dumps({"kill": job}).encode())
        except OSError:
            pass

    def run(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        if self.cgroup is not None:
            # Whoever started this one-off in the job's group finishes it.
            return self._run(job_dir, limits, seed, self.cgroup)
        return in_job_group(limits,
                            lambda group: self._run(job_dir, limits, seed, group))

    def _run(self, job_dir: Path, limits: Limits, seed: int,
             group: _cgroups.JobGroup) -> ChildRun:
        # The spelling the sandbox shows (see job_view).
        job_dir = job_dir.resolve()
        work_dir = job_dir / "work"
        work_dir.mkdir(exist_ok=True)
        with self.lock:
            self.next_job += 1
            job = str(self.next_job)
        pipes = [os.pipe() for _ in range(3)]
        request = {"job": job, "job_dir": str(job_dir),
                   "env": child_environment(work_dir, limits, seed,
                                            job_keras(job_dir)),
                   "limits": {**limits.as_dict(), "nproc": group.nproc}}
        if self.cgroup is None:
            request["cgroups"] = group.procs_files
        if self.view is not None:
            request["isolation"] = self._isolation(job_dir, limits)
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()],
                            [write for _, write in pipes])
        except OSError as error:
            for fd in (fd for pipe in pipes for fd in pipe):
                os.close(fd)
            return self._failed(f"the zygote is gone: {error}")
        for _, write in pipes:
            os.close(write)
        watch = JobWatch(*(os.fdopen(read, "rb") for read, _ in pipes), limits)
        started = self._wait_for("started:" + job, 30)
        if started is None:
            return self._failed("the zygote did not start the job")
        pid = started["pid"]
        # Inside bwrap the pid is one of its PID namespace; NVML reports ours.
        # Finding ours walks bwrap's process tree, so only when it is used.
        if self.wrapped and watch.needs_pid():
            watch.watch(host_pid(self.process.pid, pid))
        elif not self.wrapped:
            watch.watch(pid)
        timed_out = False
        exited = None
        while exited is None:
            exited = self._wait_for("exited:" + job, _POLL_SECONDS * 5)
            if exited is None and watch.should_stop():
                timed_out = not watch.overflow.is_set()
                self._kill(job, pid)
                exited = self._wait_for("exited:" + job, 30)
                if exited is None:
                    return self._failed("a stopped job was never reaped")
            elif exited is None and "closed" in self.events:
                return self._failed("the zygote died")
        if not self.wrapped:
            _kill_group(pid)
        if "start_error" in exited:
            # The details are the instructor's; the student learns it was not
            # their fault (see the grader_error verdict).
            logger.error("the sandbox of %s failed before the submission ran: %s",
                         job_dir, exited["start_error"])
            return self._failed("its sandbox could not be set up")
        # The zygote runs on Linux only, where ru_maxrss is in KiB.
        return watch.finish(exited["status"], exited["cpu_s"],
                            exited["maxrss_kb"] * 1024, timed_out, self.start_kind,
                            self.backend)

    def _failed(self, reason: str) -> ChildRun:
        return failed_start(reason, self.backend, self.start_kind)

    def close(self) -> None:
        try:
            # Shut down first: a close alone leaves the reader thread's recv
            # holding the socket open, and the zygote would never see the end.
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        finally:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill_group(self.process.pid)
                self.process.wait()
            _reaper.release(self.process.pid)
            _reaper.sweep()


class Backend:
    """How children are started and what they can reach; see ``_backends``."""

    #: The name ``--sandbox`` takes, and results record.
    name = "process"
    #: Whether a job is kept from the network and from files not its own.
    isolating = False

    def describe(self) -> str:
        raise NotImplementedError

    def start_zygote(self, work_root: Path, view: View, keras: str = "3") -> Zygote:
        """Start a warm TensorFlow process, in ``keras`` mode, whose jobs may use
        ``view``."""
        raise NotImplementedError

    def run_cold(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        raise NotImplementedError

    def use_gpus(self, devices: Sequence[Device]) -> None:
        """Let jobs reach ``devices`` (each job is told its own in its
        environment); here nothing stands between a job and the machine's."""

    def unenforced(self) -> list[str]:
        """What this system leaves out of a job's limits, for its report."""
        return _platform.current().gaps()


class ProcessBackend(Backend):
    """A child process with limits, and nothing between it and the machine."""

    def describe(self) -> str:
        return ("process: limits only; a submission can read every file the "
                "grader's user can and can reach the network")

    def start_zygote(self, work_root: Path, view: View, keras: str = "3") -> Zygote:
        return Zygote(work_root, keras=keras)

    def run_cold(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        return run_cold(job_dir, limits, seed)


class Sandbox:
    """Where the children of one grading run start: a backend, and its zygote.

    A job runs warm when the zygote is alive and shows the job's folders, and
    cold in the same backend otherwise; never outside the backend.
    """

    def __init__(self, backend: Backend, zygote: Zygote | None = None):
        self.backend = backend
        self.zygote = zygote
        #: A zygote handed in is shared with others, who close it.
        self.owns_zygote = zygote is None

    def start_warm(self, work_root: Path, view: View, keras: str = "3") -> None:
        """Import TensorFlow once for every job; on failure, start jobs cold.

        Only jobs of ``keras`` mode run warm; the others start cold.
        """
        if self.zygote is not None:
            return
        platform = _platform.current()
        if not platform.warm_start:
            logger.info("every submission starts cold on %s", platform.name)
            return
        try:
            self.zygote = self.backend.start_zygote(work_root, view, keras=keras)
        except GraderError as error:
            logger.warning("grading without warm TensorFlow: %s", error)

    def run(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        zygote = self.zygote
        if zygote is not None and zygote.alive():
            if zygote.can_run(job_dir):
                return zygote.run(job_dir, limits, seed)
            logger.info("%s needs folders the warm sandbox does not show, or "
                        "another Keras; starting it cold", job_dir)
        return self.backend.run_cold(job_dir, limits, seed)

    def close(self) -> None:
        if self.zygote is not None and self.owns_zygote:
            self.zygote.close()
            self.zygote = None


def run_child(job_dir: Path, limits: Limits, seed: int,
              zygote: Sandbox | Zygote | None = None) -> ChildRun:
    """Run a job in ``zygote``'s sandbox, or warm in a bare zygote, else cold.

    A bare zygote inside a sandbox that cannot run the job never hands it to
    an unsandboxed cold start: that is a failed start.
    """
    if isinstance(zygote, Sandbox):
        return zygote.run(job_dir, limits, seed)
    if zygote is not None and zygote.alive() and zygote.can_run(job_dir):
        return zygote.run(job_dir, limits, seed)
    if zygote is not None and zygote.wrapped:
        return failed_start(f"the {zygote.backend} sandbox cannot run {job_dir}",
                            zygote.backend)
    return run_cold(job_dir, limits, seed)
