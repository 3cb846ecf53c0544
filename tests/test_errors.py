"""Bad input through the real CLI: each fails fast (before TensorFlow) with a non-zero exit,
a one-line message naming the key or file (and what is allowed), no traceback unless
``HYDRA_FULL_ERROR=1``, and never leaves an MLflow run RUNNING.

aesweep's own checks exit 2 with ``aesweep: error: <key>: <message>``; Hydra's type,
choice and composition errors exit 1 with Hydra's short message.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from helpers import describe, run_cli, run_statuses, store_args

DATASETS = ("breast_cancer", "csv", "diabetes", "digits", "parquet", "synthetic_classification",
            "synthetic_regression", "wine")
REGRESSORS = ("linear_regression", "ridge", "svr", "random_forest_regressor")


def write_csv(directory: Path, kind: str) -> Path:
    """A CSV of 60 rows (features alpha, beta, gamma; target label) broken as ``kind`` says."""
    path = directory / f"{kind}.csv"
    rng = np.random.default_rng(0)
    rows = [[f"{v:.4f}" for v in rng.normal(size=3)] + [str(i % 2)] for i in range(60)]
    if kind == "missing":
        return path
    if kind == "empty":
        path.write_text("")
        return path
    if kind == "header_only":
        rows = []
    elif kind == "text_feature":
        rows[7][1] = "oops"
    elif kind == "empty_feature":  # gaps are imputed (issue 13), a column of gaps is not
        for row in rows:
            row[1] = ""
    elif kind == "inf_feature":
        rows[7][2] = "inf"
    elif kind == "single_class":
        for row in rows:
            row[3] = "1"
    elif kind == "nan_target":
        rows[7][3] = ""
    elif kind == "constant_target":
        for row in rows:
            row[3] = "3.5"
    elif kind == "rare_class":  # one row of class 2: too few to stratify
        rows[7][3] = "2"
    elif kind == "duplicate_header":  # pandas would rename the second alpha to alpha.1
        lines = ["alpha,alpha,gamma,label", *(",".join(row) for row in rows)]
        path.write_text("\n".join(lines) + "\n")
        return path
    elif kind == "semicolons":
        lines = ["alpha;beta;gamma;label", *(";".join(row) for row in rows)]
        path.write_text("\n".join(lines) + "\n")
        return path
    elif kind == "directory":
        path.mkdir()
        return path
    elif kind == "unreadable":
        path.write_bytes(b"\xff\xfe\x00garbage\x00\xff\n")
        return path
    lines = ["alpha,beta,gamma,label", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_args(kind: str, target: str = "label") -> list[str]:
    return ["dataset=csv", f"dataset.path={{csv:{kind}}}", f"dataset.target={target}"]


AESWEEP, HYDRA = "aesweep", "hydra"

# (overrides, who reports it, regexes the error must match)
CASES = {
    "epochs-type": (["trainer.epochs=abc"], HYDRA, [r"trainer\.epochs", "abc"]),
    "bottleneck-0": (["architecture.bottleneck=0"], AESWEEP,
                     [r"^aesweep: error: architecture\.bottleneck:", ">= ?1"]),
    "epochs-0": (["trainer.epochs=0"], AESWEEP, [r"^aesweep: error: trainer\.epochs:", ">= ?1"]),
    "batch-0": (["trainer.batch_size=0"], AESWEEP,
                [r"^aesweep: error: trainer\.batch_size:", ">= ?1"]),
    "test-size-1.5": (["split.test_size=1.5"], AESWEEP,
                      [r"^aesweep: error: split\.test_size:", r"\(0, 1\)|< ?1"]),
    "val-size-negative": (["split.val_size=-0.1"], AESWEEP,
                          [r"^aesweep: error: split\.val_size:", ">= ?0"]),
    "sizes-sum-to-1": (["split.test_size=0.6", "split.val_size=0.4"], AESWEEP,
                       [r"^aesweep: error: split\.(test|val)_size", r"split\.test_size",
                        r"split\.val_size", "< ?1"]),
    "learning-rate-0": (["optimizer.learning_rate=0"], AESWEEP,
                        [r"^aesweep: error: optimizer\.learning_rate:", "> ?0"]),
    "unknown-dataset": (["dataset=nope"], HYDRA, ["dataset/nope", *DATASETS]),
    "unknown-scaler": (["preprocessing.scaler=robust"], HYDRA,
                       [r"preprocessing\.scaler", "robust", "standard", "minmax", "none"]),
    "too-many-informative": (["dataset.n_informative=30", "dataset.n_features=20"], AESWEEP,
                             [r"^aesweep: error: dataset\.n_(informative|features)", "20"]),
    "classifier-on-regression": (["dataset=diabetes", "downstream=svc"], AESWEEP,
                                 [r"^aesweep: error: downstream", "svc", "regression",
                                  *REGRESSORS]),
    "bad-downstream-param": (["+downstream.params.C=-1"], AESWEEP,
                             [r"^aesweep: error: downstream\.params", r"\bC\b"]),
    "csv-missing-file": (csv_args("missing"), AESWEEP,
                         [r"^aesweep: error: dataset\.path", "{csv:missing}", "not found"]),
    "csv-empty": (csv_args("empty"), AESWEEP, [r"^aesweep: error: ", "{csv:empty}", "empty"]),
    "csv-header-only": (csv_args("header_only"), AESWEEP,
                        [r"^aesweep: error: ", "{csv:header_only}", "no rows"]),
    "csv-no-target-column": (csv_args("good", target="nope"), AESWEEP,
                             [r"^aesweep: error: dataset\.target", "nope",
                              "alpha, beta, gamma, label"]),
    "csv-text-feature": (csv_args("text_feature"), AESWEEP,
                         [r"^aesweep: error: ", "{csv:text_feature}", "numeric", "beta"]),
    "csv-all-missing": (csv_args("empty_feature"), AESWEEP,
                        [r"^aesweep: error: ", "{csv:empty_feature}", "no values", "beta"]),
    "csv-inf": (csv_args("inf_feature"), AESWEEP,
                [r"^aesweep: error: ", "{csv:inf_feature}", "infinite", "gamma"]),
    "csv-nan-target": (csv_args("nan_target"), AESWEEP,
                       [r"^aesweep: error: dataset\.target", "missing"]),
    "csv-single-class": (csv_args("single_class"), AESWEEP,
                         [r"^aesweep: error: ", "single class",
                          r"dataset\.target|{csv:single_class}"]),
    "csv-unreadable": (csv_args("unreadable"), AESWEEP,
                       [r"^aesweep: error: dataset\.path", "{csv:unreadable}", "cannot read"]),
    "csv-constant-target": ([*csv_args("constant_target"), "dataset.task=regression"], AESWEEP,
                            [r"^aesweep: error: dataset\.target", "constant"]),
    "csv-class-too-rare-to-stratify": (csv_args("rare_class"), AESWEEP,
                                       [r"^aesweep: error: split\.stratify", "class"]),
    "too-few-rows": (["dataset.n_samples=4"], AESWEEP,
                     [r"^aesweep: error: split\.", "4 rows"]),
    "conv-image-shape-mismatch": (["dataset=digits", "architecture=conv",
                                   "dataset.image_shape=[7,7,1]"], AESWEEP,
                                  [r"^aesweep: error: dataset\.image_shape:", "64 features",
                                   r"\[7, 7, 1\]"]),
    "dropout-1": (["architecture.dropout=1"], AESWEEP,
                  [r"^aesweep: error: architecture\.dropout:", r"\[0, 1\)"]),
    "hidden-units-type": (["architecture.hidden_units=[8,x]"], HYDRA,
                          [r"architecture\.hidden_units", "x"]),
    "unknown-key": (["trainer.epoch=5"], HYDRA, [r"trainer\.epoch", "not in 'TrainerConfig'"]),
    "jit-compile-type": (["trainer.jit_compile=maybe"], HYDRA,
                         [r"trainer\.jit_compile", "maybe", "bool"]),
    "unknown-metric": (["evaluation.metric=rmse"], AESWEEP,
                       [r"^aesweep: error: evaluation\.metric:", "accuracy"]),
    "unknown-control": (["evaluation.controls=[pca,magic]"], HYDRA,
                        [r"evaluation\.controls", "magic", "pca", "random"]),
    "csv-duplicate-header": (csv_args("duplicate_header"), AESWEEP,
                             [r"^aesweep: error: dataset\.path", "{csv:duplicate_header}",
                              "repeated column names", "alpha"]),
    "csv-semicolons": (csv_args("semicolons"), AESWEEP,
                       [r"^aesweep: error: dataset\.path", "semicolon-separated"]),
    "csv-directory": (csv_args("directory"), AESWEEP,
                      [r"^aesweep: error: dataset\.path", "is a directory"]),
    "tracking-uri-ftp": (["tracking.uri=ftp://host/store"], AESWEEP,
                         [r"^aesweep: error: tracking\.uri=ftp://host/store: unsupported scheme "
                          r"'ftp'", "sqlite:///PATH", r"http\(s\)://"]),
    "tracking-uri-path": (["tracking.uri=/tmp/mlruns"], AESWEEP,
                          [r"^aesweep: error: tracking\.uri=/tmp/mlruns: not a tracking store",
                           "sqlite:///PATH"]),
    "empty-experiment": (["tracking.experiment=' '"], AESWEEP,
                         [r"^aesweep: error: tracking\.experiment: must be a non-empty name"]),
    "negative-seed": (["seed=-1"], AESWEEP,
                      [r"^aesweep: error: seed: must be in \[0, 4294967295\], got -1"]),
    "unknown-optimizer-param": (["architecture.activation=softmax"], HYDRA,
                                [r"architecture\.activation", "softmax", "leaky_relu"]),
    "unset-environment-variable": (["+api_key=${oc.env:AESWEEP_SURELY_UNSET}"], AESWEEP,
                                   [r"^aesweep: error: api_key: .*Environment variable "
                                    r"'AESWEEP_SURELY_UNSET' not found"]),
    "csv-without-path": (["dataset=csv"], AESWEEP,
                         [r"^aesweep: error: dataset\.path", "required"]),
    "csv-without-target": (["dataset=csv", "dataset.path={csv:good}"], AESWEEP,
                           [r"^aesweep: error: dataset\.target", "required"]),
}
MARKS: dict[str, list] = {}


def fill(text: str, directory: Path, literal: bool) -> str:
    """Replace ``{csv:KIND}`` with the path of that CSV (regex-escaped in patterns)."""
    def path(match: re.Match[str]) -> str:
        file = str(write_csv(directory, match.group(1)))
        return re.escape(file) if literal else file

    return re.sub(r"\{csv:(\w+)\}", path, text)


@pytest.mark.parametrize(("overrides", "reporter", "patterns"), [
    pytest.param(*case, id=name, marks=MARKS.get(name, [])) for name, case in CASES.items()])
def test_bad_input_is_a_short_error(cli_root, overrides, reporter, patterns):
    data = cli_root / "data"
    data.mkdir()
    args = [fill(o, data, literal=False) for o in overrides]
    result = run_cli([*store_args(cli_root), *args], cwd=cli_root, timeout=300)

    output = result.stdout + result.stderr
    assert "Traceback" not in output, describe(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, describe(result)
    if reporter == AESWEEP:
        assert result.returncode == 2, describe(result)
        errors = [line for line in lines if line.startswith("aesweep: error:")]
        assert len(errors) == 1 and errors[0] == lines[-1], describe(result)
        message = errors[0]
    else:  # Hydra's own short report: a few lines, then the HYDRA_FULL_ERROR hint
        assert result.returncode == 1, describe(result)
        assert "HYDRA_FULL_ERROR=1" in lines[-1], describe(result)
        message = "\n".join(lines)
    for pattern in patterns:
        assert re.search(fill(pattern, data, literal=True), message, re.MULTILINE), (
            f"{pattern!r} not in the error\n{describe(result)}")
    assert "RUNNING" not in run_statuses(cli_root / "mlflow.db")
    assert set(run_statuses(cli_root / "mlflow.db")) <= {"FINISHED", "FAILED"}


def test_hydra_full_error_shows_the_traceback(cli_root):
    result = run_cli([*store_args(cli_root), "trainer.epochs=0"], cwd=cli_root,
                     env={"HYDRA_FULL_ERROR": "1"}, timeout=300)
    assert result.returncode != 0
    assert "Traceback" in result.stderr, describe(result)
    assert "trainer.epochs" in result.stderr
    assert "RUNNING" not in run_statuses(cli_root / "mlflow.db")


@pytest.mark.parametrize("mode", [[], ["-m"]], ids=["single", "multirun"])
def test_a_bad_tracking_uri_stops_the_command_with_one_line(cli_root, mode):
    """In a multirun the driver's callback opens the store: its failure must stop the
    command loudly, not become a Hydra UserWarning (run_cli fails on one)."""
    result = run_cli([*mode, *store_args(cli_root), "tracking.uri=ftp://host/store",
                      "seed=0,1" if mode else "seed=0"], cwd=cli_root, timeout=300)
    assert result.returncode == 2, describe(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("aesweep: error: tracking.uri=ftp://host/store: unsupported "
                                "scheme 'ftp'"), describe(result)
    assert "Traceback" not in result.stderr
    assert not (cli_root / "mlflow.db").exists()
