"""Figures logged with each run. Built on ``matplotlib.figure.Figure``: no pyplot state."""

from __future__ import annotations

import threading
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

LOSS_LABELS = {"loss": "train", "val_loss": "validation"}  # history key -> legend label
_drawn = threading.local()  # each thread's loss-curve figure, drawn again for each job


def loss_curve(history: dict[str, list[float]], title: str = "") -> Figure:
    """Training (and validation) reconstruction loss by epoch: a new figure."""
    fig = Figure(figsize=(6, 4))
    # Fixed margins that fit the labels: a layout engine ("constrained") costs ~40% of the
    # figure's time, and every job of a sweep draws one.
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.92)
    ax = fig.add_subplot()
    for key, label in LOSS_LABELS.items():
        ax.plot([], [], marker="o", markersize=3, label=label, gid=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction MSE (scaled features)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # Tick labels short enough for the fixed margin: 0.00275 as 2.75 with "1e-3" above.
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.grid(alpha=0.3)
    return _draw(fig, history, title)


def _draw(fig: Figure, history: dict[str, list[float]], title: str) -> Figure:
    ax = fig.axes[0]
    shown = []
    for line in ax.lines:
        values = history.get(line.get_gid()) or []
        line.set_data(range(1, len(values) + 1), values)
        line.set_visible(bool(values))
        shown += [line] if values else []
    ax.set_title(title or "autoencoder loss")
    ax.relim(visible_only=True)
    ax.autoscale_view()
    ax.legend(handles=shown)
    return fig


def save_loss_curve(history: dict[str, list[float]], path: Path | str, title: str = "") -> None:
    """Write :func:`loss_curve` as a PNG at ``path``. Each thread draws its one figure again
    with the new curves: its text layout is cached, a third of a new figure's time."""
    fig = getattr(_drawn, "figure", None)
    if fig is None:
        fig = _drawn.figure = loss_curve(history, title)
    else:
        _draw(fig, history, title)
    fig.savefig(path, format="png")
