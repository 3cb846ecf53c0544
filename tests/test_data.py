"""Datasets and splits, without TensorFlow: fast.

Proves that the split is scikit-learn's ``train_test_split`` for the test rows, that
train/validation/test partition the rows, that ``val_size`` is a fraction of the whole,
that the synthetic datasets expose (and pass on) every generator argument, that their
range errors name the ``dataset.<param>`` key, and that ``load_csv`` reads good files and
rejects bad ones (by class: path, header, size, dtypes, gaps, class counts) naming the file
or key, warning once about duplicated rows.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import psutil
import pytest
from omegaconf import OmegaConf
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split

from aesweep.data import Dataset, check_target, load_csv, load_dataset, split_dataset
from aesweep.errors import AesweepError, ConfigError, DataError
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
    ("empty", []), ("header_only", []), ("text", ["b"]), ("inf", ["c"]),
])
def test_bad_csv_is_a_data_error_naming_the_file(tmp_path, kind, names):
    path = bad_csv(tmp_path, kind)
    with pytest.raises(DataError) as info:
        load_csv(str(path), "label")
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for column in names:
        assert column in message


def test_a_gap_in_a_feature_makes_a_mixed_table(tmp_path):
    """Issue 13: gaps in features are imputed in the pipeline, on training rows only."""
    data = load_csv(str(bad_csv(tmp_path, "nan")), "label")
    assert data.tabular and np.isnan(data.X[4, 1]) and np.isnan(data.X).sum() == 1


def test_missing_csv_and_missing_target_column(tmp_path):
    with pytest.raises(DataError, match=r"dataset\.path=.*nowhere\.csv"):
        load_csv(str(tmp_path / "nowhere.csv"), "label")
    with pytest.raises(DataError, match=r"dataset\.target=nope.*a, b, c, label"):
        load_csv(str(write_csv(tmp_path / "ok.csv")), "nope")


def test_nan_in_the_csv_target_is_a_data_error(tmp_path):
    path = write_csv(tmp_path / "y.csv", target=lambda i: "" if i == 4 else i % 2)
    with pytest.raises(AesweepError, match=r"dataset\.target"):
        load_csv(str(path), "label")


# --- CSV problems by class: each is one DataError naming the file (or target) and the fix -----


def csv_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def data_error(path: Path, target: str = "label", **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_csv(str(path), target, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# header


def test_repeated_column_names_are_a_data_error_naming_them(tmp_path):
    """The issue's case: pandas would rename the second ``a`` to ``a.1`` and carry on."""
    path = csv_text(tmp_path / "dup.csv", "a,a,y\n1,2,0\n3,4,1\n5,6,0\n")
    message = data_error(path, "y")
    assert message == (f"dataset.path={path}: repeated column names in the header: a; "
                       f"each column needs its own name")
    assert "a.1" not in message


def test_every_repeated_name_is_named(tmp_path):
    path = csv_text(tmp_path / "dups.csv", "a,b,a,c,b,label\n1,2,3,4,5,0\n")
    assert data_error(path).endswith("repeated column names in the header: a, b; "
                                     "each column needs its own name")


def test_the_index_pandas_writes_without_index_false_is_named_as_such(tmp_path):
    path = tmp_path / "indexed.csv"
    pd.DataFrame({"a": [0.5, 1.5], "b": [2.0, 3.0], "label": [0, 1]}).to_csv(path)
    assert path.read_text().startswith(",a,b,label")
    message = data_error(path)
    assert message.startswith(f"dataset.path={path}: header column 1 has no name; "
                              f"every column needs one")
    assert "index=False" in message


def test_pandas_unnamed_placeholder_is_a_nameless_column(tmp_path):
    path = csv_text(tmp_path / "unnamed.csv", "Unnamed: 0,a,b,label\n0,1.5,2,0\n1,2.5,3,1\n")
    message = data_error(path)
    assert "header column 1 ('Unnamed: 0') has no name" in message
    assert "index=False" in message


def test_blank_column_names_are_numbered(tmp_path):
    path = csv_text(tmp_path / "blank.csv", "a,,b, ,label\n1,2,3,4,0\n5,6,7,8,1\n")
    message = data_error(path)
    assert message == (f"dataset.path={path}: header columns 2, 4 have no name; "
                       f"every column needs one")


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolon"), ("\t", "tab")])
def test_a_single_column_holding_a_separator_names_the_separator(tmp_path, separator, name):
    header = separator.join(["a", "b", "label"])
    path = csv_text(tmp_path / "sep.csv", f"{header}\n1{separator}2{separator}0\n")
    message = data_error(path)
    assert message == (f"dataset.path={path}: the header is one column, {header!r}: the file "
                       f"looks {name}-separated; columns must be separated by commas")


# path


def test_a_directory_is_not_a_csv(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    assert data_error(folder) == (f"dataset.path={folder}: is a directory, not a file; "
                                  f"give the path of a CSV file")


def test_a_file_without_read_permission_is_a_data_error(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "locked.csv")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads it anyway: let pandas meet the error instead
        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))
        monkeypatch.setattr(pd, "read_csv", denied)
    try:
        assert data_error(path) == (f"dataset.path={path}: permission denied; "
                                    f"the file must be readable by this user")
    finally:
        path.chmod(0o644)


def test_undecodable_file_keeps_its_message(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x00\xff\n")
    assert data_error(path) == (
        f"dataset.path={path}: cannot read it as CSV (UnicodeDecodeError: 'utf-8' codec can't "
        f"decode byte 0xff in position 0: invalid start byte)")


# size


def test_a_file_larger_than_free_memory_is_refused_before_reading(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "big.csv")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=1024))
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("read a file too big"))
    message = data_error(path)
    assert message == (f"dataset.path={path}: file is 0.00 GiB but only 0.00 GiB of memory is "
                       f"available; the file must fit in memory")


def test_a_file_that_fits_in_memory_is_read(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "small.csv")
    size = path.stat().st_size
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=size))
    assert load_csv(str(path), "label").X.shape == (60, 3)


# dtypes


def test_boolean_feature_columns_are_not_numeric(tmp_path):
    path = csv_text(tmp_path / "flags.csv", "a,flag,label\n1.5,true,0\n2.5,false,1\n")
    assert data_error(path) == (f"dataset.path={path}: feature columns must be numeric "
                                f"unless listed in dataset.categorical (or "
                                f"dataset.categorical=auto); not numeric: flag")


def test_text_target_with_regression_is_a_data_error(tmp_path):
    path = write_csv(tmp_path / "text.csv", target=lambda i: ["cat", "dog"][i % 2])
    assert data_error(path, task="regression") == (
        "dataset.target=label: regression needs a numeric target; "
        "set dataset.task=classification")


# gaps: a row with more fields than the header, anywhere


@pytest.mark.parametrize(("row", "line"), [(5, 7), (0, 2)], ids=["middle", "first-row"])
def test_a_row_with_more_fields_than_the_header_names_its_line(tmp_path, row, line):
    path = write_csv(tmp_path / "ragged.csv")
    lines = path.read_text().splitlines()
    lines[row + 1] += ",9.9"
    path.write_text("\n".join(lines) + "\n")
    assert data_error(path) == (f"dataset.path={path}: line {line} has 5 fields but the header "
                                f"has 4; every row needs one field per column")


def test_every_row_one_field_longer_is_not_taken_as_an_index(tmp_path):
    """pandas would silently use the first column as the row index and shift the names."""
    path = csv_text(tmp_path / "shifted.csv", "a,b,label\n0,1.5,2.5,0\n1,3.5,4.5,1\n")
    assert "line 2 has 4 fields but the header has 3" in data_error(path)


def test_a_row_with_fewer_fields_is_a_gap(tmp_path):
    path = csv_text(tmp_path / "short.csv", "a,b,label\n1.5,2.5,0\n3.5,4.5,1\n5.5,6.5\n")
    assert data_error(path) == f"dataset.target=label: missing values in the target of {path}"


# duplicates: legal, but a warning


def test_duplicated_rows_load_with_one_warning(tmp_path, caplog):
    path = write_csv(tmp_path / "dups.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1], lines[1], lines[2]]) + "\n")
    with caplog.at_level(logging.WARNING, logger="aesweep"):
        ds = load_csv(str(path), "label")
    assert ds.X.shape == (63, 3)
    warnings = [r for r in caplog.records if r.name == "aesweep"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert warnings[0].getMessage() == (
        f"dataset.path={path}: 3 of 63 rows repeat an earlier row exactly; a row and its copy "
        f"can land in both the training and the test split")


def test_no_duplicate_warning_without_duplicates(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="aesweep"):
        load_csv(str(write_csv(tmp_path / "ok.csv")), "label")
    assert not [r for r in caplog.records if r.name == "aesweep"]


# class counts: a single class fails the target check, a class of one row the split


def csv_cfg(path: Path):
    return OmegaConf.create({"name": "csv", "path": str(path), "target": "label",
                             "task": "auto"})


def test_a_single_class_csv_target_is_a_data_error(tmp_path):
    path = write_csv(tmp_path / "one.csv", target=lambda i: 1)
    ds = load_csv(str(path), "label", task="classification")
    with pytest.raises(DataError) as info:
        check_target(ds, csv_cfg(path))
    assert str(info.value) == (f"dataset.target=label in {path}: the target has a single "
                               f"class; classification needs >= 2")


def test_a_class_of_one_row_loads_and_fails_the_stratified_split(tmp_path):
    path = write_csv(tmp_path / "rare.csv", target=lambda i: 2 if i == 7 else i % 2)
    ds = load_csv(str(path), "label")
    with pytest.raises(DataError, match=r"^split\.stratify: cannot split 60 rows of rare: .*"
                                        r"too few.*\[2\]"):
        split_dataset(ds, split_cfg(0.2, 0.1))


# --- generators: scikit-learn's checks name the dataset.<param> key --------------------------


def test_generator_range_error_names_the_dataset_key():
    cfg = compose_config([*TINY, "dataset.flip_y=2"])
    with pytest.raises(ConfigError) as info:
        load_dataset(cfg.dataset)
    assert info.value.key == "dataset.flip_y"
    assert str(info.value).startswith("dataset.flip_y: The 'flip_y' parameter of "
                                      "make_classification must be")


def test_generator_value_error_without_a_parameter_name_is_a_config_error():
    cfg = compose_config([*TINY, "dataset.n_classes=10", "dataset.n_informative=2",
                          "dataset.n_redundant=0"])
    with pytest.raises(ConfigError) as info:
        load_dataset(cfg.dataset)
    assert info.value.key == "dataset"
    assert "n_clusters_per_class" in str(info.value)
