"""Inside the bwrap sandbox: give each forked job a view of its own files only.

The warm zygote runs inside bubblewrap with the folders of every job of the
grading run mounted (see ``_backends``). Each job it forks then gets
namespaces of its own, set up here before any student code runs:

- a PID namespace, whose init is a small copy of the zygote that waits for
  the job and reports how it ended; when that init exits or is killed, the
  kernel kills every process left in the namespace;
- mount, network, IPC and UTS namespaces: an empty tmpfs over every folder
  of the run, with only the job's own folders mounted back from file
  descriptors opened beforehand, a fresh ``/tmp``, ``/dev/shm`` and
  ``/proc``, and a network namespace whose loopback is down;
- no capabilities: the bounding set emptied and ``SECBIT_NOROOT`` locked, so
  that running a program as root inside the user namespace cannot regain
  them, and ``no_new_privs``.

Only the zygote and the job's init hold ``CAP_SYS_ADMIN`` (inside bwrap's
user namespace); neither runs student code, and neither is dumpable, so a
job cannot attach to them.

Run as ``python -m grader._isolation`` inside bwrap, this module checks that
all of the above works there and prints the outcome as JSON (the backend's
self-test).
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
import tempfile

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000

_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_SECUREBITS = 28
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
# SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_NO_CAP_AMBIENT_RAISE, each
# with its lock bit.
_SECUREBITS = 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80
_CAPABILITY_VERSION_3 = 0x20080522

#: Size of the empty tmpfs laid over a hidden folder: it only holds mount points.
_COVER_BYTES = 1024 * 1024
#: Parts of /proc a job may read but never write, as bwrap protects them.
_PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(),
                       fstype and fstype.encode(), ctypes.c_ulong(flags),
                       data and data.encode()),
           f"mount {fstype or source or ''} on {target}")


def _prctl(option: int, argument: int, what: str) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(argument), 0, 0, 0), what)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def set_dumpable(dumpable: bool) -> None:
    """A process that is not dumpable cannot be attached to by its peers."""
    _prctl(_PR_SET_DUMPABLE, int(dumpable), "prctl(PR_SET_DUMPABLE)")


class PidNamespaces:
    """Forks children that each start a PID namespace of their own.

    ``unshare(CLONE_NEWPID)`` only affects the children forked afterwards, so
    the forking process returns to its own namespace after every fork.
    """

    def __init__(self) -> None:
        self.own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def fork(self) -> int:
        unshare(CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            self._restore()
            raise
        if pid:
            self._restore()
        else:
            os.close(self.own)
        return pid

    def _restore(self) -> None:
        _check(_libc.setns(self.own, CLONE_NEWPID), "setns back to our PID namespace")


def _tmpfs(target: str, size: int, mode: int) -> None:
    _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={size},mode={mode:o}")


def _remount(target: str, read_only: bool) -> None:
    flags = _MS_BIND | _MS_REMOUNT | _MS_NOSUID | _MS_NODEV
    _mount(None, target, None, flags | (_MS_RDONLY if read_only else 0))


def enter_job_view(view: dict) -> None:
    """Leave only the job's folders visible, in new mount and network namespaces.

    ``view`` holds ``cover`` (folders to hide entirely), ``reveal`` (pairs of a
    folder and whether it is writable, shown again inside the covers), ``keep``
    (folders of the interpreter that the job's fresh ``/tmp`` would hide) and
    ``tmp_bytes`` (size of the job's own ``/tmp`` and ``/dev/shm``). Must run
    as the init of the job's PID namespace, which the fresh ``/proc`` shows.
    """
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    # Nothing mounted here may reach the zygote's namespace, or the host's.
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    # Opened before anything is covered: mounting these back needs no path.
    kept = [(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), path, writable)
            for path, writable in view["reveal"]]
    system = [(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), path)
              for path in view.get("keep", ())]
    _tmpfs("/tmp", view["tmp_bytes"], 0o1777)
    _tmpfs("/dev/shm", view["tmp_bytes"], 0o1777)
    # The interpreter, should it live in /tmp, as it is in the sandbox, with
    # whatever the sandbox hides inside it still hidden.
    for fd, path in system:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC)
        os.close(fd)
    covered = []
    for folder in sorted(view["cover"], key=len):
        # A folder already under a cover (or under the fresh /tmp) is hidden.
        if os.path.isdir(folder):
            _tmpfs(folder, _COVER_BYTES, 0o755)
            covered.append(folder)
    for _, path, _ in kept:
        os.makedirs(path, exist_ok=True)
    for folder in covered:
        _remount(folder, read_only=True)
    for fd, path, writable in kept:
        _mount(f"/proc/self/fd/{fd}", path, None, _MS_BIND)
        _remount(path, read_only=not writable)
        os.close(fd)
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    for name in _PROC_READ_ONLY:
        path = f"/proc/{name}"
        if os.path.exists(path):
            _mount(path, path, None, _MS_BIND)
            _remount(path, read_only=True)


def drop_privileges() -> None:
    """Give up every capability for good, for this process and what it runs."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for capability in range(last + 1):
        _prctl(_PR_CAPBSET_DROP, capability, f"drop capability {capability}")
    _prctl(_PR_SET_SECUREBITS, _SECUREBITS, "prctl(PR_SET_SECUREBITS)")
    _check(_libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0),
           "clear ambient capabilities")
    empty = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(_CAPABILITY_VERSION_3, 0)), empty),
           "capset")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")
    # Dumpable again: with no capabilities left, only its own children could
    # attach to it, and Python reads /proc/self/fd.
    set_dumpable(True)


def wait_as_init(job: int) -> int:
    """Reap every child until ``job`` ends; return its wait status."""
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == job:
            return status


def effective_capabilities() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return -1


def network_reachable(address: str) -> bool:
    """Whether a TCP connection to ``address`` port 80 gets anywhere at all."""
    try:
        with socket.create_connection((address, 80), timeout=2):
            return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


# -- self-test ----------------------------------------------------------------


def _job_side(hidden: str) -> str:
    """What the forked job finds wrong with its view; empty when nothing is."""
    problems = []
    if os.path.exists(hidden):
        problems.append(f"a covered file is visible ({hidden})")
    if effective_capabilities() != 0:
        problems.append("capabilities were not dropped")
    for address in ("127.0.0.1", "192.0.2.1"):
        if network_reachable(address):
            problems.append(f"the network reaches {address}")
    if sorted(p for p in os.listdir("/proc") if p.isdigit()) != ["1", "2"]:
        problems.append("the job's PID namespace shows other processes")
    return "; ".join(problems)


def self_test(folder: str) -> dict:
    """Exercise what a warm job goes through, in ``folder``; runs in the sandbox.

    ``folder`` is a writable folder outside ``/tmp``, which every job covers
    anyway, so that covering one folder of the run is exercised too.
    """
    if network_reachable("192.0.2.1"):
        return {"ok": False, "problem": "the sandbox reaches the network"}
    root = tempfile.mkdtemp(prefix="self-test-", dir=folder)
    hidden = os.path.join(root, "other", "secret")
    own = os.path.join(root, "own")
    os.makedirs(os.path.dirname(hidden))
    os.makedirs(own)
    open(hidden, "w").close()
    report_read, report_write = os.pipe()
    set_dumpable(False)
    pid = PidNamespaces().fork()
    if pid == 0:
        code = 1
        try:
            os.close(report_read)
            enter_job_view({"cover": [root], "reveal": [[own, True]],
                            "tmp_bytes": 1024 * 1024})
            job = os.fork()
            if job == 0:
                drop_privileges()
                os.write(report_write, _job_side(hidden).encode())
                os._exit(0)
            code = 0 if wait_as_init(job) == 0 else 1
        except BaseException as error:
            os.write(report_write, f"setting up the job failed: {error}".encode())
        finally:
            os._exit(code)
    os.close(report_write)
    with os.fdopen(report_read, "rb") as report:
        problem = report.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if not problem and status != 0:
        problem = f"the test job ended with wait status {status}"
    return {"ok": not problem, "problem": problem}


if __name__ == "__main__":
    try:
        outcome = self_test(sys.argv[1] if len(sys.argv) > 1 else "/tmp")
    except OSError as error:
        outcome = {"ok": False, "problem": str(error)}
    print(json.dumps(outcome))
    sys.exit(0 if outcome["ok"] else 1)
