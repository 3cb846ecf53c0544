"""Per-epoch losses streamed to a job's run while it trains, so that the MLflow UI's loss
chart moves during the run, not only at its end.

:class:`LiveMetrics` is an :data:`~aesweep.progress.EpochHook`: the training loop calls it
and knows nothing of MLflow. One ``log_batch`` costs ~25-30 ms on a local SQLite store
(mostly per call, not per point), so points are sent at most once per ``interval`` seconds,
and always at the last epoch and on exit.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from mlflow.entities import Metric

from aesweep.names import EPOCH_METRICS

# What each key of the training logs is called in MLflow (step = epoch).
KEYS = EPOCH_METRICS
INTERVAL = 2.0  # seconds between sends at most: ~1.5% of a job's time at worst
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LiveMetrics:
    """Sends each epoch's ``train_loss`` and ``val_loss`` (and a VAE's
    ``train_recon_loss`` and ``train_kl_loss``) to run ``run_id`` with ``client``.

    A trained epoch sends what is pending when ``interval`` seconds have passed since the
    last send (the first one at once); epochs restored from a checkpoint (``seconds``
    None) go with the first trained epoch, or, when nothing is left to train, with the last
    (``epochs``). Use it as a context manager: on exit the rest is sent, so a run that
    fails keeps the curve it trained.
    """

    def __init__(self, client: Any, run_id: str, epochs: int,
                 interval: float = INTERVAL) -> None:
        self.client, self.run_id, self.epochs, self.interval = client, run_id, epochs, interval
        self.pending: list[Metric] = []
        self._sent_at = -math.inf

    def __call__(self, epoch: int, logs: Mapping[str, float], seconds: float | None) -> None:
        now = int(time.time() * 1000)
        self.pending += [Metric(KEYS[key], float(value), now, epoch)
                         for key, value in logs.items() if key in KEYS]
        due = seconds is not None and time.monotonic() - self._sent_at >= self.interval
        if due or epoch >= self.epochs:
            self.flush()

    def flush(self) -> None:
        """Send what is pending, in one request."""
        if self.pending:
            with interrupts_deferred():
                self.client.log_batch(self.run_id, metrics=self.pending)
            self.pending = []
        self._sent_at = time.monotonic()

    def __enter__(self) -> LiveMetrics:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.flush()
            return
        # The job's own error is what the run must end with, not a failed send.
        with contextlib.suppress(Exception):
            self.flush()


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C or SIGTERM during the block takes effect when it ends. A KeyboardInterrupt
    raised inside the store client's C code can surface as a SystemError, which would end
    the run FAILED instead of KILLED (seen once under load). Signal handlers belong to the
    main thread: elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    previous = {sig: signal.signal(sig, lambda *received: caught.append(received))
                for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig, frame in caught[:1]:
            handler = previous[sig]
            if callable(handler):
                handler(sig, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(sig)
