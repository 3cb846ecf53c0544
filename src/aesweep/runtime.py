"""TensorFlow, imported once per process and quietly.

TensorFlow 2.19+ prints INFO lines through absl while it loads (``oneDNN custom operations
are on...``, twice), before ``TF_CPP_MIN_LOG_LEVEL`` takes effect
(tensorflow/tensorflow#100442). :func:`import_tensorflow` captures what the import writes
to file descriptor 2 and passes on everything but those INFO lines, so real warnings and
errors still reach the user. ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything.

Modules that need TensorFlow write ``from aesweep.runtime import keras, tf``.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Any

# absl's pre-init notice, and INFO lines in absl's format ("I1125 10:21:52.10 ...").
_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)|I\d{4} ")


def import_tensorflow() -> ModuleType:
    """``import tensorflow``, without its start-up INFO lines on stderr."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not _NOISE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
    return tensorflow


def _ray_worker() -> ModuleType | None:
    """Ray, when this process runs a Ray task (only then has it imported Ray)."""
    ray = sys.modules.get("ray")
    return ray if ray is not None and ray.is_initialized() else None


def job_threads(n_jobs: int | None = None, cpus_per_task: int | None = None) -> int | None:
    """How many threads one job may use: the CPUs Ray assigned to its task, else SLURM's
    or the launcher's ``cpus_per_task``, else this machine's cores shared by ``n_jobs``
    workers (joblib; -1: one per core). None: all cores (one job at a time)."""
    if ray := _ray_worker():
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            return max(1, int(cpus))
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit():
        return int(slurm)
    if cpus_per_task:
        return cpus_per_task
    if not n_jobs or n_jobs == 1:
        return None
    cores = os.cpu_count() or 1
    return max(1, cores // (cores if n_jobs < 0 else n_jobs))


def limit_threads(threads: int | None) -> None:
    """Cap TensorFlow's and BLAS's thread pools at ``threads`` (None: leave them), so
    that parallel jobs on one machine do not oversubscribe its cores."""
    if not threads:
        return
    from threadpoolctl import threadpool_limits

    tf = import_tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already started in this worker: its first job set the limits
    threadpool_limits(threads)


_sessions = 0  # how many jobs this process has started (see fresh_session)


def fresh_session() -> None:
    """Before a job: collect the garbage of the jobs that ran before it in this process
    (a multirun runs every job in one process).

    Not ``keras.backend.clear_session``: it also clears TensorFlow's kernel caches, so the
    compiled training step kept from an earlier job (:mod:`aesweep.trainers`) would cost
    ~0.4 s to instantiate again. Keras's global state is a handful of name counters and
    the global seed, which each job sets (:func:`set_random_seed`).

    A full collection traverses every object the process holds, and most of them (~500k)
    come from importing TensorFlow, MLflow and scikit-learn: 0.3 s a job on a laptop core.
    So the first job freezes what the process holds (``gc.freeze``: the collector skips
    those objects from then on) and collects nothing, as no job ran before it here; the
    second collects the first's garbage, then freezes what survives (modules imported
    during the first job, caches, the tracking store). Later collections traverse only
    what later jobs made. A frozen object is still freed when nothing refers to it; only
    one that is part of a garbage cycle (e.g. a config, or import-time garbage) stays, so
    the freezes are two per process, not one per job."""
    global _sessions
    import_tensorflow()
    _sessions += 1
    if _sessions > 1:
        gc.collect()
    if _sessions <= 2:
        gc.freeze()


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed``: seed Python, NumPy and Keras, and TensorFlow's
    global seed, but that only when it changes. Setting it clears TensorFlow's kernel
    caches, and a compiled training step kept from an earlier job (:mod:`aesweep.trainers`)
    then costs ~0.4 s to instantiate again. (aesweep draws its randomness from Keras's
    seed generators and NumPy, never from TensorFlow's global seed.)"""
    import random

    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    from tensorflow.python.eager import context

    import_tensorflow()
    if context.global_seed() != seed:
        import keras

        keras.utils.set_random_seed(seed)
        return
    # The rest of keras.utils.set_random_seed (keras/src/utils/rng_utils.py);
    # tests/test_trainers.py checks that both seed alike.
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


def has_gpu() -> bool:
    return bool(import_tensorflow().config.list_physical_devices("GPU"))


def device_name() -> str:
    """What trains here: "GPU:0 (NVIDIA H200)" for TensorFlow's first GPU, else "CPU"."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name")
    return f"GPU:0 ({name})" if name else "GPU:0"


def node_tags() -> dict[str, str]:
    """The Ray node this job runs on, when it runs on Ray (tagged on its run)."""
    ray = _ray_worker()
    if ray is None:
        return {}
    from aesweep.names import NODE_TAG

    return {NODE_TAG: ray.get_runtime_context().get_node_id()}


def __getattr__(name: str) -> Any:
    """``tf`` and ``keras``, imported on first use (PEP 562)."""
    if name == "tf":
        return import_tensorflow()
    if name == "keras":
        import_tensorflow()
        import keras

        return keras
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
