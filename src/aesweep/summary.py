"""The per-job table printed at the end of a multirun, read back from MLflow."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from aesweep.downstream import MAIN_METRIC
from aesweep.report import sweep_members


def sweep_table(tracking_uri: str, parent_run_id: str) -> str:
    """Bottleneck, epochs, seed, recon_mse_test and raw vs encoded main metric per job,
    including the earlier runs the sweep reused."""
    client = MlflowClient(tracking_uri)
    runs = sweep_members(client, client.get_run(parent_run_id))
    if not runs:
        return "aesweep: the sweep logged no runs"
    tasks = [run.data.tags.get("aesweep.task") for run in runs]
    metric = MAIN_METRIC[next((t for t in tasks if t), "classification")]
    rows = []
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        rows.append({
            "bottleneck": params.get("architecture.bottleneck"),
            "epochs": params.get("trainer.epochs"),
            "seed": params.get("seed"),
            "recon_mse_test": metrics.get("recon_mse_test"),
            f"raw_{metric}": metrics.get(f"raw_{metric}"),
            f"encoded_{metric}": metrics.get(f"encoded_{metric}"),
            "status": run.info.status,
            "run": run.info.run_name,
        })
    table = pd.DataFrame(rows)
    for key in ("bottleneck", "epochs", "seed"):
        table[key] = pd.to_numeric(table[key], errors="coerce").astype("Int64")
    table = table.sort_values(["bottleneck", "epochs", "seed"], na_position="last")
    body = table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
    return f"sweep {parent_run_id}: {len(table)} jobs\n{body}"
