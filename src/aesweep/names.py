"""Names that the jobs, the tracking layer and the report must agree on, defined once.

MLflow tags and params, metric keys, feature sets and pipeline steps, the controls, and
the one sign convention: a *delta* is positive when the encoder is better.
"""

from __future__ import annotations

# --- tags ----------------------------------------------------------------------------------
PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests runs by
NOTE_TAG = "mlflow.note.content"  # a run's description (Markdown) on its overview page
RUN_COLOR_TAG = "mlflow.runColor"  # the colour the MLflow UI draws a run in ("#rrggbb")
ROLE_TAG = "aesweep.role"  # SWEEP_ROLE on a multirun's parent run
SWEEP_ROLE = "sweep"
SWEEP_ID_TAG = "aesweep.sweep_id"  # the parent's run id, on the parent and every child
# On a parent: job N of this sweep was skipped, its config already FINISHED as that run.
REUSED_TAG_PREFIX = "aesweep.reused."
HASH_TAG = "config_hash"  # what a job computes; matches a re-run to earlier runs
JOB_NUM_TAG = "aesweep.job_num"
TASK_TAG = "aesweep.task"
MAIN_METRIC_TAG = "aesweep.main_metric"
DATASET_TAG = "aesweep.dataset"
JIT_TAG = "aesweep.jit_compile"
PCA_CAPPED_TAG = "aesweep.pca_capped"  # "32->20": PCA allowed only 20 components
RESUMED_TAG = "resumed_from_epochs"
ERROR_TAG = "error"  # "Type: message" on a FAILED or KILLED run
STALE_TAG = "aesweep.stale"  # on a run whose process died while it was RUNNING
# Which process owns a RUNNING run, so that a later sweep can tell if it died.
HOST_TAG, PID_TAG, PID_STARTED_TAG = "aesweep.host", "aesweep.pid", "aesweep.pid_started"
NODE_TAG = "aesweep.node"  # the Ray node a job ran on, when it ran on Ray
DEVICE_TAG = "aesweep.device"  # what trained the autoencoder: "CPU" or "GPU:0 (name)"
THREADS_TAG = "aesweep.threads"  # the job's thread-pool size, when its launcher shares cores
# Checkpoints in the artifact store (a tracking server): see tracking/checkpoints.py.
TRAIN_HASH_TAG = "aesweep.train_hash"  # the config hash without the epoch count
CHECKPOINT_EPOCHS_TAG = "aesweep.checkpoint_epochs"  # "10,20": checkpoints this run holds
CHECKPOINT_SOURCE_TAG = "aesweep.checkpoint_from_run"  # the run whose checkpoint it resumed
# Where a job's validation figures come from: "holdout" (split.val_size rows) or "cv<K>"
# (K-fold cross-validation on the training rows, when split.val_size=0).
VALIDATION_TAG = "aesweep.validation"
# A search (hydra/sweeper=search): the Optuna trial a job belongs to, its rung (0: the
# fewest epochs), and on a pruned trial's runs at its last rung, the rung it stopped at.
TRIAL_TAG, RUNG_TAG, PRUNED_TAG = "aesweep.trial", "aesweep.rung", "aesweep.pruned_at_rung"

# --- params --------------------------------------------------------------------------------
BOTTLENECK_PARAM = "architecture.bottleneck"
# The architecture config group (``architecture=dense,sparse`` sweeps it: a sweep's grid key)
# and the param naming the member a job ran: every member's schema sets ``name``.
ARCHITECTURE_GROUP = "architecture"
ARCHITECTURE_PARAM = f"{ARCHITECTURE_GROUP}.name"
EPOCHS_PARAM = "trainer.epochs"
SEED_PARAM, DATASET_PARAM = "seed", "dataset.name"
SEED_PARAMS = frozenset({SEED_PARAM, "split.random_state"})  # vary within a report cell
SWEEP_OVERRIDES_PARAM = "sweep.overrides"  # on a parent: the command line's overrides
SWEEP_GRID_PREFIX = "sweep.grid."  # on a parent: the values of each swept key
# On a parent: the sweeper's name ("aesweep", "search") and its settings, e.g.
# "sweep.sweeper.objectives" = "validation,minimize architecture.bottleneck".
SWEEPER_PARAM = "sweep.sweeper"
ENV_MASK = "<from environment>"  # logged instead of any value read from the environment

# --- feature sets and pipeline steps -------------------------------------------------------
RAW, ENCODED, PCA, RANDOM = "raw", "encoded", "pca", "random"
CONTROLS = (RAW, PCA, RANDOM)  # what the encoder is compared with
PAIRED_CONTROLS = (RAW, PCA)  # compared on the same test rows (bootstrap CI, McNemar)
SCALE_STEP, ENCODE_STEP, MODEL_STEP = "scale", "encode", "model"

# --- metrics -------------------------------------------------------------------------------
METRICS = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("mae", "rmse", "r2"),
}
MAIN_METRIC = {"classification": "accuracy", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
# Metrics the paired bootstrap can resample from hard predictions.
PAIRED_METRICS = ("accuracy", "precision", "recall", "f1", "mae", "rmse", "r2")
TRAIN_LOSS, VAL_LOSS = "train_loss", "val_loss"  # per epoch, step = epoch
# The variational architecture's two terms of train_loss (= recon + beta x kl), per epoch.
TRAIN_RECON_LOSS, TRAIN_KL_LOSS = "train_recon_loss", "train_kl_loss"
# The training history's keys that a job logs per epoch, and their metric names.
EPOCH_METRICS = {"loss": TRAIN_LOSS, "val_loss": VAL_LOSS, "recon_loss": TRAIN_RECON_LOSS,
                 "kl_loss": TRAIN_KL_LOSS}
RECON_MSE_VAL, RECON_MSE_TEST = "recon_mse_val", "recon_mse_test"
TRAIN_SECONDS = "train_seconds"
# A job's wall time (from the start of its task to its last logging call) minus its training
# and its downstream fits: what the framework and MLflow cost it. Logged last.
OVERHEAD_SECONDS = "overhead_seconds"
# The sparse architecture's bottleneck on the test rows: mean |activation|, and the fraction
# of activations (rows x units) with |activation| < NEAR_ZERO.
CODE_MEAN_ABS, CODE_NEAR_ZERO = "code_mean_abs_test", "code_near_zero_test"
# Inputs are standardised (unit variance); a code this small carries ~nothing of a row.
NEAR_ZERO = 1e-2


def metric_key(feature_set: str, metric: str) -> str:
    """``encoded_accuracy``: a feature set's test score."""
    return f"{feature_set}_{metric}"


def val_metric_key(feature_set: str, metric: str) -> str:
    """``val_encoded_accuracy``: a feature set's score on the validation rows (or, without
    them, its K-fold cross-validated score on the training rows). What a sweep selects on."""
    return f"val_{metric_key(feature_set, metric)}"


def delta_key(control: str) -> str:
    """``delta_vs_raw``: encoded minus a control in the main metric, see :func:`sign`."""
    return f"delta_vs_{control}"


def ci_keys(control: str) -> tuple[str, str]:
    """``ci_low_vs_raw``, ``ci_high_vs_raw``: the paired bootstrap CI of the delta."""
    return f"ci_low_vs_{control}", f"ci_high_vs_{control}"


def mcnemar_key(control: str) -> str:
    return f"mcnemar_p_vs_{control}"


def sign(metric: str) -> int:
    """+1 when higher is better, -1 for error metrics: ``sign * (encoded - control)`` is
    positive when the encoder is better."""
    return -1 if metric in LOWER_IS_BETTER else 1


def improvement(encoded: float, control: float, metric: str) -> float:
    """Encoded minus control, signed so that positive always means the encoder is better."""
    return sign(metric) * (encoded - control)
