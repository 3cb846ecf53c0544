"""The tracking store: URIs checked before anything runs, a new SQLite store created
safely by concurrent processes, and two sweeps started at once on a fresh store."""

from __future__ import annotations

import multiprocessing
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from aesweep.errors import ConfigError
from aesweep.names import PARENT_TAG, ROLE_TAG
from aesweep.report import FILES
from aesweep.tracking.store import EXPERIMENT_KIND, check_tracking_uri, open_store

from helpers import TINY, aesweep_command, clean_env, describe


def tracking(uri: str, experiment: str = "aesweep") -> OmegaConf:
    return OmegaConf.create({"uri": uri, "experiment": experiment, "artifact_location": None})


@pytest.mark.parametrize(("uri", "message"), [
    ("ftp://host/store", "unsupported scheme 'ftp'"),
    ("gopher://host", "unsupported scheme 'gopher'"),
    ("/tmp/mlruns", "not a tracking store URI"),
    ("file:///tmp/mlruns", "not a tracking store URI"),
    ("sqlite://", "an SQLite store needs a file"),
    ("sqlite:///:memory:", "an SQLite store needs a file"),
    ("http://", "no host"),
    ("http://127.0.0.1:9", "cannot reach the tracking server"),
])
def test_bad_tracking_uris_name_the_key_and_what_is_allowed(uri: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_tracking_uri(uri)
    assert str(error.value).startswith(f"tracking.uri={uri}: ")
    assert message in str(error.value)
    if "scheme" in message or "not a tracking" in message:
        assert "sqlite:///PATH" in str(error.value) and "http(s)://" in str(error.value)


def test_credentials_never_reach_the_message() -> None:
    with pytest.raises(ConfigError) as error:
        check_tracking_uri("ftp://user:pw-9f3k@host/x")
    assert "pw-9f3k" not in str(error.value) and "user:***@host" in str(error.value)


def test_a_store_under_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "outputs").write_text("a file")
    with pytest.raises(ConfigError, match="is not a directory"):
        check_tracking_uri(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")


def test_open_store_tags_the_experiment_for_the_model_view(tmp_path: Path) -> None:
    store = open_store(tracking(f"sqlite:///{tmp_path / 'mlflow.db'}"))
    experiment = store.client.get_experiment(store.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1]
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()
    again = open_store(tracking(store.uri))
    assert again.experiment_id == store.experiment_id


def test_a_deleted_experiment_is_an_error_naming_the_key(tmp_path: Path) -> None:
    store = open_store(tracking(f"sqlite:///{tmp_path / 'mlflow.db'}"))
    store.client.delete_experiment(store.experiment_id)
    with pytest.raises(ConfigError) as error:
        open_store(tracking(store.uri))
    assert error.value.key == "tracking.experiment" and "restore it" in str(error.value)


def _open(uri: str) -> str:
    return open_store(tracking(uri)).experiment_id


def test_processes_creating_one_new_store_at_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = pool.map(_open, [uri] * 4)
    assert len(set(ids)) == 1
    names = [e.name for e in MlflowClient(uri).search_experiments()]
    assert names.count("aesweep") == 1, names


@pytest.mark.slow
@pytest.mark.xdist_group("concurrent_sweeps")
def test_two_sweeps_started_at_once_on_a_fresh_store(tmp_path: Path) -> None:
    """A user with two terminals: both sweeps get their parent, their nested children, their
    table and their report, in their own sweep directory."""
    grid = ["-m", "architecture.bottleneck=2,4", "trainer.epochs=1", "tracking.log_model=false",
            "evaluation.bootstrap_resamples=0", *TINY]
    procs = [subprocess.Popen([*aesweep_command(), *grid, f"seed={seed}"], cwd=tmp_path,
                              env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for seed in (0, 1)]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    for result in results:
        assert result.returncode == 0, describe(result)
        assert "UserWarning" not in result.stderr and "migration" not in result.stderr, \
            describe(result)
        assert ": 2 jobs\n" in result.stdout, describe(result)
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("aesweep").experiment_id])
    parents = [r for r in runs if ROLE_TAG in r.data.tags]
    assert len(parents) == 2 and {p.info.status for p in parents} == {"FINISHED"}
    for parent in parents:
        children = [r for r in runs if r.data.tags.get(PARENT_TAG) == parent.info.run_id]
        assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
        assert len({c.data.params["seed"] for c in children}) == 1
    reports = sorted((tmp_path / "outputs" / "multirun").glob("*/*/report"))
    assert len(reports) == 2, reports
    for report in reports:
        assert sorted(p.name for p in report.iterdir()) == sorted(FILES)


def _tracking(db: Path) -> object:
    return OmegaConf.create({"uri": f"sqlite:///{db}", "experiment": "x",
                             "artifact_location": None})


def test_a_new_store_is_a_copy_of_the_cached_one_and_works_as_mlflow_made_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from aesweep.tracking.fresh_store import seed_new_store, template_path

    monkeypatch.setenv("AESWEEP_CACHE_DIR", str(tmp_path / "cache"))
    first, second = tmp_path / "a" / "mlflow.db", tmp_path / "b" / "mlflow.db"
    for db in (first, second):
        db.parent.mkdir()
    open_store(_tracking(first))  # builds the cached store, then copies it
    assert template_path().parent == tmp_path / "cache" and template_path().exists()
    assert seed_new_store(second)
    assert not seed_new_store(second)  # an existing store is never overwritten

    def schema(db: Path) -> tuple[list, list]:
        with sqlite3.connect(db) as c:
            return (c.execute("SELECT * FROM alembic_version").fetchall(),
                    c.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall())

    assert schema(second) == schema(template_path())
    store = open_store(_tracking(second))
    run = store.client.create_run(store.experiment_id)
    store.client.log_metric(run.info.run_id, "m", 1.0)
    store.client.set_terminated(run.info.run_id)
    assert store.client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    default = store.client.get_experiment("0")  # where MLflow itself would put it
    assert default.artifact_location == (second.parent / "mlartifacts" / "0").as_uri()


def test_without_a_writable_cache_mlflow_creates_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aesweep.tracking.fresh_store import seed_new_store

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("AESWEEP_CACHE_DIR", str(blocker / "cache"))  # under a file
    db = tmp_path / "mlflow.db"
    assert not seed_new_store(db) and not db.exists()
    store = open_store(_tracking(db))
    assert store.client.get_experiment_by_name("x") is not None
