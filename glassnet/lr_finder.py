"""The learning-rate range test ("LR finder", Smith 2017; popularised by fastai).

Train for a few mini-batches while the learning rate grows exponentially from ``start_lr`` to
``end_lr``, one gradient step per batch::

    lr_i = start_lr · (end_lr / start_lr)^(i / (steps − 1))

record the loss of each batch and its bias-corrected exponential moving average::

    avg_i = β·avg_{i−1} + (1 − β)·loss_i,      smoothed_i = avg_i / (1 − β^(i+1))

and stop once the smoothed loss exceeds ``divergence_threshold`` × its minimum (or is not finite).
The suggested learning rate is where the smoothed loss falls fastest: the most negative
d(smoothed)/d(log lr), ignoring the first and last few points. Afterwards the model is exactly as
before: its weights, and its optimizer (which the sweep never touches: a copy of it runs the sweep).
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .errors import GlassnetError
from .tensor import no_grad


class LRFinderResult:
    """What :func:`lr_finder` measured.

    learning_rates, losses, smoothed_losses: one entry per step taken (NumPy arrays).
    suggestion: the learning rate at the steepest descent of the smoothed loss (None if too few points).
    best_lr: the learning rate at the lowest smoothed loss (usually too large to train with; a tenth of
        it is the classic rule of thumb).
    diverged: whether the sweep stopped early because the loss blew up (the last point is the one
        that blew up, so ``learning_rates[-1]`` is the divergence learning rate).
    figure: the matplotlib Figure, when ``lr_finder(plot=True)`` or ``to_file=`` drew it.
    """

    def __init__(self, learning_rates, losses, smoothed_losses, diverged: bool, divergence_threshold: float):
        self.learning_rates = np.asarray(learning_rates, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.smoothed_losses = np.asarray(smoothed_losses, dtype=np.float64)
        self.diverged = bool(diverged)
        self.divergence_threshold = float(divergence_threshold)
        finite = np.isfinite(self.smoothed_losses)
        self.best_lr = float(self.learning_rates[finite][np.argmin(self.smoothed_losses[finite])]) \
            if finite.any() else None
        self.suggestion_index = _steepest_descent(self.learning_rates, self.smoothed_losses)
        self.suggestion = None if self.suggestion_index is None else float(self.learning_rates[self.suggestion_index])

    def plot(self, to_file=None, show: bool = False, title: str | None = None):
        """Loss against learning rate (log x axis), raw and smoothed, with the suggestion marked.
        Returns the ``matplotlib.figure.Figure``."""
        from .plot import _figure, _finish

        fig = _figure()
        ax = fig.add_subplot()
        lrs, smoothed = self.learning_rates, self.smoothed_losses
        ax.plot(lrs, self.losses, color="0.7", linewidth=0.8, label="loss")
        ax.plot(lrs, smoothed, color="C0", linewidth=1.8, label="smoothed loss")
        if self.suggestion is not None:
            i = self.suggestion_index
            ax.axvline(lrs[i], color="C3", linestyle="--", linewidth=1.0)
            ax.plot([lrs[i]], [smoothed[i]], "o", color="C3", label=f"steepest descent: {self.suggestion:.2g}")
        if self.best_lr is not None:
            j = int(np.flatnonzero(lrs == self.best_lr)[0])
            ax.plot([lrs[j]], [smoothed[j]], "s", color="C2", label=f"minimum: {self.best_lr:.2g}")
        finite = smoothed[np.isfinite(smoothed)]
        if finite.size:  # keep the blow-up at the end from flattening the interesting part
            low, high = finite.min(), max(finite[0], finite[:-1].max() if self.diverged and finite.size > 1
                                          else finite.max())
            margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            ax.set_ylim(low - margin, high + margin)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss")
        ax.set_title(title or "learning-rate range test")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        return _finish(fig, to_file, show)

    def __repr__(self) -> str:
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        best = "None" if self.best_lr is None else f"{self.best_lr:.3g}"
        return (f"<LRFinderResult steps={len(self.learning_rates)} suggestion={suggestion} best_lr={best} "
                f"diverged={self.diverged}>")


def _steepest_descent(learning_rates: np.ndarray, smoothed: np.ndarray):
    """Index of the most negative d(smoothed)/d(log lr), skipping the first ~10% and last ~5% of points
    (where the moving average is still settling, or already blowing up)."""
    finite = np.flatnonzero(np.isfinite(smoothed))
    count = int(finite[-1]) + 1 if finite.size else 0
    if count < 3:
        return None
    slopes = np.gradient(smoothed[:count], np.log(learning_rates[:count]))
    skip_start, skip_end = max(1, count // 10), max(1, count // 20)
    if count - skip_start - skip_end < 1:
        skip_start, skip_end = 0, 0
    window = slopes[skip_start:count - skip_end]
    return skip_start + int(np.argmin(window))


def _check(name: str, value, *, minimum: float, strict: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr_finder: {name} must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value) or (value <= minimum if strict else value < minimum):
        raise ValueError(f"lr_finder: {name} must be {'>' if strict else '>='} {minimum}, got {value}.")
    return value


def lr_finder(model, x, y, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100, batch_size: int = 32,
              smoothing: float = 0.98, divergence_threshold: float = 4.0, plot: bool = False, to_file=None):
    """Run the learning-rate range test on a compiled ``model`` with data ``(x, y)``; returns an
    :class:`LRFinderResult`. See the module docstring for the method.

    The model's compiled loss (plus its regularization losses) and a copy of its optimizer are used,
    cycling through ``x``/``y`` in shuffled mini-batches of ``batch_size`` (drawn from
    ``glassnet.backend.rng()``). Weights, non-trainable state (e.g. BatchNorm statistics), gradients
    and the optimizer (slots, iterations, learning rate or schedule) are exactly as before afterwards.
    ``plot=True`` (or ``to_file=``) also draws loss against learning rate.
    """
    if not getattr(model, "compiled", False) or getattr(model, "compiled_loss", None) is None:
        raise GlassnetError("lr_finder needs a compiled model (it uses the model's loss and optimizer): "
                            "model.compile(optimizer='sgd', loss='mse') first.")
    start_lr = _check("start_lr", start_lr, minimum=0.0)
    end_lr = _check("end_lr", end_lr, minimum=start_lr)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"lr_finder: steps must be an integer >= 2, got {steps!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"lr_finder: batch_size must be a positive integer, got {batch_size!r}.")
    smoothing = _check("smoothing", smoothing, minimum=0.0, strict=False)
    if smoothing >= 1.0:
        raise ValueError(f"lr_finder: smoothing must be in [0, 1), got {smoothing}.")
    divergence_threshold = _check("divergence_threshold", divergence_threshold, minimum=1.0)

    from . import training as data

    x, y, _ = model._prepare(x, y)
    n = len(data.flatten_structure(x)[0])
    if n == 0:
        raise GlassnetError("lr_finder: x is empty.")
    batch_size = min(int(batch_size), n)
    if not model.built:
        with no_grad():
            model(data.map_structure(lambda a: a[:1], x), training=False)

    rates = start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))
    optimizer = _sweep_optimizer(model.optimizer, float(rates[0]))
    weights = model.get_weights()
    trainable = model.trainable_weights
    grads = [w.grad for w in trainable]
    loss_scale = float(getattr(model, "_loss_scale", 1.0))
    learning_rates, losses, smoothed_losses = [], [], []
    average, best, diverged = 0.0, math.inf, False
    order, position = backend.rng().permutation(n), 0
    try:
        for i, lr in enumerate(rates):
            if position + batch_size > n:
                order, position = backend.rng().permutation(n), 0
            index = order[position:position + batch_size]
            position += batch_size
            xb = data.map_structure(lambda a, index=index: a[index], x)
            loss = model.compiled_loss(y[index], model(xb, training=True))
            if loss_scale != 1.0:
                loss = loss * loss_scale
            for penalty in model.losses:
                loss = loss + penalty
            value = float(np.asarray(loss.data))
            average = smoothing * average + (1.0 - smoothing) * value
            smooth = average / (1.0 - smoothing ** (i + 1))
            learning_rates.append(float(lr))
            losses.append(value)
            smoothed_losses.append(smooth)
            if not math.isfinite(smooth) or smooth > divergence_threshold * best:
                diverged = True
                break
            best = min(best, smooth)
            for w in trainable:
                w.grad = None
            loss.backward()
            optimizer.learning_rate = float(lr)
            pairs = [(w.grad, w) for w in trainable if w.grad is not None]
            optimizer.apply([g for g, _ in pairs], [w for _, w in pairs])
    finally:
        model.set_weights(weights)
        for w, g in zip(trainable, grads):
            w.grad = g

    result = LRFinderResult(learning_rates, losses, smoothed_losses, diverged, divergence_threshold)
    if plot or to_file:
        result.figure = result.plot(to_file=to_file)
    return result


def _sweep_optimizer(optimizer, learning_rate: float):
    """A copy of ``optimizer`` (same class, settings and state) with a float learning rate, so the sweep
    leaves the model's own optimizer untouched."""
    config = dict(optimizer.get_config())
    config["learning_rate"] = learning_rate
    try:
        clone = type(optimizer).from_config(config)
    except Exception as error:
        raise GlassnetError(f"lr_finder could not copy the optimizer {type(optimizer).__name__} from its config "
                            f"({error}); its get_config() must return its constructor arguments.") from error
    clone.set_state(optimizer.get_state(), optimizer.variables)
    return clone
