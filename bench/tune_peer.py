"""The ``launchers`` section's peer: the sweep's trainings as a plain Ray Tune experiment.

    python bench/tune_peer.py SPEC.json RESULT.json

No aesweep: each trial makes the same data (``make_classification`` with the sweep's
arguments, aesweep's split: test rows first, stratified, then validation rows counted on
the whole set, ``random_state=seed``), scales it on the training rows, builds the same
autoencoder with the plain Keras functional API (Dense(2n)-BN-LeakyReLU, Dense(n)-BN-
LeakyReLU, a linear bottleneck, the mirror image, a linear output), compiles Adam(1e-3) /
MSE, trains it with ``model.fit`` (same epochs, batch size and validation rows), crops the
encoder and fits scikit-learn's default ``LogisticRegression`` on raw and on encoded
features, then reports both test accuracies with ``tune.report``. TensorFlow's and BLAS's
thread pools are set to 1, the CPU the trial is given.

``tune.Tuner(tune.with_resources(trial, {"cpu": 1}), param_space=grid_search(...),
tune_config=TuneConfig(max_concurrent_trials=SLOTS))`` on a fresh ``ray.init(address="local",
num_cpus=SLOTS, include_dashboard=False)`` (no dashboard, as aesweep's launcher; "local": a
new instance even when ``ray start`` runs one on this machine); everything else is Tune's
default (``reuse_actors=False``: every trial starts a fresh actor process). RESULT.json
holds the phases' times (epoch seconds, this machine's clock) and every trial's timings.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STARTED = time.time()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def trial(config: dict) -> None:
    """One training, timed inside its actor: enter, imports done, data ready, trained, done."""
    entered = time.time()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np
    from keras import layers
    from ray import tune
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    imported = time.time()

    data, seed, bottleneck = config["data"], config["seed"], config["bottleneck"]
    X, y = make_classification(**data["dataset"])
    X = X.astype(np.float32)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=data["test_size"], random_state=seed, stratify=y)
    n_val = int(np.ceil(round(data["val_size"] * len(y), 9)))
    X_train, X_val, y_train, _ = train_test_split(
        X_rest, y_rest, test_size=n_val, random_state=seed, stratify=y_rest)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val, X_test = (scaler.transform(a).astype(np.float32)
                              for a in (X_train, X_val, X_test))
    keras.utils.set_random_seed(seed)

    n = X.shape[1]
    inputs = keras.Input(shape=(n,))
    x = inputs
    for units in (2 * n, n):
        x = layers.Activation("leaky_relu")(layers.BatchNormalization()(layers.Dense(units)(x)))
    code = layers.Dense(bottleneck, name="bottleneck")(x)
    x = code
    for units in (n, 2 * n):
        x = layers.Activation("leaky_relu")(layers.BatchNormalization()(layers.Dense(units)(x)))
    autoencoder = keras.Model(inputs, layers.Dense(n)(x))
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    prepared = time.time()
    history = autoencoder.fit(X_train, X_train, epochs=data["epochs"],
                              batch_size=data["batch_size"], validation_data=(X_val, X_val),
                              verbose=0)
    trained = time.time()

    encoder = keras.Model(inputs, code)
    raw = LogisticRegression().fit(X_train, y_train)
    encoded = LogisticRegression().fit(encoder.predict(X_train, verbose=0), y_train)
    tune.report({
        "raw_accuracy": float(accuracy_score(y_test, raw.predict(X_test))),
        "encoded_accuracy": float(accuracy_score(
            y_test, encoded.predict(encoder.predict(X_test, verbose=0)))),
        "loss": float(history.history["loss"][-1]),
        "entered": entered, "imported": imported, "prepared": prepared, "trained": trained,
        "finished": time.time(), "train_s": trained - prepared, "pid": os.getpid()})


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import ray
    from ray import tune

    imported = time.time()
    # address="local": a new instance even when `ray start` left one on this machine.
    ray.init(address="local", num_cpus=spec["slots"], include_dashboard=False)
    ready = time.time()
    tuner = tune.Tuner(
        tune.with_resources(trial, {"cpu": 1}),
        param_space={"data": spec["data"], "bottleneck": tune.grid_search(spec["bottlenecks"]),
                     "seed": tune.grid_search(spec["seeds"])},
        tune_config=tune.TuneConfig(max_concurrent_trials=spec["slots"]),
        run_config=tune.RunConfig(name="peer", storage_path=spec["storage"], verbose=1))
    grid = tuner.fit()
    fitted = time.time()
    trials = []
    for result in grid:
        if result.error is not None:
            raise RuntimeError(f"trial {result.config}: {result.error}")
        m = result.metrics
        trials.append({"bottleneck": result.config["bottleneck"], "seed": result.config["seed"],
                       **{k: m[k] for k in ("raw_accuracy", "encoded_accuracy", "loss", "entered",
                                            "imported", "prepared", "trained", "finished",
                                            "train_s", "pid")}})
    ray.shutdown()
    Path(sys.argv[2]).write_text(json.dumps({
        "started": STARTED, "imported": imported, "ray_ready": ready, "fitted": fitted,
        "shut_down": time.time(), "trials": trials}, indent=1))


if __name__ == "__main__":
    main()
