"""Datasets and splits, without TensorFlow: fast.

Proves that the split is scikit-learn's ``train_test_split`` for the test rows, that
train/validation/test partition the rows, that ``val_size`` is a fraction of the whole,
that the synthetic datasets expose (and pass on) every generator argument, and that
``load_csv`` reads good files and rejects bad ones naming the file or key.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split

from aesweep.data import Dataset, load_csv, load_dataset, split_dataset
from aesweep.errors import AesweepError, DataError
from aesweep.job import prepare_job

from helpers import TINY, compose_config

# --- split_dataset on an indexed dataset: column 0 holds the row number ------------------


def indexed_dataset(n: int, task: str, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 3))]).astype(np.float32)
    if task == "classification":  # imbalanced, three classes
        y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    else:
        y = rng.normal(size=n) * 10 + 3
    return Dataset("indexed", task, X, y, ["row", "a", "b", "c"], "test")


def split_cfg(test_size: float, val_size: float, stratify: bool = True, random_state: int = 0):
    return OmegaConf.create({"test_size": test_size, "val_size": val_size,
                             "stratify": stratify, "random_state": random_state})


def rows(X: np.ndarray | None) -> set[int]:
    return set() if X is None else {int(i) for i in X[:, 0]}


SPLITS = [
    pytest.param("classification", True, 0.2, 0.1, 0, id="clf-stratified"),
    pytest.param("classification", False, 0.25, 0.15, 3, id="clf-unstratified"),
    pytest.param("classification", True, 0.3, 0.0, 7, id="clf-no-val"),
    pytest.param("regression", True, 0.2, 0.2, 1, id="reg-stratify-ignored"),
    pytest.param("regression", False, 0.2, 0.05, 42, id="reg"),
]


@pytest.mark.parametrize(("task", "stratify", "test_size", "val_size", "seed"), SPLITS)
def test_test_rows_are_sklearns_train_test_split(task, stratify, test_size, val_size, seed):
    ds = indexed_dataset(300, task)
    splits = split_dataset(ds, split_cfg(test_size, val_size, stratify, seed))
    use_strata = stratify and task == "classification"
    _, X_test, _, y_test = train_test_split(ds.X, ds.y, test_size=test_size, random_state=seed,
                                            stratify=ds.y if use_strata else None)
    np.testing.assert_array_equal(splits.X_test, X_test)
    np.testing.assert_array_equal(splits.y_test, y_test)


@pytest.mark.parametrize(("task", "stratify", "test_size", "val_size", "seed"), SPLITS)
def test_train_val_test_partition_the_rows(task, stratify, test_size, val_size, seed):
    n = 300
    ds = indexed_dataset(n, task)
    s = split_dataset(ds, split_cfg(test_size, val_size, stratify, seed))
    train, val, test = rows(s.X_train), rows(s.X_val), rows(s.X_test)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(n))
    # Each row keeps its own target.
    for X, y in ((s.X_train, s.y_train), (s.X_val, s.y_val), (s.X_test, s.y_test)):
        if X is not None:
            np.testing.assert_array_equal(y, ds.y[X[:, 0].astype(int)])
    if val_size == 0:
        assert s.X_val is None and s.y_val is None
    else:
        # Loose here; test_val_count_is_val_size_of_the_whole pins exact counts.
        assert abs(len(val) - val_size * n) <= 1, "val_size is a fraction of the whole dataset"


@pytest.mark.parametrize(("n", "test_size", "val_size", "expected_val"), [
    (300, 0.2, 0.1, 30),
    (1000, 0.2, 0.1, 100),
    (500, 0.25, 0.15, 75),
    (100, 0.3, 0.1, 10),
    (200, 0.3, 0.2, 40),
    (70, 0.1, 0.1, 7),
])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_val_count_is_val_size_of_the_whole(task, n, test_size, val_size, expected_val):
    s = split_dataset(indexed_dataset(n, task), split_cfg(test_size, val_size))
    assert len(s.X_val) == expected_val
    assert len(s.X_train) + len(s.X_val) + len(s.X_test) == n


def test_stratified_split_keeps_class_proportions():
    ds = indexed_dataset(400, "classification")
    s = split_dataset(ds, split_cfg(0.2, 0.2))
    for y in (s.y_train, s.y_val, s.y_test):
        for cls in range(3):
            expected = np.mean(ds.y == cls) * len(y)
            assert abs(np.sum(y == cls) - expected) <= 1.5


def test_split_that_cannot_stratify_is_a_data_error():
    ds = indexed_dataset(50, "classification")
    ds.y[:] = 0
    ds.y[0] = 1  # a class with a single member cannot be stratified
    with pytest.raises(DataError, match=r"^split\."):
        split_dataset(ds, split_cfg(0.2, 0.1))


# --- the same through the composed config ---------------------------------------------------


def test_composed_job_split_matches_sklearn_and_follows_seed():
    cfg = compose_config([*TINY, "seed=7", "split.test_size=0.25", "split.val_size=0.15"])
    assert cfg.split.random_state == 7, "split.random_state defaults to ${seed}"
    job = prepare_job(cfg)
    X, y = skdatasets.make_classification(
        n_samples=300, n_features=20, n_informative=5, n_redundant=5, random_state=0)
    np.testing.assert_array_equal(job.dataset.X, X.astype(np.float32))
    X_rest, X_test, _, y_test = train_test_split(
        X.astype(np.float32), y, test_size=0.25, random_state=7, stratify=y)
    np.testing.assert_array_equal(job.splits.X_test, X_test)
    np.testing.assert_array_equal(job.splits.y_test, y_test)
    assert len(job.splits.X_val) == 45 and len(job.splits.X_train) == 300 - 75 - 45
    # Train and validation together are exactly the non-test rows.
    together = np.concatenate([job.splits.X_train, job.splits.X_val])
    assert sorted(map(bytes, together)) == sorted(map(bytes, X_rest))


def test_composed_regression_split_is_unstratified():
    cfg = compose_config(["dataset=diabetes", "seed=3"])
    job = prepare_job(cfg)
    bunch = skdatasets.load_diabetes()
    _, X_test, _, y_test = train_test_split(bunch.data.astype(np.float32), bunch.target,
                                            test_size=0.2, random_state=3)
    np.testing.assert_array_equal(job.splits.X_test, X_test)
    np.testing.assert_array_equal(job.splits.y_test, y_test)


def test_val_size_zero_means_no_validation_split():
    job = prepare_job(compose_config([*TINY, "split.val_size=0"]))
    assert job.splits.X_val is None
    assert len(job.splits.X_train) + len(job.splits.X_test) == 300


# --- datasets -------------------------------------------------------------------------------

GENERATORS = {
    "synthetic_classification": skdatasets.make_classification,
    "synthetic_regression": skdatasets.make_regression,
}
RETURN_SHAPE_ARGS = {"return_X_y", "coef"}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_argument_is_a_dataset_key(name):
    cfg = compose_config([f"dataset={name}"])
    arguments = set(inspect.signature(GENERATORS[name]).parameters) - RETURN_SHAPE_ARGS
    assert arguments, "introspection found no arguments"
    missing = arguments - set(cfg.dataset.keys())
    assert not missing, f"dataset.<arg> not exposed for {sorted(missing)}"


@pytest.mark.parametrize(("name", "arguments"), [
    ("synthetic_classification", {
        "n_samples": 150, "n_features": 8, "n_informative": 3, "n_redundant": 2,
        "n_repeated": 1, "n_classes": 3, "n_clusters_per_class": 1,
        "weights": [0.2, 0.3, 0.5], "flip_y": 0.0, "class_sep": 2.0, "hypercube": False,
        "shift": 0.5, "scale": 2.0, "shuffle": False, "random_state": 4}),
    ("synthetic_regression", {
        "n_samples": 120, "n_features": 6, "n_informative": 3, "n_targets": 1, "bias": 5.0,
        "effective_rank": 2, "tail_strength": 0.3, "noise": 1.5, "shuffle": False,
        "random_state": 2}),
])
def test_generator_arguments_reach_the_generator(name, arguments):
    def override(key, value):
        if isinstance(value, list):
            return f"dataset.{key}=[{','.join(map(str, value))}]"
        return f"dataset.{key}={str(value).lower() if isinstance(value, bool) else value}"

    cfg = compose_config([f"dataset={name}", *(override(k, v) for k, v in arguments.items())])
    dataset = load_dataset(cfg.dataset)
    X, y = GENERATORS[name](**arguments)
    np.testing.assert_array_equal(dataset.X, X.astype(np.float32))
    np.testing.assert_array_equal(dataset.y, y)
    assert dataset.X.dtype == np.float32
    assert len(dataset.feature_names) == arguments["n_features"]


@pytest.mark.parametrize(("name", "task"), [
    ("digits", "classification"), ("breast_cancer", "classification"),
    ("wine", "classification"), ("diabetes", "regression"),
    ("synthetic_classification", "classification"), ("synthetic_regression", "regression"),
])
def test_the_dataset_decides_the_task_and_a_regression_set_gets_a_regressor(name, task):
    cfg = compose_config([f"dataset={name}"])
    job = prepare_job(cfg)
    assert job.task == task
    regressors = {"linear_regression", "ridge", "svr", "random_forest_regressor"}
    assert (cfg.downstream.name in regressors) == (task == "regression")
    if task == "classification":
        assert cfg.downstream.name == "logistic_regression"
    assert job.dataset.X.dtype == np.float32 and job.dataset.X.ndim == 2
    assert len(job.dataset.y) == len(job.dataset.X)


# --- CSV ------------------------------------------------------------------------------------


def write_csv(path: Path, n: int = 60, target=lambda i: i % 2, header="a,b,c,label") -> Path:
    rng = np.random.default_rng(0)
    lines = [header] + [f"{rng.normal():.4f},{rng.normal():.4f},{rng.normal():.4f},{target(i)}"
                        for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_with_integer_labels_is_classification(tmp_path):
    ds = load_csv(str(write_csv(tmp_path / "data.csv")), "label")
    assert ds.task == "classification"
    assert ds.X.shape == (60, 3) and ds.X.dtype == np.float32
    assert ds.feature_names == ["a", "b", "c"]
    assert set(np.unique(ds.y)) == {0, 1}


def test_csv_with_text_labels_is_classification(tmp_path):
    path = write_csv(tmp_path / "text.csv", target=lambda i: ["cat", "dog", "eel"][i % 3])
    ds = load_csv(str(path), "label")
    assert ds.task == "classification"
    assert sorted(np.unique(ds.y)) == [0, 1, 2]


def test_csv_with_continuous_target_is_regression(tmp_path):
    path = write_csv(tmp_path / "reg.csv", target=lambda i: f"{i * 1.37:.2f}")
    ds = load_csv(str(path), "label")
    assert ds.task == "regression"
    assert ds.y.dtype.kind == "f"
    np.testing.assert_allclose(ds.y[:3], [0.0, 1.37, 2.74])


def bad_csv(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.csv"
    if kind == "empty":
        path.write_text("")
    elif kind == "header_only":
        path.write_text("a,b,c,label\n")
    else:
        write_csv(path)
        lines = path.read_text().splitlines()
        cells = lines[5].split(",")
        cells[{"text": 1, "nan": 1, "inf": 2}[kind]] = {"text": "oops", "nan": "",
                                                           "inf": "inf"}[kind]
        lines[5] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("kind", "names"), [
    ("empty", []), ("header_only", []), ("text", ["b"]), ("nan", ["b"]), ("inf", ["c"]),
])
def test_bad_csv_is_a_data_error_naming_the_file(tmp_path, kind, names):
    path = bad_csv(tmp_path, kind)
    with pytest.raises(DataError) as info:
        load_csv(str(path), "label")
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for column in names:
        assert column in message


def test_missing_csv_and_missing_target_column(tmp_path):
    with pytest.raises(DataError, match=r"dataset\.path=.*nowhere\.csv"):
        load_csv(str(tmp_path / "nowhere.csv"), "label")
    with pytest.raises(DataError, match=r"dataset\.target=nope.*a, b, c, label"):
        load_csv(str(write_csv(tmp_path / "ok.csv")), "nope")


def test_nan_in_the_csv_target_is_a_data_error(tmp_path):
    path = write_csv(tmp_path / "y.csv", target=lambda i: "" if i == 4 else i % 2)
    with pytest.raises(AesweepError, match=r"dataset\.target"):
        load_csv(str(path), "label")
