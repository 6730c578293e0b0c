"""GPUs for jobs: which devices there are, who gets which, and how much memory.

    DeviceLayer           what the grader asks of the GPUs (a protocol)
    ├── NvmlDeviceLayer   NVIDIA's management library, through nvidia-ml-py
    └── NoDeviceLayer     no NVML, no driver, or NVML failed: no devices
    select_gpus           the devices ``--gpus`` names
    GpuPool               hands each running job one device, the least busy
    MemoryWatchdog        flags a job whose processes hold too much device memory
    configure_job_gpus    in the job, before student code: TensorFlow's settings

A job with a device sees only that device: ``CUDA_VISIBLE_DEVICES`` holds its
UUID, so CUDA's numbering (fastest first) and NVML's (PCI order) cannot
disagree about which one it is. A job without one gets an empty
``CUDA_VISIBLE_DEVICES``, as every job did before GPUs were handed out. GPU
time needs no limit of its own: the wall-clock limit kills the job, and
with it everything it runs on the device.

Nothing here ran on a GPU where it was written: the tests stand a simulated
device layer in for NVML (see ``docs/sandbox.md``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil

from grader._errors import UsageError

logger = logging.getLogger(__name__)

GPU_CHOICES_HELP = "auto, none, or GPU indices separated by commas such as 0,2"
#: How to get NVML's Python bindings, for messages.
INSTALL_NVML = "pip install 'nngrade[gpu]' (the nvidia-ml-py package)"
#: The job's GPU memory cap in MiB, from the parent to the child.
MEMORY_ENV = "NNGRADE_GPU_MEMORY_MB"
#: Of a job's GPU memory cap, what TensorFlow's allocator may not take: the
#: CUDA context and the libraries' workspaces live outside the allocator, yet
#: NVML counts them against the job. Not measured on real hardware.
CONTEXT_RESERVE_MB = 512
#: The smallest cap a spec may set: the reserve, and as much again for tensors.
MIN_GPU_MEMORY_MB = 2 * CONTEXT_RESERVE_MB
_WATCH_SECONDS = 0.25


class DeviceLayerError(Exception):
    """The device layer could not answer (NVML failed, a device vanished)."""


@dataclass(frozen=True)
class Device:
    """One GPU as NVML numbers and names it."""

    #: NVML's index, the one ``--gpus`` takes (PCI bus order).
    index: int
    #: "GPU-..." for NVIDIA devices; what the job's CUDA_VISIBLE_DEVICES holds.
    uuid: str
    name: str
    total_bytes: int
    #: N of /dev/nvidiaN, for sandboxes that must show the device node.
    minor: int | None = None

    def describe(self) -> str:
        return f"GPU {self.index}: {self.name} ({self.uuid})"


class DeviceLayer(Protocol):
    """What the grader needs to know about the machine's GPUs."""

    def devices(self) -> list[Device]:
        """Every GPU there is, in index order."""
        ...

    def memory_used(self, uuid: str, pids: Collection[int]) -> int:
        """Bytes of the device's memory held by any of ``pids``."""
        ...


class NoDeviceLayer:
    """A machine where no GPU can be used; ``reason`` says why."""

    def __init__(self, reason: str):
        self.reason = reason

    def devices(self) -> list[Device]:
        return []

    def memory_used(self, uuid: str, pids: Collection[int]) -> int:
        return 0


def _text(value: str | bytes) -> str:
    # Older bindings answer bytes, newer ones str.
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class NvmlDeviceLayer:
    """The GPUs as NVML (``pynvml``, from nvidia-ml-py) sees them."""

    def __init__(self, nvml: Any):
        self.nvml = nvml
        self._warned_unreported = False

    def devices(self) -> list[Device]:
        nvml = self.nvml
        found = []
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                found.append(Device(
                    index=index, uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    total_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                    minor=self._minor(handle)))
        except nvml.NVMLError as error:
            raise DeviceLayerError(f"NVML could not list the GPUs: {error}") from None
        return found

    def _minor(self, handle: Any) -> int | None:
        try:
            return int(self.nvml.nvmlDeviceGetMinorNumber(handle))
        except self.nvml.NVMLError:
            return None

    def memory_used(self, uuid: str, pids: Collection[int]) -> int:
        nvml = self.nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByUUID(uuid)
            processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except nvml.NVMLError as error:
            raise DeviceLayerError(f"NVML could not read {uuid}: {error}") from None
        used = 0
        for process in processes:
            if process.pid not in pids:
                continue
            if process.usedGpuMemory is None:
                self._warn_unreported()
                continue
            used += int(process.usedGpuMemory)
        return used

    def _warn_unreported(self) -> None:
        if not self._warned_unreported:
            self._warned_unreported = True
            logger.warning("NVML does not report how much memory each process holds "
                           "on this machine, so the GPU memory watchdog sees none")


def open_nvml() -> DeviceLayer:
    """NVML when it is installed and its driver answers; else no devices."""
    try:
        import pynvml
    except ImportError:
        return NoDeviceLayer(f"NVML's Python bindings are not installed; "
                             f"{INSTALL_NVML}")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return NoDeviceLayer(f"NVML did not start ({error}): no NVIDIA driver here")
    return NvmlDeviceLayer(pynvml)


_layer: DeviceLayer | None = None
_layer_lock = threading.Lock()


def device_layer() -> DeviceLayer:
    """The device layer every part of the grader asks, opened on first use."""
    global _layer
    with _layer_lock:
        if _layer is None:
            _layer = open_nvml()
            if isinstance(_layer, NoDeviceLayer):
                logger.info("no GPUs: %s", _layer.reason)
        return _layer


def use_device_layer(layer: DeviceLayer | None) -> None:
    """Make ``layer`` the one the grader asks; None opens NVML again on next use."""
    global _layer
    with _layer_lock:
        _layer = layer


# -- choosing and handing out devices ------------------------------------------


def select_gpus(flag: str, layer: DeviceLayer | None = None) -> list[Device]:
    """The devices ``--gpus FLAG`` names: ``auto`` (all), ``none``, or ``0,2``.

    Raises:
        UsageError: for a flag that is none of these, or an index no GPU has.
    """
    layer = layer if layer is not None else device_layer()
    flag = flag.strip()
    if flag == "none":
        return []
    indices = None if flag == "auto" else _indices(flag)
    try:
        devices = layer.devices()
    except DeviceLayerError as error:
        if flag == "auto":
            logger.warning("grading without GPUs: %s", error)
            return []
        raise UsageError(f"--gpus {flag}: {error}. Pass --gpus none to grade on "
                         "the CPU") from None
    if indices is None:
        return devices
    by_index = {device.index: device for device in devices}
    missing = [index for index in indices if index not in by_index]
    if missing:
        raise UsageError(f"--gpus {flag}: there is no GPU {missing[0]} here; "
                         f"{_what_there_is(devices, layer)}")
    return [by_index[index] for index in indices]


def _indices(flag: str) -> list[int]:
    try:
        indices = [int(part) for part in flag.split(",")]
    except ValueError:
        raise UsageError(f"--gpus must be {GPU_CHOICES_HELP}; got {flag!r}") from None
    if any(index < 0 for index in indices):
        raise UsageError(f"--gpus takes indices from 0 up; got {flag!r}")
    repeated = sorted({index for index in indices if indices.count(index) > 1})
    if repeated:
        raise UsageError(f"--gpus {flag} names GPU {repeated[0]} more than once; "
                         "name each GPU once")
    return indices


def _what_there_is(devices: list[Device], layer: DeviceLayer) -> str:
    if devices:
        listed = ", ".join(f"{device.index} ({device.name})" for device in devices)
        return f"the GPUs here are {listed}"
    if isinstance(layer, NoDeviceLayer):
        return f"no GPU can be used here: {layer.reason}. Pass --gpus none"
    return "NVML lists no GPU here. Pass --gpus none"


class GpuPool:
    """Hands each running job one of ``devices``, or None when there are none.

    A job gets the device running the fewest jobs, and of those the one
    handed out longest ago, so N devices take turns and share the load
    evenly: with no more jobs at once than devices, no two jobs ever share
    one; with more, each device runs at most ceil(jobs / devices).
    """

    def __init__(self, devices: Sequence[Device] = ()):
        self.devices = list(devices)
        self._lock = threading.Lock()
        self._running = {device.uuid: 0 for device in self.devices}
        self._handed_out = {device.uuid: -1 for device in self.devices}
        self._turns = itertools.count()

    def running(self) -> dict[str, int]:
        """How many jobs each device runs now, by UUID."""
        with self._lock:
            return dict(self._running)

    @contextlib.contextmanager
    def lease(self) -> Iterator[Device | None]:
        """A device for one job, given back when the job ends, however it ends."""
        device = self._take()
        try:
            yield device
        finally:
            if device is not None:
                with self._lock:
                    self._running[device.uuid] -= 1

    def _take(self) -> Device | None:
        if not self.devices:
            return None
        with self._lock:
            device = min(self.devices, key=lambda d: (self._running[d.uuid],
                                                      self._handed_out[d.uuid]))
            self._running[device.uuid] += 1
            self._handed_out[device.uuid] = next(self._turns)
        return device


def job_environment(device: str, memory_mb: int) -> dict[str, str]:
    """What a job's environment says about its GPU: the device, and its cap."""
    if not device:
        return {"CUDA_VISIBLE_DEVICES": ""}
    environment = {"CUDA_VISIBLE_DEVICES": device,
                   # TensorFlow ignores set_memory_growth on a device given a
                   # memory limit; its allocator still reads this variable.
                   "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    if memory_mb:
        environment[MEMORY_ENV] = str(memory_mb)
    return environment


# -- watching a job's device memory ---------------------------------------------


def job_processes(pid: int) -> set[int]:
    """The job's process and all its descendants, while they live."""
    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


def _namespace_pids(pid: int) -> list[int]:
    """The pid of ``pid`` in each PID namespace it lives in, outermost first."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return []
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return [int(field) for field in line.split()[1:]]
    return []


def host_pid(ancestor: int, namespace_pid: int) -> int | None:
    """The pid here of ``namespace_pid``, a pid in the PID namespace that
    ``ancestor`` (a bwrap started from here) made for its child."""
    try:
        descendants = psutil.Process(ancestor).children(recursive=True)
    except psutil.Error:
        return None
    for process in descendants:
        pids = _namespace_pids(process.pid)
        if len(pids) >= 2 and pids[1] == namespace_pid:
            return process.pid
    return None


class MemoryWatchdog(threading.Thread):
    """Polls the memory a job's processes hold on its device; flags the excess.

    The watchdog only sets ``exceeded``: whoever runs the job stops it, the
    way it stops a job at the wall-clock limit.
    """

    def __init__(self, layer: DeviceLayer, uuid: str, limit_bytes: int, pid: int,
                 interval: float = _WATCH_SECONDS):
        super().__init__(daemon=True, name=f"gpu-watchdog-{pid}")
        self.layer = layer
        self.uuid = uuid
        self.limit_bytes = limit_bytes
        self.pid = pid
        self.interval = interval
        self.exceeded = threading.Event()
        #: The most device memory the job was seen to hold, in bytes.
        self.peak_bytes = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        failed = False
        while not self._stopped.wait(self.interval):
            pids = job_processes(self.pid)
            if not pids:
                return  # the job has ended
            try:
                used = self.layer.memory_used(self.uuid, pids)
            except DeviceLayerError as error:
                if not failed:
                    logger.warning("the GPU memory watchdog of job %d cannot see "
                                   "its device: %s", self.pid, error)
                failed = True
                continue
            self.peak_bytes = max(self.peak_bytes, used)
            if used > self.limit_bytes:
                logger.info("job %d holds %d bytes on %s, over its %d",
                            self.pid, used, self.uuid, self.limit_bytes)
                self.exceeded.set()
                return

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=5)


class JobGpuWatch:
    """The GPU side of one job's run: its watchdog, when it has a device and a cap.

    ``start`` takes the job's pid as this machine numbers it. Without a
    device, a cap or a pid it watches nothing and never asks for a stop.
    """

    def __init__(self, device: str, memory_mb: int):
        self.device = device
        self.memory_mb = memory_mb
        self.watchdog: MemoryWatchdog | None = None

    def caps_memory(self) -> bool:
        return bool(self.device and self.memory_mb)

    def start(self, pid: int | None) -> None:
        if not self.caps_memory():
            return
        if pid is None:
            logger.warning("no GPU memory watchdog for a job on %s: its process "
                           "could not be found", self.device)
            return
        self.watchdog = MemoryWatchdog(device_layer(), self.device,
                                       self.memory_mb * 1024 * 1024, pid)
        self.watchdog.start()

    def exceeded(self) -> bool:
        return self.watchdog is not None and self.watchdog.exceeded.is_set()

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()


# -- in the job, before student code ------------------------------------------


@dataclass(frozen=True)
class GpuSetting:
    """What TensorFlow is told about one GPU before the job's code runs."""

    device: Any
    #: TensorFlow's allocator limit in MiB, or None for no limit.
    memory_limit_mb: int | None


def gpu_settings(gpus: Sequence[Any], memory_mb: int) -> list[GpuSetting]:
    """Memory growth for every GPU, and the allocator's share of the cap."""
    limit = memory_mb - CONTEXT_RESERVE_MB if memory_mb else None
    return [GpuSetting(gpu, limit) for gpu in gpus]


def apply_gpu_settings(settings: Sequence[GpuSetting], config: Any) -> None:
    """Tell TensorFlow (``tf.config``) the settings; no operation runs."""
    for setting in settings:
        # Growth first: TensorFlow refuses it on a device already given a
        # logical configuration.
        config.experimental.set_memory_growth(setting.device, True)
        if setting.memory_limit_mb is not None:
            config.set_logical_device_configuration(
                setting.device,
                [config.LogicalDeviceConfiguration(
                    memory_limit=setting.memory_limit_mb)])


def configure_job_gpus(environ: Mapping[str, str]) -> list[str]:
    """In the job, before student code: TensorFlow's settings for its GPU.

    Does nothing, and imports nothing, for a job without a device. Listing
    the devices starts CUDA, which from then on ignores changes to
    ``CUDA_VISIBLE_DEVICES``: student code cannot widen its view later.
    Returns the names of the GPUs configured.
    """
    device = environ.get("CUDA_VISIBLE_DEVICES", "")
    if not device:
        return []
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print(f"nngrade: this job was given GPU {device}, but TensorFlow sees no "
              "GPU; it runs on the CPU", file=sys.stderr)
        return []
    memory_mb = int(environ.get(MEMORY_ENV, "0") or 0)
    apply_gpu_settings(gpu_settings(gpus, memory_mb), tf.config)
    return [gpu.name for gpu in gpus]


def device_nodes(devices: Sequence[Device]) -> list[str]:
    """The /dev entries a sandbox must show for CUDA to reach ``devices``."""
    if not devices:
        return []
    nodes = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    nodes += [f"/dev/nvidia{device.minor}" for device in devices
              if device.minor is not None]
    return nodes
