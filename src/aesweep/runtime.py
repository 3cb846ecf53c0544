"""TensorFlow, imported once per process and quietly.

TensorFlow 2.19+ prints INFO lines through absl while it loads (``oneDNN custom operations
are on...``, twice), before ``TF_CPP_MIN_LOG_LEVEL`` takes effect
(tensorflow/tensorflow#100442). :func:`import_tensorflow` captures what the import writes
to file descriptor 2 and passes on everything but those INFO lines, so real warnings and
errors still reach the user. ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything.

Modules that need TensorFlow write ``from aesweep.runtime import keras, tf``.
"""

from __future__ import annotations

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


def limit_threads(n_jobs: int | None) -> None:
    """Give each of ``n_jobs`` parallel workers its share of the cores (all of them for -1),
    so that n workers on n cores do not oversubscribe. A no-op for one worker."""
    if not n_jobs or n_jobs == 1:
        return
    cores = os.cpu_count() or 1
    threads = max(1, cores // (cores if n_jobs < 0 else n_jobs))
    from threadpoolctl import threadpool_limits

    tf = import_tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already started in this worker: its first job set the limits
    threadpool_limits(threads)


def has_gpu() -> bool:
    return bool(import_tensorflow().config.list_physical_devices("GPU"))


def __getattr__(name: str) -> Any:
    """``tf`` and ``keras``, imported on first use (PEP 562)."""
    if name == "tf":
        return import_tensorflow()
    if name == "keras":
        import_tensorflow()
        import keras

        return keras
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
