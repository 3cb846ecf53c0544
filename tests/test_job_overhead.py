"""A job's overhead (issue 14): ``overhead_seconds`` is logged last, and making the logging
cheaper lost no safety: a job killed while it logs never leaves a FINISHED run, so a
FINISHED run always holds every metric, ``overhead_seconds`` included."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from aesweep.names import ERROR_TAG, HASH_TAG, OVERHEAD_SECONDS, STALE_TAG, TRAIN_SECONDS
from aesweep.task import JobContext, run_task
from aesweep.tracking.resume import find_previous
from aesweep.tracking.runs import numpy_digest

from helpers import TINY, clean_env, compose_config, run_statuses, store_uri

FAST = [*TINY, "trainer.epochs=2", "evaluation.bootstrap_resamples=0",
        "evaluation.controls=[]"]
TESTS = Path(__file__).resolve().parent


def only_run(root: Path):
    client = MlflowClient(store_uri(root))
    experiment = client.get_experiment_by_name("aesweep")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


@pytest.mark.xdist_group("keras")
def test_overhead_seconds_is_logged_last_and_leaves_training_out(tmp_path: Path) -> None:
    cfg = compose_config([*FAST, f"paths.root={tmp_path}"])
    started = time.perf_counter()
    outcome = run_task(cfg, JobContext())
    wall = time.perf_counter() - started
    client, run = only_run(tmp_path)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    overhead = metrics[OVERHEAD_SECONDS]
    assert outcome.metrics[OVERHEAD_SECONDS] == pytest.approx(overhead)
    # Positive; the job's wall time holds it, its training and its downstream fits.
    assert 0 < overhead < wall - metrics[TRAIN_SECONDS]
    # Logged after every other final metric.
    (point,) = client.get_metric_history(run.info.run_id, OVERHEAD_SECONDS)
    final = [client.get_metric_history(run.info.run_id, key)[-1] for key in metrics
             if key != OVERHEAD_SECONDS]
    assert point.timestamp >= max(m.timestamp for m in final)


@pytest.mark.xdist_group("keras")
def test_a_sweeps_jobs_in_one_process_open_the_store_once(tmp_path: Path, monkeypatch) -> None:
    lookups = []
    original = MlflowClient.get_experiment_by_name
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name",
                        lambda self, name: lookups.append(name) or original(self, name))
    cfg = [*FAST, "tracking.log_model=false", f"paths.root={tmp_path}"]
    for num, seed in enumerate((0, 1)):
        run_task(compose_config([*cfg, f"seed={seed}"]), JobContext(job_num=num))
    assert lookups == ["aesweep"]  # the second job reused the first's store
    run_task(compose_config([*cfg, "seed=2"]), JobContext())
    assert lookups == ["aesweep", "aesweep"]  # a single run opens it afresh


@pytest.mark.parametrize("shape", [(7,), (5, 3), (12_001, 3), (4, 2, 2)])
def test_the_dataset_digest_is_mlflows(shape: tuple[int, ...]) -> None:
    from mlflow.data.digest_utils import compute_numpy_digest

    rng = np.random.default_rng(0)
    X = rng.normal(size=shape).astype(np.float32)
    y = rng.integers(0, 2, size=shape[0])
    assert numpy_digest(X, y) == compute_numpy_digest(X, y)
    assert numpy_digest(X) == compute_numpy_digest(X)
    codes = np.array([["a", 1], [None, 2.5]], dtype=object)  # a mixed table's object rows
    assert numpy_digest(codes, y[:2]) == compute_numpy_digest(codes, y[:2])


# A job in a process of its own, as the CLI runs it (SIGTERM raises KeyboardInterrupt), whose
# logging blocks at one call: the call is named by HOOK; the job writes MARKER once blocked.
JOB = """
import sys, threading
from pathlib import Path

root, hook, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
sys.path.insert(0, sys.argv[4])
import signal
from mlflow.tracking import MlflowClient
from aesweep.interrupts import interrupt
from aesweep.task import JobContext, run_task
from helpers import TINY, compose_config

signal.signal(signal.SIGTERM, interrupt)
method, wanted = {
    "model": ("log_model_artifacts", lambda *a, **k: True),
    "inputs": ("log_inputs", lambda *a, **k: True),
    "metrics": ("log_batch", lambda *a, **k: any(
        m.key == "recon_mse_test" for m in k.get("metrics", ()))),
    "artifacts": ("log_artifacts", lambda *a, **k: True),
    "overhead": ("log_metric", lambda *a, **k: a[1] == "overhead_seconds"),
}[hook]
original = getattr(MlflowClient, method)

def blocking(self, *args, **kwargs):
    if wanted(*args, **kwargs):
        marker.write_text("blocked")
        threading.Event().wait(300)
    return original(self, *args, **kwargs)

setattr(MlflowClient, method, blocking)
cfg = compose_config([*TINY, "trainer.epochs=2", "evaluation.bootstrap_resamples=0",
                      "evaluation.controls=[]", f"paths.root={root}"])
run_task(cfg, JobContext())
"""


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.parametrize(("hook", "sent"), [
    ("model", signal.SIGTERM), ("inputs", signal.SIGTERM), ("metrics", signal.SIGKILL),
    ("artifacts", signal.SIGTERM), ("overhead", signal.SIGKILL),
])
def test_a_job_killed_while_it_logs_never_ends_finished(tmp_path: Path, hook: str,
                                                        sent: signal.Signals) -> None:
    marker, log = tmp_path / "blocked", tmp_path / "job.log"
    with log.open("w") as output:
        proc = subprocess.Popen([sys.executable, "-c", JOB, str(tmp_path), hook, str(marker),
                                 str(TESTS)], cwd=tmp_path, env=clean_env(), stdout=output,
                                stderr=subprocess.STDOUT)
    try:
        assert _wait_for(lambda: marker.exists() or proc.poll() is not None, 300), \
            log.read_text()[-3000:]
        assert marker.exists(), log.read_text()[-3000:]  # blocked in its logging
        assert run_statuses(tmp_path / "mlflow.db") == ["RUNNING"]
        proc.send_signal(sent)
        if sent == signal.SIGKILL:
            proc.wait(timeout=60)
        else:  # KeyboardInterrupt in the job's main thread: the run ends KILLED
            assert _wait_for(lambda: run_statuses(tmp_path / "mlflow.db") != ["RUNNING"], 60), \
                log.read_text()[-3000:]
    finally:
        proc.kill()
        proc.wait()
    client, run = only_run(tmp_path)
    assert OVERHEAD_SECONDS not in run.data.metrics  # the job never got to its last call
    if sent == signal.SIGKILL:  # nothing cleaned up: RUNNING until a re-run sees it dead
        assert run.info.status == "RUNNING"
        previous = find_previous(client, run.info.experiment_id, run.data.tags[HASH_TAG])
        assert previous.stale == [run.info.run_id] and previous.finished is None
        run = client.get_run(run.info.run_id)
        assert run.info.status == "FAILED" and "died" in run.data.tags[STALE_TAG]
    else:
        assert run.info.status == "KILLED", log.read_text()[-3000:]
        assert run.data.tags[ERROR_TAG] == "interrupted (Ctrl-C or SIGTERM)"


# Each architecture's logged encoder, unpickled where nothing of aesweep was imported yet.
LOAD = """
import pickle, sys
import numpy as np
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        model, X, expected = pickle.load(f)
    np.testing.assert_array_equal(model.predict(None, X), expected)
print("ok", len(sys.argv) - 1)
"""

ARCHITECTURES = {
    "dense": {},
    "denoising": {"noise_kind": "gaussian", "noise_level": 0.2},
    "sparse": {"l1": 1e-3},
    "variational": {"variational": True},
    "conv": {"image_shape": (4, 4, 1), "filters": (4,)},
}


@pytest.mark.xdist_group("keras")
def test_the_logged_encoder_pickles_as_config_and_weights(tmp_path: Path) -> None:
    """The pyfunc model pickles its Keras encoder as config and weights (Keras's own
    pickling takes ~10x as long): every architecture loads in a fresh process and
    transforms rows exactly as the job did."""
    import cloudpickle
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from aesweep.features import AutoencoderFeatures
    from aesweep.tracking.models import RawFeaturesEncoder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 16)).astype(np.float32)
    paths = []
    for name, params in ARCHITECTURES.items():
        transform = Pipeline([("scale", StandardScaler()), ("encode", AutoencoderFeatures(
            bottleneck=3, hidden_units=(8,), epochs=1, random_state=0, **params))]).fit(X)
        model = RawFeaturesEncoder(transform)
        expected = model.predict(None, X)
        state = model.__getstate__()
        assert "encoder_" not in vars(state["transform"].named_steps["encode"]), name
        paths.append(tmp_path / f"{name}.pkl")
        paths[-1].write_bytes(cloudpickle.dumps((model, X, expected)))
        assert hasattr(transform.named_steps["encode"], "encoder_")  # the job's is whole
    result = subprocess.run([sys.executable, "-c", LOAD, *map(str, paths)], env=clean_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().endswith(f"ok {len(paths)}"), result.stderr[-3000:]


@pytest.mark.xdist_group("keras")
def test_a_ctrl_c_disguised_as_a_c_functions_error_ends_the_run_killed(tmp_path: Path,
                                                                      monkeypatch) -> None:
    """A KeyboardInterrupt raised while C code calls back into Python (TensorFlow tracing a
    step) can surface as a SystemError: in a multirun it must still stop the sweep, with
    the job's run KILLED, not log a FAILED job and go on."""
    from aesweep.training import Trainer

    def interrupted_in_c(self, epoch):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("<built-in function> returned a result with an exception "
                              "set") from interrupt

    monkeypatch.setattr(Trainer, "epoch", interrupted_in_c)
    cfg = compose_config([*FAST, "tracking.log_model=false", f"paths.root={tmp_path}"])
    with pytest.raises(KeyboardInterrupt):
        run_task(cfg, JobContext(job_num=0))
    _, run = only_run(tmp_path)
    assert run.info.status == "KILLED"
    assert "interrupted" in run.data.tags[ERROR_TAG]


@pytest.mark.xdist_group("keras")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the drop
def test_a_ctrl_c_that_python_drops_still_stops_the_job(tmp_path: Path, monkeypatch) -> None:
    """A signal's KeyboardInterrupt raised inside a ``__del__`` is printed and dropped by
    Python: the job must still stop at its next epoch end, with its run KILLED."""
    from aesweep.interrupts import interrupt
    from aesweep.progress import EpochLog

    class DroppedHere:
        def __del__(self) -> None:
            interrupt(signal.SIGINT, None)

    shown = EpochLog.__call__
    epochs_seen: list[int] = []

    def drop_a_ctrl_c(self, epoch, logs, seconds):
        epochs_seen.append(epoch)
        if len(epochs_seen) == 1:
            DroppedHere()  # collected at once: "Exception ignored in ... __del__"
        shown(self, epoch, logs, seconds)

    monkeypatch.setattr(EpochLog, "__call__", drop_a_ctrl_c)
    cfg = compose_config([*FAST, "trainer.epochs=5", "tracking.log_model=false",
                          f"paths.root={tmp_path}"])
    with pytest.raises(KeyboardInterrupt):
        run_task(cfg, JobContext(job_num=0))
    assert len(epochs_seen) == 1
    _, run = only_run(tmp_path)
    assert run.info.status == "KILLED"
    assert "interrupted" in run.data.tags[ERROR_TAG]


@pytest.mark.xdist_group("keras")
def test_a_ctrl_c_that_reached_its_job_does_not_stop_the_next(tmp_path: Path,
                                                              monkeypatch) -> None:
    """Once an interrupt has ended a job KILLED, nothing of it stays pending: a later job
    in the same process (a notebook, a test) trains to the end."""
    from aesweep.interrupts import interrupt
    from aesweep.progress import EpochLog

    shown = EpochLog.__call__

    def ctrl_c(self, epoch, logs, seconds):
        interrupt(signal.SIGINT, None)

    cfg = compose_config([*FAST, "tracking.log_model=false", f"paths.root={tmp_path}"])
    monkeypatch.setattr(EpochLog, "__call__", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_task(cfg, JobContext(job_num=0))
    monkeypatch.setattr(EpochLog, "__call__", shown)
    run_task(compose_config([*FAST, "seed=1", "tracking.log_model=false",
                             f"paths.root={tmp_path}"]), JobContext(job_num=1))
    assert sorted(run_statuses(tmp_path / "mlflow.db")) == ["FINISHED", "KILLED"]
