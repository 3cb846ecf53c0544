"""A long-lived TensorFlow process that ``bench/run.py`` drives, one measurement at a time.

Protocol: one JSON object per line on stdin (a command), one JSON object per line on the
private reply channel (the process's original stdout; TensorFlow and Keras may print to the
real stdout, which is redirected to stderr). Commands:

``ping``        versions, thread settings, Keras's resolved ``jit_compile="auto"``.
``arch``        sum(in x out) of the Dense layers of ``aesweep.model.build_autoencoder`` and
                whether the hand-written plain model has the same layers and parameters.
``fit``         one timed training run, ``impl`` = ``framework`` (``AutoencoderFeatures.fit``)
                or ``plain`` (hand-written functional model + ``model.fit``), with per-epoch
                end times from a callback.
``prepare``     build, compile and warm up a model with given training settings: the plain
                script's ``model.fit``, or the framework's ``aesweep.training.Trainer``.
``epoch``       one more timed epoch of a prepared model (epoch-level interleaving).
``forget``      drop the prepared models.
``matmul``      GFLOP/s of a warm float32 ``tf.linalg.matmul`` (n x n by n x n).
``gemms``       GFLOP/s of a training step's dense-layer matrix products alone, at their
                real shapes, compiled with XLA: what the hardware gives those shapes.
``load``        allocate an (n_rows, n_features) float32 array and keep it (growth).
``grow``        ``AutoencoderFeatures.fit`` on the loaded array for a few epochs; every
                epoch's time and the peak RSS during the fit.

Thread settings (``--intra``/``--inter``) must be applied before TensorFlow runs any op,
hence one process per setting.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# The reply channel is a private copy of stdout; anything else printing goes to stderr.
_REPLY = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

import numpy as np  # noqa: E402

_DATA: dict[tuple, np.ndarray] = {}
_GROWTH: dict[str, Any] = {}


def _proc_status(*keys: str) -> dict[str, int]:
    """Values of /proc/self/status in bytes (VmRSS, VmHWM)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            found[key] = int(value.split()[0]) * 1024
    return found


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _data(n_rows: int, n_features: int, seed: int) -> np.ndarray:
    key = (n_rows, n_features, seed)
    if key not in _DATA:
        rng = np.random.default_rng(seed)
        _DATA[key] = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    return _DATA[key]


def _clock():
    import keras

    class Clock(keras.callbacks.Callback):
        """Wall and CPU time of every epoch's begin and end."""

        def __init__(self, log: dict[str, list[float]]) -> None:
            super().__init__()
            self.log = log

        def on_epoch_begin(self, epoch, logs=None):
            self.log.setdefault("epoch_begin", []).append(time.perf_counter())
            self.log.setdefault("epoch_begin_cpu", []).append(time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            self.log.setdefault("epoch_end", []).append(time.perf_counter())
            self.log.setdefault("epoch_end_cpu", []).append(time.process_time())

    return Clock


def plain_autoencoder(n_features: int, bottleneck: int, widths: list[int]):
    """The reference architecture, written by hand with the functional API:
    Dense-BN-LeakyReLU blocks, a linear bottleneck, a mirrored decoder, a linear output."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(n_features,))
    x = inputs
    for units in widths:
        x = layers.Dense(units)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("leaky_relu")(x)
    x = layers.Dense(bottleneck)(x)
    for units in reversed(widths):
        x = layers.Dense(units)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("leaky_relu")(x)
    outputs = layers.Dense(n_features)(x)
    return keras.Model(inputs, outputs)


def _dense_shapes(model) -> list[list[int]]:
    import keras

    return [list(layer.kernel.shape) for layer in model.layers
            if isinstance(layer, keras.layers.Dense)]


def cmd_ping(args: dict) -> dict:
    import keras
    import tensorflow as tf

    import aesweep

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return {
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "aesweep": getattr(aesweep, "__version__", "?"), "numpy": np.__version__,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "jit_compile_auto_resolves_to": bool(model.jit_compile),
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "cwd": os.getcwd(),
    }


def cmd_arch(args: dict) -> dict:
    import keras

    from aesweep.model import build_autoencoder, hidden_widths

    n_features, bottleneck = args["n_features"], args["bottleneck"]
    framework, _ = build_autoencoder(n_features, bottleneck)
    widths = hidden_widths(n_features, None)
    plain = plain_autoencoder(n_features, bottleneck, widths)
    shapes = _dense_shapes(framework)
    result = {
        "widths": widths,
        "dense_kernels": shapes,
        "sum_in_out": sum(i * o for i, o in shapes),
        "first_layer_in_out": shapes[0][0] * shapes[0][1],
        "params_framework": framework.count_params(),
        "params_plain": plain.count_params(),
        "same_as_plain": shapes == _dense_shapes(plain)
        and framework.count_params() == plain.count_params(),
    }
    del framework, plain
    keras.backend.clear_session()
    return result


def _plain_fit(X, X_val, args: dict, clock) -> None:
    """The plain script: the hand-written model and ``model.fit`` with Keras defaults."""
    import keras

    from aesweep.model import hidden_widths

    keras.utils.set_random_seed(args["seed"])
    model = plain_autoencoder(X.shape[1], args["bottleneck"], hidden_widths(X.shape[1], None))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    val = None if X_val is None else (X_val, X_val)
    model.fit(X, X, batch_size=args["batch_size"], epochs=args["epochs"], validation_data=val,
              verbose=0, callbacks=[clock])


def _framework_fit(X, X_val, args: dict, clock) -> bool:
    """``aesweep.AutoencoderFeatures.fit`` with the framework's defaults; returns whether
    it compiled with XLA (``jit_compile`` None resolves it by the work ahead)."""
    import aesweep

    estimator = aesweep.AutoencoderFeatures(
        bottleneck=args["bottleneck"], hidden_units=None, epochs=args["epochs"],
        batch_size=args["batch_size"], optimizer="adam", learning_rate=1e-3,
        random_state=args["seed"], jit_compile=args.get("jit_compile"))
    estimator.fit(X, validation_data=X_val, callbacks=[clock])
    return bool(estimator.jit_compile_)


def cmd_fit(args: dict) -> dict:
    """Train for ``epochs`` epochs. An epoch's time is the interval between consecutive
    epoch ends, so the first epoch (which traces the graph) is excluded and everything done
    between two epochs counts.

    (Pausing a fit between epochs to alternate two fits epoch by epoch was tried: after a
    pause of a few seconds, ``model.fit`` on NumPy arrays sometimes idles ~3.5 s in its
    next epoch, which it never does running freely, so fits are run whole.)"""
    import keras

    Clock = _clock()
    n_features = args["n_features"]
    X = _data(args["n_train"], n_features, 1)
    X_val = _data(args["n_val"], n_features, 2) if args.get("n_val") else None
    log: dict[str, list[float]] = {}
    clock = Clock(log)
    keras.backend.clear_session()
    gc.collect()
    started = time.perf_counter()
    xla = None
    if args["impl"] == "plain":
        _plain_fit(X, X_val, args, clock)
    else:
        xla = _framework_fit(X, X_val, args, clock)
    total = time.perf_counter() - started
    ends = log.get("epoch_end", [])
    intervals = [b - a for a, b in itertools.pairwise(ends)]
    cpu = [b - a for a, b in itertools.pairwise(log.get("epoch_end_cpu", []))]
    result = {
        "total_s": total,
        "epochs_seen": len(ends),
        "first_epoch_s": (ends[0] - started) if ends else None,
        "epoch_intervals_s": intervals,
        "steady_epoch_s": float(np.median(intervals)) if intervals else None,
        "epoch_cpu_intervals_s": cpu,
        "steady_epoch_cpu_s": float(np.median(cpu)) if cpu else None,
        "steps_per_epoch": -(-args["n_train"] // args["batch_size"]),
        "xla": xla,
    }
    keras.backend.clear_session()
    gc.collect()
    return result


_MODELS: dict[str, dict[str, Any]] = {}


def cmd_prepare(args: dict) -> dict:
    """Build, compile and keep under ``key`` a model with some training settings, and train
    ``warmup`` untimed epochs (graph tracing, XLA compilation, first-call costs).

    ``impl`` ``plain``: the hand-written model and ``model.fit`` (one call per epoch) with
    ``jit_compile``, ``steps_per_execution`` or a ``tf.data`` pipeline.
    ``impl`` ``framework``: ``aesweep.model.build_autoencoder`` trained by
    ``aesweep.training.Trainer`` with ``xla`` and ``steps_per_call`` (None: its default).
    """
    import keras
    import tensorflow as tf

    from aesweep.model import build_autoencoder, hidden_widths

    settings = args.get("settings") or {}
    X = _data(args["n_train"], args["n_features"], 1)
    keras.utils.set_random_seed(args["seed"])
    steps = -(-args["n_train"] // args["batch_size"])
    if args.get("impl") == "framework":
        from aesweep.training import Trainer

        model, _ = build_autoencoder(X.shape[1], args["bottleneck"])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
        trainer = Trainer(model, X, None, batch_size=args["batch_size"], seed=args["seed"],
                          jit_compile=settings.get("xla", False),
                          steps_per_call=settings.get("steps_per_call"))
        entry = {"epoch": trainer.epoch, "steps": steps, "count": 0}
    else:
        model = plain_autoencoder(X.shape[1], args["bottleneck"],
                                  hidden_widths(X.shape[1], None))
        compile_kwargs = {k: settings[k] for k in ("jit_compile", "steps_per_execution")
                          if k in settings}
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse",
                      **compile_kwargs)
        if settings.get("tfdata"):
            data = (tf.data.Dataset.from_tensor_slices((X, X))
                    .shuffle(len(X), seed=args["seed"], reshuffle_each_iteration=True)
                    .batch(args["batch_size"]).prefetch(tf.data.AUTOTUNE))
            fit_kwargs = {"x": data}
        else:
            fit_kwargs = {"x": X, "y": X, "batch_size": args["batch_size"]}
        entry = {"model": model, "fit": fit_kwargs, "steps": steps}
    _MODELS[args["key"]] = entry
    started = time.perf_counter()
    for _ in range(args.get("warmup", 2)):  # 2: also what a model's first fit call pays
        _one_epoch(entry)
    return {"warmup_s": time.perf_counter() - started}


def _one_epoch(entry: dict) -> tuple[float, float]:
    """Train one more epoch; (wall, CPU) seconds. For ``model.fit``, from the epoch's begin
    to its end (the data adapter each ``fit`` call builds is outside); for the framework,
    the whole ``Trainer.epoch`` call."""
    if "epoch" in entry:
        wall, cpu = time.perf_counter(), time.process_time()
        entry["epoch"](entry["count"])
        entry["count"] += 1
        return time.perf_counter() - wall, time.process_time() - cpu
    Clock = _clock()
    log: dict[str, list[float]] = {}
    entry["model"].fit(**entry["fit"], epochs=1, verbose=0, callbacks=[Clock(log)])
    return (log["epoch_end"][0] - log["epoch_begin"][0],
            log["epoch_end_cpu"][0] - log["epoch_begin_cpu"][0])


def cmd_epoch(args: dict) -> dict:
    """One more timed epoch of the model kept under ``key``."""
    entry = _MODELS[args["key"]]
    wall, cpu = _one_epoch(entry)
    return {"epoch_s": wall, "cpu_s": cpu, "steps": entry["steps"],
            "step_ms": 1000 * wall / entry["steps"], "cpu_step_ms": 1000 * cpu / entry["steps"]}


def cmd_forget(args: dict) -> dict:
    import keras

    _MODELS.clear()
    keras.backend.clear_session()
    gc.collect()
    return {}


def cmd_matmul(args: dict) -> dict:
    import tensorflow as tf

    n = args.get("n", 2048)
    a = tf.random.normal((n, n), dtype=tf.float32, seed=1)
    b = tf.random.normal((n, n), dtype=tf.float32, seed=2)
    for _ in range(args.get("warmup", 3)):
        tf.linalg.matmul(a, b).numpy()
    rates, cpu_rates = [], []
    for _ in range(args.get("iters", 10)):
        started, cpu = time.perf_counter(), time.process_time()
        tf.linalg.matmul(a, b).numpy()
        rates.append(2 * n**3 / (time.perf_counter() - started) / 1e9)
        cpu_rates.append(2 * n**3 / (time.process_time() - cpu) / 1e9)
    return {"n": n, "gflops": rates, "median_gflops": float(np.median(rates)),
            "median_gflops_per_cpu_s": float(np.median(cpu_rates))}


def cmd_gemms(args: dict) -> dict:
    """The matrix products of a training step of a Dense stack, nothing else: forward
    ``a @ W``, weight gradients ``a.T @ g`` and input gradients ``g @ W.T`` (none for the
    first layer), at the real batch and kernel shapes, ``steps`` per XLA-compiled call. A
    tiny SGD update keeps every product live (else XLA drops the unused ones). FLOPs are
    counted as done: (4 sum(in x out) + 2 sum(in x out, layers after the first)) x batch."""
    import tensorflow as tf

    kernels, batch, steps = args["kernels"], args["batch_size"], args.get("steps", 50)
    weights = [tf.Variable(tf.random.normal(k, stddev=0.01, seed=i))
               for i, k in enumerate(kernels)]
    x = tf.random.normal((batch, kernels[0][0]), seed=99)

    @tf.function(jit_compile=True)
    def run() -> tf.Tensor:
        def step(i, total):
            activations = [x]
            for w in weights:
                activations.append(tf.matmul(activations[-1], w))
            g = activations[-1] * 1e-3
            for layer in reversed(range(len(weights))):
                grad = tf.matmul(activations[layer], g, transpose_a=True)
                if layer:
                    g = tf.matmul(g, weights[layer], transpose_b=True)
                weights[layer].assign_sub(1e-9 * grad)
            return i + 1, total + tf.reduce_sum(g)

        return tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), 0.0))[1]

    run().numpy()  # compile
    flops = steps * batch * (4 * sum(a * b for a, b in kernels)
                             + 2 * sum(a * b for a, b in kernels[1:]))
    rates = []
    for _ in range(args.get("iters", 5)):
        started = time.perf_counter()
        run().numpy()
        rates.append(flops / (time.perf_counter() - started) / 1e9)
    return {"gflops": rates, "median_gflops": float(np.median(rates)),
            "step_ms": 1000 * flops / steps / float(np.median(rates)) / 1e9}


def cmd_load(args: dict) -> dict:
    before = _proc_status("VmRSS")["VmRSS"]
    X = _data(args["n_rows"], args["n_features"], 3)
    _GROWTH["X"] = X
    gc.collect()
    return {"data_bytes": int(X.nbytes), "rss_before_data": before,
            "rss_after_data": _proc_status("VmRSS")["VmRSS"]}


def cmd_grow(args: dict) -> dict:
    """``AutoencoderFeatures(epochs=E).fit`` on the whole loaded array, every epoch timed by
    a callback; peak RSS during the fit (VmHWM, reset just before it)."""
    import keras

    import aesweep

    Clock = _clock()
    X = _GROWTH["X"]
    log: dict[str, list[float]] = {}
    keras.backend.clear_session()
    gc.collect()
    rss_before = _proc_status("VmRSS")["VmRSS"]
    peak_reset = _reset_peak_rss()
    estimator = aesweep.AutoencoderFeatures(
        bottleneck=args["bottleneck"], hidden_units=None, epochs=args["epochs"],
        batch_size=args["batch_size"], random_state=args["seed"],
        jit_compile=args.get("jit_compile"))
    started = time.perf_counter()
    estimator.fit(X, callbacks=[Clock(log)])
    total = time.perf_counter() - started
    status = _proc_status("VmRSS", "VmHWM")
    epochs = [end - begin for begin, end in zip(log["epoch_begin"], log["epoch_end"],
                                                 strict=True)]
    xla = bool(estimator.jit_compile_)
    del estimator
    keras.backend.clear_session()
    gc.collect()
    return {
        "n_rows": len(X), "epoch_s": epochs, "fit_s": total, "xla": xla,
        "setup_s": log["epoch_begin"][0] - started,
        "rss_before_fit": rss_before, "peak_rss_fit": status["VmHWM"],
        "peak_reset": peak_reset, "rss_after_fit": status["VmRSS"],
    }


COMMANDS = {"ping": cmd_ping, "arch": cmd_arch, "fit": cmd_fit, "matmul": cmd_matmul,
            "gemms": cmd_gemms,
            "prepare": cmd_prepare, "epoch": cmd_epoch, "forget": cmd_forget,
            "load": cmd_load, "grow": cmd_grow}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--intra", type=int, default=None)
    parser.add_argument("--inter", type=int, default=None)
    options = parser.parse_args()

    import tensorflow as tf

    if options.intra is not None:
        tf.config.threading.set_intra_op_parallelism_threads(options.intra)
    if options.inter is not None:
        tf.config.threading.set_inter_op_parallelism_threads(options.inter)
    import aesweep  # noqa: F401  (import cost paid before "ready")

    _REPLY.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = {"ok": True, "result": COMMANDS[request["cmd"]](request.get("args", {}))}
        except Exception:
            reply = {"ok": False, "error": traceback.format_exc()}
        _REPLY.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
