"""The ``aesweep-report`` command line. It parses its arguments before it imports MLflow,
Matplotlib or pandas (:mod:`aesweep.report.command`, which does the work), so that
``--help`` and a usage error answer at once."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from aesweep.errors import AesweepError, fail
from aesweep.names import MAIN_METRIC_TAG

if TYPE_CHECKING:
    from aesweep.report.build import Progress

PROG = "aesweep-report"


@contextlib.contextmanager
def reading_progress() -> Iterator[Progress]:
    """A ``progress`` for :func:`build_report` that shows the runs read on stderr: a tqdm
    bar on a terminal, cleared when done; in a log, a line per page from the first full
    page on (a smaller sweep reads in seconds). Nothing before the first page, so that an
    error which stops the report before it reads stays one line."""
    from aesweep.report import build

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
        elif read >= build.PAGE_SIZE:
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
    from mlflow.exceptions import MlflowException

    from aesweep.report.command import app_defaults, run_report, ui_url
    from aesweep.report.model import ReportError

    try:
        uri, root = app_defaults()  # composed once: aesweep's store and paths.root from here
        if args.ui_url:
            text = ui_url(args.tracking_uri or uri, args.experiment, args.sweep)
        else:
            with reading_progress() as progress:
                text = run_report(args.tracking_uri or uri, args.experiment, args.sweep,
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
