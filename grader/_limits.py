"""Resource limits of one job, applied in the child before student code runs."""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass

MIB = 1024 * 1024


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

    def as_dict(self) -> dict:
        return asdict(self)


def apply_rlimits(limits: dict) -> None:
    """Set the rlimits of the calling process from :meth:`Limits.as_dict`."""
    cpu = max(1, int(limits["cpu_seconds"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
    # The hard limit a little above the soft one: SIGXCPU first, then SIGKILL
    # for code that ignores it.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_DATA, (limits["memory_bytes"],) * 2)
