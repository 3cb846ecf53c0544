"""Progress: a sweep job's ``[k/N] ... (elapsed, ETA)`` line, per-epoch lines (every epoch on
a terminal, every few in a log file, always the last), and per-epoch losses that reach
MLflow while the job trains: epochs 1..E exactly once, for a fresh and a resumed run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from aesweep import AutoencoderFeatures
from aesweep.names import RESUMED_TAG, TRAIN_LOSS, VAL_LOSS
from aesweep.progress import EpochLog, chain, clock, eta, log_every, sweep_line
from aesweep.task import JobContext, job_line, run_task
from aesweep.tracking.live import LiveMetrics
from hydra_plugins.aesweep_plugins.sweeper import progress_overrides

from helpers import TINY, compose_config, describe, run_cli, store_args

pytestmark = pytest.mark.xdist_group("keras")

FAST = [*TINY, "tracking.log_model=false", "evaluation.bootstrap_resamples=0",
        "evaluation.controls=[]"]


# --- the sweep's line ----------------------------------------------------------------------


def test_clock_reads_like_a_wall_clock() -> None:
    assert [clock(s) for s in (0, 42, 126, 599.6, 3723)] == [
        "0:00", "0:42", "2:06", "10:00", "1:02:03"]


def test_eta_extrapolates_the_sweeps_pace() -> None:
    assert eta(42.0, 3, 12) == 126.0  # 14 s a job, 9 to go
    assert eta(42.0, 12, 12) == 0.0
    assert eta(0.0, 0, 12) == float("inf")


def test_a_sweep_line_starts_with_k_of_n_and_ends_with_elapsed_and_eta() -> None:
    line = sweep_line("bottleneck=16,seed=1: encoded 0.91  run=abc", 3, 12,
                      started=1000.0, now=1042.0)
    assert line == "[3/12] bottleneck=16,seed=1: encoded 0.91  run=abc  (0:42 elapsed, ETA 2:06)"
    assert sweep_line("m", 12, 12, 1000.0, now=1300.0) == "[12/12] m  (5:00 elapsed, ETA 0:00)"
    assert sweep_line("m", 3, 12, None) == "[3/12] m"  # no start: no times
    assert sweep_line("m", None, 12, 1000.0) == "m"  # a single run
    assert sweep_line("m", 3, None, 1000.0) == "m"  # a total nobody knows (a search)


def test_the_sweepers_overrides_reach_the_jobs_config() -> None:
    cfg = compose_config(progress_overrides(12, 1000.5))
    assert (cfg.sweep.jobs, cfg.sweep.started) == (12, 1000.5)
    started = time.time()
    cfg = compose_config(progress_overrides(4, started))
    line = job_line(cfg, JobContext(job_num=1), "done")  # job numbers count from 0
    assert line.startswith("[2/4] done  (") and " elapsed, ETA " in line
    assert job_line(cfg, JobContext(), "done") == "done"
    assert job_line(compose_config(), JobContext(job_num=1), "done") == "done"


# --- per-epoch lines -----------------------------------------------------------------------


def test_log_every_gives_a_50_epoch_job_about_ten_lines() -> None:
    assert [log_every(e) for e in (1, 7, 10, 12, 30, 50, 51, 100, 1000)] == [
        1, 1, 1, 2, 5, 5, 10, 10, 100]
    for epochs in range(1, 500):
        step = log_every(epochs)
        assert epochs // step <= 10
        assert step == 1 or epochs // step >= 4, epochs  # never too few either


def logged_epochs(epochs: int, tty: bool, caplog: pytest.LogCaptureFixture,
                  restored: int = 0) -> list[str]:
    logger = logging.getLogger("aesweep.test_progress")
    hook = EpochLog(epochs, label="job: ", tty=tty, logger=logger)
    with caplog.at_level(logging.INFO, logger.name):
        caplog.clear()
        for epoch in range(1, epochs + 1):
            hook(epoch, {"loss": 1 / epoch, "val_loss": 2 / epoch},
                 None if epoch <= restored else float(epoch))
    return [r.getMessage() for r in caplog.records if r.name == logger.name]


def test_a_log_file_gets_every_nth_epoch_and_the_last(caplog) -> None:
    lines = logged_epochs(50, tty=False, caplog=caplog)
    assert [line.split()[2] for line in lines] == [f"{e}/50" for e in range(5, 51, 5)]
    # The time is the mean over the epochs since the line before: epochs 6..10 took 6..10 s.
    assert lines[1] == "job: epoch 10/50  loss=0.1000  val_loss=0.2000  8.00 s/epoch"
    lines = logged_epochs(53, tty=False, caplog=caplog)
    assert [line.split()[2] for line in lines] == [
        f"{e}/53" for e in (10, 20, 30, 40, 50, 53)]
    assert lines[-1].endswith("52.00 s/epoch")  # epochs 51..53


def test_a_terminal_gets_every_epoch_but_not_the_restored_ones(caplog) -> None:
    lines = logged_epochs(6, tty=True, caplog=caplog, restored=2)
    assert [line.split()[2] for line in lines] == ["3/6", "4/6", "5/6", "6/6"]
    assert len(logged_epochs(12, tty=False, caplog=caplog)) == 6
    assert len(logged_epochs(12, tty=True, caplog=caplog)) == 12


def test_chain_calls_each_hook_in_turn() -> None:
    seen: list[tuple[str, int]] = []
    hook = chain(lambda e, logs, s: seen.append(("a", e)), None,
                 lambda e, logs, s: seen.append(("b", e)))
    hook(1, {}, 0.1)
    hook(2, {}, None)
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


# --- the epoch hook in the estimator -------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).standard_normal((120, 8)).astype(np.float32)
    return X[:100], X[100:]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, float], float | None]] = []

    def __call__(self, epoch: int, logs, seconds: float | None) -> None:
        self.calls.append((epoch, dict(logs), seconds))


def test_fit_calls_the_hook_once_per_epoch_with_its_losses(data) -> None:
    X, X_val = data
    hook = Recorder()
    model = AutoencoderFeatures(bottleneck=2, epochs=3, batch_size=32, random_state=0)
    model.fit(X, validation_data=X_val, on_epoch=hook)
    assert [epoch for epoch, _, _ in hook.calls] == [1, 2, 3]
    assert [logs["loss"] for _, logs, _ in hook.calls] == model.history_["loss"]
    assert [logs["val_loss"] for _, logs, _ in hook.calls] == model.history_["val_loss"]
    assert all(isinstance(s, float) and s > 0 for _, _, s in hook.calls)


def test_a_resumed_fit_replays_the_restored_epochs_first(data, tmp_path: Path) -> None:
    X, X_val = data
    params = dict(bottleneck=2, batch_size=32, random_state=0, checkpoint_dir=str(tmp_path))
    first = AutoencoderFeatures(epochs=2, **params).fit(X, validation_data=X_val)
    hook = Recorder()
    resumed = AutoencoderFeatures(epochs=3, **params).fit(X, validation_data=X_val,
                                                          on_epoch=hook)
    assert resumed.resumed_from_epochs_ == 2
    assert [(epoch, seconds is None) for epoch, _, seconds in hook.calls] == [
        (1, True), (2, True), (3, False)]
    assert [logs["loss"] for _, logs, _ in hook.calls[:2]] == first.history_["loss"]
    assert [logs["val_loss"] for _, logs, _ in hook.calls] == resumed.history_["val_loss"]


# --- streaming to MLflow -------------------------------------------------------------------


class FakeClient:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[tuple[str, int]]] = []
        self.fail = fail

    def log_batch(self, run_id: str, metrics) -> None:
        if self.fail:
            raise ConnectionError("the server is down")
        self.batches.append([(m.key, m.step) for m in metrics])


def test_live_metrics_send_at_most_once_per_interval_and_always_the_last_epoch() -> None:
    client = FakeClient()
    live = LiveMetrics(client, "run", epochs=4, interval=3600)
    for epoch in (1, 2):  # restored: they wait for the first trained epoch
        live(epoch, {"loss": 1.0}, None)
    assert client.batches == []
    for epoch in (3, 4):
        live(epoch, {"loss": 1.0, "val_loss": 2.0}, 0.5)
    assert client.batches == [
        [(TRAIN_LOSS, 1), (TRAIN_LOSS, 2), (TRAIN_LOSS, 3), (VAL_LOSS, 3)],
        [(TRAIN_LOSS, 4), (VAL_LOSS, 4)]]  # the last epoch, within the interval
    every = FakeClient()
    live = LiveMetrics(every, "run", epochs=9, interval=0)
    for epoch in (1, 2, 3):
        live(epoch, {"loss": 1.0}, 0.5)
    assert every.batches == [[(TRAIN_LOSS, 1)], [(TRAIN_LOSS, 2)], [(TRAIN_LOSS, 3)]]


def test_live_metrics_send_the_rest_on_exit_even_when_the_job_fails() -> None:
    client = FakeClient()
    with pytest.raises(FloatingPointError), LiveMetrics(client, "run", 9, 3600) as live:
        live(1, {"loss": 1.0}, 0.5)
        live(2, {"loss": 2.0}, 0.5)
        raise FloatingPointError("diverged")
    assert client.batches == [[(TRAIN_LOSS, 1)], [(TRAIN_LOSS, 2)]]
    # A send that fails on the way out does not hide the job's own error.
    with pytest.raises(FloatingPointError), LiveMetrics(FakeClient(fail=True), "r", 9) as live:
        raise FloatingPointError("diverged")


def steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


def test_a_job_streams_epochs_1_to_e_once_fresh_and_resumed(tmp_path: Path, monkeypatch,
                                                            caplog) -> None:
    seen: list[tuple[int, list[int], str]] = []
    send = LiveMetrics.__call__

    def watched(self, epoch, logs, seconds):
        send(self, epoch, logs, seconds)
        if seconds is not None:  # what the store holds while the job still trains
            seen.append((epoch, steps(self.client, self.run_id, TRAIN_LOSS),
                         self.client.get_run(self.run_id).info.status))

    monkeypatch.setattr(LiveMetrics, "__call__", watched)
    sweep = [f"paths.root={tmp_path}", "sweep.jobs=3", f"sweep.started={time.time()}"]
    with caplog.at_level(logging.INFO, "aesweep"):
        fresh = run_task(compose_config([*FAST, *sweep, "trainer.epochs=3"]),
                         JobContext(job_num=0, overrides=["trainer.epochs=3"]))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for key in (TRAIN_LOSS, VAL_LOSS):
        assert steps(client, fresh.run_id, key) == [1, 2, 3]
    # The first epoch is in MLflow at once, the last before the job ends.
    assert seen[0] == (1, [1], "RUNNING") and seen[-1] == (3, [1, 2, 3], "RUNNING")
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if "epoch 3/3" in line]
    (done,) = [line for line in lines if "recon_mse_test=" in line]
    assert done.startswith("[1/3] epochs=3: recon_mse_test=") and " ETA " in done
    assert f"run={fresh.run_id}" in done

    seen.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, "aesweep"):
        resumed = run_task(compose_config([*FAST, *sweep, "trainer.epochs=5"]),
                           JobContext(job_num=1, overrides=["trainer.epochs=5"]))
        # The same config again: reused, and still counted.
        run_task(compose_config([*FAST, *sweep, "trainer.epochs=5"]),
                 JobContext(job_num=2, overrides=["trainer.epochs=5"]))
    run = client.get_run(resumed.run_id)
    assert run.data.tags[RESUMED_TAG] == "3"
    for key in (TRAIN_LOSS, VAL_LOSS):
        assert steps(client, resumed.run_id, key) == [1, 2, 3, 4, 5]
        restored = [m.value for m in client.get_metric_history(resumed.run_id, key)][:3]
        assert restored == [m.value for m in client.get_metric_history(fresh.run_id, key)]
    # The restored epochs went with the first trained one, while the job trained.
    assert seen[0] == (4, [1, 2, 3, 4], "RUNNING")
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("[2/3] epochs=5: recon_mse_test=") for line in lines)
    assert any(line.startswith("[3/3] skip epochs=5: already FINISHED") and
               line.endswith("ETA 0:00)") for line in lines)


@pytest.mark.slow
def test_a_sweep_prints_k_of_n_with_eta_and_epoch_lines(tmp_path: Path) -> None:
    result = run_cli(["-m", *store_args(tmp_path), *FAST, "trainer.epochs=1,2"], cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    output = result.stdout + result.stderr
    done = [line for line in output.splitlines() if "recon_mse_test=" in line]
    assert len(done) == 2, describe(result)
    assert "- [1/2] epochs=1: " in done[0] and "- [2/2] epochs=2: " in done[1]
    assert all(" elapsed, ETA " in line for line in done)
    # Not a terminal: a log-file's lines, each job's last epoch included.
    assert "epochs=2: epoch 2/2  loss=" in output
    (log_file,) = [p for p in tmp_path.glob("multirun/*/*/1/*.log")]
    assert "epochs=2: epoch 2/2  loss=" in log_file.read_text()


def test_ctrl_c_during_a_send_takes_effect_after_it() -> None:
    """A signal inside the store client's code would surface in its C code (a SystemError
    instead of KeyboardInterrupt); deferred, it interrupts right after the send."""
    import os
    import signal

    from aesweep.tracking.live import interrupts_deferred

    # Ctrl-C as in a console (pytest-xdist's workers ignore SIGINT).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    try:
        with pytest.raises(KeyboardInterrupt), interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the send finished")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert done == ["the send finished"]
