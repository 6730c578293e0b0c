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
  descriptors;
- zygote -> parent: ``{"started": id, "pid": pid}``, later
  ``{"exited": id, "status": wait_status, "cpu_s", "maxrss_kb"}``.
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

from grader import _reaper
from grader._limits import apply_rlimits

_PACKET = 65536


def _send(sock: socket.socket, message: dict) -> None:
    sock.send(json.dumps(message).encode())


def _run_job(request: dict, stdout_fd: int, stderr_fd: int, results_fd: int) -> int:
    """The forked child: isolate, limit, then run the grader's child side."""
    os.setsid()
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


def _fork(sock: socket.socket, request: dict, fds: list[int]) -> int:
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            sock.close()
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
    for fd in fds:
        os.close(fd)
    return pid


def _reap(sock: socket.socket, jobs: dict[int, str]) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = jobs.pop(pid, None)
        if job is not None:
            _send(sock, {"exited": job, "status": status,
                         "cpu_s": usage.ru_utime + usage.ru_stime,
                         "maxrss_kb": usage.ru_maxrss})


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


def serve(sock: socket.socket) -> None:
    import tensorflow  # noqa: F401  (the whole point: imported once, here)

    _reaper.become_subreaper()
    _send(sock, {"ready": True})
    jobs: dict[int, str] = {}
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
            pid = _fork(sock, request, fds)
            jobs[pid] = request["job"]
            _send(sock, {"started": request["job"], "pid": pid})
        _reap(sock, jobs)
        _kill_adopted(jobs)
    for pid in jobs:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> int:
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
