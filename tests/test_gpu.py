"""GPUs for jobs, with the device layer simulated.

No GPU was present where these tests were written: a simulated device layer
stands in for NVML, and TensorFlow's GPU calls are checked through what the
grader decides to ask of them. The jobs here are real child processes, and
the watchdog stops them as it would on a GPU.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import types
from collections import namedtuple
from contextlib import ExitStack
from pathlib import Path

import pytest

from conftest import (CORRECT_STEPS, grade_with_spec, numpy_only_spec,
                      pids_alive, write_student,
                      skip_unless_required)
from grader import _gpu
from grader._cli import main
from grader._errors import UsageError
from grader._gpu import (CONTEXT_RESERVE_MB, Device, GpuPool, MemoryWatchdog,
                         NoDeviceLayer, NvmlDeviceLayer, apply_gpu_settings,
                         gpu_settings, host_pid, open_nvml, select_gpus,
                         use_device_layer)
from grader._grading import ClassGrader
from grader._jobs import JobOutcome
from grader._limits import MIB, Limits
from grader._records import StepRecord
from grader._report import render_report
from grader._resources import bundled_datasets_dir
from grader._result import Result
from grader._sandbox import child_environment
from grader._watch import ChildRun
from grader._spec import load_spec
from grader._verdicts import decide_verdict

GIB = 1024 * MIB


class SimulatedDeviceLayer:
    """Two GPUs that exist only here; tests say how much memory each pid holds."""

    def __init__(self, count: int = 2):
        self._devices = [Device(index, f"GPU-sim-{index}", "Simulated GPU",
                                16 * GIB, minor=index) for index in range(count)]
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int], int] = {}
        self.queries = 0

    def devices(self) -> list[Device]:
        return list(self._devices)

    def hold(self, uuid: str, pid: int, nbytes: int) -> None:
        with self._lock:
            self._held[uuid, pid] = nbytes

    def memory_used(self, uuid: str, pids) -> int:
        with self._lock:
            self.queries += 1
            return sum(nbytes for (held_on, pid), nbytes in self._held.items()
                       if held_on == uuid and pid in pids)


@pytest.fixture
def layer():
    simulated = SimulatedDeviceLayer()
    use_device_layer(simulated)
    yield simulated
    use_device_layer(None)


@pytest.fixture
def no_nvml(monkeypatch):
    """A machine without NVML's bindings, whatever this one has."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    use_device_layer(None)
    yield
    use_device_layer(None)


# -- handing out devices ----------------------------------------------------------


def test_concurrent_jobs_no_more_than_devices_never_share_one(layer):
    pool = GpuPool(layer.devices())
    with pool.lease() as first, pool.lease() as second:
        assert {first.uuid, second.uuid} == {"GPU-sim-0", "GPU-sim-1"}
        assert pool.running() == {"GPU-sim-0": 1, "GPU-sim-1": 1}


def test_more_jobs_than_devices_share_them_evenly(layer):
    pool = GpuPool(layer.devices())
    with ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(pool.lease())
        assert sorted(pool.running().values()) == [1, 2]
        stack.enter_context(pool.lease())
        assert pool.running() == {"GPU-sim-0": 2, "GPU-sim-1": 2}


def test_jobs_on_many_threads_never_crowd_a_device(layer):
    devices = SimulatedDeviceLayer(count=3).devices()
    pool = GpuPool(devices)
    threads = 8
    most = -(-threads // len(devices))  # ceil(jobs / devices)
    seen: list[int] = []
    start = threading.Barrier(threads)

    def job() -> None:
        start.wait()
        for _ in range(40):
            with pool.lease():
                seen.append(max(pool.running().values()))
                time.sleep(0.001)

    workers = [threading.Thread(target=job) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert max(seen) <= most
    assert pool.running() == {device.uuid: 0 for device in devices}


def test_idle_devices_take_turns(layer):
    pool = GpuPool(layer.devices())
    handed = []
    for _ in range(4):
        with pool.lease() as device:
            handed.append(device.index)
    assert handed == [0, 1, 0, 1]


def test_device_is_given_back_when_the_job_raises(layer):
    pool = GpuPool(layer.devices())
    with pytest.raises(RuntimeError):
        with pool.lease():
            raise RuntimeError("the job broke")
    assert pool.running() == {"GPU-sim-0": 0, "GPU-sim-1": 0}


def test_grader_gives_the_device_back_when_running_a_job_fails(layer, tmp_path,
                                                               monkeypatch):
    pool = GpuPool(layer.devices())
    grader = ClassGrader(load_spec("steps"), bundled_datasets_dir(), jobs=1,
                         work_root=tmp_path, gpus=pool)

    def broken_run_job(*args, **kwargs):
        assert max(pool.running().values()) == 1
        raise OSError("no such job")

    monkeypatch.setattr("grader._grading.run_job", broken_run_job)
    try:
        with pytest.raises(OSError):
            grader._run_job(tmp_path / "job", seed=0)
    finally:
        grader.close()
    assert pool.running() == {"GPU-sim-0": 0, "GPU-sim-1": 0}


def test_a_pool_without_devices_gives_none():
    with GpuPool().lease() as device:
        assert device is None


# -- --gpus ------------------------------------------------------------------------


def test_gpus_flag_names_devices(layer):
    assert [d.index for d in select_gpus("auto", layer)] == [0, 1]
    assert select_gpus("none", layer) == []
    assert [d.uuid for d in select_gpus("1", layer)] == ["GPU-sim-1"]
    assert [d.index for d in select_gpus("1,0", layer)] == [1, 0]


@pytest.mark.parametrize("flag, message", [
    ("5", r"--gpus 5: there is no GPU 5 here; the GPUs here are "
          r"0 \(Simulated GPU\), 1 \(Simulated GPU\)"),
    ("0,2", r"no GPU 2 here; the GPUs here are 0 .*, 1 "),
    ("first", r"--gpus must be auto, none, or GPU indices .*; got 'first'"),
    ("0,0", r"names GPU 0 more than once"),
    ("-1", r"indices from 0 up"),
    ("", r"--gpus must be auto, none"),
], ids=["missing", "one-missing", "word", "repeated", "negative", "empty"])
def test_gpus_flag_refuses_what_is_not_there(layer, flag, message):
    with pytest.raises(UsageError, match=message):
        select_gpus(flag, layer)


def test_gpus_flag_without_nvml_says_why(no_nvml):
    assert select_gpus("auto") == []
    with pytest.raises(UsageError, match=r"--gpus 0: .*no GPU can be used here: "
                       r"NVML's Python bindings are not installed; pip install "
                       r"'nngrade\[gpu\]'.*--gpus none"):
        select_gpus("0")


def test_command_line_rejects_a_gpu_that_is_not_there(layer, tmp_path, capsys):
    code = main(["grade", "--gpus", "7", "--out", str(tmp_path / "out")])

    assert code == 2
    # The console wraps long lines.
    error = " ".join(capsys.readouterr().err.split())
    assert "there is no GPU 7 here" in error
    assert "0 (Simulated GPU), 1 (Simulated GPU)" in error


def test_command_line_prints_the_install_command_whole(no_nvml, tmp_path, capsys):
    code = main(["grade", "--gpus", "0", "--out", str(tmp_path / "out")])

    assert code == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "pip install 'nngrade[gpu]'" in error


# -- discovery -----------------------------------------------------------------------


def test_without_nvml_there_are_no_devices_and_it_is_logged_once(no_nvml, caplog):
    caplog.set_level("INFO", logger="grader._gpu")

    layer = _gpu.device_layer()
    assert _gpu.device_layer() is layer
    assert layer.devices() == []
    assert layer.memory_used("GPU-x", {1}) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "no GPUs: NVML's Python bindings are not installed; pip install "
        "'nngrade[gpu]' (the nvidia-ml-py package)"]


class _NvmlError(Exception):
    pass


def _stand_in_nvml(init_error: bool = False) -> types.SimpleNamespace:
    """The parts of pynvml the grader calls, answering like a two-GPU machine."""
    Memory = namedtuple("Memory", "total free used")
    Process = namedtuple("Process", "pid usedGpuMemory")
    handles = {0: "h0", 1: "h1"}
    processes = {"h0": [Process(10, 3 * GIB), Process(11, None), Process(12, GIB)],
                 "h1": [Process(10, 5 * GIB)]}

    def init():
        if init_error:
            raise _NvmlError("Driver Not Loaded")

    return types.SimpleNamespace(
        NVMLError=_NvmlError, nvmlInit=init,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=handles.__getitem__,
        # Older bindings answer bytes.
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}".encode(),
        nvmlDeviceGetName=lambda h: b"NVIDIA Stand-in",
        nvmlDeviceGetMemoryInfo=lambda h: Memory(80 * GIB, 0, 0),
        nvmlDeviceGetMinorNumber=lambda h: int(h[1]),
        nvmlDeviceGetHandleByUUID=lambda uuid: uuid.removeprefix("GPU-"),
        nvmlDeviceGetComputeRunningProcesses=processes.__getitem__,
    )


def test_nvml_without_a_driver_means_no_devices(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml(init_error=True))

    layer = open_nvml()

    assert isinstance(layer, NoDeviceLayer)
    assert "NVML did not start (Driver Not Loaded)" in layer.reason
    assert layer.devices() == []


def test_nvml_layer_reads_devices_and_counts_only_the_jobs_memory(caplog):
    layer = NvmlDeviceLayer(_stand_in_nvml())

    assert layer.devices() == [
        Device(0, "GPU-h0", "NVIDIA Stand-in", 80 * GIB, minor=0),
        Device(1, "GPU-h1", "NVIDIA Stand-in", 80 * GIB, minor=1)]
    assert layer.memory_used("GPU-h0", {10, 12}) == 4 * GIB
    assert layer.memory_used("GPU-h0", {12, 99}) == GIB
    # A process whose memory NVML does not report counts as none, with a warning.
    assert layer.memory_used("GPU-h0", {11}) == 0
    assert "NVML does not report" in caplog.text


def test_the_nvml_calls_made_exist_in_nvidia_ml_py():
    pynvml = pytest.importorskip("pynvml")
    for name in vars(_stand_in_nvml()):
        assert hasattr(pynvml, name), name


# -- what a job gets -----------------------------------------------------------------


def test_job_environment_names_its_device_or_none(tmp_path):
    given = child_environment(tmp_path, Limits(gpu_device="GPU-sim-1",
                                               gpu_memory_mb=2048), seed=0)
    not_given = child_environment(tmp_path, Limits(gpu_memory_mb=2048), seed=0)

    assert given["CUDA_VISIBLE_DEVICES"] == "GPU-sim-1"
    assert given["NNGRADE_GPU_MEMORY_MB"] == "2048"
    assert given["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert not_given["CUDA_VISIBLE_DEVICES"] == ""
    assert "NNGRADE_GPU_MEMORY_MB" not in not_given
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in not_given


PRINT_DEVICE = """
import os
print("device=[" + os.environ["CUDA_VISIBLE_DEVICES"] + "]")
"""


def _class_of(tmp_path: Path, sources: dict[str, str]) -> None:
    for student, source in sources.items():
        write_student(tmp_path / "class", student, source)


def _grade(tmp_path: Path, pool: GpuPool, jobs: int = 1, limits: str = "",
           wall: float = 20) -> list[Result]:
    spec_text = numpy_only_spec("gpu", wall=wall).replace(
        "[limits]\n", f"[limits]\n{limits}")
    return grade_with_spec(tmp_path, spec_text, jobs=jobs, gpus=pool)


def test_each_job_sees_only_the_device_it_was_given(layer, tmp_path):
    _class_of(tmp_path, {"ada": CORRECT_STEPS + PRINT_DEVICE,
                         "bob": CORRECT_STEPS + PRINT_DEVICE})
    pool = GpuPool(layer.devices())

    results = _grade(tmp_path, pool, jobs=2)

    seen = {r.student: r.stdout_tail.split("device=[")[1].split("]")[0]
            for r in results}
    assert sorted(seen.values()) == ["GPU-sim-0", "GPU-sim-1"]
    for result in results:
        assert result.verdict.kind == "finished"
        assert result.resources.gpu == (
            f"GPU {seen[result.student][-1]}: Simulated GPU ({seen[result.student]})")
        assert f"GPU</dt><dd>{result.resources.gpu}" in render_report(result)
    assert pool.running() == {"GPU-sim-0": 0, "GPU-sim-1": 0}


def test_without_nvml_grading_is_unchanged(no_nvml, tmp_path):
    _class_of(tmp_path, {"ada": CORRECT_STEPS + PRINT_DEVICE})

    (result,) = _grade(tmp_path, GpuPool(select_gpus("auto")))

    assert "device=[]" in result.stdout_tail
    assert result.verdict.kind == "finished"
    assert result.score == result.max_score
    assert result.resources.gpu == "none"
    assert ">GPU<" not in render_report(result)


# -- the memory watchdog ----------------------------------------------------------


def test_watchdog_counts_the_jobs_processes_only(layer):
    job = subprocess.Popen(["sleep", "30"])
    watchdog = MemoryWatchdog(layer, "GPU-sim-0", 2 * GIB, job.pid, interval=0.02)
    try:
        # Memory of a process outside the job, or on another device, is not its.
        layer.hold("GPU-sim-0", 1, 8 * GIB)
        layer.hold("GPU-sim-1", job.pid, 8 * GIB)
        layer.hold("GPU-sim-0", job.pid, GIB)
        watchdog.start()
        time.sleep(0.3)
        assert not watchdog.exceeded.is_set()
        assert watchdog.peak_bytes == GIB

        layer.hold("GPU-sim-0", job.pid, 3 * GIB)
        assert watchdog.exceeded.wait(5)
        assert watchdog.peak_bytes == 3 * GIB
    finally:
        watchdog.stop()
        job.kill()
        job.wait()


def test_watchdog_ends_with_its_job(layer):
    job = subprocess.Popen(["true"])
    job.wait()
    watchdog = MemoryWatchdog(layer, "GPU-sim-0", GIB, job.pid, interval=0.02)
    watchdog.start()
    watchdog.join(5)
    assert not watchdog.is_alive()


#: Holds on: starts a process of its own, and says which pids the job has.
HOLDS_ON = """
import os, subprocess, time
helper = subprocess.Popen(["sleep", "60"])
with open({pid_file!r} + ".tmp", "w") as pids:
    pids.write(f"{{os.getpid()}} {{helper.pid}}")
os.rename({pid_file!r} + ".tmp", {pid_file!r})
time.sleep(60)
"""


def test_watchdog_stops_a_job_over_its_gpu_memory(layer, tmp_path):
    pid_file = tmp_path / "pids"
    _class_of(tmp_path, {
        "ada": CORRECT_STEPS + HOLDS_ON.format(pid_file=str(pid_file))})
    pids: list[int] = []

    def job_takes_memory() -> None:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pids.extend(int(pid) for pid in pid_file.read_text().split())
        job, helper = pids
        # Neither process alone is over the cap; both together are.
        layer.hold("GPU-sim-0", job, int(1.5 * GIB))
        layer.hold("GPU-sim-0", helper, GIB)

    taker = threading.Thread(target=job_takes_memory)
    taker.start()
    started = time.monotonic()
    (result,) = _grade(tmp_path, GpuPool(layer.devices()),
                       limits="gpu_memory_mb = 2048\n", wall=30)
    taken = time.monotonic() - started
    taker.join()

    assert result.verdict.kind == "gpu_memory"
    assert result.verdict.message.startswith(
        "Your submission held more GPU memory than it may use, 2,048 MB, and was "
        "stopped. The usual cause is a model with far more units")
    assert taken < 20, "stopped by the wall-clock limit, not the watchdog"
    assert pids_alive(pids) == []
    assert {c.status for c in result.checks} == {"not_run"}
    assert "ran out of GPU memory first" in result.checks[0].message


def _outcome(**run_fields) -> JobOutcome:
    fields = dict(returncode=None, signal=None, timed_out=False,
                  output_exceeded=False, stdout="", stderr="", wall_s=1.0,
                  cpu_s=1.0, peak_rss_mb=100.0)
    records = run_fields.pop("records", {})
    fields.update(run_fields)
    return JobOutcome(run=ChildRun(**fields), records=records)


def _exhausted(message: str) -> dict[str, StepRecord]:
    return {"train": StepRecord("train", False, error={
        "type": "ResourceExhaustedError", "message": message, "traceback": "tb"})}


@pytest.mark.parametrize("outcome, kind", [
    (_outcome(signal=9, gpu_memory_exceeded=True, timed_out=False), "gpu_memory"),
    (_outcome(records=_exhausted(
        "OOM when allocating tensor with shape[100000,100000] and type float on "
        "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc")),
     "gpu_memory"),
    (_outcome(records=_exhausted(
        "OOM when allocating tensor with shape[100000,100000] and type float on "
        "/job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu")),
     "memory"),
    (_outcome(signal=6, stderr="failed to allocate 80.00G: CUDA_ERROR_OUT_OF_MEMORY"),
     "gpu_memory"),
    (_outcome(signal=9), "crash"),
], ids=["watchdog", "tensorflow-gpu", "tensorflow-cpu", "cuda-abort", "plain-kill"])
def test_gpu_memory_verdict(outcome, kind):
    verdict = decide_verdict(outcome, Limits(gpu_memory_mb=4096), ())
    assert verdict.kind == kind
    if kind == "gpu_memory":
        assert "4,096 MB" in verdict.message


def test_gpu_memory_verdict_without_a_cap_names_no_limit():
    verdict = decide_verdict(_outcome(gpu_memory_exceeded=True), Limits(), ())
    assert verdict.message.startswith("Your submission ran out of GPU memory. The "
                                      "usual cause")


# -- in the job, before student code ------------------------------------------------

#: What TensorFlow lists for a GPU: a name and a device type.
StandIn = namedtuple("StandIn", "name device_type")
GPUS = [StandIn("/physical_device:GPU:0", "GPU"), StandIn("/physical_device:GPU:1",
                                                          "GPU")]


def test_every_gpu_grows_and_takes_the_cap_less_cudas_share():
    assert gpu_settings(GPUS, 0) == [_gpu.GpuSetting(gpu, None) for gpu in GPUS]
    assert gpu_settings(GPUS, 4096) == [
        _gpu.GpuSetting(gpu, 4096 - CONTEXT_RESERVE_MB) for gpu in GPUS]
    assert gpu_settings([], 4096) == []


class _RecordingConfig:
    """Records the calls ``apply_gpu_settings`` makes of ``tf.config``."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.experimental = types.SimpleNamespace(
            set_memory_growth=lambda device, on: self.calls.append(
                ("growth", device.name, on)))
        self.LogicalDeviceConfiguration = lambda memory_limit: ("limit", memory_limit)

    def set_logical_device_configuration(self, device, logical):
        self.calls.append(("logical", device.name, logical))


def test_growth_is_set_before_the_cap_on_each_gpu():
    config = _RecordingConfig()

    apply_gpu_settings(gpu_settings(GPUS[:1], 2048), config)

    # TensorFlow refuses growth on a device that already has a logical
    # configuration, so the order matters.
    assert config.calls == [("growth", "/physical_device:GPU:0", True),
                            ("logical", "/physical_device:GPU:0", [("limit", 1536)])]


def test_job_without_a_device_configures_nothing_and_imports_no_tensorflow():
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys\n"
         "from grader._gpu import configure_job_gpus\n"
         "print(configure_job_gpus({'CUDA_VISIBLE_DEVICES': ''}), "
         "'tensorflow' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["[]", "False"]


@pytest.mark.slow
def test_job_given_a_device_tensorflow_cannot_see_runs_on_the_cpu_and_says_so():
    """Real TensorFlow, on a machine without a GPU."""
    done = subprocess.run(
        [sys.executable, "-c",
         "import os\n"
         "os.environ['CUDA_VISIBLE_DEVICES'] = 'GPU-sim-0'\n"
         "from grader._gpu import configure_job_gpus\n"
         "print(configure_job_gpus(os.environ))"],
        capture_output=True, text=True, timeout=300, check=True,
        env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.stdout.split() == ["[]"]
    assert ("nngrade: this job was given GPU GPU-sim-0, but TensorFlow sees no GPU; "
            "it runs on the CPU") in done.stderr


# -- sandboxes -----------------------------------------------------------------------


def test_bwrap_shows_the_chosen_gpus_device_nodes_only(layer):
    from grader._backends import BwrapBackend
    from grader._sandbox import View

    backend = BwrapBackend(Path("/usr/bin/bwrap"))
    assert "/dev/nvidiactl" not in backend.arguments(View(), Path("/"), warm=True)

    backend.use_gpus(select_gpus("1", layer))
    arguments = backend.arguments(View(), Path("/"), warm=True)

    bound = [arguments[i + 1] for i, argument in enumerate(arguments)
             if argument == "--dev-bind-try"]
    assert bound == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                     "/dev/nvidia1"]
    assert arguments.index("--dev-bind-try") > arguments.index("--dev")


def test_host_pid_finds_a_process_inside_a_bwrap_pid_namespace(tmp_path):
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        skip_unless_required("NNGRADE_REQUIRE_BWRAP", "bwrap is not installed")
    sandbox = subprocess.Popen(
        [bwrap, "--unshare-user", "--uid", "0", "--gid", "0", "--unshare-pid",
         "--dev-bind", "/", "/", "--die-with-parent", "--", sys.executable, "-c",
         "import os, time; print(os.getpid(), flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = sandbox.stdout.readline()
        if not line:
            skip_unless_required("NNGRADE_REQUIRE_BWRAP", "bwrap cannot run here: "
                                 f"{sandbox.stderr.read()[-300:]}")
        inside = int(line)

        found = host_pid(sandbox.pid, inside)

        assert found is not None and found != inside
        assert Path(f"/proc/{found}/cmdline").read_bytes().split(b"\0")[0] == (
            sys.executable.encode())
    finally:
        sandbox.kill()
        sandbox.wait()
