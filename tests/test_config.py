"""Every config key is type-checked at composition and range-checked before training,
by class: each numeric key of every dataset's config, found by walking the composed config,
has a declared range or an owner that checks it, and each error names the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from aesweep.config import config_dir
from aesweep.config.validation import RANGES
from aesweep.errors import ConfigError
from aesweep.features import AutoencoderFeatures
from aesweep.job import prepare_job
from aesweep.pipelines import AUTOENCODER_KEYS
from aesweep.ranges import Interval
from aesweep.tracking.redaction import flatten

from helpers import TINY, compose_config

DATASETS = sorted(p.stem for p in Path(config_dir(), "dataset").glob("*.yaml"))
# Keys the estimator checks with its own ranges (AutoencoderFeatures._RANGES).
ESTIMATOR_RANGES = {key: AutoencoderFeatures._RANGES[param]
                    for param, key in AUTOENCODER_KEYS.items()
                    if param in AutoencoderFeatures._RANGES}


def numeric_keys() -> list[str]:
    """Every int or float key of the composed config, for every dataset."""
    keys = set()
    for dataset in DATASETS:
        extra = (["dataset.path=x.csv", "dataset.target=y"] if dataset in ("csv", "parquet")
                 else [])
        tree = OmegaConf.to_container(compose_config([f"dataset={dataset}", *extra]),
                                      resolve=True)
        keys |= {key for key, value in flatten(tree).items()
                 if isinstance(value, int | float) and not isinstance(value, bool)}
    return sorted(keys)


NUMERIC_KEYS = numeric_keys()


def test_the_walk_finds_the_numeric_keys() -> None:
    assert {"seed", "trainer.epochs", "optimizer.learning_rate", "dataset.noise",
            "split.test_size", "evaluation.bootstrap_resamples"} <= set(NUMERIC_KEYS)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_every_numeric_key_has_a_range_or_an_owner_that_checks_it(key: str) -> None:
    """Config ranges, the estimator's own ranges, or scikit-learn's dataset generators
    (their parameter constraints; the error names dataset.<argument>)."""
    assert key in RANGES or key in ESTIMATOR_RANGES or key.startswith("dataset."), key


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_wrong_type_names_the_key(key: str) -> None:
    dataset = ["dataset=synthetic_regression"] if key in (
        "dataset.noise", "dataset.bias", "dataset.tail_strength", "dataset.n_targets") else []
    with pytest.raises(ConfigCompositionException) as error:
        compose_config([*dataset, f"{key}=abc"])
    assert key in str(error.value.__cause__ or error.value)


def outside(interval: Interval) -> list[object]:
    """Values just outside each bounded end of ``interval``."""
    step = 1 if interval.kind is int else 0.5
    values = []
    if interval.low is not None:
        values.append(interval.low if interval.closed in ("right", "neither")
                      else interval.low - step)
    if interval.high is not None:
        values.append(interval.high if interval.closed in ("left", "neither")
                      else interval.high + step)
    return values


# Lists, whose entries' ranges are checked elsewhere (OUT_OF_RANGE, test_architectures).
SEQUENCE_KEYS = {AUTOENCODER_KEYS[param] for param in AutoencoderFeatures._SEQUENCES
                 if param in AUTOENCODER_KEYS}
# Keys of one architecture only: the member that has them.
MEMBER_OF = {"architecture.noise.level": ["architecture=denoising"],
             "architecture.l1": ["architecture=sparse"],
             "architecture.beta": ["architecture=variational"]}


@pytest.mark.parametrize(("key", "value"), [
    (key, value) for key, interval in {**ESTIMATOR_RANGES, **RANGES}.items()
    if key not in SEQUENCE_KEYS for value in outside(interval)])
def test_each_declared_range_is_enforced_naming_the_key(key: str, value: object) -> None:
    cfg = compose_config([*TINY, *MEMBER_OF.get(key, []), f"{key}={value}"])
    with pytest.raises(ConfigError) as error:
        prepare_job(cfg)
    assert error.value.key == key
    assert "must be" in str(error.value)


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
    "evaluation.cv_folds": ["1", "0"],
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
