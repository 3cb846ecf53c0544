"""Every numeric key is type-checked at composition and range-checked before training,
and each error names the key."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException

from aesweep.errors import ConfigError
from aesweep.job import prepare_job

from helpers import TINY, compose_config

NUMERIC_KEYS = (
    "seed", "split.test_size", "split.val_size", "split.random_state",
    "architecture.bottleneck", "architecture.dropout", "optimizer.learning_rate",
    "trainer.epochs", "trainer.batch_size", "evaluation.bootstrap_resamples",
    "dataset.n_samples", "dataset.n_features", "dataset.n_informative", "dataset.n_redundant",
    "dataset.n_repeated", "dataset.n_classes", "dataset.n_clusters_per_class",
    "dataset.flip_y", "dataset.class_sep", "dataset.shift", "dataset.scale",
)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_wrong_type_names_the_key(key: str) -> None:
    with pytest.raises(ConfigCompositionException) as error:
        compose_config([f"{key}=abc"])
    assert key in str(error.value.__cause__ or error.value)


OUT_OF_RANGE = {
    "split.test_size": ["0", "1", "1.5"],
    "split.val_size": ["-0.1"],
    "architecture.bottleneck": ["0", "-3"],
    "architecture.dropout": ["-0.1", "1"],
    "architecture.hidden_units": ["[16,0]"],
    "optimizer.learning_rate": ["0", "-0.01"],
    "trainer.epochs": ["0"],
    "trainer.batch_size": ["0"],
    "evaluation.bootstrap_resamples": ["-1"],
    "dataset.n_samples": ["0"],
    "dataset.n_features": ["0"],
    "dataset.n_redundant": ["-1"],
    "dataset.n_repeated": ["-1"],
    "dataset.n_classes": ["1"],
    "dataset.n_clusters_per_class": ["0"],
    "dataset.flip_y": ["1.5"],
    "dataset.class_sep": ["-1"],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in OUT_OF_RANGE.items()
                                            for v in vs])
def test_out_of_range_names_the_key(key: str, value: str) -> None:
    cfg = compose_config([*TINY, f"{key}={value}"])
    with pytest.raises(ConfigError) as error:
        prepare_job(cfg)
    assert error.value.key == key


@pytest.mark.parametrize("key", ["dataset.noise", "dataset.tail_strength",
                                 "dataset.effective_rank", "dataset.n_informative"])
def test_regression_generator_ranges(key: str) -> None:
    value = {"dataset.effective_rank": "0", "dataset.tail_strength": "2"}.get(key, "-1")
    cfg = compose_config(["dataset=synthetic_regression", f"{key}={value}"])
    with pytest.raises(ConfigError) as error:
        prepare_job(cfg)
    assert error.value.key == key
