"""Figures (matplotlib, an optional dependency). Figures are built with matplotlib's object API
(``matplotlib.figure.Figure``), so they render headless and never touch a global pyplot state;
pass ``to_file=`` to save one, and ``show=True`` to also display it (after it is saved)."""

from __future__ import annotations

import os


def _figure(figsize=(6.4, 4.0)):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("Plotting needs matplotlib: pip install 'glassnet[plot]'.") from None
    return Figure(figsize=figsize, layout="constrained")


def _finish(fig, to_file=None, show: bool = False):
    if to_file:
        folder = os.path.dirname(os.path.abspath(os.fspath(to_file)))
        os.makedirs(folder, exist_ok=True)
        fig.savefig(to_file, dpi=110)
    if show:
        import matplotlib.pyplot as plt

        manager = plt.figure().canvas.manager
        manager.canvas.figure = fig
        fig.set_canvas(manager.canvas)
        plt.show()
    return fig


def _history_dict(history) -> dict:
    return history.history if hasattr(history, "history") else dict(history)


def plot_history(history, metric: str = "loss", to_file=None, show: bool = False, title: str | None = None):
    """Training vs validation curve of ``metric`` over epochs from a ``History`` (or its dict)."""
    values = _history_dict(history)
    if metric not in values:
        from .errors import UnknownNameError

        raise UnknownNameError("history key", metric, [k for k in values if not k.startswith("val_")])
    fig = _figure()
    ax = fig.add_subplot()
    epochs = range(1, len(values[metric]) + 1)
    ax.plot(epochs, values[metric], marker="o", markersize=3, label=f"train {metric}")
    if f"val_{metric}" in values:
        ax.plot(epochs, values[f"val_{metric}"], marker="o", markersize=3, label=f"validation {metric}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title or metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, to_file, show)
