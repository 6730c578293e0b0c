"""How a run ended: one verdict per run, decided by the parent.

First match wins: grader error, wall time, GPU memory, memory, CPU time,
output or file size, process limit, network blocked, forbidden operation,
crash by signal, Python exception, finished. Each verdict carries a sentence
for the student naming the limit and the usual cause.

The network and forbidden verdicts are read from the error a step raised:
the sandbox makes a connection or a forbidden file operation fail inside the
student's code, which may let it propagate.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
from collections.abc import Callable

from grader._jobs import JobOutcome
from grader._limits import MIB, Limits
from grader._records import StepRecord, _shorten
from grader._result import Check, Defect, Verdict

MISSING_PACKAGE = Defect(12, "imports a package the grader does not provide")
ARGV_AT_IMPORT = Defect(12, "reads sys.argv when imported")
#: How a script fails that finds no arguments: an index past the end, too
#: few values to unpack, or its own exit (argparse's too).
_ARGV_ERRORS = ("IndexError", "ValueError", "SystemExit")


def decide_verdict(outcome: JobOutcome, limit: Limits,
                   allowed_packages: tuple[str, ...]) -> Verdict:
    """The one verdict of a run, first match wins, in the order of design.md."""
    run = outcome.run
    if run.start_error:
        return Verdict("grader_error", "The grader could not start your "
                       f"submission ({run.start_error}). This is not your fault; "
                       "your instructor has been told.")
    if run.timed_out:
        return Verdict("wall_time", f"Your submission was stopped after "
                       f"{limit.wall_seconds:g} s, the wall-clock limit. The "
                       "usual cause is a loop that never ends, or far more "
                       "epochs or units than the settings ask for.")
    # Before the memory verdict, which would claim TensorFlow's GPU
    # allocator failures (ResourceExhaustedError) as heap.
    if _ran_out_of_gpu_memory(outcome):
        return Verdict("gpu_memory", _gpu_memory_message(limit),
                       _first_traceback(outcome.records))
    if _ran_out_of_memory(outcome):
        heap = f"{limit.memory_bytes // MIB:,} MB of heap"
        if run.memory_watch_exceeded:
            heap = (f"{limit.group_memory_bytes // MIB:,} MB in all its processes "
                    "together, and the grader stopped it")
        elif run.memory_cgroup_killed:
            heap += (f" in each process and {limit.group_memory_bytes // MIB:,} MB "
                     "in all its processes together, and the system stopped it")
        return Verdict("memory", "Your submission ran out of memory: it may use "
                       f"{heap}. The usual cause "
                       "is an array far larger than the data (for instance an "
                       "outer product of all objects), or a model with far more "
                       "units than the settings ask for.",
                       _first_traceback(outcome.records))
    if run.signal == signal.SIGXCPU or (
            run.signal == signal.SIGKILL and run.cpu_s >= limit.cpu_seconds):
        return Verdict("cpu_time", "Your submission used up its "
                       f"{limit.cpu_seconds:g} s of CPU time and was stopped. "
                       "The usual cause is a loop that never ends.")
    if run.output_exceeded:
        return Verdict("output_limit", "Your submission printed more than "
                       f"{limit.output_bytes:,} bytes and was stopped. The usual "
                       "cause is a Keras progress bar per predict() call: pass "
                       "verbose=0.")
    # Python ignores SIGXFSZ, so a write past the limit raises EFBIG.
    if run.signal == signal.SIGXFSZ or any(
            f"[Errno {errno.EFBIG}]" in str(record.error.get("message", ""))
            for record in outcome.records.values()):
        return Verdict("output_limit", "Your submission wrote a file larger than "
                       f"{limit.file_bytes // MIB:,} MB and was stopped. The "
                       "assignment needs no files of its own.")
    refused = _first_failure(outcome.records, _refused_process)
    if run.processes_refused or refused is not None:
        return Verdict("processes", "Your submission tried to run more than "
                       f"{limit.processes:,} processes and threads at once, the "
                       "limit, and was refused more. The usual cause is "
                       "os.fork(), subprocess or multiprocessing called in a loop "
                       "(a fork bomb); the assignment needs no processes of its "
                       "own.", _first_traceback(outcome.records))
    network = _first_failure(outcome.records, _network_failure)
    if network is not None:
        return Verdict("network", "Your code tried to reach the network "
                       f"({_shorten(network.failure_text())}), and submissions "
                       "are graded without one. The usual cause is downloading a "
                       "data set (with keras.datasets, urllib or requests) instead "
                       "of reading the files the assignment names.",
                       network.error.get("traceback", ""))
    forbidden = _first_failure(
        outcome.records, lambda record: _forbidden_failure(record, run.backend))
    if forbidden is not None:
        return Verdict("forbidden", "Your code tried something the sandbox does "
                       f"not allow ({_shorten(forbidden.failure_text())}). A "
                       "submission may read its own folder and the data set, and "
                       "write only in its working folder and /tmp. The usual "
                       "cause is a fixed path to a folder of the grading machine, "
                       "or writing next to your source file instead of in the "
                       "working folder.",
                       forbidden.error.get("traceback", ""))
    if run.signal:
        name = signal.Signals(run.signal).name if run.signal in iter(
            signal.Signals) else str(run.signal)
        return Verdict("crash", f"Your submission was ended by signal {name}. "
                       "The usual cause is running out of memory or a crash "
                       "inside a native library.")
    imported = outcome.records.get("import")
    missing = _missing_package_verdict(outcome.records, allowed_packages)
    if missing is not None:
        return missing
    if imported is not None and not imported.ok:
        return _import_failure_verdict(imported)
    if not outcome.finished:
        return Verdict("crash", "Your submission ended before the grader was "
                       f"done (exit status {run.returncode}). The usual cause is "
                       "a call to sys.exit() or os._exit() in your code.")
    failed = [r for r in outcome.records.values() if not r.ok]
    if failed:
        return Verdict("exception", f"{len(failed)} of your functions raised an "
                       "error; see the checks below for each one.",
                       failed[0].error.get("traceback", ""))
    return Verdict("finished", "Your submission ran to the end within the limits.")


#: What the assignment itself needs: when one is missing, grading is broken.
REQUIRED_PACKAGES = ("numpy", "tensorflow", "keras", "tf_keras")
#: Import names whose install name differs, for messages and allowed_packages.
INSTALL_NAMES = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "Pillow",
                 "yaml": "PyYAML", "skimage": "scikit-image"}
_NO_MODULE = re.compile(r"No module named '([A-Za-z_][\w.]*)'")


def _missing_module(record: StepRecord) -> str | None:
    """The module a failed step could not import, or None."""
    if record.ok or record.error.get("type") != "ModuleNotFoundError":
        return None
    match = _NO_MODULE.match(str(record.error.get("message", "")))
    return match.group(1) if match else None


def _package_key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _missing_package_verdict(records: dict[str, StepRecord],
                             allowed: tuple[str, ...]) -> Verdict | None:
    """A verdict naming a package the submission needs and cannot import.

    The import step is looked at first, then the other steps. A dotted name
    means its parent package was imported, since Python imports parents
    first: only the submodule is missing from the version installed, which
    the student can fix.
    """
    ordered = [records["import"]] if "import" in records else []
    ordered += [record for key, record in records.items() if key != "import"]
    for record in ordered:
        name = _missing_module(record)
        if name is None:
            continue
        traceback = record.error.get("traceback", "")
        at_import = record.id == "import"
        who = "Your file" if at_import else "Your code"
        stopped = ("so no check could run" if at_import
                   else "so the checks that need it could not run")
        if "." in name:
            parent = name.split(".")[0]
            return Verdict(
                "exception",
                f"{who} imports '{name}', which does not exist in the version of "
                f"'{parent}' installed where grading runs, {stopped}. Import it the "
                f"way the current documentation of {parent} shows.", traceback)
        install = INSTALL_NAMES.get(name, name)
        shown = f"'{name}'" if install == name else f"'{name}' ({install})"
        allowed_keys = {_package_key(package) for package in allowed}
        if name in REQUIRED_PACKAGES:
            return Verdict(
                "grader_error",
                f"The grading environment lacks {shown}, which the assignment itself "
                "needs, so your code could not be graded. This is not your fault; "
                "your instructor has been told.", traceback)
        if {_package_key(name), _package_key(install)} & allowed_keys:
            return Verdict(
                "grader_error",
                f"{who} imports {shown}, which your instructor allows, but it "
                "is not installed where grading runs. That is a problem of the "
                "grader's setup, not of your code; your instructor has been told.",
                traceback)
        return Verdict(
            "exception",
            f"{who} imports {shown}, which the grading environment does not "
            f"provide, {stopped}. Use numpy for loading and arithmetic, or ask "
            "your instructor to allow the package.",
            traceback, MISSING_PACKAGE)
    return None


def _import_failure_verdict(imported: StepRecord) -> Verdict:
    traceback = imported.error.get("traceback", "")
    # The child's sys.argv holds only the submission's path and says
    # whether the import read past it; these are the errors that follows.
    if (imported.error.get("argv_read") is True
            and imported.error.get("type") in _ARGV_ERRORS):
        return Verdict(
            "exception",
            f"Importing your file raised {imported.failure_text()} on a line "
            "that reads sys.argv: your file does the script's work as soon as "
            "it is imported. The grader imports your file and calls your "
            "functions, so move the code that reads the command line under "
            "'if __name__ == \"__main__\":'. No check could run.",
            traceback, ARGV_AT_IMPORT)
    return Verdict("exception", "Importing your file raised "
                   f"{imported.failure_text()}. No check could run.", traceback)


def spare_the_student(checks: list[Check], records: dict[str, StepRecord]) -> None:
    """After a grader error, no check that it stopped may read as the student's."""
    missing = [f"No module named '{name}'" for record in records.values()
               if (name := _missing_module(record))]
    for check in checks:
        stopped = check.status == "not_run" or (
            check.status == "failed" and any(text in check.message for text in missing))
        if stopped:
            check.status = "not_run"
            check.points = 0.0
            check.message = ("Not run: the grader could not run your code for a "
                             "reason that is not your fault; see the verdict.")


# -- compatibility notes ------------------------------------------------------


#: Signs in a child's stderr that an allocation failed: the C++ runtime's,
#: TensorFlow's allocator's, and the kernel's words for it.
_OUT_OF_MEMORY_SIGNS = ("std::bad_alloc", "OOM when allocating", "ResourceExhausted",
                        "Cannot allocate memory", "MemoryError")


def _ran_out_of_memory(outcome: JobOutcome) -> bool:
    if outcome.run.memory_cgroup_killed or outcome.run.memory_watch_exceeded:
        return True
    if any(record.error.get("type") in ("MemoryError", "ResourceExhaustedError")
           for record in outcome.records.values()):
        return True
    if outcome.run.signal in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS):
        return any(sign in outcome.run.stderr for sign in _OUT_OF_MEMORY_SIGNS)
    return False


def _ran_out_of_gpu_memory(outcome: JobOutcome) -> bool:
    """Stopped by the GPU memory watchdog, or refused GPU memory by CUDA."""
    if outcome.run.gpu_memory_exceeded:
        return True
    # TensorFlow names the device in its message: "... on .../device:GPU:0
    # by allocator GPU_0_bfc".
    if any(record.error.get("type") == "ResourceExhaustedError"
           and "GPU" in str(record.error.get("message", ""))
           for record in outcome.records.values()):
        return True
    return (outcome.run.signal == signal.SIGABRT
            and "CUDA_ERROR_OUT_OF_MEMORY" in outcome.run.stderr)


def _gpu_memory_message(limit: Limits) -> str:
    if limit.gpu_memory_mb:
        what = ("Your submission held more GPU memory than it may use, "
                f"{limit.gpu_memory_mb:,} MB, and was stopped.")
    else:
        what = "Your submission ran out of GPU memory."
    return (f"{what} The usual cause is a model with far more units than the "
            "settings ask for, or an array far larger than the data (for instance "
            "all objects against all objects) handed to TensorFlow.")


#: errno values of a connection the sandbox's network refuses, and of a
#: name it cannot resolve (getaddrinfo's, which are negative).
_NETWORK_ERRNOS = (errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH,
                   errno.ECONNREFUSED, socket.EAI_NONAME, socket.EAI_AGAIN,
                   socket.EAI_FAIL)
_NETWORK_TYPES = ("gaierror", "URLError", "ConnectionRefusedError")
#: Keras's get_file (keras.datasets) re-raises a URLError as a bare Exception.
_NETWORK_WORDS = ("URL fetch failure", "Network is unreachable",
                  "Temporary failure in name resolution", "Name or service not known")
#: Permission denied, not permitted, and a write to a read-only mount.
_FORBIDDEN_ERRNOS = (errno.EPERM, errno.EACCES, errno.EROFS)
_MISSING_PATH = re.compile(r"\[Errno 2\] No such file or directory: '(/[^']*)'")


def _first_failure(records: dict[str, StepRecord],
                   matches: Callable[[StepRecord], bool]) -> StepRecord | None:
    return next((record for record in records.values()
                 if not record.ok and matches(record)), None)


def _has_errno(message: str, numbers: tuple[int, ...]) -> bool:
    return any(f"[Errno {number}]" in message for number in numbers)


#: What a student's line says when it starts processes of its own.
_PROCESS_WORDS = ("fork", "Popen", "subprocess", "multiprocessing", "Process(",
                  "system(", "spawn")


def _refused_process(record: StepRecord) -> bool:
    """A fork the kernel refused (EAGAIN): the job is at its process limit.

    Read from the error too, because a backend may count refusals only
    while it polls (docker), and a fork bomb can end between two polls.
    Only the student's source lines count, not the paths of the frames.
    A refused thread is left to the counted refusals: running out of
    memory for its stack fails the same way.
    """
    message = str(record.error.get("message", ""))
    if record.error.get("type") != "BlockingIOError" or not _has_errno(
            message, (errno.EAGAIN,)):
        return False
    source_lines = [line for line in record.error.get("traceback", "").splitlines()
                    if not line.lstrip().startswith("File ")]
    return any(word in line for line in source_lines for word in _PROCESS_WORDS)


def _network_failure(record: StepRecord) -> bool:
    message = str(record.error.get("message", ""))
    return (record.error.get("type") in _NETWORK_TYPES
            or _has_errno(message, _NETWORK_ERRNOS)
            or any(words in message for words in _NETWORK_WORDS))


def _forbidden_failure(record: StepRecord, backend: str) -> bool:
    """A refused operation, or a file the sandbox hides (it exists out here)."""
    message = str(record.error.get("message", ""))
    if record.error.get("type") == "PermissionError" or _has_errno(
            message, _FORBIDDEN_ERRNOS):
        return True
    missing = _MISSING_PATH.search(message)
    if backend == "process" or missing is None:
        return False
    return os.path.lexists(missing.group(1))


def _first_traceback(records: dict[str, StepRecord]) -> str:
    return next((r.error.get("traceback", "") for r in records.values()
                 if not r.ok and r.error.get("traceback")), "")
