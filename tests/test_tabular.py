"""Mixed tables (``dataset=csv`` and ``dataset=parquet``), without TensorFlow: fast.

Proves that categorical columns (listed or ``auto``) become category codes and gaps NaN,
that an all-numeric table without gaps keeps today's path (no ColumnTransformer), that
the preprocessor imputes, scales and one-hot encodes from training rows only, that
fetch_openml-shaped frames (category dtypes) load without a download, that the loss
parts are MSE and per-block cross-entropy, and that bad input is one error naming the key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler

from aesweep.data import load_csv, load_dataset
from aesweep.errors import ConfigError, DataError
from aesweep.job import prepare_job
from aesweep.pipelines import make_preprocessing
from aesweep.tabular import (
    block_sizes,
    make_preprocessor,
    reconstruction_parts,
    softmax_blocks,
)

from helpers import compose_config, file_overrides, mixed_frame, write

# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_mixed_table_becomes_codes_and_gaps(tmp_path: Path, kind: str) -> None:
    frame = mixed_frame()
    data = load_csv(str(write(frame, tmp_path, kind)), "label", categorical="auto",
                    file_format=kind)
    assert data.tabular and data.feature_names == ["age", "income", "color", "member"]
    assert data.categorical == [2, 3] and data.X.dtype == np.float32
    assert np.isnan(data.X[[3, 10, 50], 0]).all() and np.isnan(data.X[[5, 60], 2]).all()
    assert set(np.unique(data.X[~np.isnan(data.X[:, 2]), 2])) == {0, 1, 2}
    assert data.task == "classification" and set(data.y) == {0, 1}


def test_listed_categorical_columns_may_be_numeric(tmp_path: Path) -> None:
    frame = mixed_frame().drop(columns=["color", "member"]).assign(zip=lambda f: f.index % 4)
    data = load_csv(str(write(frame, tmp_path)), "label", categorical=["zip"])
    assert data.categorical == [2] and data.X[:8, 2].tolist() == [0, 1, 2, 3] * 2


def test_numeric_data_without_gaps_keeps_todays_path(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"]).assign(
        label=np.arange(50) % 2)
    path = write(frame, tmp_path)
    data = load_csv(str(path), "label")
    assert not data.tabular and data.categorical == []
    np.testing.assert_array_equal(data.X, frame[["a", "b", "c"]].to_numpy(np.float32))
    cfg = compose_config(file_overrides(path))
    assert isinstance(make_preprocessing(cfg, data), StandardScaler)


def test_openml_shaped_frames_load_without_a_download(tmp_path: Path) -> None:
    """``fetch_openml(as_frame=True)`` gives category dtypes for nominal features, with
    categories that never occur possible; Parquet keeps those dtypes."""
    frame = mixed_frame()
    frame["color"] = pd.Categorical(frame["color"], categories=["red", "green", "blue", "tan"])
    frame["label"] = pd.Categorical(frame["label"])
    path = write(frame, tmp_path, "parquet")
    data = load_dataset(compose_config(file_overrides(path)).dataset)  # categorical: auto
    assert data.categorical == [2, 3] and data.tabular
    assert set(np.unique(data.X[~np.isnan(data.X[:, 2]), 2])) <= {0, 1, 2}


# --- the preprocessor -------------------------------------------------------------------------


def test_the_preprocessor_learns_from_training_rows_only() -> None:
    """Medians, scaling and categories come from the rows it is fit on: a category seen
    only later is all zeros, a gap later takes the training median."""
    train = np.array([[1.0, 0], [3.0, 1], [np.nan, 1], [5.0, np.nan]])
    later = np.array([[np.nan, 2], [100.0, 0]])
    pre = make_preprocessor(StandardScaler(), 2, [1]).fit(train)
    out = pre.transform(later)
    assert block_sizes(pre) == (1, [2])
    mean, std = 3.0, np.std([1.0, 3.0, 3.0, 5.0])  # the gap imputed with the median, 3
    assert out[0, 0] == pytest.approx(0.0) and out[1, 0] == pytest.approx((100 - mean) / std)
    assert out[0, 1:].tolist() == [0, 0] and out[1, 1:].tolist() == [1, 0]
    # a training gap in the categorical column took the most frequent level, 1
    assert pre.transform(train)[3, 1:].tolist() == [0, 1]


def test_a_constant_fill_makes_a_gap_its_own_level() -> None:
    train = np.array([[0.0], [1.0], [np.nan], [1.0]])
    pre = make_preprocessor("passthrough", 1, [0], "constant").fit(train)
    assert block_sizes(pre) == (0, [3])
    assert pre.transform(train)[2].tolist() == [1, 0, 0]


def test_the_job_preprocessor_is_fit_on_its_training_split(tmp_path: Path) -> None:
    frame = mixed_frame(200)
    frame.loc[frame.index % 7 == 0, "income"] = np.nan
    job = prepare_job(compose_config(file_overrides(write(frame, tmp_path),
                                                    "dataset.categorical=auto")))
    pre = make_preprocessing(job.cfg, job.dataset)
    assert isinstance(pre, ColumnTransformer)
    pre.fit(job.splits.X_train)
    numeric = pre.named_transformers_["numeric"]
    train = job.splits.X_train[:, :2].astype(np.float64)
    np.testing.assert_allclose(numeric[0].statistics_, np.nanmedian(train, axis=0))
    imputed = np.where(np.isnan(train), np.nanmedian(train, axis=0), train)
    np.testing.assert_allclose(numeric[1].mean_, imputed.mean(axis=0), rtol=1e-5)


def test_loss_parts_are_mse_and_per_block_cross_entropy() -> None:
    X = np.array([[1.0, 1, 0, 0, 1], [3.0, 0, 1, 1, 0]])
    recon = np.array([[2.0, 0, 0, 0, 0], [3.0, 0, 0, 0, 0]])
    softmax_blocks(recon, 1, [2, 2])  # uniform blocks: log 2 each
    assert recon[:, 1:].tolist() == [[0.5] * 4] * 2
    parts = reconstruction_parts(X, recon, 1, [2, 2])
    assert parts == pytest.approx({"mse_numeric": 0.5, "xent_categorical": np.log(2)})


# --- bad input ------------------------------------------------------------------------------


BAD = {
    "unknown-column": (lambda f: f, ["dataset.categorical=[color,shade]"],
                       ConfigError, r"^dataset\.categorical: .*shade"),
    "target-gap": (lambda f: f.assign(label=f.label.where(f.index != 4)),
                   ["dataset.categorical=auto"], DataError, r"^dataset\.target=label: .*missing"),
    "too-many-levels": (lambda f: f.assign(color=[f"c{i % 60}" for i in range(len(f))]),
                        ["dataset.categorical=auto"], ConfigError,
                        r"^dataset\.max_categories: .*'color'.* 60 levels"),
    "all-missing": (lambda f: f.assign(income=np.nan), ["dataset.categorical=auto"],
                    DataError, r"^dataset\.path=.*no values.*income"),
    "unlisted-text": (lambda f: f, [], DataError, r"^dataset\.path=.*dataset\.categorical.*color"),
    "no-categories-allowed": (lambda f: f, ["dataset.max_categories=0"], ConfigError,
                              r"^dataset\.max_categories: must be >= 1"),
    "unknown-fill": (lambda f: f, ["dataset.categorical_fill=mean"], ConfigError,
                     r"^dataset\.categorical_fill: must be"),
    "bad-auto": (lambda f: f, ["dataset.categorical=some"], ConfigError,
                 r"^dataset\.categorical: 'some'"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_tables_are_one_error_naming_the_key(tmp_path: Path, case: str) -> None:
    change, extra, error, pattern = BAD[case]
    path = write(change(mixed_frame()), tmp_path)
    with pytest.raises(error, match=pattern) as caught:
        prepare_job(compose_config(file_overrides(path, *extra)))
    assert "\n" not in str(caught.value)


def test_more_levels_pass_once_max_categories_is_raised(tmp_path: Path) -> None:
    frame = mixed_frame().assign(color=[f"c{i % 60}" for i in range(120)])
    path = write(frame, tmp_path)
    cfg = compose_config(file_overrides(path, "dataset.categorical=auto",
                                        "dataset.max_categories=60"))
    assert load_dataset(cfg.dataset).categorical == [2, 3]


def test_an_unreadable_parquet_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"^dataset\.path=.*cannot read it as Parquet"):
        prepare_job(compose_config(file_overrides(path)))
