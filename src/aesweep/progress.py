"""Progress lines: a sweep job's ``[k/N]`` with the sweep's elapsed time and ETA, and a
training job's per-epoch losses.

No tracking here: the epoch hook type (:data:`EpochHook`) is what the core calls; the
tracking layer adds its own hook (``aesweep.tracking.live``) beside :class:`EpochLog`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("aesweep")

# ``hook(epoch, logs, seconds)``: ``epoch`` counts from 1; ``logs`` holds ``loss`` and maybe
# ``val_loss``; ``seconds`` is the epoch's wall time, or None for an epoch restored from a
# checkpoint (trained by an earlier job, replayed before training resumes).
EpochHook = Callable[[int, Mapping[str, float], float | None], None]

# Lines a log file gets per job at most (plus the last epoch): enough to see it move.
FILE_LINES = 10


def clock(seconds: float) -> str:
    """``0:42``, ``12:05``, ``1:02:03``: whole seconds, as a wall clock reads."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta(elapsed: float, done: int, total: int) -> float:
    """Seconds left when ``done`` of ``total`` jobs took ``elapsed`` seconds: jobs may run in
    parallel, so the sweep's own pace (elapsed / done) is what extrapolates."""
    return elapsed / done * max(0, total - done) if done > 0 else math.inf


def sweep_line(message: str, k: int | None, n: int | None, started: float | None,
               now: float | None = None) -> str:
    """``[k/N] message  (0:42 elapsed, ETA 2:06)``, for job ``k`` (from 1) of ``n`` in a
    sweep started at ``started`` (epoch seconds). Without ``k`` or ``n`` (a single run,
    or a search, whose total is unknown) the message alone; without ``started`` no times."""
    if k is None or not n:
        return message
    line = f"[{k}/{n}] {message}"
    if started is None:
        return line
    elapsed = (time.time() if now is None else now) - started
    return f"{line}  ({clock(elapsed)} elapsed, ETA {clock(eta(elapsed, k, n))})"


def log_every(epochs: int, lines: int = FILE_LINES) -> int:
    """The step between logged epochs: the smallest of 1, 2, 5, 10, 20, 50, ... that gives
    at most ``lines`` lines over ``epochs`` (50 epochs: every 5th)."""
    step = 1
    while epochs > step * lines:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return step


class EpochLog:
    """An :data:`EpochHook` that logs ``epoch 5/50  loss=0.8123  val_loss=0.8456  2.3 s/epoch``.

    On a terminal (``tty``; None: whether stderr is one) every epoch; otherwise, a log file,
    every :func:`log_every` epochs and always the last. The time is the mean over the epochs
    since the line before. Restored epochs (``seconds`` None) are not logged.
    """

    def __init__(self, epochs: int, label: str = "", tty: bool | None = None,
                 logger: logging.Logger = log) -> None:
        self.epochs, self.label, self.logger = epochs, label, logger
        self.every = 1 if (sys.stderr.isatty() if tty is None else tty) else log_every(epochs)
        self._seconds, self._count = 0.0, 0

    def __call__(self, epoch: int, logs: Mapping[str, float], seconds: float | None) -> None:
        if seconds is None:
            return
        self._seconds += seconds
        self._count += 1
        if epoch % self.every and epoch != self.epochs:
            return
        losses = "  ".join(f"{key}={value:.4f}" for key, value in logs.items())
        self.logger.info("%sepoch %d/%d  %s  %.2f s/epoch", self.label, epoch, self.epochs,
                         losses, self._seconds / self._count)
        self._seconds, self._count = 0.0, 0


def chain(*hooks: EpochHook | None) -> EpochHook:
    """One hook that calls each given one in turn."""
    present = [hook for hook in hooks if hook is not None]

    def each(epoch: int, logs: Mapping[str, float], seconds: float | None) -> None:
        for hook in present:
            hook(epoch, logs, seconds)
    return each
