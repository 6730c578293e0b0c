"""Resource limits of one job, applied in the child before student code runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from grader import _platform

MIB = 1024 * 1024
#: What a job's memory cgroup allows beyond the data-segment limit.
MEMORY_HEADROOM_BYTES = 1024 * MIB


@dataclass
class Limits:
    #: Wall-clock time, enforced by the parent, which kills the process group.
    wall_seconds: float = 120.0
    #: CPU time of the job's process (all its threads); SIGXCPU, then SIGKILL.
    cpu_seconds: float = 240.0
    #: Data segment (heap and private mappings), never the address space:
    #: TensorFlow reserves gigabytes of address space it never touches, and
    #: spins forever when an address-space limit bites.
    memory_bytes: int = 4096 * MIB
    #: Bytes of stdout and of stderr read before the job is stopped.
    output_bytes: int = 1_000_000
    #: Largest file the job may write.
    file_bytes: int = 256 * MIB
    #: Threads TensorFlow and BLAS may use.
    cpu_threads: int = 1
    #: Processes and threads the job may hold at once, all of them together
    #: (a pids control group; see ``_cgroups``). TensorFlow training holds
    #: about 10 threads with 2 CPU threads, 25 with 16.
    processes: int = 256
    #: The GPU the job may use, as its CUDA_VISIBLE_DEVICES names it (a UUID);
    #: "" for none. Handed out per job by ``_gpu.GpuPool``.
    gpu_device: str = ""
    #: Device memory the job's processes may hold on its GPU, in MiB; 0 for
    #: no cap (memory growth only). See ``_gpu``.
    gpu_memory_mb: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def group_memory_bytes(self) -> int:
        """Memory all of the job's processes may hold together (a memory cgroup).

        Above ``memory_bytes``: the job also holds its libraries, thread
        stacks, page tables and files in its ``/tmp``, which RLIMIT_DATA does
        not count, so a single process over its heap gets the clear
        MemoryError first.
        """
        return self.memory_bytes + MEMORY_HEADROOM_BYTES


def apply_rlimits(limits: dict) -> None:
    """Set the rlimits of the calling process from :meth:`Limits.as_dict`.

    Where the system does not hold ``RLIMIT_DATA`` (see ``_platform``), the
    parent watches the job's memory instead.
    """
    # Imported here: Windows has no resource module, and must get the clear
    # refusal of ``_platform`` rather than an ImportError.
    import resource

    cpu = max(1, int(limits["cpu_seconds"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
    # The hard limit a little above the soft one: SIGXCPU first, then SIGKILL
    # for code that ignores it.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if _platform.current().heap_limit:
        resource.setrlimit(resource.RLIMIT_DATA, (limits["memory_bytes"],) * 2)
    # Only where no pids control group could be had (see ``_cgroups``).
    if limits.get("nproc"):
        # Never above the hard limit the grader has: raising it is refused.
        _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        nproc = limits["nproc"] if hard == resource.RLIM_INFINITY else min(
            limits["nproc"], hard)
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
