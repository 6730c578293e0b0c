"""The warm zygote imports TensorFlow and never runs a TensorFlow operation.

Forking a process after TensorFlow has run an operation is unsafe, and a
child can enter a user namespace only while it has a single thread. The
import leaves the zygote with one thread (TensorFlow 2.21); the first
operation starts TensorFlow's thread pools. So a zygote still single-threaded
after its jobs ran TensorFlow has run no operation itself.
"""

from __future__ import annotations

import os

from conftest import CORRECT_STEPS
from grader._sandbox import Zygote
from test_cgroups import grade_one

#: Runs a TensorFlow operation in the job, at import.
TENSORFLOW_AT_IMPORT = """
import tensorflow as tf
assert float(tf.constant(1.0) + 1.0) == 2.0
"""


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_a_job_running_tensorflow_leaves_the_zygote_single_threaded(tmp_path):
    zygote = Zygote(tmp_path)
    try:
        for job in ("first", "second"):
            result = grade_one(tmp_path / job, CORRECT_STEPS + TENSORFLOW_AT_IMPORT,
                               zygote)

            assert result.verdict.kind == "finished", result.verdict.message
            assert result.resources.backend == "process, warm start"
            assert threads_of(zygote.process.pid) == 1
    finally:
        zygote.close()
