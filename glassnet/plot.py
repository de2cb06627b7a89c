"""Figures (matplotlib, an optional dependency). Figures are built with matplotlib's object API
(``matplotlib.figure.Figure``), so they render headless and never touch a global pyplot state;
pass ``to_file=`` to save one, and ``show=True`` to also display it (after it is saved). Every
function returns the Figure.

=============================  ===================================================================
function                       draws
=============================  ===================================================================
plot_history                   one metric, train vs validation, over epochs
plot_training                  loss and accuracy (or any metrics) side by side, train vs validation
plot_comparison                one curve per run: optimizer / activation / initializer studies
plot_schedule                  learning rate against step for one or several schedules
plot_activations               activation functions f and their derivatives f' (by autodiff)
plot_decision_boundary         the classes a model predicts over a 2-D plane, with the data
plot_gradient_flow             per-layer gradient norms (or any monitor quantity) over steps + last step
plot_weight_histograms         one histogram panel per layer with weights
plot_activation_histograms     one histogram panel per layer output on a batch ``x``
=============================  ===================================================================

The model diagram is :func:`glassnet.utils.plot_model`."""

from __future__ import annotations

import inspect
import math
import os

import numpy as np


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


def _grid_figure(n: int, ncols: int | None = None, panel=(3.6, 2.8)):
    """A figure with ``n`` panels on a grid; returns (fig, axes list of length n)."""
    ncols = ncols or min(n, 4)
    nrows = max(1, math.ceil(n / ncols))
    fig = _figure(figsize=(panel[0] * ncols, panel[1] * nrows))
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    return fig, axes


def _unknown(kind: str, name, valid):
    from .errors import UnknownNameError

    return UnknownNameError(kind, name, list(valid))


# ====================================================================== training curves
def _draw_curves(ax, values: dict, metric: str, title: str | None = None) -> None:
    epochs = range(1, len(values[metric]) + 1)
    ax.plot(epochs, values[metric], marker="o", markersize=3, label=f"train {metric}")
    if f"val_{metric}" in values:
        ax.plot(epochs, values[f"val_{metric}"], marker="o", markersize=3, label=f"validation {metric}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(title or metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()


def plot_history(history, metric: str = "loss", to_file=None, show: bool = False, title: str | None = None):
    """Training vs validation curve of ``metric`` over epochs from a ``History`` (or its dict)."""
    values = _history_dict(history)
    if metric not in values:
        raise _unknown("history key", metric, [k for k in values if not k.startswith("val_")])
    fig = _figure()
    _draw_curves(fig.add_subplot(), values, metric, title)
    return _finish(fig, to_file, show)


def plot_training(history, metrics=("loss", "accuracy"), to_file=None, show: bool = False, title: str | None = None):
    """Loss and accuracy curves side by side (train vs validation), one panel per metric.

    Metrics missing from the history are skipped (a regression run has no accuracy); at least one must be there.
    """
    values = _history_dict(history)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    present = [m for m in metrics if m in values]
    if not present:
        raise _unknown("history key", metrics[0], [k for k in values if not k.startswith("val_")])
    fig, axes = _grid_figure(len(present), ncols=len(present), panel=(4.8, 3.6))
    for ax, metric in zip(axes, present):
        _draw_curves(ax, values, metric)
    if title:
        fig.suptitle(title)
    return _finish(fig, to_file, show)


def plot_comparison(histories: dict, metric="val_accuracy", to_file=None, show: bool = False,
                    title: str | None = None):
    """One curve per run, e.g. ``{"SGD": h1, "Adam": h2}``, for ``metric`` (a name or several names,
    one panel each): optimizer, activation or initializer comparisons."""
    if not histories:
        raise ValueError("plot_comparison needs at least one history: {label: history}.")
    runs = {str(label): _history_dict(h) for label, h in dict(histories).items()}
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for m in metrics:
        if not any(m in values for values in runs.values()):
            keys = sorted({k for values in runs.values() for k in values})
            raise _unknown("history key", m, keys)
    fig, axes = _grid_figure(len(metrics), ncols=len(metrics), panel=(5.2, 3.8))
    for ax, m in zip(axes, metrics):
        for label, values in runs.items():
            if m in values:
                ax.plot(range(1, len(values[m]) + 1), values[m], marker="o", markersize=2.5, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.set_title(m.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig, to_file, show)


# ====================================================================== learning-rate schedules
def _schedule_values(schedule, steps: np.ndarray, initial_lr) -> np.ndarray:
    from . import schedules

    if isinstance(schedule, (dict, str)):
        schedule = schedules.get(schedule)
    if isinstance(schedule, (int, float)):
        return np.full(steps.shape, float(schedule))
    if not callable(schedule):
        raise TypeError(f"plot_schedule: expected a schedule or a callable step -> lr, got {schedule!r}.")
    required = 1
    try:
        params = inspect.signature(schedule).parameters.values()
        required = sum(1 for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                                 p.POSITIONAL_OR_KEYWORD))
    except (TypeError, ValueError):
        pass
    if required >= 2:  # Keras LearningRateScheduler style: lr = fn(epoch, lr)
        if initial_lr is None:
            raise ValueError("plot_schedule: this schedule is fn(epoch, lr); pass initial_lr= to start from.")
        values, lr = [], float(initial_lr)
        for t in steps:
            lr = float(schedule(int(t), lr))
            values.append(lr)
        return np.asarray(values)
    return np.asarray([float(schedule(int(t) if float(t).is_integer() else float(t))) for t in steps])


def plot_schedule(schedule, steps=100, to_file=None, show: bool = False, title: str | None = None,
                  log_scale: bool = False, initial_lr=None, xlabel: str = "step"):
    """Learning rate against step for a schedule (``glassnet.schedules`` object or a callable
    ``step -> lr``; Keras-style ``fn(epoch, lr)`` with ``initial_lr=``) or ``{label: schedule}``.
    ``steps``: a count (0 … steps−1) or the step values."""
    steps = np.arange(int(steps)) if np.ndim(steps) == 0 else np.asarray(steps).ravel()
    if isinstance(schedule, dict) and "class_name" not in schedule:
        items = {str(k): v for k, v in schedule.items()}
    else:
        label = getattr(schedule, "name", None) or getattr(schedule, "__name__", None) or type(schedule).__name__
        items = {str(label): schedule}
    fig = _figure()
    ax = fig.add_subplot()
    for label, s in items.items():
        ax.plot(steps, _schedule_values(s, steps, initial_lr), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(title or "learning-rate schedule")
    ax.grid(alpha=0.3)
    ax.legend()
    return _finish(fig, to_file, show)


# ====================================================================== activations
_NOT_ELEMENTWISE = {"softmax", "log_softmax"}


def activation_curve(activation, x) -> tuple:
    """(f(x), f'(x)) on the points ``x`` (float64); f' by glassnet autodiff of f, not a hand formula."""
    from . import activations
    from .tensor import Tensor, enable_grad

    if isinstance(activation, str) and activation in _NOT_ELEMENTWISE:
        raise ValueError(f"'{activation}' is not an elementwise function of one variable, so it has no curve "
                         "f(x); plot it over a vector instead.")
    fn = activations.get(activation)
    t = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    with enable_grad():
        y = fn(t)
        y.backward(np.ones_like(t.data))
    grad = t.grad if t.grad is not None else np.zeros_like(t.data)
    return np.asarray(y.data, dtype=np.float64), np.asarray(grad, dtype=np.float64)


def plot_activations(names=("sigmoid", "tanh", "relu", "leaky_relu", "elu", "swish"), x_range=(-5.0, 5.0),
                     num: int = 401, derivatives: bool = True, to_file=None, show: bool = False,
                     title: str | None = None):
    """One panel per activation: f(x) (solid) and f'(x) (dashed, computed by autodiff).

    ``names``: activation names, callables, or ``{label: activation}``."""
    if isinstance(names, (str,)) or callable(names):
        names = [names]
    items = dict(names) if isinstance(names, dict) else {
        (n if isinstance(n, str) else getattr(n, "__name__", type(n).__name__)): n for n in names}
    x = np.linspace(float(x_range[0]), float(x_range[1]), int(num))
    fig, axes = _grid_figure(len(items), ncols=min(len(items), 3), panel=(3.8, 3.0))
    for ax, (label, activation) in zip(axes, items.items()):
        y, dy = activation_curve(activation, x)
        ax.plot(x, y, label=f"{label}(x)")
        if derivatives:
            ax.plot(x, dy, linestyle="--", label=f"{label}'(x)")
        ax.axhline(0, color="0.6", linewidth=0.6)
        ax.axvline(0, color="0.6", linewidth=0.6)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, to_file, show)


# ====================================================================== decision boundaries
def _predictor(model):
    """A function grid -> predictions for a glassnet Model, anything with ``predict``, or a callable."""
    from .models.model import Model

    if isinstance(model, Model):
        return lambda g: model.predict(g, batch_size=4096, verbose=0)
    if hasattr(model, "predict"):
        return model.predict
    if callable(model):
        return model
    raise TypeError(f"plot_decision_boundary: expected a model, an object with predict(), or a callable; "
                    f"got {type(model).__name__}.")


def _as_labels(out, threshold: float):
    """(labels, probability-or-score of class 1 for binary outputs else None, number of classes)."""
    out = np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        return np.argmax(out, axis=1), None, out.shape[1]
    out = out.reshape(len(out))
    if out.dtype.kind in "iub" or np.all(np.isin(out, (0, 1))):
        labels = out.astype(np.int64)
        return labels, None, int(labels.max(initial=1)) + 1
    return (out >= threshold).astype(np.int64), out.astype(np.float64), 2


def plot_decision_boundary(model, X, y=None, resolution: int = 200, threshold: float = 0.5, margin: float = 0.1,
                           to_file=None, show: bool = False, title: str | None = None):
    """The class predicted at every point of a ``resolution``×``resolution`` grid around 2-D data ``X``,
    with the samples on top (coloured by ``y``). ``model``: a glassnet Model, any object with
    ``predict`` (e.g. ``Perceptron``), or a callable ``(n, 2) array -> predictions``. Predictions may be
    labels, one probability per row (binary, thresholded at ``threshold``) or one score per class (argmax).
    """
    from .errors import InputError

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise InputError(f"plot_decision_boundary needs 2-D data X of shape (n, 2), got shape {X.shape}.")
    if y is not None:
        y = np.asarray(y)
        y = np.argmax(y, axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(len(y))
        if len(y) != len(X):
            raise InputError(f"plot_decision_boundary: X has {len(X)} rows but y has {len(y)}.")
    low, high = X.min(axis=0), X.max(axis=0)
    pad = np.where(high > low, (high - low) * margin, 1.0)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], int(resolution))
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], int(resolution))
    xx, yy = np.meshgrid(xs, ys)
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
    labels, score, n_classes = _as_labels(_predictor(model)(grid), threshold)
    if y is not None and y.size:
        n_classes = max(n_classes, int(np.max(y)) + 1)

    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    base = colormaps["tab10"].colors
    cmap = ListedColormap([base[i % len(base)] for i in range(n_classes)])
    fig = _figure(figsize=(5.6, 4.8))
    ax = fig.add_subplot()
    ax.contourf(xx, yy, labels.reshape(xx.shape), levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.3)
    if score is not None and score.min() < threshold < score.max():
        ax.contour(xx, yy, score.reshape(xx.shape), levels=[threshold], colors="k", linewidths=1.0)
    if y is not None:
        for k in range(n_classes):
            chosen = y == k
            if np.any(chosen):
                ax.scatter(X[chosen, 0], X[chosen, 1], color=cmap(k), edgecolors="k", linewidths=0.5, s=22,
                           label=f"class {k}")
        ax.legend(fontsize=8)
    else:
        ax.scatter(X[:, 0], X[:, 1], color="k", s=12)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(title or "decision boundary")
    return _finish(fig, to_file, show)


# ====================================================================== gradient flow
_LOG_QUANTITIES = {"grad_norm", "weight_norm", "update_ratio"}


def _flow_history(obj):
    if hasattr(obj, "series") and hasattr(obj, "layer_names"):
        return obj
    inner = getattr(obj, "history", None)
    if inner is not None and hasattr(inner, "series") and hasattr(inner, "layer_names"):
        return inner  # a GradientMonitor
    raise TypeError("plot_gradient_flow expects a GradientMonitor or its history (an object with layer_names, "
                    f"steps and series(layer, quantity)), got {type(obj).__name__}.")


def plot_gradient_flow(history, quantity: str = "grad_norm", kind: str = "both", log_scale=None, layers=None,
                       to_file=None, show: bool = False, title: str | None = None):
    """Gradient flow from a ``GradientMonitor`` (or its ``history``): ``quantity`` of every layer over the
    recorded steps (one line per layer, log scale for norms and ratios) and/or a bar per layer at the
    last step. ``kind``: ``"both"`` (default), ``"lines"`` or ``"bar"``. Layers where the quantity does not
    apply (all NaN, e.g. grad_norm of a layer without weights) are left out."""
    if kind not in ("both", "lines", "bar"):
        raise _unknown("plot_gradient_flow kind", kind, ["both", "lines", "bar"])
    flow = _flow_history(history)
    steps = np.asarray(flow.steps)
    names = list(layers) if layers is not None else list(flow.layer_names)
    series = {}
    for name in names:
        if name not in flow.layer_names:
            raise _unknown("layer", name, flow.layer_names)
        values = np.asarray(flow.series(name, quantity), dtype=np.float64)
        if np.any(np.isfinite(values)):
            series[name] = values
    if not series:
        raise ValueError(f"plot_gradient_flow: no layer has a finite '{quantity}' value to plot "
                         f"({len(steps)} recorded steps).")
    if log_scale is None:
        positive = [v[np.isfinite(v)] for v in series.values()]
        log_scale = quantity in _LOG_QUANTITIES and any(np.any(v > 0) for v in positive)
    panels = ["lines", "bar"] if kind == "both" else [kind]
    fig, axes = _grid_figure(len(panels), ncols=len(panels), panel=(5.6, 4.0))
    for ax, panel in zip(axes, panels):
        if panel == "lines":
            for name, values in series.items():
                ax.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=3, label=name)
            ax.set_xlabel("step")
            ax.set_title(f"{quantity} per layer over training")
            ax.legend(fontsize=7, ncol=2 if len(series) > 6 else 1)
        else:
            last = []
            for values in series.values():
                finite = np.flatnonzero(np.isfinite(values))
                last.append(values[finite[-1]] if finite.size else np.nan)
            positions = np.arange(len(series))
            ax.bar(positions, last, color="tab:blue")
            ax.set_xticks(positions, list(series), rotation=45, ha="right", fontsize=8)
            ax.set_title(f"{quantity} at step {int(steps[-1]) if len(steps) else 0} (input → output)")
        ax.set_ylabel(quantity)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _finish(fig, to_file, show)


# ====================================================================== histograms
def _layers_with_weights(model) -> list:
    layers = model._flatten_layers(include_self=False) if hasattr(model, "_flatten_layers") else []
    own = [layer for layer in layers if layer._own_weights]
    if not own and getattr(model, "_own_weights", None):
        own = [model]
    return own


def plot_weight_histograms(model, bins: int = 30, to_file=None, show: bool = False, title: str | None = None):
    """One panel per layer that has weights: a histogram of each of its weights (kernel, bias, …)."""
    from .errors import NotBuiltError

    layers = _layers_with_weights(model)
    if not layers:
        raise NotBuiltError(f"Model '{getattr(model, 'name', model)}' has no weights yet: build it (give it an "
                            "input shape or call it on data) before plotting weight histograms.")
    fig, axes = _grid_figure(len(layers))
    for ax, layer in zip(axes, layers):
        for w in layer._own_weights:
            values = np.asarray(w.data, dtype=np.float64).ravel()
            ax.hist(values, bins=bins, alpha=0.6, label=f"{w.name} ({values.size})")
        ax.set_title(f"{layer.name} ({type(layer).__name__})", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "weights")
    return _finish(fig, to_file, show)


def layer_outputs(model, x, training: bool = False) -> list:
    """``[(layer, output array), ...]`` for each top-level layer call of ``model`` on ``x`` (in order)."""
    from .layers.base import _CallContext, observe_layers
    from .tensor import Tensor, no_grad

    calls = []
    base = _CallContext.depth

    def observer(layer, inputs, outputs):
        calls.append((_CallContext.depth - base, layer, outputs))

    with no_grad(), observe_layers(observer):
        model(x, training=training)
    depth = 2 if any(d == 2 for d, _, _ in calls) else 1
    result = []
    for d, layer, outputs in calls:
        if d != depth:
            continue
        flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for out in flat:
            if isinstance(out, Tensor):
                result.append((layer, out.data))
    return result


def plot_activation_histograms(model, x, bins: int = 40, training: bool = False, to_file=None, show: bool = False,
                               title: str | None = None):
    """One panel per layer: a histogram of its outputs on the batch ``x`` (mean, std and fraction of zeros
    in the title). Saturated sigmoid/tanh units pile up at the ends; dead ReLUs at 0."""
    outputs = [(layer, out) for layer, out in layer_outputs(model, x, training) if out.dtype.kind == "f"]
    if not outputs:
        raise ValueError("plot_activation_histograms: the model produced no floating-point layer outputs.")
    fig, axes = _grid_figure(len(outputs))
    for ax, (layer, out) in zip(axes, outputs):
        values = np.asarray(out, dtype=np.float64).ravel()
        ax.hist(values[np.isfinite(values)], bins=bins, color="tab:orange", alpha=0.8)
        ax.set_title(f"{layer.name} ({type(layer).__name__})\nmean {values.mean():.3g}  std {values.std():.3g}  "
                     f"zero {np.mean(values == 0):.0%}", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title or "activations")
    return _finish(fig, to_file, show)
