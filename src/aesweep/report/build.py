"""Reading a sweep from MLflow into a :class:`~aesweep.report.model.Report`.

Through the MLflow API only, so it works the same on the embedded SQLite store and on a
tracking server. Every tag, param and metric key is spelled by :mod:`aesweep.names`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.tracking import MlflowClient
from scipy import stats

from aesweep.config.validation import NOT_HASHED
from aesweep.names import (
    ARCHITECTURE_PARAM,
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
from aesweep.report.architectures import architecture_first
from aesweep.report.model import (
    QUANTITIES,
    SEARCH_TAGS,
    VAL_ENCODED,
    Report,
    ReportError,
    val_column,
)
from aesweep.report.text import verdict

if TYPE_CHECKING:
    from pandas.api.typing import DataFrameGroupBy

_CAPPED = "pca_capped"  # runs column: PCA_CAPPED_TAG, "32->20" if PCA allowed only 20
# Runs per search_runs call. Larger pages measured no faster on SQLite (the time is MLflow
# building each run's entities), and a page is what the progress callback counts.
PAGE_SIZE = SEARCH_MAX_RESULTS_DEFAULT
REUSED_CHUNK = 100  # reused runs' ids per search (run_id IN (...)): one call, not one per run
# ``progress(n)``: ``n`` more runs were read (a page at a time).
Progress = Callable[[int], None]


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


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while runs are read: the entities read are
    long-lived and hold no cycles, yet each collection rescans them all (half the read
    time at 10,000 runs, and more per run the more runs are held; peak memory unchanged)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _search(client: MlflowClient, experiment_id: str, filter_string: str,
            progress: Progress | None = None) -> list[Run]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, max_results=PAGE_SIZE,
                                  page_token=token)
        runs += page
        if progress is not None:
            progress(len(page))
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


def _reused_runs(client: MlflowClient, experiment_id: str, run_ids: list[str],
                 progress: Progress | None) -> list[Run]:
    """``run_ids``, searched for by the hundred in the sweep's experiment, where
    a sweep finds the runs it reuses; any not there are fetched one by one."""
    found: dict[str, Run] = {}
    for start in range(0, len(run_ids), REUSED_CHUNK):
        chunk = ", ".join(f"'{run_id}'" for run_id in run_ids[start:start + REUSED_CHUNK])
        found |= {run.info.run_id: run for run in _search(
            client, experiment_id, f"attributes.run_id IN ({chunk})", progress)}
    elsewhere = {run_id: client.get_run(run_id) for run_id in run_ids if run_id not in found}
    if elsewhere and progress is not None:
        progress(len(elsewhere))
    return [found.get(run_id) or elsewhere[run_id] for run_id in run_ids]


def sweep_members(client: MlflowClient, parent: Run,
                  progress: Progress | None = None) -> list[Run]:
    """A sweep's job runs: its children, plus the earlier FINISHED runs it reused instead
    of re-running their configs (the parent's tags ``REUSED_TAG_PREFIX + <job>``).
    ``progress`` is called after each page of runs read."""
    sweep_id, experiment_id = parent.info.run_id, parent.info.experiment_id
    runs = _search(client, experiment_id, f"tags.`{SWEEP_ID_TAG}` = '{sweep_id}' and "
                                          f"attributes.run_id != '{sweep_id}'", progress)
    seen = {run.info.run_id for run in runs}
    reused = sorted(v for k, v in parent.data.tags.items()
                    if k.startswith(REUSED_TAG_PREFIX) and v not in seen)
    return runs + _reused_runs(client, experiment_id, reused, progress)


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


def _t_intervals(groups: DataFrameGroupBy, columns: list[str],
                 confidence: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each group's mean and t half-width of each column, as
    :func:`aesweep.stats.t_interval` gives them (NaN values left out; half-width NaN below
    2 values), for all groups at once: a call per cell and quantity cost seconds."""
    n, mean, sd = groups[columns].count(), groups[columns].mean(), groups[columns].std()
    t = stats.t.ppf((1 + confidence) / 2, (n - 1).clip(lower=1))
    return mean, (t * sd / np.sqrt(n)).where(n >= 2)


def _paired_p(differences: pd.Series, cell: np.ndarray) -> pd.Series:
    """Each cell's two-sided paired t-test p-value of its runs' ``differences`` (what
    ``scipy.stats.ttest_rel`` gives); NaN where one is NaN or they do not vary, where the
    test is undefined."""
    groups = differences.groupby(cell)
    n, mean, sd = groups.size(), groups.mean(), groups.std()
    undefined = differences.isna().groupby(cell).any() | ~(groups.max() > groups.min())
    t = (mean / (sd / np.sqrt(n))).abs()
    return pd.Series(2 * stats.t.sf(t, (n - 1).clip(lower=1)), index=n.index).mask(undefined)


def _cells(runs: pd.DataFrame, params: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Group runs by every param of what a job computes but the seeds; return the cells
    and the varying params. (Where a run was tracked or stored, and the sweep it ran in,
    do not split cells: a sweep that reuses an earlier sweep's runs pools them.)"""
    key = [p for p in params if p not in SEED_PARAMS
           and not any(p == k or p.startswith(f"{k}.") for k in NOT_HASHED)]
    keyed = runs.fillna({p: "" for p in key})
    extra = architecture_first(keyed, [p for p in key if p not in (
        BOTTLENECK_PARAM, EPOCHS_PARAM) and runs[p].nunique(dropna=False) > 1])
    cell = keyed.groupby(key, sort=False).ngroup().to_numpy()  # 0, 1, ...: first seen first
    first = np.unique(cell, return_index=True)[1]
    labels = keyed[[BOTTLENECK_PARAM, EPOCHS_PARAM, *extra]].iloc[first].reset_index(drop=True)
    groups = runs.groupby(cell)
    seeds = groups.size()
    mean, ci = _t_intervals(groups, list(QUANTITIES))
    columns: dict[str, object] = {"bottleneck": pd.to_numeric(labels[BOTTLENECK_PARAM]),
                                  "epochs": pd.to_numeric(labels[EPOCHS_PARAM]),
                                  **{p: labels[p] for p in extra}, "seeds": seeds}
    for q in QUANTITIES:
        columns[q], columns[f"{q}_ci"] = mean[q], ci[q]
    one = groups[[key for control in CONTROLS for key in ci_keys(control)]
                 + [mcnemar_key(RAW), _CAPPED]].first()  # a one-seed cell's own row
    for control in CONTROLS:
        delta = delta_key(control)
        low, high = mean[delta] - ci[delta], mean[delta] + ci[delta]
        # one seed: the job's paired bootstrap CI on its test rows
        columns[f"{delta}_low"] = low.where(seeds > 1, one[ci_keys(control)[0]])
        columns[f"{delta}_high"] = high.where(seeds > 1, one[ci_keys(control)[1]])
    columns["p_value"] = _paired_p(runs[ENCODED] - runs[RAW], cell).where(
        seeds > 1, one[mcnemar_key(RAW)])
    columns["p_test"] = np.where(seeds > 1, "t", "McNemar")
    capped = one[_CAPPED].dropna().map(lambda text: int(text.split("->")[-1]))
    columns["pca_k"] = capped.reindex(seeds.index)
    cells = pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})
    cells["pca_k"] = cells.pca_k.fillna(cells.bottleneck).astype(int)
    first = extra[:1] if ARCHITECTURE_PARAM in extra else []  # by architecture, if it varies
    order = [*first, "bottleneck", "epochs", *extra[len(first):]]
    return cells.sort_values(order, ignore_index=True), extra


def _selection(runs: pd.DataFrame, cells: pd.DataFrame, metric: str) -> tuple[int, str]:
    """The best cell (its row in ``cells``) and what chose it (see :class:`Report`): the
    mean validation score where the runs logged one, else (runs older than validation
    scores) the test score."""
    validated = bool(cells[VAL_ENCODED].notna().any())
    best = int((sign(metric) * cells[VAL_ENCODED if validated else ENCODED]).idxmax())
    source = runs[VALIDATION_TAG].dropna().mode()
    return best, (source.iloc[0] if len(source) else "holdout") if validated else "test"


def build_report(client_or_uri: MlflowClient | str, experiment_name: str = "aesweep",
                 sweep: str = "latest", metric: str | None = None,
                 progress: Progress | None = None) -> Report:
    """Read a sweep (``"latest"`` or its parent run's id) and summarise it by cell;
    ``progress(n)`` is told of each page of ``n`` runs read. Raises :class:`ReportError`
    naming what is missing."""
    client, _, parent = find_sweep(client_or_uri, experiment_name, sweep)
    sweep_id = parent.info.run_id
    with _gc_paused():
        children = sweep_members(client, parent, progress)
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


def find_sweep(client_or_uri: MlflowClient | str, experiment_name: str,
               sweep: str = "latest") -> tuple[MlflowClient, str, Run]:
    """(client, experiment id, parent run) of a sweep (``"latest"`` or its id), without
    reading its runs. Raises :class:`ReportError` naming what is missing."""
    client = _client(client_or_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise ReportError(f"no experiment {experiment_name!r} in the tracking store")
    parent = _find_sweep(client, experiment.experiment_id, experiment_name, sweep)
    return client, experiment.experiment_id, parent
