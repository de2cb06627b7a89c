"""Rosenblatt's perceptron: one neuron with a step activation, trained by the perceptron rule.

    z = w·x + b,        ŷ = step(z) = 1 if z ≥ 0 else 0

Online learning, one sample at a time, in order (or reshuffled every epoch with ``shuffle=True``)::

    w ← w + lr·(y − ŷ)·x
    b ← b + lr·(y − ŷ)

Weights start at zero (fine here: a single neuron has no symmetry to break). The rule only moves
on mistakes, so ``errors_[e]`` — the misclassified samples of epoch e — is also the number of
updates made. If the classes are linearly separable (AND, OR, NAND) the errors reach 0 and stay
there (the perceptron convergence theorem); if not (XOR), they never do.

>>> from glassnet.datasets import logic_gate
>>> X, y = logic_gate("and")
>>> p = Perceptron(learning_rate=0.1, epochs=10).fit(X, y)
>>> p.predict(X), p.errors_[-1]
(array([0, 0, 0, 1]), 0)
"""

from __future__ import annotations

import numpy as np

from . import backend
from .errors import InputError, NotBuiltError, ShapeError

__all__ = ["Perceptron"]


class Perceptron:
    """A single-layer perceptron for 0/1 labels (SPEC §1).

    Args:
        learning_rate: the step ``lr`` of the update rule (default 0.01).
        epochs: passes over the data (default 100). All of them run unless ``early_stopping``.
        shuffle: visit the samples in a new random order every epoch (default: in order).
        seed: seed of the perceptron's own generator for ``shuffle``; ``None`` uses glassnet's global one.
        early_stopping: stop after the first epoch without a mistake. Off by default, so that
            ``epochs`` means what it says, as in Keras's ``fit`` (scikit-learn instead stops once the
            loss stops improving). ``errors_`` always has one entry per epoch actually run.

    Attributes after :meth:`fit`: ``weights_`` (n_features,), ``bias_`` (float), their scikit-learn
    aliases ``coef_`` / ``intercept_``, ``errors_`` (list, misclassifications = updates per epoch),
    ``n_iter_`` (epochs run), ``classes_`` (``[0, 1]``).

    The sample-by-sample loop inside an epoch is inherent to the algorithm — each update changes the
    prediction for the next sample — so it is a Python loop; prediction, scoring and input checks are
    vectorised. Arithmetic is float64.
    """

    def __init__(self, learning_rate: float = 0.01, epochs: int = 100, shuffle: bool = False, seed=None,
                 early_stopping: bool = False):
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise InputError(f"learning_rate must be a positive number, got {learning_rate!r}.")
        if isinstance(epochs, (bool, np.bool_)) or int(epochs) != epochs or epochs < 1:
            raise InputError(f"epochs must be a positive integer, got {epochs!r}.")
        self.learning_rate = float(learning_rate)
        self.epochs = int(epochs)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.early_stopping = bool(early_stopping)
        self.weights_ = None
        self.bias_ = None
        self.errors_: list[int] = []
        self.n_iter_ = 0
        self.classes_ = np.array([0, 1])

    # ------------------------------------------------------------------ training
    def fit(self, X, y) -> "Perceptron":
        """Train from zero weights with the perceptron rule; returns ``self``."""
        X = self._check_X(X, "fit", fitted=False)
        y = self._check_y(y, X.shape[0])
        rng = backend.make_rng(self.seed) if self.shuffle else None
        lr = self.learning_rate
        w = np.zeros(X.shape[1])
        b = 0.0
        self.errors_ = []
        for _ in range(self.epochs):
            order = rng.permutation(X.shape[0]) if self.shuffle else range(X.shape[0])
            errors = 0
            for i in order:  # online: each update affects the next prediction
                x_i = X[i]
                y_hat = 1 if x_i @ w + b >= 0.0 else 0  # step(z)
                if y_hat != y[i]:
                    delta = lr * (y[i] - y_hat)
                    w += delta * x_i
                    b += delta
                    errors += 1
            self.errors_.append(errors)
            if self.early_stopping and errors == 0:
                break
        self.weights_, self.bias_ = w, float(b)
        self.n_iter_ = len(self.errors_)
        return self

    # ------------------------------------------------------------------ inference
    def net_input(self, X) -> np.ndarray:
        """z = X @ w + b for a batch X of shape (N, n_features) (a single sample (n_features,) → (1,))."""
        X = self._check_X(X, "net_input", fitted=True)
        return X @ self.weights_ + self.bias_

    decision_function = net_input

    def predict(self, X) -> np.ndarray:
        """ŷ = step(X @ w + b): int64 array of 0/1, one per row of X."""
        return (self.net_input(X) >= 0.0).astype(np.int64)

    def score(self, X, y) -> float:
        """Accuracy: the fraction of samples of X predicted as y."""
        X = self._check_X(X, "score", fitted=True)
        y = self._check_y(y, X.shape[0])
        return float(np.mean(self.predict(X) == y))

    # ------------------------------------------------------------------ aliases and config
    @property
    def coef_(self):
        return self.weights_

    @property
    def intercept_(self):
        return self.bias_

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "epochs": self.epochs, "shuffle": self.shuffle,
                "seed": self.seed, "early_stopping": self.early_stopping}

    @classmethod
    def from_config(cls, config: dict) -> "Perceptron":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"Perceptron({args})"

    # ------------------------------------------------------------------ checks
    def _check_X(self, X, where: str, fitted: bool) -> np.ndarray:
        if fitted and self.weights_ is None:
            raise NotBuiltError(f"This Perceptron is not fitted yet: call fit(X, y) before {where}().")
        data = getattr(X, "data", None)  # a glassnet Tensor
        X = np.asarray(data if isinstance(data, np.ndarray) and not isinstance(X, np.ndarray) else X)
        if X.dtype.kind not in "biuf":
            raise InputError(f"Perceptron.{where}: X must be numeric, got dtype {X.dtype}.")
        X = X.astype(np.float64)
        if fitted and X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2:
            raise ShapeError(f"Perceptron.{where}: X must have shape (n_samples, n_features), got {X.shape}.")
        if X.shape[0] == 0:
            raise InputError(f"Perceptron.{where}: X has no samples.")
        if fitted and X.shape[1] != self.weights_.shape[0]:
            raise ShapeError(f"Perceptron.{where}: the perceptron was fitted on {self.weights_.shape[0]} features "
                             f"but X has shape {X.shape}.")
        if not np.all(np.isfinite(X)):
            raise InputError(f"Perceptron.{where}: X contains NaN or inf.")
        return X

    @staticmethod
    def _check_y(y, n_samples: int) -> np.ndarray:
        data = getattr(y, "data", None)
        y = np.asarray(data if isinstance(data, np.ndarray) and not isinstance(y, np.ndarray) else y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != n_samples:
            raise ShapeError(f"Perceptron: y must have shape ({n_samples},) — one 0/1 label per sample — "
                             f"got {y.shape}.")
        if y.dtype.kind not in "biuf":
            raise InputError(f"Perceptron labels must be 0 or 1, got an array of dtype {y.dtype}.")
        bad = (y != 0) & (y != 1)
        if bad.any():
            found = np.unique(y[~np.isnan(y)]) if y.dtype.kind == "f" else np.unique(y)
            raise InputError(
                f"Perceptron labels must be 0 or 1, got {y[bad][0].item()!r} at index {int(np.argmax(bad))} "
                f"(labels found: {found.tolist()}). Map them to 0/1 first, e.g. y = (y == positive_class)."
            )
        return y.astype(np.int64)
