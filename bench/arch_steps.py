"""Step time of each architecture against ``dense`` at the same shape, in one process.

    python bench/arch_steps.py '{"shapes": {...}, "epochs": 4, "reps": 3}'

A shape may set its own ``epochs`` and ``reps``: a small shape's ~1 ms steps need more of
both for a stable median on a shared 2-core machine.

Each architecture's estimator comes from its config group member (``architecture=<name>``,
its defaults: e.g. denoising's gaussian noise at 0.1, sparse's l1, variational's beta), as
``autoencoder_from_config`` builds it for a job, with the shape's bottleneck, the trainer's
batch size and one ``jit_compile`` for all architectures of a shape (dense's resolved
setting), so that a ratio compares the same compiled path. Fits alternate between the
architectures, repetition after repetition; a fit's step time is the median of its epochs
after the first (which traces and compiles) divided by its steps per epoch, and an
architecture's figure is the median over repetitions. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fit_seconds(estimator, X, X_val, epochs: int) -> list[float]:
    seconds: list[float] = []
    estimator.set_params(epochs=epochs)
    estimator.fit(X, validation_data=X_val,
                  on_epoch=lambda epoch, logs, s: s is not None and seconds.append(s))
    return seconds


def main() -> None:
    spec = json.loads(sys.argv[1])
    import numpy as np

    from aesweep.config import compose_config
    from aesweep.pipelines import autoencoder_from_config
    from aesweep.training import use_xla

    out: dict = {}
    for shape_name, shape in spec["shapes"].items():
        rng = np.random.default_rng(0)
        X = rng.standard_normal((shape["rows"], shape["features"]), dtype=np.float32)
        X_val = rng.standard_normal((shape["rows"] // 7, shape["features"]), dtype=np.float32)
        estimators = {}
        for name in shape["architectures"]:
            cfg = compose_config([f"architecture={name}", *shape.get("overrides", []),
                                  f"architecture.bottleneck={shape['bottleneck']}",
                                  "trainer.reuse_checkpoints=false", "seed=0"])
            estimators[name] = autoencoder_from_config(cfg)
        dense = estimators["dense"]
        steps = -(-len(X) // dense.batch_size)
        # Dense's own resolution of "auto" for this much work; every architecture uses it.
        from aesweep.model import build_autoencoder

        model, _ = build_autoencoder(X.shape[1], shape["bottleneck"])
        epochs, reps = shape.get("epochs", spec["epochs"]), shape.get("reps", spec["reps"])
        xla = use_xla(None, model, len(X), epochs, dense.batch_size)
        times: dict[str, list[float]] = {name: [] for name in estimators}
        began = time.perf_counter()
        for _ in range(reps):
            for name, estimator in estimators.items():
                estimator.set_params(jit_compile=xla)
                seconds = fit_seconds(estimator, X, X_val, epochs)
                times[name].append(statistics.median(seconds[1:]) / steps)
        step = {name: statistics.median(values) for name, values in times.items()}
        out[shape_name] = {
            "rows": len(X), "features": X.shape[1], "bottleneck": shape["bottleneck"],
            "batch_size": dense.batch_size, "steps_per_epoch": steps, "jit_compile": xla,
            "epochs": epochs, "reps": reps,
            "step_ms": {name: 1e3 * s for name, s in step.items()},
            "ratio_to_dense": {name: s / step["dense"] for name, s in step.items()},
            "reps_ms": {name: [1e3 * v for v in values] for name, values in times.items()},
            "wall_s": time.perf_counter() - began}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
