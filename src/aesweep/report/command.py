"""What ``aesweep-report`` does once its arguments are parsed: build a sweep's report from
its runs, write its files, log them to the sweep's parent run, and lay out its view in the
MLflow UI. :mod:`aesweep.report.cli` imports this module only after parsing, so that
``--help`` and a usage error answer without importing MLflow or Matplotlib."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from aesweep.config import compose_config
from aesweep.names import NOTE_TAG
from aesweep.report import search
from aesweep.report.build import Progress, build_report, find_sweep
from aesweep.report.model import FILES, Report
from aesweep.report.plots import metric_figure, recon_figure
from aesweep.report.text import format_markdown, format_note, format_table


def write_report(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.md, report.csv and the two PNGs to ``out_dir`` (and a search's history
    plot); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in FILES]
    paths[0].write_text("\n".join([format_markdown(report), *search.markdown_lines(report)]),
                        encoding="utf-8")
    report.cells.to_csv(paths[1], index=False)
    metric_figure(report).savefig(paths[2], dpi=120)
    recon_figure(report).savefig(paths[3], dpi=120)
    if report.is_search:
        paths.append(out / search.HISTORY_FILE)
        search.history_figure(report).savefig(paths[-1], dpi=120)
    return paths


def log_report(report: Report, parent_run_id: str, files: Sequence[Path]) -> None:
    """Log the report's files as artifacts of the sweep's parent run, under ``report/``,
    and its verdict and table as the parent's description in the MLflow UI."""
    client = report.client or MlflowClient()
    for path in files:
        client.log_artifact(parent_run_id, str(path), "report")
    client.set_tag(parent_run_id, NOTE_TAG, format_note(report, MAX_TAG_VAL_LENGTH))


def app_defaults() -> tuple[str, Path]:
    """The tracking URI and ``paths.root`` that ``aesweep`` started here would use."""
    from aesweep.paths import pin_root

    cfg = compose_config()
    pin_root(cfg, Path.cwd())
    return str(cfg.tracking.uri), Path(cfg.paths.root)


def run_report(uri: str, experiment: str, sweep: str, metric: str | None,
               out: str | Path | None, root: Path | None = None, register: str | None = None,
               progress: Progress | None = None) -> str:
    """``root``: ``paths.root`` for the default ``out`` (composed here when not given).
    ``register``: a registered model's name for the chosen run's encoder (alias ``best``)."""
    report = build_report(uri, experiment, sweep, metric, progress)
    out_dir = Path(out) if out else (root or app_defaults()[1]) / "reports" / report.sweep_id
    files = write_report(report, out_dir)
    log_report(report, report.sweep_id, files)
    table = "\n".join([format_table(report), *search.text_lines(report)])
    text = (f"{table}\n\n{report.verdict}\n\n"
            f"report: {out_dir}/ (logged to run {report.sweep_id} under report/)")
    if register:
        from aesweep.tracking.models import register_best

        text += f"\n{register_best(report, register)}"
    return text


def ui_url(uri: str, experiment: str, sweep: str) -> str:
    """Lay out the sweep's comparison view in the MLflow UI; return its link."""
    from aesweep.tracking.view import publish

    client, experiment_id, parent = find_sweep(uri, experiment, sweep)
    return publish(client, experiment_id, parent.info.run_id, uri)


def sweep_report(tracking_uri: str, experiment: str, parent_run_id: str,
                 out_dir: str | Path | None = None) -> str:
    """Build, write (to ``out_dir``, default ``<paths.root>/reports/<id>``) and log a sweep's
    report; return the text to print. Raises :class:`ReportError` when the report cannot
    be built (no such sweep, no FINISHED runs, ...) and :class:`MlflowException` when the
    store fails, so that the caller can fail the sweep."""
    return run_report(tracking_uri, experiment, parent_run_id, None, out_dir)
