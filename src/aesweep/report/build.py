"""Reading a sweep from MLflow into a :class:`~aesweep.report.model.Report`.

Through the MLflow API only, so it works the same on the embedded SQLite store and on a
tracking server. Every tag, param and metric key is spelled by :mod:`aesweep.names`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from scipy import stats

from aesweep.config.validation import NOT_HASHED
from aesweep.names import (
    BOTTLENECK_PARAM,
    CONTROLS,
    DATASET_PARAM,
    ENCODED,
    EPOCHS_PARAM,
    MAIN_METRIC_TAG,
    PCA_CAPPED_TAG,
    RAW,
    RECON_MSE_TEST,
    REUSED_TAG_PREFIX,
    ROLE_TAG,
    SEED_PARAMS,
    SWEEP_ID_TAG,
    SWEEP_OVERRIDES_PARAM,
    SWEEP_ROLE,
    SWEEPER_PARAM,
    TASK_TAG,
    VALIDATION_TAG,
    ci_keys,
    delta_key,
    improvement,
    mcnemar_key,
    metric_key,
    sign,
    val_metric_key,
)
from aesweep.report.model import (
    QUANTITIES,
    SEARCH_TAGS,
    VAL_ENCODED,
    Report,
    ReportError,
    val_column,
)
from aesweep.report.text import verdict
from aesweep.stats import t_interval

_CAPPED = "pca_capped"  # runs column: PCA_CAPPED_TAG, "32->20" if PCA allowed only 20


def _client(client_or_uri: MlflowClient | str) -> MlflowClient:
    if isinstance(client_or_uri, MlflowClient):
        return client_or_uri
    uri = str(client_or_uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.is_file():  # MLflow would silently create an empty store
            raise ReportError(f"no MLflow store at {db} (set --tracking-uri or "
                              "MLFLOW_TRACKING_URI)")
    return MlflowClient(uri)


def _search(client: MlflowClient, experiment_id: str, filter_string: str) -> list[Run]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, page_token=token)
        runs += page
        token = page.token
        if not token:
            return runs


def _find_sweep(client: MlflowClient, experiment_id: str, name: str, sweep: str) -> Run:
    if sweep == "latest":
        found = client.search_runs([experiment_id], f"tags.`{ROLE_TAG}` = '{SWEEP_ROLE}'",
                                   max_results=1, order_by=["attributes.start_time DESC"])
        if not found:
            raise ReportError(f"experiment {name!r} has no sweep (no run tagged "
                              f"{ROLE_TAG}={SWEEP_ROLE}); run a multirun with -m first")
        return found[0]
    try:
        run = client.get_run(sweep)
    except MlflowException:
        raise ReportError(f"no sweep {sweep!r}: no such run in the store") from None
    if run.info.experiment_id != experiment_id or run.data.tags.get(ROLE_TAG) != SWEEP_ROLE:
        raise ReportError(f"run {sweep} is not a sweep's parent run in experiment {name!r}")
    return run


def sweep_members(client: MlflowClient, parent: Run) -> list[Run]:
    """A sweep's job runs: its children, plus the earlier FINISHED runs it reused instead
    of re-running their configs (the parent's tags ``REUSED_TAG_PREFIX + <job>``)."""
    sweep_id = parent.info.run_id
    runs = [run for run in _search(client, parent.info.experiment_id,
                                   f"tags.`{SWEEP_ID_TAG}` = '{sweep_id}'")
            if run.info.run_id != sweep_id]
    seen = {run.info.run_id for run in runs}
    reused = sorted(v for k, v in parent.data.tags.items() if k.startswith(REUSED_TAG_PREFIX))
    return runs + [client.get_run(run_id) for run_id in reused if run_id not in seen]


def _runs_frame(runs: list[Run], metric: str) -> pd.DataFrame:
    """One row per run: status, params (as logged), feature sets' ``metric`` and the
    per-run deltas, signed so that positive means the encoder is better."""
    rows = []
    for run in runs:
        m, tags = run.data.metrics, run.data.tags
        paired = tags.get(MAIN_METRIC_TAG) == metric  # the job's stats are about it
        row = {"run_id": run.info.run_id, _CAPPED: tags.get(PCA_CAPPED_TAG),
               **run.data.params, RECON_MSE_TEST: m.get(RECON_MSE_TEST, np.nan)}
        row |= {name: m.get(metric_key(name, metric), np.nan) for name in (ENCODED, *CONTROLS)}
        row |= {val_column(name): m.get(val_metric_key(name, metric), np.nan)
                for name in (ENCODED, *CONTROLS)}
        row[VALIDATION_TAG] = tags.get(VALIDATION_TAG)
        for column, tag in SEARCH_TAGS.items():  # a search's trial, rung, and where it stopped
            row[column] = float(tags[tag]) if tag in tags else np.nan
        for control in CONTROLS:
            row[delta_key(control)] = improvement(row[ENCODED], row[control], metric)
            for key in (*ci_keys(control), mcnemar_key(control)):
                row[key] = m.get(key) if paired else None
        rows.append(row)
    return pd.DataFrame(rows).astype({key: float for control in CONTROLS
                                      for key in (*ci_keys(control), mcnemar_key(control))})


def _cell_row(group: pd.DataFrame) -> dict[str, float]:
    row: dict[str, float] = {"seeds": len(group)}
    for q in QUANTITIES:
        row[q], row[f"{q}_ci"] = t_interval(group[q].dropna())
    for control in CONTROLS:
        delta = delta_key(control)
        low, high = row[delta] - row[f"{delta}_ci"], row[delta] + row[f"{delta}_ci"]
        if len(group) == 1:  # one seed: the job's paired bootstrap CI on its test rows
            low, high = (group[key].iloc[0] for key in ci_keys(control))
        row[f"{delta}_low"], row[f"{delta}_high"] = low, high
    encoded, raw = group[ENCODED], group[RAW]
    if len(group) > 1:  # NaN when the differences do not vary: the t-test is undefined
        varies = np.ptp(encoded - raw) > 0
        row["p_value"] = stats.ttest_rel(encoded, raw).pvalue if varies else np.nan
        row["p_test"] = "t"
    else:
        row["p_value"], row["p_test"] = group[mcnemar_key(RAW)].iloc[0], "McNemar"
    capped = group[_CAPPED].dropna()
    row["pca_k"] = int(capped.iloc[0].split("->")[-1]) if len(capped) else np.nan
    return row


def _cells(runs: pd.DataFrame, params: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Group runs by every param of what a job computes but the seeds; return the cells
    and the varying params. (Where a run was tracked or stored, and the sweep it ran in,
    do not split cells: a sweep that reuses an earlier sweep's runs pools them.)"""
    key = [p for p in params if p not in SEED_PARAMS
           and not any(p == k or p.startswith(f"{k}.") for k in NOT_HASHED)]
    extra = [p for p in key if p not in (BOTTLENECK_PARAM, EPOCHS_PARAM)
             and runs[p].nunique(dropna=False) > 1]
    rows = [{BOTTLENECK_PARAM: values[key.index(BOTTLENECK_PARAM)],
             EPOCHS_PARAM: values[key.index(EPOCHS_PARAM)],
             **{p: values[key.index(p)] for p in extra}, **_cell_row(group)}
            for values, group in runs.fillna({p: "" for p in key}).groupby(key, sort=False)]
    cells = pd.DataFrame(rows).rename(columns={BOTTLENECK_PARAM: "bottleneck",
                                               EPOCHS_PARAM: "epochs"})
    cells["bottleneck"] = pd.to_numeric(cells.bottleneck)
    cells["epochs"] = pd.to_numeric(cells.epochs)
    cells["pca_k"] = cells.pca_k.fillna(cells.bottleneck).astype(int)
    return cells.sort_values(["bottleneck", "epochs", *extra], ignore_index=True), extra


def _selection(runs: pd.DataFrame, cells: pd.DataFrame, metric: str) -> tuple[int, str]:
    """The best cell (its row in ``cells``) and what chose it (see :class:`Report`): the
    mean validation score where the runs logged one, else (runs older than validation
    scores) the test score."""
    validated = bool(cells[VAL_ENCODED].notna().any())
    best = int((sign(metric) * cells[VAL_ENCODED if validated else ENCODED]).idxmax())
    source = runs[VALIDATION_TAG].dropna().mode()
    return best, (source.iloc[0] if len(source) else "holdout") if validated else "test"


def build_report(client_or_uri: MlflowClient | str, experiment_name: str = "aesweep",
                 sweep: str = "latest", metric: str | None = None) -> Report:
    """Read a sweep (``"latest"`` or its parent run's id) and summarise it by cell.
    Raises :class:`ReportError` naming what is missing."""
    client = _client(client_or_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise ReportError(f"no experiment {experiment_name!r} in the tracking store")
    parent = _find_sweep(client, experiment.experiment_id, experiment_name, sweep)
    sweep_id = parent.info.run_id
    children = sweep_members(client, parent)
    statuses = pd.Series([r.info.status for r in children]).value_counts().to_dict()
    finished = [run for run in children if run.info.status == "FINISHED"]
    if not finished:
        raise ReportError(f"sweep {sweep_id} has no FINISHED runs ({statuses or 'no runs'})")
    tags = pd.DataFrame([run.data.tags for run in finished])
    metric = metric or tags[MAIN_METRIC_TAG].mode().iloc[0]
    if not any(metric_key(ENCODED, metric) in run.data.metrics for run in finished):
        prefix = metric_key(ENCODED, "")
        logged = sorted({k.removeprefix(prefix) for r in finished for k in r.data.metrics
                         if k.startswith(prefix)})
        raise ReportError(f"sweep {sweep_id} logged no {metric_key(ENCODED, metric)}; "
                          f"choose --metric from {', '.join(logged) or 'nothing'}")
    params = sorted({p for run in finished for p in run.data.params})
    if BOTTLENECK_PARAM not in params or EPOCHS_PARAM not in params:
        raise ReportError(f"sweep {sweep_id}: its runs have no "
                          f"{BOTTLENECK_PARAM}/{EPOCHS_PARAM} params")
    runs = _runs_frame(finished, metric)
    cells, extra = _cells(runs, params)
    best, selected_by = _selection(runs, cells, metric)
    report = Report(
        experiment_name, sweep_id, metric, tags[TASK_TAG].mode().iloc[0],
        runs[DATASET_PARAM].mode().iloc[0] if DATASET_PARAM in runs else "dataset",
        parent.data.params.get(SWEEP_OVERRIDES_PARAM, ""), statuses, extra, runs, cells,
        best, selected_by, client=client,
        sweeper={k: v for k, v in parent.data.params.items() if k.startswith(SWEEPER_PARAM)})
    report.verdict = verdict(report)
    return report
