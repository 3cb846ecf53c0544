"""``aesweep -m hydra/sweeper=search`` end to end, on tiny data: successive halving over
epochs with promotions that resume from the rung before, a resumed study that trains
nothing new, the random and NSGA-II samplers (a Pareto front of two objectives), and a
study kept in a PostgreSQL store's own schema."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from aesweep.names import (
    EPOCHS_PARAM,
    PARENT_TAG,
    PRUNED_TAG,
    RESUMED_TAG,
    ROLE_TAG,
    RUNG_TAG,
    SWEEP_ROLE,
    TRAIN_LOSS,
    TRIAL_TAG,
)

from helpers import TINY, describe, run_cli, store_args, store_uri
from server_fixture import server_directory

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("search_sweep")]

BOTTLENECK = "architecture.bottleneck"
QUICK = [*TINY, "evaluation.bootstrap_resamples=0"]
# Two bottlenecks at 1 epoch, the better one promoted to 3 (η=2; the top rung is always
# max_resource), each point of the grid once.
HALVING = ["-m", "hydra/sweeper=search", *QUICK, f"{BOTTLENECK}=choice(2,4)",
           "hydra.sweeper.sampler=grid", "hydra.sweeper.n_trials=2",
           "hydra.sweeper.fidelity.min_resource=1", "hydra.sweeper.fidelity.max_resource=3",
           "hydra.sweeper.fidelity.reduction_factor=2"]


def load_study(root: Path) -> optuna.Study:
    (name,) = optuna.get_all_study_names(f"sqlite:///{root / 'studies.db'}")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'studies.db'}")


def job_runs(client: MlflowClient) -> list:
    return [r for r in client.search_runs(["1"], max_results=1000) if PARENT_TAG in r.data.tags]


@pytest.fixture(scope="module")
def halving(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("search")
    result = run_cli([*HALVING, *store_args(root)], cwd=root)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(store_uri(root))
    return SimpleNamespace(root=root, result=result, client=client, runs=job_runs(client))


def test_rungs_are_nested_tagged_and_pruned_runs_stay_finished(halving) -> None:
    (parent,) = [r for r in halving.client.search_runs(["1"])
                 if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    assert parent.info.status == "FINISHED"
    runs = halving.runs
    assert {r.data.tags[PARENT_TAG] for r in runs} == {parent.info.run_id}
    assert {r.info.status for r in runs} == {"FINISHED"}
    by_rung = {rung: [r for r in runs if r.data.tags[RUNG_TAG] == rung] for rung in ("0", "1")}
    assert len(by_rung["0"]) == 2 and len(by_rung["1"]) == 1, describe(halving.result)
    assert {r.data.params[EPOCHS_PARAM] for r in by_rung["0"]} == {"1"}
    (top,) = by_rung["1"]
    assert top.data.params[EPOCHS_PARAM] == "3" and top.data.tags[RESUMED_TAG] == "1"
    winner = top.data.tags[TRIAL_TAG]
    for run in by_rung["0"]:
        promoted = run.data.tags[TRIAL_TAG] == winner
        assert (PRUNED_TAG in run.data.tags) != promoted
        assert promoted or run.data.tags[PRUNED_TAG] == "0"
    assert top.info.run_name == f"bottleneck={top.data.params[BOTTLENECK]} epochs=3"
    output = halving.result.stdout + halving.result.stderr
    assert "rung 1/2: 1 epoch(s), 1 of 2 configurations promoted" in output
    assert f"best trial on validation: #{winner} " in output


def test_the_study_holds_the_trials_and_their_runs(halving) -> None:
    study = load_study(halving.root)
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "PRUNED"]
    best = study.best_trial
    assert set(best.intermediate_values) == {1, 3}
    (top,) = [r for r in halving.runs if r.data.tags[RUNG_TAG] == "1"]
    assert best.user_attrs["aesweep.runs"]["1"] == [top.info.run_id]
    assert str(best.params[BOTTLENECK]) == top.data.params[BOTTLENECK]


def test_a_promotion_trains_what_a_fresh_run_trains(halving, tmp_path: Path) -> None:
    """The promoted job resumed from its 1-epoch checkpoint: its loss history equals that
    of a fresh 3-epoch run of the same config in another store."""
    (top,) = [r for r in halving.runs if r.data.tags[RUNG_TAG] == "1"]
    result = run_cli([*QUICK, f"{BOTTLENECK}={top.data.params[BOTTLENECK]}",
                      f"{EPOCHS_PARAM}=3", *store_args(tmp_path)], cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    client = MlflowClient(store_uri(tmp_path))
    (fresh,) = client.search_runs(["1"])
    assert RESUMED_TAG not in fresh.data.tags

    def history(c: MlflowClient, run_id: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in c.get_metric_history(run_id, TRAIN_LOSS))

    resumed, trained = history(halving.client, top.info.run_id), history(client, fresh.info.run_id)
    assert [s for s, _ in resumed] == [s for s, _ in trained] == [1, 2, 3]
    assert [v for _, v in resumed] == pytest.approx([v for _, v in trained], abs=1e-5)


def test_the_same_command_resumes_the_study_and_trains_nothing(halving) -> None:
    result = run_cli([*HALVING, *store_args(halving.root)], cwd=halving.root)
    assert result.returncode == 0, describe(result)
    assert "2 trials done, 0 to resume, 0 new" in result.stdout + result.stderr
    assert len(job_runs(halving.client)) == len(halving.runs)  # no new job run
    parents = [r for r in halving.client.search_runs(["1"], order_by=["start_time DESC"])
               if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE]
    reused = {v for k, v in parents[0].data.tags.items() if k.startswith("aesweep.reused.")}
    assert len(reused) == 2  # each trial's last jobs: the sweep's table and report show them
    assert len(load_study(halving.root).trials) == 2


@pytest.mark.parametrize(("sampler", "objectives"), [
    ("random", "[validation]"),
    ("nsga2", "[validation,'minimize architecture.bottleneck']"),
])
def test_samplers_without_halving(tmp_path: Path, sampler: str, objectives: str) -> None:
    result = run_cli(["-m", "hydra/sweeper=search", *QUICK, f"{EPOCHS_PARAM}=1",
                      f"{BOTTLENECK}=range(2,4)", f"hydra.sweeper.sampler={sampler}",
                      "hydra.sweeper.n_trials=2", f"hydra.sweeper.objectives={objectives}",
                      *store_args(tmp_path)], cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    study = load_study(tmp_path)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.params[BOTTLENECK] for t in done) == [2, 3]
    runs = job_runs(MlflowClient(store_uri(tmp_path)))
    assert len(runs) == 2 and all(RUNG_TAG not in r.data.tags for r in runs)
    if sampler == "nsga2":
        front = study.best_trials
        assert front and all(len(t.values) == 2 for t in front)
        smallest = min(done, key=lambda t: t.params[BOTTLENECK])
        assert smallest in front  # nothing is smaller: it cannot be dominated


def test_a_postgresql_store_keeps_the_study_in_its_own_schema(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """MLflow and Optuna in one PostgreSQL database, each with its own alembic_version."""
    from aesweep.errors import AesweepError
    from aesweep.search.study import open_study, study_storage
    from aesweep.server.postgres import Postgres, find_binaries

    try:
        find_binaries()
    except AesweepError as error:
        pytest.skip(str(error))
    postgres = Postgres(server_directory(tmp_path_factory, "search-pg") / "pg", durable=False,
                        password="pw")
    postgres.start()
    try:
        uri = postgres.uri("mlflow").replace("mlflow@", "mlflow:pw@")
        client = MlflowClient(uri)
        experiment = client.create_experiment("search")
        storage = study_storage(uri, None, {})
        assert storage.schema == "optuna"
        study = open_study(storage, "s", ["maximize"], "random", 0, 2)
        study.tell(study.ask(), 1.0)
        client.create_run(experiment)  # MLflow still works beside it
        assert len(open_study(storage, "s", ["maximize"], "random", 0, 2).trials) == 1
        assert len(MlflowClient(uri).search_runs([experiment])) == 1
        connection = postgres.connect("mlflow")
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_schema FROM information_schema.tables "
                           "WHERE table_name = 'alembic_version'")
            assert sorted(row[0] for row in cursor.fetchall()) == ["optuna", "public"]
        connection.close()
    finally:
        postgres.stop()


def test_ctrl_c_in_a_rung_then_the_same_command_finishes_the_study(tmp_path: Path) -> None:
    """SIGINT while the top rung trains: the job and its sweep end KILLED; re-running the
    command finishes the study without re-training the rung below."""
    import signal
    import subprocess
    import time

    from helpers import aesweep_command, clean_env

    args = ["-m", "hydra/sweeper=search", *QUICK, f"{BOTTLENECK}=choice(2,4)",
            "hydra.sweeper.sampler=grid", "hydra.sweeper.n_trials=2",
            "hydra.sweeper.fidelity.min_resource=1", "hydra.sweeper.fidelity.max_resource=3000",
            "hydra.sweeper.fidelity.reduction_factor=3000", "tracking.log_model=false",
            *store_args(tmp_path)]
    client = MlflowClient(store_uri(tmp_path))

    def top_rung_running() -> bool:
        return any(r.info.status == "RUNNING" and r.data.params.get(EPOCHS_PARAM) == "3000"
                   for r in client.search_runs(["1"]))

    # pytest-xdist's workers ignore SIGINT, and a child would inherit that: restore Ctrl-C.
    proc = subprocess.Popen([*aesweep_command(), *args], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not top_rung_running():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.5)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    first = job_runs(client)
    assert sorted(r.info.status for r in first) == ["FINISHED", "FINISHED", "KILLED"]

    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    study = load_study(tmp_path)
    done = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert sorted(t.state.name for t in done) == ["COMPLETE", "PRUNED"]
    runs = job_runs(client)
    one_epoch = [r for r in runs if r.data.params[EPOCHS_PARAM] == "1"]
    assert len(one_epoch) == 2  # the lower rung was not trained again
    top = [r for r in runs if r.data.params[EPOCHS_PARAM] == "3000"]
    assert sorted(r.info.status for r in top) == ["FINISHED", "KILLED"]
    (finished,) = [r for r in top if r.info.status == "FINISHED"]
    assert finished.data.tags[RESUMED_TAG] == "1"
    parents = sorted(r.info.status for r in client.search_runs(["1"])
                     if r.data.tags.get(ROLE_TAG) == SWEEP_ROLE)
    assert parents == ["FINISHED", "KILLED"]
