"""Figures logged with each run. Built on ``matplotlib.figure.Figure``: no pyplot state."""

from __future__ import annotations

from matplotlib.figure import Figure


def loss_curve(history: dict[str, list[float]], title: str = "") -> Figure:
    """Training (and validation) reconstruction loss by epoch."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    labels = {"loss": "train", "val_loss": "validation"}
    for key, label in labels.items():
        values = history.get(key)
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction MSE (scaled features)")
    ax.set_title(title or "autoencoder loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
