"""Warm TensorFlow: a process that imports TensorFlow once and forks jobs.

Importing TensorFlow costs 6 to 12 s on a small machine, often more than a
student's whole training run. The zygote imports it once and then forks one
child per job; the child applies its limits, environment and working folder
and only then runs the child side of the grader (``grader._child``). The
zygote never runs a TensorFlow operation, since forking after one is unsafe.

Protocol, over a ``SOCK_SEQPACKET`` socket pair, one JSON object a packet:

- zygote -> parent: ``{"ready": true}`` once TensorFlow is imported;
- parent -> zygote: ``{"job": id, "job_dir", "env", "limits"}`` with the
  write ends of the job's stdout, stderr and results pipes attached as file
  descriptors, and optionally ``"cgroups"``: the ``cgroup.procs`` files the
  job joins (writing "0") before any student code runs;
- zygote -> parent: ``{"started": id, "pid": pid}``, later
  ``{"exited": id, "status": wait_status, "cpu_s", "maxrss_kb"}``, with a
  ``"start_error"`` instead of a status when the job's sandbox could not be
  set up (no student code ran);
- parent -> zygote: ``{"kill": id}`` kills the job and everything it
  started. Inside bwrap the pid in ``started`` is one of bwrap's PID
  namespace and means nothing outside, so this is the only way to stop it.

A request with an ``"isolation"`` key (see ``_isolation.enter_job_view``)
runs its job in namespaces of its own: the zygote forks the job's init in a
new PID namespace, the init joins the job's control groups, sets up the
job's view (which covers them) and forks the job, waits for it and writes
its wait status to a pipe only the zygote reads.

``python -m grader._zygote FD --no-tensorflow`` serves jobs without
importing TensorFlow first: the cold start inside bwrap, one job per zygote.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import traceback

import psutil

from grader import _cgroups, _isolation, _reaper
from grader._limits import apply_rlimits

_PACKET = 65536
#: Exit status of a forked process whose own setup failed.
_SETUP_FAILED = 70
_LINUX = sys.platform.startswith("linux")


def _send(sock: socket.socket, message: dict) -> None:
    sock.send(json.dumps(message).encode())


def _run_job(request: dict, stdout_fd: int, stderr_fd: int, results_fd: int) -> int:
    """The forked child: limit, then run the grader's child side."""
    os.setsid()
    if _LINUX:
        _isolation.set_dumpable(True)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)
    for fd in (null, stdout_fd, stderr_fd):
        os.close(fd)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(number, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(os.path.join(request["job_dir"], "work"))
    apply_rlimits(request["limits"])
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)

    from grader import _child

    return _child.main([request["job_dir"], str(results_fd)])


def _job_process(request: dict, fds: list[int], before=None) -> None:
    """Run the job in this freshly forked process; never returns."""
    code = _SETUP_FAILED
    try:
        if before is not None:
            before()
        code = _run_job(request, *fds)
    except SystemExit as exit_request:
        code = exit_request.code if isinstance(exit_request.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _fork(sock: socket.socket, request: dict, fds: list[int],
          others: list[int]) -> tuple[int, int]:
    """Fork a job that joins its control groups, then runs.

    Returns its pid and the read end of the pipe on which a failure to join
    arrives. ``others`` are the status pipes of other jobs, which this one
    must not hold.
    """
    status_read, status_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        sock.close()
        for fd in (status_read, *others):
            os.close(fd)
        _job_process(request, fds, lambda: _join_cgroups(request, status_write))
    os.close(status_write)
    for fd in fds:
        os.close(fd)
    return pid, status_read


def _join_cgroups(request: dict, status_write: int) -> None:
    """In the job process: join its control groups before any student code."""
    try:
        _cgroups.join(request.get("cgroups", ()))
    except BaseException as error:
        _report_setup_failure(status_write, error)
        os._exit(_SETUP_FAILED)
    os.close(status_write)


def _fork_isolated(sock: socket.socket, request: dict, fds: list[int],
                   namespaces: _isolation.PidNamespaces,
                   others: list[int]) -> tuple[int, int]:
    """Fork the init of a new PID namespace that runs the job isolated.

    Returns the init's pid and the read end of the pipe on which the job's
    wait status, or the reason its sandbox failed, arrives. ``others`` are
    the status pipes of other jobs, which this one must not hold.
    """
    status_read, status_write = os.pipe()
    pid = namespaces.fork()
    if pid == 0:
        try:
            # As the init of its namespace it then ignores every signal its
            # job sends it: the job cannot make grading itself fail.
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, signal.SIG_DFL)
            sock.close()
            for fd in (status_read, *others):
                os.close(fd)
            os.setsid()
            # Joined before the job's view covers the groups: the job
            # inherits them and cannot reach their files.
            _cgroups.join(request.get("cgroups", ()))
            _isolation.enter_job_view(request["isolation"])
            job = os.fork()
        except BaseException as error:
            _report_setup_failure(status_write, error)
            os._exit(_SETUP_FAILED)
        if job == 0:
            _job_process(request, fds, lambda: _enter_job(status_write))
        code = _SETUP_FAILED
        try:
            for fd in fds:
                os.close(fd)
            status = _isolation.wait_as_init(job)
            os.write(status_write, f"status:{status}\n".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(status_write)
    for fd in fds:
        os.close(fd)
    return pid, status_read


def _enter_job(status_write: int) -> None:
    """In the job process: give up privileges before any student code."""
    try:
        _isolation.drop_privileges()
    except BaseException as error:
        _report_setup_failure(status_write, error)
        os._exit(_SETUP_FAILED)
    os.close(status_write)


def _report_setup_failure(status_write: int, error: BaseException) -> None:
    traceback.print_exc()
    message = f"error:setting up the job's sandbox failed: {error}\n"
    try:
        os.write(status_write, message.encode(errors="replace"))
    except OSError:
        pass


def _read_status(status_read: int | None) -> dict:
    """What the job's init reported: its job's status, or a setup failure."""
    if status_read is None:
        return {}
    try:
        os.set_blocking(status_read, False)
        text = os.read(status_read, _PACKET).decode(errors="replace")
    except OSError:
        text = ""
    finally:
        os.close(status_read)
    for line in text.splitlines():
        if line.startswith("error:"):
            return {"start_error": line[len("error:"):]}
    for line in text.splitlines():
        if line.startswith("status:"):
            return {"status": int(line[len("status:"):])}
    # The init was killed (by a kill request) before it could report.
    return {}


class _Jobs:
    """The jobs the zygote has forked and not yet reported as ended."""

    def __init__(self) -> None:
        self.by_pid: dict[int, str] = {}
        self.pids: dict[str, int] = {}
        self.status_pipes: dict[int, int] = {}

    def add(self, job: str, pid: int, status_read: int | None = None) -> None:
        self.by_pid[pid] = job
        self.pids[job] = pid
        if status_read is not None:
            self.status_pipes[pid] = status_read

    def kill(self, job: str) -> None:
        pid = self.pids.get(job)
        if pid is not None:
            _kill_group(pid)

    def reap(self, sock: socket.socket) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.by_pid.pop(pid, None)
            if job is None:
                continue
            del self.pids[job]
            # What the job started and left behind in its group goes with it.
            _kill_group(pid)
            message = {"exited": job, "status": status,
                       "cpu_s": usage.ru_utime + usage.ru_stime,
                       "maxrss_kb": usage.ru_maxrss}
            message.update(_read_status(self.status_pipes.pop(pid, None)))
            _send(sock, message)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_adopted(jobs: dict[int, str]) -> None:
    """Kill orphans of finished jobs, which the kernel handed to us."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        if child.pid not in jobs:
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def serve(sock: socket.socket, import_tensorflow: bool = True) -> None:
    if import_tensorflow:
        import tensorflow  # noqa: F401  (the whole point: imported once, here)

    if _LINUX:
        # Jobs run as the same user: none may attach to the zygote.
        _isolation.set_dumpable(False)
    _reaper.become_subreaper()
    _send(sock, {"ready": True})
    jobs = _Jobs()
    namespaces: _isolation.PidNamespaces | None = None
    while True:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            try:
                data, fds, _flags, _address = socket.recv_fds(sock, _PACKET, 3)
            except ConnectionResetError:
                data, fds = b"", []
            if not data:
                break
            request = json.loads(data)
            if "kill" in request:
                jobs.kill(request["kill"])
            elif "isolation" in request:
                namespaces = namespaces or _isolation.PidNamespaces()
                pid, status_read = _fork_isolated(
                    sock, request, fds, namespaces, list(jobs.status_pipes.values()))
                jobs.add(request["job"], pid, status_read)
                _send(sock, {"started": request["job"], "pid": pid})
            else:
                pid, status_read = _fork(sock, request, fds,
                                         list(jobs.status_pipes.values()))
                jobs.add(request["job"], pid, status_read)
                _send(sock, {"started": request["job"], "pid": pid})
        jobs.reap(sock)
        _kill_adopted(jobs.by_pid)
    for pid in jobs.by_pid:
        _kill_group(pid)


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock, import_tensorflow="--no-tensorflow" not in sys.argv[2:])
    except (BrokenPipeError, ConnectionResetError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
