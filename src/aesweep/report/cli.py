"""The report's files, its MLflow artifacts and the ``aesweep-report`` command line."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from aesweep.config import compose_config
from aesweep.errors import AesweepError, fail
from aesweep.names import MAIN_METRIC_TAG, NOTE_TAG
from aesweep.report import search
from aesweep.report.build import PAGE_SIZE, Progress, build_report, find_sweep
from aesweep.report.model import FILES, Report, ReportError
from aesweep.report.plots import metric_figure, recon_figure
from aesweep.report.text import format_markdown, format_note, format_table

PROG = "aesweep-report"


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


def _run(uri: str, experiment: str, sweep: str, metric: str | None,
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


def _ui_url(uri: str, experiment: str, sweep: str) -> str:
    from aesweep.tracking.view import publish

    client, experiment_id, parent = find_sweep(uri, experiment, sweep)
    return publish(client, experiment_id, parent.info.run_id, uri)


def sweep_report(tracking_uri: str, experiment: str, parent_run_id: str,
                 out_dir: str | Path | None = None) -> str:
    """Build, write (to ``out_dir``, default ``<paths.root>/reports/<id>``) and log a sweep's
    report; return the text to print. Raises :class:`ReportError` when the report cannot
    be built (no such sweep, no FINISHED runs, ...) and :class:`MlflowException` when the
    store fails, so that the caller can fail the sweep."""
    return _run(tracking_uri, experiment, parent_run_id, None, out_dir)


@contextlib.contextmanager
def reading_progress() -> Iterator[Progress]:
    """A ``progress`` for :func:`build_report` that shows the runs read on stderr: a tqdm
    bar on a terminal, cleared when done; in a log, a line per page from the first full
    page on (a smaller sweep reads in seconds). Nothing before the first page, so that an
    error which stops the report before it reads stays one line."""
    stream, started, bar, read = sys.stderr, time.monotonic(), None, 0

    def progress(n: int) -> None:
        nonlocal bar, read
        read += n
        if stream.isatty():
            if bar is None:
                from tqdm import tqdm

                # mininterval 0: pages come seconds apart, and each should show
                bar = tqdm(desc=f"{PROG}: reading runs", unit=" runs", file=stream,
                           leave=False, dynamic_ncols=True, mininterval=0)
            bar.update(n)
        elif read >= PAGE_SIZE:
            print(f"{PROG}: read {read:,} runs ({time.monotonic() - started:.0f} s)",
                  file=stream, flush=True)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``aesweep-report``: print the report and return 0; on an error, print one line
    ``aesweep-report: error: ...`` and exit 2 (see :func:`aesweep.errors.fail`)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Summarise a sweep by cell, against its controls, "
                               "and log the report to the sweep's parent run.")
    add = parser.add_argument
    add("--experiment", default="aesweep", metavar="NAME", help="default: aesweep")
    add("--sweep", default="latest", metavar="ID|latest",
        help="the sweep's parent run id; default: the latest sweep")
    add("--metric", metavar="M", help=f"default: the runs' main metric ({MAIN_METRIC_TAG})")
    add("--tracking-uri", metavar="URI",
        help="default: where aesweep logs from here: $MLFLOW_TRACKING_URI, else "
             "sqlite:///<paths.root>/mlflow.db (paths.root: ./outputs)")
    add("--out", metavar="DIR", help="default: <paths.root>/reports/<sweep id>")
    add("--register", metavar="NAME",
        help="register the encoder of the best cell's best run (on validation) as the "
             "registered model NAME, alias best")
    add("--ui-url", action="store_true",
        help="only lay out the sweep's comparison view in the MLflow UI and print its link")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # ± and Δ on any console
    try:
        uri, root = app_defaults()  # composed once: aesweep's store and paths.root from here
        if args.ui_url:
            text = _ui_url(args.tracking_uri or uri, args.experiment, args.sweep)
        else:
            with reading_progress() as progress:
                text = _run(args.tracking_uri or uri, args.experiment, args.sweep,
                            args.metric, args.out, root, args.register, progress)
    except AesweepError as error:
        fail(error, prog=PROG)
    except MlflowException as error:  # the store's own failure: one line, exit code 2
        wrapped = ReportError(str(error))
        wrapped.__cause__ = error  # kept for the traceback with HYDRA_FULL_ERROR=1
        fail(wrapped, prog=PROG)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
