"""The table printed at the end of a multirun, read back from MLflow."""

from __future__ import annotations

import mlflow
import pandas as pd
from omegaconf import DictConfig

from aesweep.downstream import MAIN_METRIC
from aesweep.tracking import PARENT_TAG, ensure_experiment

COLUMNS = {
    "params.architecture.bottleneck": "bottleneck",
    "params.trainer.epochs": "epochs",
    "params.seed": "seed",
    "metrics.recon_mse_test": "recon_mse_test",
}


def sweep_runs(tracking: DictConfig, sweep_id: str) -> pd.DataFrame:
    """Every run a sweep logged, one row each, as ``mlflow.search_runs`` returns them."""
    experiment_id = ensure_experiment(tracking)
    return mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{sweep_id}'",
        output_format="pandas",
    )


def sweep_table(tracking: DictConfig, sweep_id: str) -> str:
    """Bottleneck, epochs, seed, recon_mse_test and raw vs encoded main metric per job."""
    runs = sweep_runs(tracking, sweep_id)
    if runs.empty:
        return "aesweep: the sweep logged no runs"
    metric = MAIN_METRIC[runs["tags.aesweep.task"].iloc[0]]
    columns = {**COLUMNS, f"metrics.raw_{metric}": f"raw_{metric}",
               f"metrics.encoded_{metric}": f"encoded_{metric}", "status": "status"}
    table = runs.reindex(columns=list(columns)).rename(columns=columns)
    for key in ("bottleneck", "epochs", "seed"):
        table[key] = pd.to_numeric(table[key], errors="coerce").astype("Int64")
    table = table.sort_values(["bottleneck", "epochs", "seed"])
    body = table.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    return f"sweep {sweep_id}: {len(table)} runs\n{body}"
