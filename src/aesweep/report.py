"""The sweep report (``aesweep-report``): one row per cell of runs that differ only by
seed, every feature set's main metric with a 95% t-interval, the deltas against each
control, a one-sentence verdict and two plots.

It reads runs through the MLflow API only, so it works the same on the embedded SQLite
store and on a tracking server. No TensorFlow: it starts in seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from scipy import stats

from aesweep.errors import AesweepError
from aesweep.stats import LOWER_IS_BETTER, t_interval

ROLE_TAG, SWEEP_ID_TAG = "aesweep.role", "aesweep.sweep_id"
REUSED_PREFIX = "aesweep.reused."  # on a parent: a job skipped in favour of an earlier run
BOTTLENECK, EPOCHS = "architecture.bottleneck", "trainer.epochs"
SEED_PARAMS = frozenset({"seed", "split.random_state"})  # vary within a cell
CONTROLS = {"raw": "raw", "pca": "PCA", "random": "random"}
QUANTITIES = ("recon_mse_test", "encoded", "raw", "pca", "random",
              "delta_vs_raw", "delta_vs_pca", "delta_vs_random")
MINUS = "\u2212"  # typographic minus in printed numbers
FILES = ("report.md", "report.csv", "metric_vs_bottleneck.png", "recon_mse_vs_bottleneck.png")


class ReportError(AesweepError):
    """A store, experiment, sweep or metric the report cannot find."""


@dataclass
class Report:
    """A sweep's report. ``runs``: one row per FINISHED child run; ``cells``: one row per
    cell, with ``<quantity>`` (mean) and ``<quantity>_ci`` (t half-width) columns."""

    experiment: str
    sweep_id: str
    metric: str
    task: str
    dataset: str
    overrides: str
    statuses: dict[str, int]  # every child run, by status
    extra: list[str]  # params other than bottleneck and epochs that vary across cells
    runs: pd.DataFrame
    cells: pd.DataFrame
    verdict: str = ""
    client: MlflowClient | None = field(default=None, repr=False)

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 for error metrics."""
        return -1 if self.metric in LOWER_IS_BETTER else 1


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
        found = client.search_runs([experiment_id], f"tags.`{ROLE_TAG}` = 'sweep'",
                                   max_results=1, order_by=["attributes.start_time DESC"])
        if not found:
            raise ReportError(f"experiment {name!r} has no sweep (no run tagged "
                              f"{ROLE_TAG}=sweep); run a multirun with -m first")
        return found[0]
    try:
        run = client.get_run(sweep)
    except MlflowException:
        raise ReportError(f"no sweep {sweep!r}: no such run in the store") from None
    if run.info.experiment_id != experiment_id or run.data.tags.get(ROLE_TAG) != "sweep":
        raise ReportError(f"run {sweep} is not a sweep's parent run in experiment {name!r}")
    return run


def sweep_members(client: MlflowClient, parent: Run) -> list[Run]:
    """A sweep's job runs: its children, plus the earlier FINISHED runs it reused instead
    of re-running their configs (parent tags ``aesweep.reused.<job>``)."""
    sweep_id = parent.info.run_id
    runs = [run for run in _search(client, parent.info.experiment_id,
                                   f"tags.`{SWEEP_ID_TAG}` = '{sweep_id}'")
            if run.info.run_id != sweep_id]
    seen = {run.info.run_id for run in runs}
    reused = sorted(v for k, v in parent.data.tags.items() if k.startswith(REUSED_PREFIX))
    return runs + [client.get_run(run_id) for run_id in reused if run_id not in seen]


def _runs_frame(runs: list[Run], metric: str) -> pd.DataFrame:
    """One row per run: status, params (as logged), feature sets' ``metric`` and the
    per-run deltas, signed so that positive means the encoder is better."""
    rows, sign = [], -1 if metric in LOWER_IS_BETTER else 1
    for run in runs:
        m, tags = run.data.metrics, run.data.tags
        paired = tags.get("aesweep.main_metric") == metric  # the job's stats are about it
        row = {"run_id": run.info.run_id, "pca_capped": tags.get("aesweep.pca_capped"),
               **run.data.params, "recon_mse_test": m.get("recon_mse_test", np.nan)}
        row |= {name: m.get(f"{name}_{metric}", np.nan) for name in ("encoded", *CONTROLS)}
        for control in CONTROLS:
            row[f"delta_vs_{control}"] = sign * (row["encoded"] - row[control])
            for key in ("ci_low", "ci_high", "mcnemar_p"):
                row[f"{key}_vs_{control}"] = m.get(f"{key}_vs_{control}") if paired else None
        rows.append(row)
    return pd.DataFrame(rows).astype({f"{k}_vs_{c}": float for c in CONTROLS
                                      for k in ("ci_low", "ci_high", "mcnemar_p")})


def _cell_row(group: pd.DataFrame) -> dict[str, float]:
    row: dict[str, float] = {"seeds": len(group)}
    for q in QUANTITIES:
        row[q], row[f"{q}_ci"] = t_interval(group[q].dropna())
    for control in ("raw", "pca", "random"):
        delta, hw = row[f"delta_vs_{control}"], row[f"delta_vs_{control}_ci"]
        low, high = delta - hw, delta + hw
        if len(group) == 1:  # one seed: the job's paired bootstrap CI on its test rows
            low, high = (group[f"ci_{end}_vs_{control}"].iloc[0] for end in ("low", "high"))
        row[f"delta_vs_{control}_low"], row[f"delta_vs_{control}_high"] = low, high
    if len(group) > 1:  # NaN when the differences do not vary: the t-test is undefined
        varies = np.ptp(group.encoded - group.raw) > 0
        row["p_value"] = stats.ttest_rel(group.encoded, group.raw).pvalue if varies else np.nan
        row["p_test"] = "t"
    else:
        row["p_value"], row["p_test"] = group.mcnemar_p_vs_raw.iloc[0], "McNemar"
    capped = group.pca_capped.dropna()  # "32->20": PCA allowed only 20 components
    row["pca_k"] = int(capped.iloc[0].split("->")[-1]) if len(capped) else np.nan
    return row


def _cells(runs: pd.DataFrame, params: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Group runs by every param but the seeds; return the cells and the varying params."""
    key = [p for p in params if p not in SEED_PARAMS and not p.startswith("tracking.")]
    extra = [p for p in key if p not in (BOTTLENECK, EPOCHS) and runs[p].nunique(dropna=False) > 1]
    rows = [{BOTTLENECK: values[key.index(BOTTLENECK)], EPOCHS: values[key.index(EPOCHS)],
             **{p: values[key.index(p)] for p in extra}, **_cell_row(group)}
            for values, group in runs.fillna({p: "" for p in key}).groupby(key, sort=False)]
    cells = pd.DataFrame(rows).rename(columns={BOTTLENECK: "bottleneck", EPOCHS: "epochs"})
    cells["bottleneck"] = pd.to_numeric(cells.bottleneck)
    cells["epochs"] = pd.to_numeric(cells.epochs)
    cells["pca_k"] = cells.pca_k.fillna(cells.bottleneck).astype(int)
    return cells.sort_values(["bottleneck", "epochs", *extra], ignore_index=True), extra


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
    metric = metric or tags["aesweep.main_metric"].mode().iloc[0]
    if not any(f"encoded_{metric}" in run.data.metrics for run in finished):
        logged = sorted({k[8:] for r in finished for k in r.data.metrics if k[:8] == "encoded_"})
        raise ReportError(f"sweep {sweep_id} logged no encoded_{metric}; "
                          f"choose --metric from {', '.join(logged) or 'nothing'}")
    params = sorted({p for run in finished for p in run.data.params})
    if BOTTLENECK not in params or EPOCHS not in params:
        raise ReportError(f"sweep {sweep_id}: its runs have no {BOTTLENECK}/{EPOCHS} params")
    runs = _runs_frame(finished, metric)
    cells, extra = _cells(runs, params)
    report = Report(
        experiment_name, sweep_id, metric, tags["aesweep.task"].mode().iloc[0],
        runs["dataset.name"].mode().iloc[0] if "dataset.name" in runs else "dataset",
        parent.data.params.get("sweep.overrides", ""), statuses, extra, runs, cells,
        client=client)
    from aesweep.report_text import verdict

    report.verdict = verdict(report)
    return report


# --- files, MLflow, command line -----------------------------------------------------------


def write_report(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.md, report.csv and the two PNGs to ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in FILES]
    from aesweep.report_plots import metric_figure, recon_figure
    from aesweep.report_text import format_markdown

    paths[0].write_text(format_markdown(report), encoding="utf-8")
    report.cells.to_csv(paths[1], index=False)
    metric_figure(report).savefig(paths[2], dpi=120)
    recon_figure(report).savefig(paths[3], dpi=120)
    return paths


def log_report(report: Report, parent_run_id: str, files: Sequence[Path]) -> None:
    """Log the report's files as artifacts of the sweep's parent run, under ``report/``."""
    client = report.client or MlflowClient()
    for path in files:
        client.log_artifact(parent_run_id, str(path), "report")


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else the app's embedded store under ``./outputs``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{Path.cwd() / 'outputs' / 'mlflow.db'}"


def _run(uri: str, experiment: str, sweep: str, metric: str | None,
         out: str | Path | None) -> str:
    report = build_report(uri, experiment, sweep, metric)
    out_dir = Path(out) if out else Path("outputs", "reports", report.sweep_id)
    files = write_report(report, out_dir)
    log_report(report, report.sweep_id, files)
    from aesweep.report_text import format_table

    return (f"{format_table(report)}\n\n{report.verdict}\n\n"
            f"report: {out_dir}/ (logged to run {report.sweep_id} under report/)")


def sweep_report(tracking_uri: str, experiment: str, parent_run_id: str,
                 out_dir: str | Path | None = None) -> str:
    """Build, write (to ``out_dir``, default ``outputs/reports/<id>``) and log a sweep's
    report; return the text to print, or a one-line ``aesweep-report: error: ...`` when it
    cannot be built."""
    try:
        return _run(tracking_uri, experiment, parent_run_id, None, out_dir)
    except (AesweepError, MlflowException) as error:
        return f"aesweep-report: error: {str(error).splitlines()[0]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aesweep-report", description="Summarise a sweep by cell, against its controls, "
                                           "and log the report to the sweep's parent run.")
    add = parser.add_argument
    add("--experiment", default="aesweep", metavar="NAME", help="default: aesweep")
    add("--sweep", default="latest", metavar="ID|latest",
        help="the sweep's parent run id; default: the latest sweep")
    add("--metric", metavar="M", help="default: the runs' main metric (aesweep.main_metric)")
    add("--tracking-uri", metavar="URI",
        help="default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/outputs/mlflow.db")
    add("--out", metavar="DIR", help="default: outputs/reports/<sweep id>")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # ± and Δ on any console
    try:
        text = _run(args.tracking_uri or default_tracking_uri(), args.experiment, args.sweep,
                    args.metric, args.out)
    except (AesweepError, MlflowException) as error:
        print(f"aesweep-report: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
