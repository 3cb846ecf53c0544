"""What may be logged, without MLflow or TensorFlow: credentials in URIs, values from the
environment, overrides in every form, run names and the sweep grid."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from aesweep.names import ENV_MASK
from aesweep.tracking.overrides import public, run_name, sweep_grid
from aesweep.tracking.redaction import Redactor, env_keys, redact_logs, redact_uris

from helpers import compose_config

SECRET = "s3cr3t-from-env"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AESWEEP_TEST_SECRET", SECRET)


@pytest.mark.parametrize(("text", "expected"), [
    ("http://user:pw@host:5000", "http://user:***@host:5000"),
    ("https://token@host/x", "https://***@host/x"),
    ("postgresql+psycopg2://me:p%40ss@db/mlflow", "postgresql+psycopg2://me:***@db/mlflow"),
    ("cannot reach http://u:p@h:1/api (timeout)", "cannot reach http://u:***@h:1/api (timeout)"),
    ("two: s3://a:b@x and ftp://c:d@y", "two: s3://a:***@x and ftp://c:***@y"),
    ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
    ("no uri: user@example.com", "no uri: user@example.com"),
])
def test_redact_uris(text: str, expected: str) -> None:
    assert redact_uris(text) == expected


def test_env_keys_follow_interpolations(secret_env: None) -> None:
    cfg = OmegaConf.create({"a": "${oc.env:AESWEEP_TEST_SECRET}", "b": "x-${a}", "c": "${b}",
                            "d": "plain", "nested": {"e": "${oc.env:HOME,/}"}})
    assert env_keys(cfg) == {"a", "b", "c", "nested.e"}


def test_config_masks_environment_values_and_drops_private_keys(secret_env: None) -> None:
    cfg = compose_config(["+api_key=${oc.env:AESWEEP_TEST_SECRET}", "+derived=x-${api_key}",
                          "tracking.uri=http://user:pw-9f3k@127.0.0.1:5000",
                          "tracking.artifact_location=s3://key:k3y-pass@bucket/path"])
    redactor = Redactor(cfg)
    tree = redactor.config(cfg)
    assert tree["api_key"] == tree["derived"] == ENV_MASK
    assert "uri" not in tree["tracking"] and "parent_run_id" not in tree["tracking"]
    assert tree["tracking"]["artifact_location"] == "s3://key:***@bucket/path"
    params = redactor.params(cfg)
    assert params["api_key"] == ENV_MASK
    text = repr(tree) + repr(params)
    for secret in (SECRET, "pw-9f3k", "k3y-pass"):
        assert secret not in text
    # An error message that quotes an environment value is masked too.
    assert redactor.text(f"file /data/{SECRET}.csv not found") == \
        f"file /data/{ENV_MASK}.csv not found"


@pytest.mark.parametrize("override", [
    "tracking.uri=http://user:pw-9f3k@h:5000",
    "+tracking.uri=http://user:pw-9f3k@h:5000",
    "++tracking.uri=http://user:pw-9f3k@h:5000",
    "~tracking.uri",
    "~tracking.uri=http://user:pw-9f3k@h:5000",
])
def test_private_keys_are_dropped_in_every_override_form(override: str) -> None:
    shown = public([override, "seed=1"], Redactor())
    assert shown == ["seed=1"]


@pytest.mark.parametrize(("override", "expected"), [
    ("+store=http://user:pw-9f3k@h:5000", "+store=http://user:***@h:5000"),
    ("++store=http://user:pw-9f3k@h:5000", "++store=http://user:***@h:5000"),
    ("~store=http://user:pw-9f3k@h:5000", "~store=http://user:***@h:5000"),
    ("tracking.artifact_location=s3://k:pw-9f3k@b", "tracking.artifact_location=s3://k:***@b"),
    ("+api_key=${oc.env:AESWEEP_TEST_SECRET}", f"+api_key={ENV_MASK}"),
    ("seed=${oc.env:SEED},1", f"seed={ENV_MASK}"),
    ("architecture.bottleneck=8,16", "architecture.bottleneck=8,16"),
])
def test_public_overrides(override: str, expected: str) -> None:
    assert public([override], Redactor()) == [expected]


def test_an_override_that_interpolates_an_environment_key_is_masked(secret_env: None) -> None:
    cfg = compose_config(["+api_key=${oc.env:AESWEEP_TEST_SECRET}", "+derived=x-${api_key}"])
    redactor = Redactor(cfg)
    assert public(["+derived=x-${api_key}"], redactor) == [f"+derived={ENV_MASK}"]
    assert run_name(["+derived=x-${api_key}"], redactor) == f"derived={ENV_MASK}"


def test_run_names() -> None:
    overrides = ["architecture.bottleneck=8", "trainer.epochs=5", "seed=1",
                 "tracking.uri=http://u:p@h", "hydra.launcher.n_jobs=2", "+experiment=quickstart"]
    assert run_name(overrides, Redactor()) == "bottleneck=8 epochs=5 seed=1 experiment=quickstart"
    assert run_name(overrides, Redactor(), keys=["architecture.bottleneck", "seed"]) == \
        "bottleneck=8 seed=1"
    assert run_name([], Redactor()) == "defaults"
    assert run_name(["~dataset.weights"], Redactor()) == "~weights"
    assert run_name(["+store=http://u:pw-9f3k@h"], Redactor()) == "store=http://u:***@h"


def test_sweep_grid_from_an_experiment_and_the_command_line() -> None:
    grid = sweep_grid({"architecture.bottleneck": "4,16,64", "trainer.epochs": "5,20"},
                      ["seed=0,1", "trainer.epochs=range(1,4)", "dataset.n_samples=300"])
    assert grid == {"architecture.bottleneck": ["4", "16", "64"],
                    "trainer.epochs": ["1", "2", "3"], "seed": ["0", "1"]}
    # A plain value on the command line replaces the experiment's grid for that key.
    assert sweep_grid({"trainer.epochs": "5,20"}, ["trainer.epochs=7"]) == {}
    assert sweep_grid(None, []) == {}
    # A search space: continuous ranges stay as typed, discrete ones are listed.
    space = {"optimizer.learning_rate": "tag(log, interval(1e-4, 1e-2))",
             "architecture.bottleneck": "choice(8, 16)"}
    assert sweep_grid(space, []) == {"optimizer.learning_rate": [space[
        "optimizer.learning_rate"]], "architecture.bottleneck": ["8", "16"]}


def test_log_records_are_redacted_from_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    redact_logs()
    redact_logs()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("hydra.launcher").info(r"#0 : ++tracking.uri=http\://u\:%s@h", "pw-9f3k")
        logging.getLogger("mlflow").warning("GET %s failed", "http://u:pw-9f3k@h/api")
    assert "pw-9f3k" not in caplog.text
    assert r"http\://u\:***@h" in caplog.text and "http://u:***@h/api" in caplog.text
