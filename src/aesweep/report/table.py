"""The per-job table printed at the end of a multirun, read back from MLflow."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from aesweep.names import (
    BOTTLENECK_PARAM,
    ENCODED,
    EPOCHS_PARAM,
    MAIN_METRIC,
    RAW,
    RECON_MSE_TEST,
    SEED_PARAM,
    TASK_TAG,
    metric_key,
    val_metric_key,
)
from aesweep.report.build import sweep_members


def sweep_table(tracking_uri: str, parent_run_id: str) -> str:
    """Bottleneck, epochs, seed, recon_mse_test, raw vs encoded main metric on the test rows
    and the encoded one on the validation rows (what the report chooses on), per job,
    including the earlier runs the sweep reused: a ``sweep <id>: N jobs`` line, then the
    table, one row per job."""
    client = MlflowClient(tracking_uri)
    runs = sweep_members(client, client.get_run(parent_run_id))
    if not runs:
        return "aesweep: the sweep logged no runs"
    tasks = [run.data.tags.get(TASK_TAG) for run in runs]
    metric = MAIN_METRIC[next((t for t in tasks if t), "classification")]
    columns = {"bottleneck": BOTTLENECK_PARAM, "epochs": EPOCHS_PARAM, "seed": SEED_PARAM}
    scores = (RECON_MSE_TEST, metric_key(RAW, metric), metric_key(ENCODED, metric),
              val_metric_key(ENCODED, metric))
    rows = [{**{column: run.data.params.get(param) for column, param in columns.items()},
             **{key: run.data.metrics.get(key) for key in scores},
             "status": run.info.status, "run": run.info.run_name} for run in runs]
    table = pd.DataFrame(rows)
    for column in columns:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
    table = table.sort_values(list(columns), na_position="last")
    body = table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
    return f"sweep {parent_run_id}: {len(table)} jobs\n{body}"
