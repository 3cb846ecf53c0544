"""A sweep's comparison view in the MLflow UI, one link away.

MLflow's experiment page restores a *shared view state* from the experiment tag
``mlflow.sharedViewState.<key>`` when opened with ``?viewStateShareKey=<key>``: its runs
filter, its table columns and its charts. The format was read from the UI that MLflow
3.17 serves (``ExperimentPageUIState`` and ``ExperimentPageSearchFacetsState``; the
tag holds their fields as one JSON object) and is checked in a real browser by
``tests/test_ui_browser.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from mlflow.tracking import MlflowClient

from aesweep.names import (
    ARCHITECTURE_GROUP,
    ARCHITECTURE_PARAM,
    BOTTLENECK_PARAM,
    ENCODED,
    EPOCHS_PARAM,
    MAIN_METRIC_TAG,
    PARENT_TAG,
    PCA,
    RECON_MSE_TEST,
    SEED_PARAM,
    SWEEP_GRID_PREFIX,
    TRAIN_LOSS,
    VAL_LOSS,
    delta_key,
    metric_key,
    val_metric_key,
)

VIEW_TAG_PREFIX = "mlflow.sharedViewState."
SHARE_PARAM = "viewStateShareKey"
WORKFLOW = "workflowType=machine_learning"
# Where `make ui` serves the embedded store (its HOST and PORT defaults).
LOCAL_UI = "http://127.0.0.1:5000"
SECTION = "aesweep-sweep"
# Cards of metrics the view does not lay out go to MLflow's own section, collapsed.
OTHER_SECTION, OTHER_SECTION_NAME = "aesweep-other", "Model metrics"
# Distinct colours for one series per epoch count (MLflow draws each run in its colour).
PALETTE = ("#077a9d", "#e8590c", "#2f9e44", "#9c36b5", "#c92a2a", "#1864ab", "#e67700",
           "#5f3dc4", "#0b7285", "#862e9c")


def share_key(parent_run_id: str) -> str:
    """The view's key: one per sweep, so re-running the report replaces it."""
    return f"aesweep-{parent_run_id}"


def epoch_color(epochs: int, sweep_epochs: Sequence[int]) -> str | None:
    """A job's colour: one per epoch count of its sweep, so that a scatter of runs reads
    as one series per epoch count. None outside a sweep over epochs."""
    counts = sorted(set(sweep_epochs))
    return PALETTE[counts.index(epochs) % len(PALETTE)] if epochs in counts else None


def _key(kind: str, name: str) -> str:
    """The runs table's canonical column key: ``params.`trainer.epochs```."""
    return f"{kind}.`{name}`"


def _card(uuid: str, kind: str, **fields: object) -> dict[str, object]:
    return {"uuid": uuid, "type": kind, "metricSectionId": SECTION, "deleted": False,
            "isGenerated": False, "runsCountToCompare": 100, **fields}


def _scatter(uuid: str, y: str, runs: int) -> dict[str, object]:
    """Its title is MLflow's own: "architecture.bottleneck vs. <y>"."""
    return _card(uuid, "SCATTER", runsCountToCompare=max(100, runs),
                 xaxis={"key": BOTTLENECK_PARAM, "type": "PARAM"},
                 yaxis={"key": y, "type": "METRIC"})


def _line(uuid: str, metric: str, runs: int) -> dict[str, object]:
    return _card(uuid, "LINE", displayName=metric, metricKey=metric,
                 selectedMetricKeys=[metric], runsCountToCompare=max(10, runs),
                 xAxisKey="step", scaleType="linear", xAxisScaleType="linear",
                 lineSmoothness=0, useGlobalXaxisKey=False, useGlobalLineSmoothing=False)


def sweep_view(parent_run_id: str, main_metric: str, swept_keys: Sequence[str],
               runs: int) -> dict[str, object]:
    """The view state of one sweep: its runs (the parent expanded over its children),
    the swept keys and main metrics as columns, and the comparison charts; runs grouped by
    epoch count, or by architecture (``architecture.name``) when the sweep varies it."""
    main, val_main = metric_key(ENCODED, main_metric), val_metric_key(ENCODED, main_metric)
    # ``architecture=dense,sparse`` sweeps the config group; its runs name it by the param.
    by_architecture = bool({ARCHITECTURE_GROUP, ARCHITECTURE_PARAM} & set(swept_keys))
    swept = [ARCHITECTURE_PARAM if k == ARCHITECTURE_GROUP else k for k in swept_keys]
    params = [BOTTLENECK_PARAM, EPOCHS_PARAM, *[k for k in dict.fromkeys(swept)
                                                if k not in (BOTTLENECK_PARAM, EPOCHS_PARAM)]]
    parallel_params = [p for p in dict.fromkeys([*params, SEED_PARAM])]
    metrics = [val_main, main, delta_key(PCA), RECON_MSE_TEST]
    cards = [
        _scatter("aesweep-metric", main, runs),
        _scatter("aesweep-recon", RECON_MSE_TEST, runs),
        _card("aesweep-parallel", "PARALLEL", displayName="bottleneck, epochs, seed → "
              f"{main}, Δ vs PCA", selectedParams=parallel_params,
              selectedMetrics=[main, delta_key(PCA)], showAllRuns=True,
              runsCountToCompare=max(100, runs)),
        _line("aesweep-train-loss", TRAIN_LOSS, runs),
        _line("aesweep-val-loss", VAL_LOSS, runs),
    ]
    return {
        # search facets
        # The jobs only: MLflow draws the rows the table shows, and a shared view cannot
        # expand a parent (it never restores runsExpanded).
        "searchFilter": f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
        "orderByKey": "attributes.start_time", "orderByAsc": False,
        "startTime": "ALL", "lifecycleFilter": "Active", "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        # UI state
        "selectedColumns": [*(_key("params", p) for p in params),
                            *(_key("metrics", m) for m in metrics)],
        "runsHiddenMode": "SHOW_ALL",
        "compareRunCharts": cards,
        "compareRunSections": [
            {"uuid": SECTION, "name": "aesweep: bottleneck comparison", "display": True,
             "isReordered": True, "columns": 2, "cardHeight": 360},
            {"uuid": OTHER_SECTION, "name": OTHER_SECTION_NAME, "display": False,
             "isReordered": False}],
        "isAccordionReordered": True,
        "viewMaximized": False, "runListHidden": False,
        "groupBy": {"aggregateFunction": "average",
                    "groupByKeys": [{"mode": "param", "groupByData": ARCHITECTURE_PARAM
                                     if by_architecture else EPOCHS_PARAM}]},
        "groupsExpanded": {}, "useGroupedValuesInCharts": False,
        "hideEmptyCharts": True, "autoRefreshEnabled": True,
    }


def share_view(client: MlflowClient, experiment_id: str, parent_run_id: str,
               state: dict[str, object]) -> str:
    """Store ``state`` as the experiment's shared view for this sweep; return its key."""
    key = share_key(parent_run_id)
    client.set_experiment_tag(experiment_id, VIEW_TAG_PREFIX + key,
                              json.dumps(state, separators=(",", ":")))
    return key


def ui_base(tracking_uri: str) -> str:
    """The UI's address: a tracking server's own, else where ``make ui`` serves."""
    if urlsplit(tracking_uri).scheme in ("http", "https"):
        parts = urlsplit(tracking_uri)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"  # no credentials
    return LOCAL_UI


def runs_url(base: str, experiment_id: str, run_id: str | None = None) -> str:
    """An experiment's runs (or one run) in the UI's model-training mode: MLflow 3.17
    opens experiments in its GenAI mode unless the link or the user's last choice of the
    "Model training" toggle says otherwise, whatever the experiment's kind."""
    run = f"/{run_id}" if run_id else ""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs{run}?{WORKFLOW}"


def view_url(base: str, experiment_id: str, key: str) -> str:
    """The link that opens the experiment's chart view laid out as ``key`` says."""
    return f"{runs_url(base, experiment_id)}&{SHARE_PARAM}={key}&compareRunsMode=CHART"


def publish(client: MlflowClient, experiment_id: str, parent_run_id: str,
            tracking_uri: str) -> str:
    """Lay out the comparison view of the sweep ``parent_run_id`` (its swept keys from the
    parent's ``sweep.grid.*`` params, its main metric from its jobs) and return its link."""
    parent = client.get_run(parent_run_id)
    swept = [k.removeprefix(SWEEP_GRID_PREFIX) for k in parent.data.params
             if k.startswith(SWEEP_GRID_PREFIX)]
    jobs = client.search_runs([experiment_id], f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
                              max_results=50_000)
    metrics = [r.data.tags[MAIN_METRIC_TAG] for r in jobs if MAIN_METRIC_TAG in r.data.tags]
    state = sweep_view(parent_run_id, metrics[0] if metrics else "accuracy", swept, len(jobs))
    key = share_view(client, experiment_id, parent_run_id, state)
    return view_url(ui_base(tracking_uri), experiment_id, key)


def view_hint(url: str, tracking_uri: str) -> str:
    """The line that gives the view's link: on a local store, once the UI serves it."""
    if urlsplit(tracking_uri).scheme in ("http", "https"):
        return f"compare them: {url}"
    return f"compare them: {url} (once the UI serves this store, see above)"
