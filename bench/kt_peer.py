"""The ``search`` section's peer: Keras Tuner's ``Hyperband`` on the same task.

    python bench/kt_peer.py SPEC.json        # prints one JSON object, the last line of stdout

SPEC: ``overrides`` (aesweep's data overrides), ``seeds``, ``min_bottleneck``,
``max_bottleneck``, ``max_epochs``, ``factor``, ``min_epochs``, ``tuner_seed``, ``directory``.

Same rows as aesweep: for each seed, ``aesweep.config.compose_config(overrides + seed=S)``
and ``aesweep.job.prepare_job`` give the split (it follows the seed unless the overrides
fix ``split.random_state``, as the section does), scaled by a ``StandardScaler`` fitted on
the training rows. Same model: ``aesweep.model.build_autoencoder`` (Dense(2n)-BN-LeakyReLU,
Dense(n)-BN-LeakyReLU, a linear bottleneck, the mirror image), Adam(1e-3), MSE, batch 64,
trained by Keras's ``model.fit`` (no ``validation_data``: the objective needs no per-epoch
validation loss, which aesweep computes and logs; the peer is spared that pass). Same
objective: the job's downstream model (``prepare_job``'s estimator, scikit-learn's
``LogisticRegression``) fitted on the encoded training rows, its accuracy on the encoded
validation rows, ``kt.Objective("val_accuracy", "max")``. Same space: ``hp.Int(
"bottleneck", lo, hi, sampling="log")``.

``kt.Hyperband(max_epochs, factor, seed)``, everything else Keras Tuner's defaults
(``hyperband_iterations=1``) but ``min_epochs``: Keras Tuner fixes its smallest rung at 1
epoch (no argument sets it); the spec sets it to aesweep's lowest rung (3), which drops
Keras Tuner's most aggressive bracket (40 of its 70 trials, 81 of its 375 epochs per
execution), so both tools halve over the same rungs. ``executions_per_trial`` = the
number of seeds: execution ``i`` of a trial trains with ``keras.utils.set_random_seed(
seeds[i])`` (on seed ``seeds[i]``'s split), so a trial's score is the mean over the seeds
as aesweep's is. A promoted trial's executions all start from its parent's checkpoint
(Keras Tuner's ``SaveBestEpoch`` keeps one per trial: the parent's last execution's
weights) at ``tuner/initial_epoch``; aesweep resumes each seed from its own checkpoint.

Output: trained epochs (sum of ``epochs - initial_epoch`` over every execution), wall
time of ``tuner.search`` and of the whole process, the best trial (Keras Tuner's
``get_best_trials``: its bottleneck, epochs and mean validation accuracy) and, for
reference, the mean test accuracy of its executions (measured as they ran, on each
seed's test rows; Keras Tuner never sees it), and every execution.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def load_splits(overrides: list[str], seeds: list[int]) -> dict[int, dict[str, Any]]:
    """Per seed: aesweep's split, scaled on its training rows, and the downstream model."""
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    from aesweep.config import compose_config
    from aesweep.job import prepare_job

    out = {}
    for seed in seeds:
        job = prepare_job(compose_config([*overrides, f"seed={seed}"]))
        s = job.splits
        scaler = StandardScaler().fit(s.X_train)
        out[seed] = {
            **{name: scaler.transform(getattr(s, name)).astype(np.float32)
               for name in ("X_train", "X_val", "X_test")},
            "y_train": s.y_train, "y_val": s.y_val, "y_test": s.y_test,
            "estimator": job.estimator, "batch_size": int(job.cfg.trainer.batch_size),
            "learning_rate": float(job.cfg.optimizer.learning_rate)}
    return out


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import keras
    import keras_tuner as kt
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score

    from aesweep.model import build_autoencoder, crop_encoder

    seeds: list[int] = spec["seeds"]
    splits = load_splits(spec["overrides"], seeds)
    n_features = splits[seeds[0]]["X_train"].shape[1]
    executions: list[dict[str, Any]] = []
    imported = time.perf_counter()

    class AutoencoderModel(kt.HyperModel):
        """Execution ``self.execution`` of the current trial: its seed picks the split."""

        execution = 0

        def build(self, hp: kt.HyperParameters) -> keras.Model:
            seed = seeds[self.execution]
            keras.utils.set_random_seed(seed)
            bottleneck = hp.Int("bottleneck", spec["min_bottleneck"], spec["max_bottleneck"],
                                sampling="log")
            autoencoder, _ = build_autoencoder(n_features, bottleneck)
            autoencoder.compile(optimizer=keras.optimizers.Adam(
                learning_rate=splits[seed]["learning_rate"]), loss="mse")
            return autoencoder

        def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any, epochs: int,
                initial_epoch: int = 0, callbacks: Any = (), **kwargs: Any) -> dict[str, float]:
            seed = seeds[self.execution]
            d = splits[seed]
            clock = time.perf_counter()
            model.fit(d["X_train"], d["X_train"], batch_size=d["batch_size"], epochs=epochs,
                      initial_epoch=initial_epoch, callbacks=list(callbacks), verbose=0)
            trained = time.perf_counter()
            encoder = crop_encoder(model)
            encode = lambda X: keras.ops.convert_to_numpy(encoder(X, training=False))  # noqa: E731
            downstream = clone(d["estimator"]).fit(encode(d["X_train"]), d["y_train"])
            val = float(accuracy_score(d["y_val"], downstream.predict(encode(d["X_val"]))))
            test = float(accuracy_score(d["y_test"], downstream.predict(encode(d["X_test"]))))
            executions.append({
                "bottleneck": hp.get("bottleneck"), "seed": seed, "epochs": epochs,
                "initial_epoch": initial_epoch, "trained_epochs": epochs - initial_epoch,
                "val_accuracy": val, "test_accuracy": test, "train_s": trained - clock,
                "execution_s": time.perf_counter() - clock,
                "bracket": hp.values.get("tuner/bracket"), "round": hp.values.get("tuner/round"),
                "from_trial": hp.values.get("tuner/trial_id")})
            self.execution += 1
            return {"val_accuracy": val}

    hypermodel = AutoencoderModel()

    class Tuner(kt.Hyperband):
        def _configure_tensorboard_dir(self, *args: Any, **kwargs: Any) -> None:
            """No TensorBoard callback here: Keras Tuner 1.4.8 imports ``tensorboard``
            for every execution on TensorFlow, which TensorFlow >= 2.20 no longer installs."""

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            hypermodel.execution = 0
            results = super().run_trial(trial, *args, **kwargs)
            for e in executions[-len(seeds):]:
                e["trial_id"] = trial.trial_id
            return results

    tuner = Tuner(hypermodel, objective=kt.Objective("val_accuracy", "max"),
                  max_epochs=spec["max_epochs"], factor=spec["factor"], seed=spec["tuner_seed"],
                  executions_per_trial=len(seeds), directory=spec["directory"],
                  project_name="hyperband", overwrite=True)
    if spec.get("min_epochs", 1) != 1:  # Keras Tuner fixes it at 1: its brackets, again
        oracle = tuner.oracle
        oracle.min_epochs = spec["min_epochs"]
        oracle._current_bracket = oracle._get_num_brackets() - 1
        oracle._brackets = []
        oracle._start_new_bracket()
    clock = time.perf_counter()
    tuner.search(epochs=spec["max_epochs"], verbose=0)
    search_s = time.perf_counter() - clock
    best = tuner.oracle.get_best_trials(1)[0]
    picked = [e for e in executions if e["trial_id"] == best.trial_id]
    trials = tuner.oracle.trials.values()
    result = {
        "tool": f"keras-tuner {kt.__version__}",
        "trained_epochs": sum(e["trained_epochs"] for e in executions),
        "executions": len(executions), "trials": len(trials),
        "search_s": search_s, "setup_s": imported - STARTED,
        "process_s": time.perf_counter() - STARTED,
        "train_s_sum": sum(e["train_s"] for e in executions),
        "pick": {"trial_id": best.trial_id, "bottleneck": best.hyperparameters.get("bottleneck"),
                 "epochs": best.hyperparameters.get("tuner/epochs"),
                 "val_accuracy": float(best.score),
                 "val_accuracies": [e["val_accuracy"] for e in picked],
                 "test_accuracy": sum(e["test_accuracy"] for e in picked) / len(picked),
                 "test_accuracies": [e["test_accuracy"] for e in picked]},
        "execution_log": executions,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
