"""The ``docker`` backend: each job in a container of its own.

A job's container has no network, a read-only root, a size-capped ``/tmp``,
memory, CPU and process-count limits, no capabilities, and an unprivileged
user where the grader runs as root. It shows the job's own folder
(writable), its submission and its data (read-only), nothing else of the
host's files but what the image needs to run Python. Containers are named,
so that one past its wall-clock limit is killed by name: killing a client
leaves its container running.

Two kinds of image:

    an instructor's image    built from the ``Dockerfile`` at the top of the
                             repository, with Python, TensorFlow and the grader
                             inside (``--docker-image NAME``)
    the host's interpreter   no image given: a tiny image made here with
                             ``docker import`` (no registry needed), with the
                             grader's interpreter and system libraries
                             bind-mounted read-only, as bwrap shows them

There is no warm start in a container: each job imports TensorFlow anew.
The student's stdout and stderr come over the container's attach stream;
results come over a named pipe in the job's folder, read by the parent as the
other backends read their results pipe.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

from grader import _backends
from grader._errors import UsageError
from grader._limits import Limits
from grader._sandbox import Backend, View, child_environment, job_view
from grader._watch import ChildRun, JobWatch, failed_start

logger = logging.getLogger(__name__)

#: The image made here when no instructor's image is given.
HOST_IMAGE = "nngrade-host-interpreter:1"
#: Every container of ours carries this label, so leftovers can be found.
LABEL = "nngrade.job"
#: Only the grader's uid can be trusted with the job's folder as root does;
#: jobs of a grader running as root get ``nobody``.
NOBODY = 65534
_POLL_SECONDS = 0.05
_SELF_TEST_SECONDS = 60
_STOP_GRACE_SECONDS = 30


def connect(base_url: str | None = None):
    """A client of the Docker engine (``DOCKER_HOST``, else the default socket).

    A ``UsageError`` when the SDK is missing or no engine answers.
    """
    try:
        import docker
    except ImportError:
        raise UsageError("--sandbox docker needs the docker Python package: "
                         "pip install docker") from None
    try:
        client = (docker.DockerClient(base_url=base_url) if base_url
                  else docker.from_env())
        client.ping()
    except docker.errors.DockerException as error:
        where = base_url or os.environ.get("DOCKER_HOST", "the default socket")
        raise UsageError(f"no Docker engine answers at {where} ({error}). Start "
                         "one, or set DOCKER_HOST to where it listens") from None
    return client


def host_image_tar() -> bytes:
    """A root file system with nothing in it but mount points and links.

    ``/bin``, ``/lib`` and the like follow the host's layout, so that the
    host's ``/usr`` mounted over the empty one brings them all. ``/sbin``
    stays a folder: Docker mounts its init there.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        def add(name: str, kind: bytes, target: str = "") -> None:
            entry = tarfile.TarInfo(name)
            entry.type = kind
            entry.mode = 0o1777 if name == "tmp" else 0o755
            entry.linkname = target
            archive.addfile(entry)

        for folder in ("proc", "dev", "sys", "tmp", "etc", "usr", "sbin", "run"):
            add(folder, tarfile.DIRTYPE)
        for folder in _backends._SYSTEM_DIRS:
            name = folder.lstrip("/")
            if name == "sbin" or not os.path.lexists(folder):
                continue
            if os.path.islink(folder):
                add(name, tarfile.SYMTYPE, os.readlink(folder))
            elif name != "usr":
                add(name, tarfile.DIRTYPE)
    return buffer.getvalue()


class _AttachPump(threading.Thread):
    """Splits a container's attach stream onto two pipes, stdout and stderr.

    The pipes are read as every backend reads its child's output, caps and
    all; a pipe whose reader is slow holds the stream back, never loses it.
    """

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.stdout_read, self.stdout_write = os.pipe()
        self.stderr_read, self.stderr_write = os.pipe()

    def run(self) -> None:
        try:
            for out, err in self.stream:
                if out:
                    os.write(self.stdout_write, out)
                if err:
                    os.write(self.stderr_write, err)
        except Exception as error:  # the engine closed the connection
            logger.debug("attach stream ended: %s", error)
        finally:
            os.close(self.stdout_write)
            os.close(self.stderr_write)


class _ResultsPipe:
    """A named pipe in the job's folder: the container writes, we read.

    We hold a write end open ourselves until the job is over, so the reader
    sees no end before the job has even opened its end, and sees the end
    once the job is gone and we let go.
    """

    def __init__(self, job_dir: Path, owner: int | None):
        self.path = job_dir / "results.fifo"
        self.path.unlink(missing_ok=True)
        os.mkfifo(self.path, 0o600)
        if owner is not None:
            os.chown(self.path, owner, owner)
        self.read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.held_write_fd = os.open(self.path, os.O_WRONLY)
        os.set_blocking(self.read_fd, True)

    def reader(self):
        return os.fdopen(self.read_fd, "rb")

    def let_go(self) -> None:
        if self.held_write_fd >= 0:
            os.close(self.held_write_fd)
            self.held_write_fd = -1
        self.path.unlink(missing_ok=True)


class _Usage:
    """CPU time and peak memory of a container, read from its cgroup as it runs.

    The cgroup goes with the container, so the last reading before the end
    is what the result gets: a job's last ``_POLL_SECONDS`` may be missing.
    """

    def __init__(self, pid: int):
        self.cpu_s = 0.0
        self.peak_bytes = 0
        #: Forks the pids limit refused.
        self.processes_refused = 0
        self.files = self._files(pid)

    @staticmethod
    def _files(pid: int) -> dict[str, Path]:
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return {}
        found = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                root = Path("/sys/fs/cgroup") / controller if controller else Path(
                    "/sys/fs/cgroup")
                folder = root / path.lstrip("/")
                for key, name in (("cpu_ns", "cpuacct.usage"),
                                  ("peak", "memory.max_usage_in_bytes"),
                                  ("cpu_stat", "cpu.stat"), ("peak", "memory.peak"),
                                  ("pids_events", "pids.events")):
                    if (folder / name).exists():
                        found.setdefault(key, folder / name)
        return found

    def read(self) -> None:
        try:
            if "cpu_ns" in self.files:
                self.cpu_s = int(self.files["cpu_ns"].read_text()) / 1e9
            elif "cpu_stat" in self.files:
                for line in self.files["cpu_stat"].read_text().splitlines():
                    if line.startswith("usage_usec "):
                        self.cpu_s = int(line.split()[1]) / 1e6
            if "peak" in self.files:
                self.peak_bytes = max(self.peak_bytes,
                                      int(self.files["peak"].read_text()))
            if "pids_events" in self.files:
                for line in self.files["pids_events"].read_text().splitlines():
                    if line.startswith("max "):
                        self.processes_refused = int(line.split()[1])
        except (OSError, ValueError):
            pass  # the container is gone; the last reading stands


def _wait_status(exit_code: int) -> int:
    """A wait status from a container's exit code (``128 + n``: signal n).

    Docker's init reports a child killed by a signal as ``128 + n``, as a
    shell does; a submission that calls ``sys.exit(137)`` reads the same.
    """
    if 128 < exit_code < 128 + 65:
        return exit_code - 128
    return (exit_code & 0xFF) << 8


class DockerBackend(Backend):
    """Each job in a container: no network, only its own folders, cgroup limits."""

    name = "docker"
    isolating = True

    def __init__(self, client, image: str | None = None):
        self.client = client
        #: The instructor's image, or None for the host's interpreter.
        self.image = image
        self.system = [] if image else _backends.interpreter_paths()
        self.hidden = [] if image else _backends.hidden_paths()
        self._image_ready = False
        self._image_lock = threading.Lock()

    def describe(self) -> str:
        where = (f"image {self.image}" if self.image
                 else "the host's interpreter, mounted read-only")
        return (f"docker ({where}): no network, only the job's own folders, "
                "memory, CPU and process-count limits, no warm start")

    def unenforced(self) -> list[str]:
        # The engine holds a container's limits, whatever the host's system.
        return []

    def ensure_image(self) -> str:
        """The image jobs run in; the host-interpreter image is made on first use."""
        import docker

        with self._image_lock:
            if self._image_ready:
                return self.image or HOST_IMAGE
            name = self.image or HOST_IMAGE
            try:
                self.client.images.get(name)
            except docker.errors.ImageNotFound:
                if self.image:
                    raise UsageError(
                        f"there is no Docker image {self.image!r} here; build it "
                        "from the Dockerfile at the top of the nngrade repository "
                        f"(docker build -t {self.image} .)") from None
                repository, tag = HOST_IMAGE.split(":")
                self.client.api.import_image_from_data(
                    host_image_tar(), repository=repository, tag=tag)
                logger.info("made the Docker image %s", HOST_IMAGE)
            self._image_ready = True
            return name

    def mounts(self, view: View) -> tuple[list, dict[str, str]]:
        """The bind mounts and tmpfs mounts of a container showing ``view``."""
        from docker.types import Mount

        mounts = []

        def bind(path, read_only: bool) -> None:
            mounts.append(Mount(str(path), str(path), type="bind",
                                read_only=read_only))

        if not self.image:
            for folder in _backends._SYSTEM_DIRS:
                if os.path.isdir(folder) and not os.path.islink(folder) \
                        and folder != "/sbin":
                    bind(folder, True)
            for entry in _backends._ETC_ENTRIES:
                if os.path.exists(f"/etc/{entry}"):
                    bind(f"/etc/{entry}", True)
            for path in self.system:
                bind(path, True)
        for path in view.writable:
            bind(path, False)
        for path in view.read_only:
            bind(path, True)
        tmpfs = {"/tmp": "size=64m,mode=1777"}
        shown = [*self.system, *view.writable, *view.read_only]
        for hidden in self.hidden:
            if any(_backends._inside(hidden, folder) for folder in shown):
                tmpfs[str(hidden)] = "size=1m,mode=0555"
        return mounts, tmpfs

    def container_settings(self, job_dir: Path, limits: Limits, seed: int,
                           user: int | None) -> dict:
        """What ``containers.create`` is given for one job (tests read it too)."""
        from docker.types import LogConfig, Ulimit

        view = job_view(job_dir)
        work_dir = job_dir / "work"
        environment = child_environment(work_dir, limits, seed)
        python = "python3" if self.image else sys.executable
        if self.image:
            # The image's interpreter and its packages, not the host's.
            environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
            del environment["PYTHONPATH"]
        mounts, tmpfs = self.mounts(view)
        cpu = max(1, int(limits.cpu_seconds))
        settings = {
            "command": ["/bin/sh", "-c",
                        'exec "$0" -m grader._child "$1" 3 3>"$2"',
                        python, str(job_dir), str(job_dir / "results.fifo")],
            "name": f"nngrade-{uuid.uuid4().hex[:12]}",
            "labels": {LABEL: str(job_dir)},
            "environment": environment,
            "working_dir": str(work_dir),
            "mounts": mounts,
            "tmpfs": tmpfs,
            "network_mode": "none",
            "read_only": True,
            "init": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": limits.group_memory_bytes,
            "memswap_limit": limits.group_memory_bytes,
            "pids_limit": limits.processes,
            "nano_cpus": int(max(1, limits.cpu_threads) * 1e9),
            "ulimits": [Ulimit(name="cpu", soft=cpu, hard=cpu + 5),
                        Ulimit(name="fsize", soft=limits.file_bytes,
                               hard=limits.file_bytes),
                        Ulimit(name="data", soft=limits.memory_bytes,
                               hard=limits.memory_bytes),
                        Ulimit(name="core", soft=0, hard=0)],
            # Output comes over the attach stream, capped there; the engine
            # keeps no copy of a flood on its disk.
            "log_config": LogConfig(type="none"),
            "stdin_open": False,
            "detach": True,
        }
        if user is not None:
            settings["user"] = f"{user}:{user}"
        return settings

    def start_zygote(self, work_root: Path, view: View, keras: str = "3"):
        return None

    def run_cold(self, job_dir: Path, limits: Limits, seed: int) -> ChildRun:
        import docker

        job_dir = job_dir.resolve()
        (job_dir / "work").mkdir(exist_ok=True)
        user = NOBODY if os.getuid() == 0 else None
        try:
            image = self.ensure_image()
            if user is not None:
                _hand_over(job_dir, user)
            settings = self.container_settings(job_dir, limits, seed, user)
            results = _ResultsPipe(job_dir, user)
        except (docker.errors.DockerException, UsageError, OSError) as error:
            logger.error("could not prepare the container of %s: %s", job_dir, error)
            return failed_start(f"its container could not be prepared: {error}",
                                self.name)
        container = None
        try:
            try:
                container = self.client.containers.create(image, **settings)
                pump = _AttachPump(container.attach(stdout=True, stderr=True,
                                                    stream=True, demux=True))
                container.start()
            except docker.errors.DockerException as error:
                logger.error("the container of %s did not start: %s", job_dir, error)
                return failed_start("its container did not start", self.name)
            pump.start()
            return self._watch(container, pump, results, limits)
        finally:
            results.let_go()
            if container is not None:
                try:
                    container.remove(force=True)
                except docker.errors.DockerException as error:
                    logger.warning("could not remove container %s: %s",
                                   settings["name"], error)

    def _watch(self, container, pump: _AttachPump, results: _ResultsPipe,
               limits: Limits) -> ChildRun:
        import docker

        watch = JobWatch(os.fdopen(pump.stdout_read, "rb"),
                         os.fdopen(pump.stderr_read, "rb"), results.reader(), limits)
        container.reload()
        usage = _Usage(container.attrs["State"].get("Pid", 0))
        timed_out = False
        state = container.attrs["State"]
        while state.get("Running"):
            usage.read()
            if watch.should_stop():
                timed_out = not watch.overflow.is_set()
                container.kill()
                container.wait(timeout=_STOP_GRACE_SECONDS)
            time.sleep(_POLL_SECONDS)
            try:
                container.reload()
            except docker.errors.NotFound:
                break
            state = container.attrs["State"]
        results.let_go()
        pump.join(timeout=5)
        run = watch.finish(_wait_status(state.get("ExitCode", 0)), usage.cpu_s,
                           usage.peak_bytes, timed_out, "cold", self.name)
        run.memory_cgroup_killed = bool(state.get("OOMKilled"))
        run.processes_refused = usage.processes_refused
        return run

    def self_test(self) -> str:
        """Run a container as a job would; return what is wrong, or ''."""
        import docker

        try:
            image = self.ensure_image()
            python = "python3" if self.image else sys.executable
            mounts, tmpfs = self.mounts(View())
            output = self.client.containers.run(
                image, [python, "-c", _SELF_TEST_PROGRAM], remove=True,
                network_mode="none", read_only=True, mounts=mounts, tmpfs=tmpfs,
                cap_drop=["ALL"], security_opt=["no-new-privileges"],
                user=f"{NOBODY}:{NOBODY}", environment={"PYTHONPATH": str(
                    Path(__file__).resolve().parent.parent)} if not self.image else {})
        except (docker.errors.DockerException, UsageError) as error:
            return f"a test container failed: {str(error)[-500:]}"
        return "" if b"ok" in output else f"a test container said {output[-300:]!r}"


_SELF_TEST_PROGRAM = """
import socket
import grader
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    print("network reachable")
except OSError:
    print("ok")
"""


def _hand_over(job_dir: Path, user: int) -> None:
    """Give the job's scratch folder to the container's user.

    The rest of the job's folder (its settings and inputs) stays the
    grader's, readable and not writable from inside.
    """
    for folder, _, files in os.walk(job_dir / "work"):
        os.chown(folder, user, user)
        for name in files:
            path = os.path.join(folder, name)
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                os.chown(path, user, user)
