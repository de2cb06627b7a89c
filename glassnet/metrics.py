"""Metrics: Keras-style stateful objects, their functional forms, and classification reports.

Metrics are evaluated on NumPy arrays (Tensors are read through ``.data``), in float64, with no
autodiff. A :class:`Metric` accumulates *sufficient statistics* over batches — a weighted total
and count, true/false positive counts, sums of moments — so feeding the data in any batches gives
exactly the result of one pass over all of it::

    m = metrics.BinaryAccuracy()
    for xb, yb in batches:
        m.update_state(yb, model.predict(xb))
    m.result()          # total correct / total count, as a Python float
    m.reset_state()

==================================  ==============================================  =======================
metric (string names)               definition                                      accumulates
==================================  ==============================================  =======================
Accuracy (accuracy*)                mean[y == ŷ]                                    Σw·v, Σw
BinaryAccuracy (binary_accuracy)    mean[y == (ŷ > threshold)], threshold 0.5       Σw·v, Σw
CategoricalAccuracy                 mean[argmax y == argmax ŷ]                      Σw·v, Σw
SparseCategoricalAccuracy           mean[y == argmax ŷ]  (integer labels)           Σw·v, Σw
TopKCategoricalAccuracy (k=5)       mean[argmax y among the k largest ŷ]            Σw·v, Σw
SparseTopKCategoricalAccuracy       mean[y among the k largest ŷ]                   Σw·v, Σw
MeanSquaredError (mse)              mean (y − ŷ)²                                   Σw·v, Σw
MeanAbsoluteError (mae)             mean |y − ŷ|                                    Σw·v, Σw
MeanAbsolutePercentageError (mape)  100·mean |y − ŷ| / max(|y|, ε)                  Σw·v, Σw
MeanSquaredLogarithmicError (msle)  mean (log(1+ŷ) − log(1+y))²                     Σw·v, Σw
RootMeanSquaredError (rmse)         √(Σ w·(y − ŷ)² / Σ w)                           Σw·v, Σw
Binary/Categorical/Sparse-          cross-entropy per sample (p clipped to          Σw·v, Σw
CategoricalCrossentropy             [ε, 1−ε], or the stable form from logits)
Precision (precision)               TP / (TP + FP), positive when ŷ > 0.5           TP, FP
Recall (recall)                     TP / (TP + FN)                                  TP, FN
F1Score (f1, f1_score), FBetaScore  (1+β²)TP / ((1+β²)TP + β²FN + FP), averaged     TP, FP, FN per class
AUC (auc)                           area under the ROC (or PR) curve                TP..TN per threshold
R2Score (r2, r2_score)              1 − Σ(y − ŷ)² / Σ(y − ȳ)²                       Σw, Σwy, Σwy², Σw(y−ŷ)²
==================================  ==============================================  =======================

``sample_weight`` multiplies each sample's contribution (to the total *and* the count, or to
the confusion counts). A ratio whose denominator is zero gives 0.0 (Keras's ``divide_no_nan``,
scikit-learn's ``zero_division=0``).

**Choosing from shapes.** :func:`resolve` turns what a user passes to ``compile(metrics=[...])``
into a Metric. ``'accuracy'``/``'acc'`` pick, as Keras 3 does from ``y_true``/``y_pred``:
binary when ŷ has a last axis of 1 (or is 1-D), sparse categorical when y has one fewer axis than
ŷ or a last axis of 1 while ŷ's is larger, categorical otherwise; ``'crossentropy'``/``'ce'`` pick
the matching cross-entropy. The metric keeps the name the user wrote (``history['acc']``).

**Deviations from Keras**, each on purpose:

* ``resolve(..., from_logits=True)`` (the loss works on logits) moves every probability threshold
  to the logit scale: binary accuracy, precision, recall and binary F1 threshold at 0.0 instead of
  0.5 (σ(z) > 0.5 ⇔ z > 0), AUC and the cross-entropies apply σ/softmax first. Keras keeps 0.5
  and silently reports nonsense for logits.
* Rank-1 inputs ``(N,)`` are N samples, one value each; Keras's functional metrics average a
  rank-1 input to a single number, which then counts as *one* sample in the running mean, so
  batches of different sizes get equal weight. Here accumulation is always per sample.
* ``y_true`` of shape ``(N,)`` against ``y_pred`` of shape ``(N, 1)`` is matched by dropping the
  size-1 axis; any other shape mismatch raises :class:`~glassnet.errors.ShapeError` instead of
  broadcasting to ``(N, N)``.
* :class:`F1Score` defaults to ``average='auto'`` (binary F1 of class 1 for binary predictions,
  macro average otherwise) so that ``result()`` is a number; Keras's default ``None`` gives
  per-class scores (still available). Binary predictions ``(N,)``/``(N, 1)`` are thresholded at
  0.5 when ``threshold=None`` (Keras would take an argmax over a single column: always 1).
  Macro averages run over the classes that occur in y or ŷ, as scikit-learn does for labels.
* :class:`AUC` has, besides Keras's 200-threshold Riemann sum (the default, constant memory),
  an exact mode ``AUC(num_thresholds=None)`` that keeps every score and equals scikit-learn's
  ``roc_auc_score`` (``curve='PR'``: ``average_precision_score``).
* :func:`rmse` and :func:`r2_score` (functional) return one float over the whole input, like
  scikit-learn; the other functional forms return per-sample arrays like Keras.

Reports (pure NumPy): :func:`confusion_matrix` (rows = true class, columns = predicted) and
:func:`classification_report` (scikit-learn's layout and numbers).
"""

from __future__ import annotations

import inspect

import numpy as np

from . import backend, losses
from .errors import InputError, ShapeError, UnknownNameError
from .ops.nonlinear import sigmoid_array
from .saving import Registry, deserialize as _deserialize, serialize as _serialize
from .tensor import no_grad

REGISTRY = Registry("metric")
FUNCTIONS = Registry("metric function")

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanSquaredError",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Precision", "Recall",
    "FBetaScore", "F1Score", "AUC", "R2Score", "TruePositives", "FalsePositives", "FalseNegatives",
    "TrueNegatives", "accuracy", "binary_accuracy", "categorical_accuracy",
    "sparse_categorical_accuracy", "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "mse", "mae", "mape", "msle", "rmse", "root_mean_squared_error",
    "r2_score", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "confusion_matrix", "classification_report", "resolve", "get", "serialize", "deserialize", "names",
    "REGISTRY", "FUNCTIONS",
]


# =========================================================================== array helpers
def _np(x, dtype=None) -> np.ndarray:
    """A NumPy array from an array, a list, a number or a glassnet Tensor."""
    data = getattr(x, "data", None)
    if isinstance(data, np.ndarray) and not isinstance(x, np.ndarray):
        x = data
    return np.asarray(x, dtype=dtype)


def _float(x) -> np.ndarray:
    x = _np(x)
    if x.dtype.kind not in "biuf":
        raise InputError(f"Expected numeric values, got an array of dtype {x.dtype}.")
    return x.astype(np.float64, copy=False)


def _match_ranks(a: np.ndarray, b: np.ndarray):
    """Drop a trailing size-1 axis from whichever array has one more axis (Keras's rank matching)."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        a = a[..., 0]
    elif b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        b = b[..., 0]
    return a, b


def _pair(y_true, y_pred, who: str):
    """y_true, y_pred as float64 arrays of one shape — never silently broadcast (N,) against (N, N)."""
    t, p = _match_ranks(_float(y_true), _float(y_pred))
    if t.shape != p.shape:
        raise ShapeError(
            f"{who}: y_true of shape {t.shape} and y_pred of shape {p.shape} must have the same shape "
            "(or differ only by a trailing axis of size 1)."
        )
    return t, p


def _per_sample(values: np.ndarray) -> np.ndarray:
    """Average over the last axis (one value per sample); rank-0/1 values are already per sample."""
    return values if values.ndim <= 1 else values.mean(axis=-1)


def _divide(num, den):
    """num / den, with 0 where den == 0 (divide_no_nan / zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    safe = np.where(den == 0, 1.0, den)
    return np.where(den == 0, 0.0, num / safe)


def _as_result(x):
    """Scalars as Python floats; per-class / per-threshold results as float64 arrays."""
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _sparse_labels(y: np.ndarray, num_classes: int, who: str) -> np.ndarray:
    """Integer class indices in [0, num_classes), or an InputError naming the first bad label."""
    y = _np(y)
    if y.dtype.kind == "b":
        y = y.astype(np.intp)
    if y.dtype.kind not in "iuf":
        raise InputError(f"{who}: class labels must be integers, got dtype {y.dtype}.")
    bad = (y < 0) | (y >= num_classes)
    if y.dtype.kind == "f":
        bad |= ~np.isfinite(y) | (y != np.round(y))
    if np.any(bad):
        value = y[np.unravel_index(int(np.argmax(bad)), y.shape)].item()
        raise InputError(
            f"{who}: label {value!r} is not a class index in [0, {num_classes - 1}] "
            f"(y_pred has {num_classes} classes on its last axis)."
        )
    return y.astype(np.intp)


def _is_sparse_pair(t_shape: tuple, p_shape: tuple) -> bool:
    """y_true holds class indices for y_pred's last axis (Keras's rule)."""
    return len(t_shape) < len(p_shape) or (len(t_shape) > 0 and t_shape[-1] == 1 and p_shape[-1] > 1)


def _binary_values(t: np.ndarray, who: str) -> np.ndarray:
    if np.any((t != 0) & (t != 1)):
        value = t[np.unravel_index(int(np.argmax((t != 0) & (t != 1))), t.shape)].item()
        raise InputError(
            f"{who}: y_true must hold 0/1 labels (binary, or one-hot / multi-label rows), got the value {value!r}. "
            "For integer class labels give y_pred one column per class."
        )
    return t


def _indicator_pair(y_true, y_pred, who: str):
    """y_true as 0/1 indicators with y_pred's shape (integer labels are one-hot encoded)."""
    t, p = _np(y_true), _float(y_pred)
    if p.ndim >= 1 and p.shape[-1] > 1 and _is_sparse_pair(t.shape, p.shape):
        labels = t[..., 0] if t.ndim == p.ndim else t
        if labels.shape != p.shape[:-1]:
            raise ShapeError(f"{who}: labels of shape {t.shape} do not match predictions of shape {p.shape}; "
                             f"expected labels of shape {p.shape[:-1]}.")
        t = np.eye(p.shape[-1])[_sparse_labels(labels, p.shape[-1], who)]
    t, p = _pair(t, p, who)
    return _binary_values(t, who), p


def _weights(sample_weight, shape: tuple, who: str) -> np.ndarray:
    """sample_weight broadcast to ``shape``: (N,) weights apply to every value of their sample."""
    if sample_weight is None:
        return np.ones(shape)
    w = _float(sample_weight)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if 0 < w.ndim < len(shape):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ShapeError(f"{who}: sample_weight of shape {np.shape(sample_weight)} does not fit values of "
                         f"shape {shape}; expected one weight per sample.") from None


# =========================================================================== functional forms
def accuracy(y_true, y_pred) -> np.ndarray:
    """1 where y == ŷ exactly (labels against predicted labels), averaged over the last axis."""
    t, p = _pair(y_true, y_pred, "accuracy")
    return _per_sample((t == p).astype(np.float64))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """mean over the last axis of [y == (ŷ > threshold)]; per sample."""
    t, p = _pair(y_true, y_pred, "binary_accuracy")
    return _per_sample((t == (p > threshold)).astype(np.float64))


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """[y == argmax ŷ] for integer labels y of shape (N,) or (N, 1); per sample."""
    t, p = _np(y_true), _float(y_pred)
    if t.ndim == p.ndim and t.ndim > 0 and t.shape[-1] == 1:
        t = t[..., 0]
    if t.shape != p.shape[:-1]:
        raise ShapeError(f"sparse_categorical_accuracy: labels of shape {np.shape(y_true)} do not match "
                         f"predictions of shape {p.shape}; expected labels of shape {p.shape[:-1]}.")
    return (np.argmax(p, axis=-1) == t).astype(np.float64)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """[argmax y == argmax ŷ] for one-hot y; per sample (ties: the first maximum)."""
    t, p = _pair(y_true, y_pred, "categorical_accuracy")
    return (np.argmax(t, axis=-1) == np.argmax(p, axis=-1)).astype(np.float64)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False) -> np.ndarray:
    """1 if the true class is among the k highest scores.

    Ties follow Keras/TensorFlow ``in_top_k``: the class is in the top k when fewer than k classes
    score strictly higher. ``from_sorted_ids=True``: y_pred already holds class ids, best first.
    """
    t, p = _np(y_true), _np(y_pred)
    if t.ndim == p.ndim and t.ndim > 0 and t.shape[-1] == 1:
        t = t[..., 0]
    if t.shape != p.shape[:-1]:
        raise ShapeError(f"sparse_top_k_categorical_accuracy: labels of shape {np.shape(y_true)} do not match "
                         f"predictions of shape {p.shape}; expected labels of shape {p.shape[:-1]}.")
    if from_sorted_ids:
        return np.any(p[..., :k] == t[..., None], axis=-1).astype(np.float64)
    p = p.astype(np.float64)
    labels = _sparse_labels(t, p.shape[-1], "top_k_categorical_accuracy")
    target = np.take_along_axis(p, labels[..., None], axis=-1)
    higher = (p > target).sum(axis=-1)
    return ((higher < k) & np.isfinite(target[..., 0])).astype(np.float64)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """1 if argmax y is among the k highest scores of ŷ (one-hot y)."""
    t, p = _pair(y_true, y_pred, "top_k_categorical_accuracy")
    return sparse_top_k_categorical_accuracy(np.argmax(t, axis=-1), p, k=k)


def _per_sample_loss(loss_fn, who: str):
    """The per-sample values of ``loss_fn`` from :mod:`glassnet.losses` (the one definition of each
    formula) as a float64 NumPy array; 1-D inputs count as one value per sample."""

    def per_sample(y_true, y_pred, **kwargs) -> np.ndarray:
        t, p = _pair(y_true, y_pred, who)
        if p.ndim <= 1:
            t, p = t.reshape(-1, 1), p.reshape(-1, 1)
        with no_grad():
            return np.asarray(loss_fn(t, p, **kwargs).data, dtype=np.float64)

    per_sample.__name__ = who
    per_sample.__doc__ = f"Per-sample ``glassnet.losses.{loss_fn.__name__}`` as a NumPy array (no gradient)."
    return per_sample


mean_squared_error = _per_sample_loss(losses.mean_squared_error, "mean_squared_error")
mean_absolute_error = _per_sample_loss(losses.mean_absolute_error, "mean_absolute_error")
mean_absolute_percentage_error = _per_sample_loss(losses.mean_absolute_percentage_error,
                                                  "mean_absolute_percentage_error")
mean_squared_logarithmic_error = _per_sample_loss(losses.mean_squared_logarithmic_error,
                                                  "mean_squared_logarithmic_error")


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error


def root_mean_squared_error(y_true, y_pred, sample_weight=None) -> float:
    """√(Σ w·mse_i / Σ w) over all samples — one float (there is no per-sample RMSE)."""
    return RootMeanSquaredError()(y_true, y_pred, sample_weight)


rmse = root_mean_squared_error


def r2_score(y_true, y_pred, sample_weight=None, class_aggregation="uniform_average"):
    """Coefficient of determination 1 − SS_res/SS_tot over all samples (scikit-learn's ``r2_score``)."""
    return R2Score(class_aggregation=class_aggregation)(y_true, y_pred, sample_weight)


binary_crossentropy = _per_sample_loss(losses.binary_crossentropy, "binary_crossentropy")
categorical_crossentropy = _per_sample_loss(losses.categorical_crossentropy, "categorical_crossentropy")


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, axis: int = -1) -> np.ndarray:
    """Per-sample ``glassnet.losses.sparse_categorical_crossentropy`` (−log p[y]) as a NumPy array."""
    with no_grad():
        return np.asarray(losses.sparse_categorical_crossentropy(_np(y_true), _float(y_pred), from_logits=from_logits,
                                                                 axis=axis).data, dtype=np.float64)


for _name, _fn in {
    "accuracy": accuracy, "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}.items():
    FUNCTIONS.add(_name, _fn)


# =========================================================================== base classes
def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class Metric:
    """Base of every metric: ``update_state`` accumulates, ``result`` reads, ``reset_state`` clears.

    Two ways to write one. glassnet's: set your own attributes *before* calling ``super().__init__``
    (which calls ``reset_state``) and create the running totals in ``reset_state``. Keras': call
    ``super().__init__(name=...)`` first, then create state variables with ``self.add_variable(shape,
    initializer, name=...)`` (or Keras 2's ``add_weight``), update them with ``v.assign_add(...)``; the
    default ``reset_state`` puts every variable back to its initial value. Either way, implement
    ``update_state`` and ``result`` and add constructor arguments to ``get_config``.
    ``metric(y_true, y_pred)`` updates and returns the result, as in Keras.
    """

    default_name: str | None = None

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name if name is not None else (self.default_name or _snake(type(self).__name__))
        self.dtype = dtype
        self._state_variables = []
        try:
            self.reset_state()  # glassnet's way: reset_state creates the running totals
        except AttributeError:
            if type(self).__module__ == __name__:
                raise
            # Keras' way: the variables are created after super().__init__(); nothing to reset yet.

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (a non-trainable :class:`~glassnet.tensor.Parameter`) that the default
        ``reset_state`` restores to its initial value. ``aggregation`` is accepted for Keras and unused."""
        from . import initializers
        from .tensor import Parameter

        dtype = np.dtype(dtype or self.dtype or backend.floatx())
        initial = np.asarray(initializers.get(initializer)(tuple(shape), dtype=dtype), dtype=dtype)
        variable = Parameter(initial, trainable=False, name=name, dtype=dtype)
        self._state_variables.append((variable, initial.copy()))
        return variable

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name=None, **kwargs):
        """Keras 2's name for :meth:`add_variable` (``add_weight(name="tp", initializer="zeros")``)."""
        if isinstance(shape, str):  # add_weight("tp", ...): Keras 2 took the name first
            shape, name = (), shape
        return self.add_variable(shape, initializer, dtype, name=name)

    @property
    def variables(self) -> list:
        return [variable for variable, _ in self._state_variables]

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update_state().")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result().")

    def reset_state(self) -> None:
        """Forget everything accumulated (called at the start of every epoch): by default, every
        variable made with :meth:`add_variable` goes back to its initial value."""
        for variable, initial in self._state_variables:
            variable.data[...] = initial

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": None if self.dtype is None else str(np.dtype(self.dtype))}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


@REGISTRY.register()
class Mean(Metric):
    """Weighted running mean: result = Σ w·v / Σ w (Keras ``Mean``).

    Values with more axes than the weights are first averaged down to the weights' rank, then
    down to one value per sample. ``update_state(values, sample_weight=None)``.
    """

    default_name = "mean"

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        if isinstance(values, float) and (sample_weight is None or isinstance(sample_weight, (int, float))):
            weight = 1.0 if sample_weight is None else float(sample_weight)  # one number: the loss tracker
            self.total += values * weight
            self.count += weight
            return
        v = _float(values)
        if sample_weight is None:
            v = v if v.ndim <= 1 else v.reshape(v.shape[0], -1).mean(axis=1)
            self.total += float(v.sum())
            self.count += float(v.size)
            return
        w = _float(sample_weight)
        v, w = _match_ranks(v, w)
        if v.ndim > w.ndim:
            v = v.mean(axis=tuple(range(w.ndim, v.ndim)))
        try:
            w = np.broadcast_to(w, v.shape)
        except ValueError:
            raise ShapeError(f"{self.name}: sample_weight of shape {w.shape} does not fit values of shape "
                             f"{v.shape}.") from None
        v = v * w
        if w.ndim > 1:
            w = w.reshape(w.shape[0], -1).mean(axis=1)
            v = v.reshape(v.shape[0], -1).mean(axis=1)
        self.total += float(v.sum())
        self.count += float(w.sum())

    def result(self) -> float:
        return float(_divide(self.total, self.count))


@REGISTRY.register()
class MeanMetricWrapper(Mean):
    """The running mean of a per-sample function ``fn(y_true, y_pred, **kwargs)`` (Keras).

    Any function returning one value per sample (a NumPy array, or a glassnet Tensor) is a metric::

        MeanMetricWrapper(lambda y, p: (y - p) ** 2, name="squared_error")

    Without a ``name`` it is named after the function.
    """

    default_name = None

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper needs a callable fn(y_true, y_pred), got {fn!r}.")
        self._fn = fn
        self._fn_kwargs = kwargs
        if name is None and self.default_name is None:
            name = getattr(fn, "__name__", "mean_metric_wrapper").replace("<lambda>", "lambda")
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(_np(values), sample_weight=sample_weight)

    def get_config(self) -> dict:
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = _serialize(self._fn, FUNCTIONS)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        if "fn" in config and isinstance(config["fn"], (str, dict)):
            config["fn"] = _deserialize(config["fn"], FUNCTIONS, custom_objects)
        return cls(**config)


@REGISTRY.register("accuracy", "acc")
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly: mean[y == ŷ] (ŷ already labels)."""

    default_name = "accuracy"

    def __init__(self, name=None, dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


@REGISTRY.register("binary_accuracy")
class BinaryAccuracy(MeanMetricWrapper):
    """How often y == (ŷ > threshold); ŷ are probabilities (threshold 0.5) or logits (threshold 0.0)."""

    default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=float(threshold))


@REGISTRY.register("categorical_accuracy")
class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax y == argmax ŷ (one-hot y)."""

    default_name = "categorical_accuracy"

    def __init__(self, name=None, dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


@REGISTRY.register("sparse_categorical_accuracy")
class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often y == argmax ŷ (integer labels y)."""

    default_name = "sparse_categorical_accuracy"

    def __init__(self, name=None, dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


@REGISTRY.register("top_k_categorical_accuracy")
class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax y is among the k highest scores of ŷ (one-hot y)."""

    default_name = "top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name=None, dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=int(k))


@REGISTRY.register("sparse_top_k_categorical_accuracy")
class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label y is among the k highest scores of ŷ."""

    default_name = "sparse_top_k_categorical_accuracy"

    def __init__(self, k: int = 5, name=None, dtype=None, from_sorted_ids: bool = False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=int(k),
                         from_sorted_ids=bool(from_sorted_ids))


@REGISTRY.register("mean_squared_error", "mse")
class MeanSquaredError(MeanMetricWrapper):
    """Mean of (y − ŷ)²."""

    default_name = "mean_squared_error"

    def __init__(self, name=None, dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


@REGISTRY.register("mean_absolute_error", "mae")
class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of |y − ŷ|."""

    default_name = "mean_absolute_error"

    def __init__(self, name=None, dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


@REGISTRY.register("mean_absolute_percentage_error", "mape")
class MeanAbsolutePercentageError(MeanMetricWrapper):
    """100 · mean |y − ŷ| / max(|y|, ε)."""

    default_name = "mean_absolute_percentage_error"

    def __init__(self, name=None, dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


@REGISTRY.register("mean_squared_logarithmic_error", "msle")
class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of (log(1 + ŷ) − log(1 + y))²."""

    default_name = "mean_squared_logarithmic_error"

    def __init__(self, name=None, dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


@REGISTRY.register("binary_crossentropy")
class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy (see :func:`binary_crossentropy`)."""

    default_name = "binary_crossentropy"

    def __init__(self, name=None, dtype=None, from_logits: bool = False, label_smoothing: float = 0.0):
        super().__init__(binary_crossentropy, name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing))


@REGISTRY.register("categorical_crossentropy")
class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy, one-hot or soft y (see :func:`categorical_crossentropy`)."""

    default_name = "categorical_crossentropy"

    def __init__(self, name=None, dtype=None, from_logits: bool = False, label_smoothing: float = 0.0,
                 axis: int = -1):
        super().__init__(categorical_crossentropy, name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=int(axis))


@REGISTRY.register("sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean cross-entropy against integer labels (see :func:`sparse_categorical_crossentropy`)."""

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, name=None, dtype=None, from_logits: bool = False, axis: int = -1):
        super().__init__(sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=bool(from_logits),
                         axis=int(axis))


@REGISTRY.register("root_mean_squared_error", "rmse")
class RootMeanSquaredError(Mean):
    """√(Σ w·(y − ŷ)² / Σ w) — the square root of the accumulated mean squared error."""

    default_name = "root_mean_squared_error"

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        super().update_state(mean_squared_error(y_true, y_pred), sample_weight=sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


# =========================================================================== confusion counts
def _threshold_counts(t: np.ndarray, p: np.ndarray, w: np.ndarray, thresholds: np.ndarray):
    """Weighted TP, FP, FN, TN at every threshold (predicted positive ⇔ p > threshold), in O(N + T).

    Each score falls in the bucket b = #{thresholds < p}; it is predicted positive exactly at the
    thresholds j < b, so TP[j] = Σ_{b > j} (weight of positives in bucket b) — a reversed cumsum.
    """
    order = np.argsort(thresholds, kind="stable")
    sorted_thr = thresholds[order]
    bucket = np.searchsorted(sorted_thr, p, side="left")
    bucket = np.where(np.isnan(p), 0, bucket)
    size = sorted_thr.size + 1
    pos = np.bincount(bucket, weights=w * t, minlength=size)
    neg = np.bincount(bucket, weights=w * (1.0 - t), minlength=size)
    tp_sorted = np.cumsum(pos[::-1])[::-1][1:]
    fp_sorted = np.cumsum(neg[::-1])[::-1][1:]
    tp, fp = np.empty_like(tp_sorted), np.empty_like(fp_sorted)
    tp[order], fp[order] = tp_sorted, fp_sorted
    return tp, fp, pos.sum() - tp, neg.sum() - fp  # tp, fp, fn, tn


class _ConfusionMetric(Metric):
    """Shared input handling of Precision / Recall / AUC: binary or multi-label indicators, flattened."""

    def _flat_inputs(self, y_true, y_pred, sample_weight, from_logits=False, top_k=None, class_id=None):
        t, p = _indicator_pair(y_true, y_pred, self.name)
        if from_logits:
            p = sigmoid_array(p)
        w = _weights(sample_weight, t.shape, self.name)
        if top_k is not None:
            if p.ndim == 0 or p.shape[-1] < 1:
                raise ShapeError(f"{self.name}: top_k needs predictions with a class axis, got shape {p.shape}.")
            # keep the k highest scores of each row (ties: lower index first, as tf.math.top_k)
            top = np.argsort(-p, axis=-1, kind="stable")[..., :top_k]
            keep = np.zeros(p.shape, dtype=bool)
            np.put_along_axis(keep, top, True, axis=-1)
            p = np.where(keep, p, -np.inf)
        if class_id is not None:
            if p.ndim == 0 or not 0 <= class_id < p.shape[-1]:
                raise InputError(f"{self.name}: class_id={class_id} is out of range for predictions of shape "
                                 f"{p.shape}.")
            t, p, w = t[..., class_id], p[..., class_id], w[..., class_id]
        return t.reshape(-1), p.reshape(-1), w.reshape(-1)


class _Thresholded(_ConfusionMetric):
    """Counts at one threshold (0.5 by default) or a list of them (predicted positive ⇔ ŷ > threshold)."""

    def _set_thresholds(self, thresholds) -> None:
        self.init_thresholds = thresholds
        self._multiple = isinstance(thresholds, (list, tuple, np.ndarray))
        values = [0.5] if thresholds is None else list(np.ravel(thresholds))
        self._thresholds = np.asarray(values, dtype=np.float64)

    @property
    def thresholds(self):
        return self._thresholds.tolist() if self._multiple else float(self._thresholds[0])

    def _finish(self, values):
        return _as_result(values if self._multiple else values[0])

    def get_config(self) -> dict:
        thresholds = self.init_thresholds
        if isinstance(thresholds, np.ndarray):
            thresholds = thresholds.tolist()
        return {**super().get_config(), "thresholds": thresholds}


class _ConfusionCount(_Thresholded):
    """The weighted count of one cell of the confusion matrix (Keras ``TruePositives`` & co.)."""

    cell = 0  # index into _threshold_counts' (TP, FP, FN, TN)

    def __init__(self, thresholds=None, name=None, dtype=None):
        self._set_thresholds(thresholds)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self.accumulator = np.zeros(self._thresholds.size)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        t, p, w = self._flat_inputs(y_true, y_pred, sample_weight)
        self.accumulator += _threshold_counts(t, p, w, self._thresholds)[self.cell]

    def result(self):
        return self._finish(self.accumulator)


@REGISTRY.register()
class TruePositives(_ConfusionCount):
    """Σ w over samples with y = 1 and ŷ > threshold."""

    cell = 0


@REGISTRY.register()
class FalsePositives(_ConfusionCount):
    """Σ w over samples with y = 0 and ŷ > threshold."""

    cell = 1


@REGISTRY.register()
class FalseNegatives(_ConfusionCount):
    """Σ w over samples with y = 1 and ŷ ≤ threshold."""

    cell = 2


@REGISTRY.register()
class TrueNegatives(_ConfusionCount):
    """Σ w over samples with y = 0 and ŷ ≤ threshold."""

    cell = 3


class _PrecisionRecall(_Thresholded):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self._set_thresholds(thresholds)
        self.top_k = top_k
        self.class_id = class_id
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        zeros = np.zeros(self._thresholds.size)
        self.true_positives, self.false_positives, self.false_negatives = zeros, zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        t, p, w = self._flat_inputs(y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id)
        tp, fp, fn, _ = _threshold_counts(t, p, w, self._thresholds)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def get_config(self) -> dict:
        return {**super().get_config(), "top_k": self.top_k, "class_id": self.class_id}


@REGISTRY.register("precision")
class Precision(_PrecisionRecall):
    """TP / (TP + FP), a prediction being positive when ŷ > threshold (default 0.5).

    Works on binary labels and on one-hot / multi-label indicators (every entry counts; integer
    labels are one-hot encoded for multi-column ŷ). ``class_id`` looks at one column only,
    ``top_k`` counts only the k highest scores of each row as positive, and a list of
    ``thresholds`` gives one precision per threshold.
    """

    default_name = "precision"

    def result(self):
        return self._finish(_divide(self.true_positives, self.true_positives + self.false_positives))


@REGISTRY.register("recall")
class Recall(_PrecisionRecall):
    """TP / (TP + FN), a prediction being positive when ŷ > threshold (default 0.5). See :class:`Precision`."""

    default_name = "recall"

    def result(self):
        return self._finish(_divide(self.true_positives, self.true_positives + self.false_negatives))


def _prf(tp, n_pred, n_true, beta: float = 1.0):
    """Per-class precision TP/P̂, recall TP/P and F_β = (1+β²)TP / (β²·P + P̂) (0 where undefined).

    P̂ = TP + FP is the number predicted in the class, P = TP + FN the number truly in it.
    """
    b2 = beta * beta
    return _divide(tp, n_pred), _divide(tp, n_true), _divide((1 + b2) * tp, b2 * n_true + n_pred)


_AVERAGES = ("auto", "binary", "micro", "macro", "weighted", None)


@REGISTRY.register("fbeta_score")
class FBetaScore(Metric):
    """F_β = (1+β²)·P·R / (β²·P + R), from accumulated per-class TP, FP and FN.

    * Binary predictions ``(N,)``/``(N, 1)``: positive when ŷ > threshold (0.5 if ``threshold`` is None).
    * Multi-class predictions ``(N, C)``: the argmax is the predicted class (``threshold=None``), or
      every column above ``threshold`` is predicted (multi-label). y may be integer labels or one-hot.
    * ``average``: ``'auto'`` (default: ``'binary'`` for binary predictions, ``'macro'`` otherwise),
      ``'binary'`` (class 1's score), ``'micro'`` (from summed counts: the accuracy for single-label
      data), ``'macro'`` (unweighted mean over the classes occurring in y or ŷ), ``'weighted'``
      (mean weighted by each class's support), or ``None`` (one score per class, an array).
    """

    default_name = "fbeta_score"

    def __init__(self, average="auto", beta: float = 1.0, threshold=None, name=None, dtype=None):
        if average not in _AVERAGES:
            raise InputError(f"average must be one of {list(_AVERAGES)}, got {average!r}.")
        if beta <= 0:
            raise InputError(f"beta must be positive, got {beta!r}.")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = None
        self._binary = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        p = _float(y_pred)
        binary = p.ndim <= 1 or p.shape[-1] == 1
        if binary:
            t, p = _pair(y_true, p, self.name)
            w = _weights(sample_weight, t.shape, self.name).reshape(-1, 1)
            t = _binary_values(t, self.name).reshape(-1)
            predicted = (p > (0.5 if self.threshold is None else self.threshold)).reshape(-1)
            eye = np.eye(2)  # two classes: column 0 = negative, column 1 = positive
            t_ind, p_ind = eye[t.astype(np.intp)], eye[predicted.astype(np.intp)]
        else:
            t_ind, scores = _indicator_pair(y_true, p, self.name)
            w = _weights(sample_weight, p.shape[:-1], self.name).reshape(-1, 1)
            if self.threshold is None:
                p_ind = np.eye(p.shape[-1])[np.argmax(scores, axis=-1)]
            else:
                p_ind = (scores > self.threshold).astype(np.float64)
            t_ind, p_ind = t_ind.reshape(-1, p.shape[-1]), p_ind.reshape(-1, p.shape[-1])
        tp = (w * t_ind * p_ind).sum(axis=0)
        fp = (w * (1.0 - t_ind) * p_ind).sum(axis=0)
        fn = (w * t_ind * (1.0 - p_ind)).sum(axis=0)
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives = tp, fp, fn
            self._binary = binary
        else:
            if tp.shape != self.true_positives.shape or binary != self._binary:
                raise ShapeError(f"{self.name}: this batch has {tp.size} classes but earlier ones had "
                                 f"{self.true_positives.size}; call reset_state() between different tasks.")
            self.true_positives += tp
            self.false_positives += fp
            self.false_negatives += fn

    def result(self):
        if self.true_positives is None:
            return 0.0
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        average = self.average
        if average == "auto":
            average = "binary" if self._binary else "macro"
        if average == "binary":
            if tp.size != 2:
                raise InputError(f"{self.name}: average='binary' needs binary predictions, got {tp.size} classes; "
                                 "use average='macro', 'micro' or 'weighted'.")
            return float(_prf(tp[1], tp[1] + fp[1], tp[1] + fn[1], self.beta)[2])
        if average == "micro":
            return float(_prf(tp.sum(), tp.sum() + fp.sum(), tp.sum() + fn.sum(), self.beta)[2])
        scores = _prf(tp, tp + fp, tp + fn, self.beta)[2]
        if average is None:
            return scores
        if average == "weighted":
            support = tp + fn
            return float(_divide((scores * support).sum(), support.sum()))
        present = (tp + fp + fn) > 0  # macro
        return float(scores[present].mean()) if present.any() else 0.0

    def get_config(self) -> dict:
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


@REGISTRY.register("f1_score", "f1")
class F1Score(FBetaScore):
    """F1 = 2·P·R / (P + R), the harmonic mean of precision and recall. See :class:`FBetaScore`."""

    default_name = "f1_score"

    def __init__(self, average="auto", threshold=None, name=None, dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


@REGISTRY.register("auc")
class AUC(_ConfusionMetric):
    """Area under the ROC curve (TPR against FPR) or, with ``curve='PR'``, the precision-recall curve.

    Default (Keras): scores are counted at ``num_thresholds=200`` thresholds (−ε, 1/199, …, 198/199,
    1+ε; predicted positive when ŷ > threshold), in constant memory, and the area is a Riemann sum:
    ``summation_method='interpolation'`` is the trapezoid rule for ROC and Davis & Goadrich's
    interpolation for PR; ``'minoring'``/``'majoring'`` take the lower/upper rectangle. Agrees with
    the exact value to about 1/num_thresholds for scores spread over [0, 1].

    ``num_thresholds=None``: exact. Every score is kept; ROC is the trapezoid area over all distinct
    scores (ties count half) = scikit-learn's ``roc_auc_score``; PR is the step-wise average
    precision = ``average_precision_score``.

    ``from_logits=True`` applies σ to ŷ first. Multi-label / one-hot inputs are flattened (every
    entry is one binary decision; Keras's ``multi_label=False``). With only one class present the
    ROC area is undefined and 0.0 is returned.
    """

    default_name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, from_logits=False):
        self.curve = str(curve).upper()
        if self.curve not in ("ROC", "PR"):
            raise InputError(f"curve must be 'ROC' or 'PR', got {curve!r}.")
        self.summation_method = str(summation_method).lower()
        if self.summation_method not in ("interpolation", "minoring", "majoring"):
            raise InputError(f"summation_method must be 'interpolation', 'minoring' or 'majoring', "
                             f"got {summation_method!r}.")
        self.from_logits = bool(from_logits)
        self._init_thresholds = None if thresholds is None else sorted(float(t) for t in thresholds)
        if self._init_thresholds is not None:
            interior = self._init_thresholds
            self.num_thresholds = len(interior) + 2
        elif num_thresholds is None:
            interior = None
            self.num_thresholds = None
        else:
            if int(num_thresholds) != num_thresholds or num_thresholds <= 1:
                raise InputError(f"num_thresholds must be an integer > 1 (or None for the exact AUC), "
                                 f"got {num_thresholds!r}.")
            self.num_thresholds = int(num_thresholds)
            interior = [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        eps = backend.epsilon()
        self._thresholds = None if interior is None else np.array([-eps, *interior, 1.0 + eps])
        super().__init__(name=name, dtype=dtype)

    @property
    def exact(self) -> bool:
        return self._thresholds is None

    @property
    def thresholds(self):
        return None if self.exact else self._thresholds.tolist()

    def reset_state(self) -> None:
        if self.exact:
            self._scores, self._labels, self._weights = [], [], []
        else:
            zeros = np.zeros(self._thresholds.size)
            self.true_positives, self.false_positives = zeros, zeros.copy()
            self.false_negatives, self.true_negatives = zeros.copy(), zeros.copy()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        t, p, w = self._flat_inputs(y_true, y_pred, sample_weight, from_logits=self.from_logits)
        if self.exact:
            self._labels.append(t)
            self._scores.append(p)
            self._weights.append(w)
            return
        tp, fp, fn, tn = _threshold_counts(t, p, w, self._thresholds)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.true_negatives += tn

    def result(self) -> float:
        if self.exact:
            return self._exact_result()
        tp, fp, fn, tn = self.true_positives, self.false_positives, self.false_negatives, self.true_negatives
        if self.curve == "PR" and self.summation_method == "interpolation":
            return float(_interpolated_pr_auc(tp, fp, fn))
        recall = _divide(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide(fp, fp + tn), recall
        else:
            x, y = recall, _divide(tp, tp + fp)
        heights = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
                   "majoring": np.maximum(y[:-1], y[1:])}[self.summation_method]
        return float(np.sum((x[:-1] - x[1:]) * heights))

    def _exact_result(self) -> float:
        if not self._scores:
            return 0.0
        t, p, w = (np.concatenate(parts) for parts in (self._labels, self._scores, self._weights))
        order = np.argsort(-p, kind="mergesort")
        t, p, w = t[order], p[order], w[order]
        last_of_value = np.r_[np.flatnonzero(np.diff(p)), p.size - 1]  # last index of each distinct score
        tps = np.cumsum(w * t)[last_of_value]
        fps = np.cumsum(w * (1.0 - t))[last_of_value]
        if tps[-1] <= 0 or (self.curve == "ROC" and fps[-1] <= 0):
            return 0.0
        if self.curve == "ROC":
            tpr = np.r_[0.0, tps / tps[-1]]
            fpr = np.r_[0.0, fps / fps[-1]]
            return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        recall = np.r_[0.0, tps / tps[-1]]
        precision = _divide(tps, tps + fps)
        return float(np.sum(np.diff(recall) * precision))

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "from_logits": self.from_logits}
        if self._init_thresholds is not None:
            config["thresholds"] = list(self._init_thresholds)
        return config


def _interpolated_pr_auc(tp, fp, fn) -> float:
    """PR area with precision interpolated between thresholds (Davis & Goadrich 2006).

    Between successive thresholds A → B, TP and P = TP + FP move linearly, so precision = TP/P and
    ∫ precision dTP = slope·(ΔTP + c·log(P_A/P_B)) with slope = ΔTP/ΔP, c = TP_B − slope·P_B.
    Each piece is divided by the number of positives (to integrate over recall).
    """
    d_tp = tp[:-1] - tp[1:]
    p = tp + fp
    d_p = p[:-1] - p[1:]
    slope = _divide(d_tp, np.maximum(d_p, 0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    ratio = np.where(both, _divide(p[:-1], np.maximum(p[1:], 0)), 1.0)
    ratio = np.where(ratio > 0, ratio, 1.0)
    return float(np.sum(_divide(slope * (d_tp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))))


@REGISTRY.register("r2_score", "r2")
class R2Score(Metric):
    """R² = 1 − SS_res / SS_tot, with SS_res = Σ w(y − ŷ)², SS_tot = Σ w(y − ȳ)², per output column.

    Accumulates Σw, Σw·y, Σw·y² (shifted by the first batch's mean, for accuracy) and Σw(y − ŷ)², so
    batches give the one-pass result. ``class_aggregation``: ``'uniform_average'`` (mean over outputs),
    ``'variance_weighted_average'`` (weighted by SS_tot) or ``None`` (one R² per output). A constant
    target gives 1.0 if predicted perfectly else 0.0 (scikit-learn). ``num_regressors`` p > 0 gives
    the adjusted R² = 1 − (1 − R²)(n − 1)/(n − p − 1) (left unadjusted when n ≤ p + 1).
    """

    default_name = "r2_score"

    def __init__(self, class_aggregation="uniform_average", num_regressors: int = 0, name=None, dtype=None):
        if class_aggregation not in ("uniform_average", "variance_weighted_average", None):
            raise InputError("class_aggregation must be 'uniform_average', 'variance_weighted_average' or None, "
                             f"got {class_aggregation!r}.")
        if num_regressors < 0:
            raise InputError(f"num_regressors must be >= 0, got {num_regressors}.")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self._shift = None
        self.sum_weight = self.sum_y = self.sum_y2 = self.sum_residual = 0.0
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        t, p = _pair(y_true, y_pred, self.name)
        if t.ndim == 1:
            t, p = t[:, None], p[:, None]
        if t.ndim != 2:
            raise ShapeError(f"{self.name}: expected targets of shape (N,) or (N, outputs), got {t.shape}.")
        w = _weights(sample_weight, t.shape[:1], self.name)[:, None]
        if self._shift is None:
            self._shift = t.mean(axis=0) if t.shape[0] else np.zeros(t.shape[1])
        elif self._shift.shape[0] != t.shape[1]:
            raise ShapeError(f"{self.name}: this batch has {t.shape[1]} outputs but earlier ones had "
                             f"{self._shift.shape[0]}.")
        centred = t - self._shift
        self.sum_weight = self.sum_weight + np.broadcast_to(w, t.shape).sum(axis=0)
        self.sum_y = self.sum_y + (w * centred).sum(axis=0)
        self.sum_y2 = self.sum_y2 + (w * centred ** 2).sum(axis=0)
        self.sum_residual = self.sum_residual + (w * (t - p) ** 2).sum(axis=0)
        self.num_samples += t.shape[0]

    def result(self):
        if self._shift is None:
            return 0.0
        ss_tot = np.maximum(self.sum_y2 - _divide(self.sum_y ** 2, self.sum_weight), 0.0)
        ss_res = np.asarray(self.sum_residual, dtype=np.float64)
        r2 = np.where(ss_tot > 0, 1.0 - _divide(ss_res, ss_tot), np.where(ss_res == 0, 1.0, 0.0))
        if self.class_aggregation == "uniform_average":
            r2 = r2.mean()
        elif self.class_aggregation == "variance_weighted_average":
            r2 = _divide((r2 * ss_tot).sum(), ss_tot.sum()) if ss_tot.sum() > 0 else r2.mean()
        n, k = self.num_samples, self.num_regressors
        if k and n > k + 1:
            r2 = 1.0 - (1.0 - r2) * (n - 1) / (n - k - 1)
        return _as_result(r2)

    def get_config(self) -> dict:
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


# =========================================================================== names and resolution
_SHAPE_RESOLVED = ("accuracy", "acc", "crossentropy", "ce")


def names() -> list[str]:
    """Every metric string :func:`resolve` accepts (snake_case names and Keras class names)."""
    return sorted(set(REGISTRY.names()) | set(_SHAPE_RESOLVED))


def check_name(name: str) -> None:
    """Raise UnknownNameError (with suggestions) unless ``resolve`` understands the metric name."""
    if name.lower() not in _SHAPE_RESOLVED:
        _lookup(name)


def _lookup(name: str):
    """The registered (or custom) object called ``name``; suggestions include the shape-resolved names."""
    try:
        return REGISTRY.lookup(name)
    except UnknownNameError:
        snake = [n for n in REGISTRY.names() if n == n.lower()]
        raise UnknownNameError("metric", name, snake + list(_SHAPE_RESOLVED)) from None


def get(identifier):
    """A metric from a name (``'mse'`` → ``MeanSquaredError(name='mse')``), a config dict, a Metric
    class or instance. Functions are returned as they are; ``None`` gives ``None``.

    ``'accuracy'`` here is the exact-match :class:`Accuracy`; use :func:`resolve` to choose
    binary/categorical/sparse accuracy from the shapes, as ``compile`` does.
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        obj = _lookup(identifier)
        return obj(name=identifier) if inspect.isclass(obj) else obj
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret metric {identifier!r}: expected a name, a Metric or a function.")


def serialize(metric):
    """``{"class_name", "config"}`` for a Metric; the registered name for a metric function."""
    if metric is None or isinstance(metric, (str, Metric)):
        return _serialize(metric, REGISTRY)
    return _serialize(metric, FUNCTIONS)


def deserialize(config, custom_objects=None):
    """Rebuild a Metric from :func:`serialize`'s output (a name gives a fresh instance of that name)."""
    obj = _deserialize(config, REGISTRY, custom_objects)
    if inspect.isclass(obj) and issubclass(obj, Metric):
        return obj(name=config) if isinstance(config, str) else obj()
    return obj


def _shape(x, role: str, identifier) -> tuple:
    if x is None:
        raise InputError(f"Resolving the metric {identifier!r} needs {role} (or an array of its shape) to choose "
                         "between binary, categorical and sparse categorical.")
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _is_binary_shape(p_shape: tuple) -> bool:
    return len(p_shape) <= 1 or p_shape[-1] == 1


def _logit_kwargs(cls, y_pred) -> dict:
    """Constructor arguments that make a metric read logits instead of probabilities."""
    if issubclass(cls, BinaryAccuracy):
        return {"threshold": 0.0}
    if issubclass(cls, (Precision, Recall)):
        return {"thresholds": 0.0}
    if issubclass(cls, FBetaScore):
        binary = y_pred is None or _is_binary_shape(tuple(getattr(y_pred, "shape", np.shape(y_pred))))
        return {"threshold": 0.0} if binary else {}
    if issubclass(cls, (AUC, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)):
        return {"from_logits": True}
    return {}


def resolve(identifier, y_true=None, y_pred=None, from_logits: bool = False):
    """What ``compile(metrics=[identifier])`` means for targets like ``y_true`` and outputs like ``y_pred``.

    * ``'accuracy'``/``'acc'``: :class:`BinaryAccuracy` if ŷ is 1-D or its last axis is 1;
      :class:`SparseCategoricalAccuracy` if y has fewer axes than ŷ, or a last axis of 1 while
      ŷ's is larger; :class:`CategoricalAccuracy` otherwise (Keras 3's ``get_metric`` rule).
    * ``'crossentropy'``/``'ce'``: the binary / sparse / categorical cross-entropy, by the same rule.
    * any other string: the registered metric (``'mse'``, ``'precision'``, ``'auc'``, ``'f1'``...),
      or :class:`~glassnet.errors.UnknownNameError` with suggestions.
    * a Metric instance is used as is; a Metric class is instantiated; a config dict is
      deserialised; a function ``fn(y_true, y_pred) -> per-sample values`` is wrapped in
      :class:`MeanMetricWrapper` named after the function.

    A metric given by string keeps that string as its name (``history['acc']``). With
    ``from_logits=True`` (ŷ are logits), thresholds move to 0.0 and AUC/cross-entropies apply
    σ/softmax — a deliberate deviation from Keras, which keeps 0.5.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _SHAPE_RESOLVED:
            t_shape = _shape(y_true, "y_true", identifier)
            p_shape = _shape(y_pred, "y_pred", identifier)
            accuracy_like = key in ("accuracy", "acc")
            if _is_binary_shape(p_shape):
                cls = BinaryAccuracy if accuracy_like else BinaryCrossentropy
            elif _is_sparse_pair(t_shape, p_shape):
                cls = SparseCategoricalAccuracy if accuracy_like else SparseCategoricalCrossentropy
            else:
                cls = CategoricalAccuracy if accuracy_like else CategoricalCrossentropy
        else:
            cls = _lookup(identifier)
            if not (inspect.isclass(cls) and issubclass(cls, Metric)):  # a custom function registered by name
                return MeanMetricWrapper(cls, name=identifier)
        kwargs = _logit_kwargs(cls, y_pred) if from_logits else {}
        return cls(name=identifier, **kwargs)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier(**(_logit_kwargs(identifier, y_pred) if from_logits else {}))
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(f"Could not interpret metric {identifier!r}: expected a name, a Metric, a Metric class, a "
                    "config dict or a function fn(y_true, y_pred).")


# =========================================================================== reports
def _to_labels(y, role: str) -> np.ndarray:
    """Class labels from labels, one-hot rows, probabilities or scores.

    (N, C) with C > 1 → argmax; (N, 1) and (N,) floats that are not all integers → ŷ > 0.5
    (probabilities of class 1); integer-valued floats → ints. Logits must be converted by the caller
    (argmax works for multi-class logits; threshold binary logits at 0).
    """
    y = _np(y)
    if y.ndim == 0 or y.ndim > 2:
        raise ShapeError(f"{role} must be labels (N,), one-hot rows or probabilities (N, C); got shape {y.shape}.")
    if y.ndim == 2:
        if y.shape[1] > 1:
            return np.argmax(y, axis=1)
        y = y[:, 0]
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise InputError(f"{role} contains NaN or inf.")
        if np.all(y == np.round(y)):
            return y.astype(np.int64)
        return (y > 0.5).astype(np.int64)
    if y.dtype.kind == "b":
        return y.astype(np.int64)
    return y


def _label_pair(y_true, y_pred):
    t, p = _to_labels(y_true, "y_true"), _to_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ShapeError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}.")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes: int | None = None, sample_weight=None) -> np.ndarray:
    """C[i, j] = (weighted) number of samples of true class i predicted as class j.

    Labels are integers in [0, num_classes) (``num_classes`` defaults to the largest label + 1);
    one-hot rows and probabilities are converted as in :func:`classification_report`.
    int64 counts, or float64 sums when ``sample_weight`` is given.
    """
    t, p = _label_pair(y_true, y_pred)
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    t = _sparse_labels(t, num_classes, "confusion_matrix (y_true)")
    p = _sparse_labels(p, num_classes, "confusion_matrix (y_pred)")
    w = None if sample_weight is None else _weights(sample_weight, t.shape, "confusion_matrix")
    counts = np.bincount(t * num_classes + p, weights=w, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64 if w is None else np.float64)


def classification_report(y_true, y_pred, labels=None, target_names=None, sample_weight=None, digits: int = 2,
                          output_dict: bool = False):
    """Per-class precision, recall, F1 and support, with accuracy and macro / weighted averages.

    The text (and the ``output_dict=True`` dictionary) has scikit-learn's layout and numbers;
    undefined ratios are 0.0 (``zero_division=0``). ``y_pred`` may be labels, or probabilities /
    scores: (N, C) → argmax, (N,) or (N, 1) non-integer floats → ŷ > 0.5 (threshold binary
    *logits* at 0 yourself). ``labels`` selects and orders the classes reported; when it leaves
    some out, a "micro avg" line replaces "accuracy", as in scikit-learn.
    """
    t, p = _label_pair(y_true, y_pred)
    present = np.unique(np.concatenate([t, p]))
    labels_given = labels is not None
    labels = present if not labels_given else np.asarray(labels)
    micro_is_accuracy = not labels_given or set(labels.tolist()) >= set(present.tolist())
    if target_names is not None and len(target_names) != len(labels):
        raise InputError(f"target_names has {len(target_names)} names for {len(labels)} classes "
                         f"({labels.tolist()}); give one name per class or pass labels=.")
    names_ = [str(n) for n in target_names] if target_names is not None else ["%s" % label for label in labels]

    universe = np.union1d(present, labels)
    ti, pi = np.searchsorted(universe, t), np.searchsorted(universe, p)
    w = None if sample_weight is None else _weights(sample_weight, t.shape, "classification_report")
    hit = ti == pi
    chosen = np.searchsorted(universe, labels)
    tp = np.bincount(ti[hit], weights=None if w is None else w[hit], minlength=universe.size)[chosen]
    n_pred = np.bincount(pi, weights=w, minlength=universe.size)[chosen]
    n_true = np.bincount(ti, weights=w, minlength=universe.size)[chosen]
    precision, recall, f1 = _prf(tp, n_pred, n_true)
    support = n_true.astype(np.int64) if w is None else n_true
    total = support.sum()

    averages = {"accuracy" if micro_is_accuracy else "micro avg": _prf(tp.sum(), n_pred.sum(), n_true.sum()),
                "macro avg": (precision.mean(), recall.mean(), f1.mean()),
                "weighted avg": tuple(_divide((v * n_true).sum(), n_true.sum()) for v in (precision, recall, f1))}
    headers = ["precision", "recall", "f1-score", "support"]

    if output_dict:
        report = {name: dict(zip(headers, map(float, row))) for name, *row in zip(names_, precision, recall, f1,
                                                                                 support)}
        for heading, (ap, ar, af) in averages.items():
            report[heading] = dict(zip(headers, map(float, (ap, ar, af, total))))
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report

    def num(x):
        return int(x) if w is None else float(x)

    width = max(max(len(n) for n in names_), len("weighted avg"), digits)
    lines = [f"{'':>{width}s} " + "".join(f" {h:>9}" for h in headers), ""]
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}"
    for name, pr, rc, f, s in zip(names_, precision, recall, f1, support):
        lines.append(row.format(name, float(pr), float(rc), float(f), num(s), width=width, digits=digits))
    lines.append("")
    for heading, (ap, ar, af) in averages.items():
        if heading == "accuracy":
            lines.append(("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}").format(
                heading, "", "", float(af), num(total), width=width, digits=digits))
        else:
            lines.append(row.format(heading, float(ap), float(ar), float(af), num(total), width=width, digits=digits))
    return "\n".join(lines) + "\n"
