"""Losses by their Keras names: a per-sample loss function, then a reduction over the batch.

Every loss is written once, as a function ``fn(y_true, y_pred, ...) -> Tensor`` built only from
:mod:`glassnet.ops` (so its gradient is automatic). It reduces over the last axis, as Keras does:
``y_pred`` of shape ``(N, d)`` gives ``N`` per-sample losses. A :class:`Loss` object then weights
them (``sample_weight``) and reduces them to one number (``reduction``).

Notation: ``y`` = y_true, ``ŷ`` = y_pred, ``e = y − ŷ``, ε = ``backend.epsilon()`` (1e-7),
mean/Σ over the last axis unless stated.

==================================  ==========================================================
name (aliases)                      per-sample loss
==================================  ==========================================================
mean_squared_error (mse)            mean(e²)
mean_absolute_error (mae)           mean(|e|)
mean_absolute_percentage_error      100·mean(|e| / max(|y|, ε))
(mape)
mean_squared_logarithmic_error      mean((log(1 + max(ŷ,ε)) − log(1 + max(y,ε)))²)
(msle)
huber (huber_loss)                  mean(½e² if |e| ≤ δ else δ|e| − ½δ²), δ = 1
log_cosh (logcosh)                  mean(log cosh e) = mean(x + softplus(−2x) − log 2), x = ŷ − y
quantile (pinball)                  mean(max(q·e, (q−1)·e)), q = 0.5  (not in Keras)
binary_crossentropy (bce)           mean(−[y log p + (1−y) log(1−p)]), p clipped to [ε, 1−ε]
categorical_crossentropy            −Σ_c y_c log p_c, p = ŷ/Σŷ clipped to [ε, 1−ε]
sparse_categorical_crossentropy     −log p[y] with integer labels y
hinge                               mean(max(0, 1 − y·ŷ)), y ∈ {−1, +1} ({0,1} converted)
squared_hinge                       mean(max(0, 1 − y·ŷ)²)
categorical_hinge                   max(0, 1 + max((1−y)·ŷ) − Σ y·ŷ)
kl_divergence (kld)                 Σ y log(y/ŷ), y and ŷ clipped to [ε, 1]
poisson                             mean(ŷ − y log(ŷ + ε))
cosine_similarity                   −cos(y, ŷ) = −Σ (y/‖y‖)(ŷ/‖ŷ‖)   (Keras sign: in [−1, 1])
cosine_distance                     1 − cos(y, ŷ)                    (in [0, 2])
binary_focal_crossentropy           mean((1 − p_t)^γ · bce), p_t = p if y = 1 else 1 − p
dice                                1 − 2Σ(y·ŷ) / (Σy + Σŷ + ε) over all non-batch axes
==================================  ==========================================================

Cross-entropies from logits (``from_logits=True``) use the fused, exact kernels
:func:`ops.sigmoid_cross_entropy`, :func:`ops.softmax_cross_entropy` and
:func:`ops.sparse_softmax_cross_entropy`. With ``from_logits=False``, when ``y_pred`` was
produced by ``ops.sigmoid`` (or ``ops.softmax`` along the loss axis) and the graph recorded it,
its input logits are used with the fused kernel instead of clipped probabilities — exact value
and gradient even at saturation, as Keras' TensorFlow backend does. Without a recorded graph
(``no_grad``, or probabilities given as plain arrays) the clipped Keras formula is used.

Shapes: ``Loss.__call__`` first matches the ranks of ``y_true`` and ``y_pred`` by squeezing or
adding a trailing size-1 axis (Keras' ``squeeze_or_expand_to_same_rank``), so ``(N,)`` against
``(N, 1)`` is never broadcast to ``(N, N)``; the built-in element-wise losses then require equal
shapes and raise :class:`~glassnet.errors.ShapeError` otherwise.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import warnings

import numpy as np

from . import backend, ops
from .errors import InputError, ShapeError, UnknownNameError
from .ops.crossentropy import check_sparse_labels
from .saving import Registry, deserialize as _deserialize, serialize as _serialize
from .tensor import Tensor

REGISTRY = Registry("loss")

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

_LOG_2 = math.log(2.0)


# ====================================================================== shape and dtype helpers
def _as_prediction(y_pred, dtype=None) -> Tensor:
    """``y_pred`` as a float Tensor in the compute dtype: float32 and float64 are kept (so gradients
    flow unchanged); integers, booleans and float16 (whose range, ±65504, cannot hold a loss such as
    (1e4)² or 1/ε) are cast to float32 (or floatx if wider), the gradient flowing back through the cast."""
    y_pred = ops.as_tensor(y_pred)
    if y_pred.dtype.kind != "f" or y_pred.dtype.itemsize < 4:
        y_pred = ops.cast(y_pred, np.result_type(backend.floatx(), np.float32))
    if dtype is not None and y_pred.dtype != np.dtype(dtype):
        y_pred = ops.cast(y_pred, dtype)
    return y_pred


def _as_target(y_true, dtype, constant: bool = False) -> Tensor:
    """``y_true`` in ``dtype``. ``constant=True`` always gives a fresh Tensor without gradient."""
    if isinstance(y_true, Tensor):
        if not constant and y_true.requires_grad:
            return y_true if y_true.dtype == dtype else ops.cast(y_true, dtype)
        if y_true.dtype == dtype and not y_true.requires_grad and y_true.is_leaf:
            return y_true
        y_true = y_true.data
    return Tensor(np.asarray(y_true, dtype=dtype), dtype=dtype)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Match the ranks of two tensors that differ by one trailing size-1 axis (Keras rule).

    ``(N,)`` with ``(N, 1)`` becomes ``(N, 1)`` with ``(N, 1)`` (``expand_rank_1=True``, used
    for labels) or ``(N,)`` with ``(N,)`` (``False``, used for sample weights). Other ranks are
    left alone.
    """
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    elif r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def _pair(y_true, y_pred):
    """Both as tensors of y_pred's float dtype, ranks matched."""
    y_pred = _as_prediction(y_pred)
    y_true = _as_target(y_true, y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def _check_same_shape(name: str, y_true: Tensor, y_pred: Tensor) -> None:
    """Element-wise losses never broadcast targets against predictions (a scalar target is allowed)."""
    if y_true.shape != y_pred.shape and y_true.ndim != 0:
        raise ShapeError(
            f"{name}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}. They must "
            "match (a trailing axis of size 1 is added or removed automatically, so (N,) and (N, 1) "
            "are fine); glassnet does not broadcast targets against predictions."
        )


def _elementwise_pair(name: str, y_true, y_pred):
    y_true, y_pred = _pair(y_true, y_pred)
    _check_same_shape(name, y_true, y_pred)
    return y_true, y_pred


def _integer_valued(array: np.ndarray) -> bool:
    if array.dtype.kind in "iub":
        return True
    return bool(array.size) and bool(np.all(np.isfinite(array))) and bool(np.all(array == np.round(array)))


# ====================================================================== logits recovery
def _sigmoid_logits(y_pred: Tensor):
    """The logits z when ``y_pred = σ(z)`` is in the recorded graph (through reshapes), else None."""
    node = y_pred
    while node._op == "reshape" and node._parents:
        node = node._parents[0]
    if node._op == "sigmoid" and node._parents:
        logits = node._parents[0]
        return logits if logits.shape == y_pred.shape else ops.reshape(logits, y_pred.shape)
    return None


def _softmax_logits(y_pred: Tensor, axis: int):
    """The logits z when ``y_pred = softmax(z)`` along ``axis`` is in the recorded graph, else None."""
    if y_pred._op == "softmax" and y_pred._parents and y_pred.ndim \
            and getattr(y_pred._backward, "axis", None) == axis % y_pred.ndim:  # normalised along this axis
        return y_pred._parents[0]
    return None


# ====================================================================== regression losses
def mean_squared_error(y_true, y_pred):
    """mean((y − ŷ)²) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_squared_error", y_true, y_pred)
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y − ŷ|) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_absolute_error", y_true, y_pred)
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 · mean(|y − ŷ| / max(|y|, ε)) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_absolute_percentage_error", y_true, y_pred)
    scale = ops.maximum(ops.abs(y_true), backend.epsilon())
    return 100.0 * ops.mean(ops.abs((y_true - y_pred) / scale), axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(1 + max(ŷ, ε)) − log(1 + max(y, ε)))²) over the last axis."""
    y_true, y_pred = _elementwise_pair("mean_squared_logarithmic_error", y_true, y_pred)
    eps = backend.epsilon()
    diff = ops.log1p(ops.maximum(y_pred, eps)) - ops.log1p(ops.maximum(y_true, eps))
    return ops.mean(ops.square(diff), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    """mean(½e² if |e| ≤ δ else δ(|e| − ½δ)) over the last axis; continuous (value and slope) at |e| = δ."""
    if not delta > 0:
        raise ValueError(f"huber: delta must be > 0, got {delta!r}.")
    y_true, y_pred = _elementwise_pair("huber", y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return ops.mean(ops.where(abs_error.data <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """mean(log cosh(ŷ − y)), computed as x + softplus(−2x) − log 2 so it never overflows."""
    y_true, y_pred = _elementwise_pair("log_cosh", y_true, y_pred)
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(-2.0 * x) - _LOG_2, axis=-1)


def quantile(y_true, y_pred, quantile: float = 0.5):
    """Pinball loss mean(max(q·e, (q − 1)·e)), e = y − ŷ (not in Keras).

    Minimising it makes ŷ the q-quantile of y given x; q = 0.5 gives half the mean absolute error.
    """
    q = float(quantile)
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile: the quantile must lie in (0, 1), got {quantile!r}.")
    y_true, y_pred = _elementwise_pair("quantile", y_true, y_pred)
    error = y_true - y_pred
    return ops.mean(ops.maximum(q * error, (q - 1.0) * error), axis=-1)


pinball = quantile
_quantile_loss = quantile  # for Quantile.__init__, whose argument is also called `quantile`


# ====================================================================== probabilistic losses
def _check_binary_targets(name: str, y_true: Tensor) -> None:
    y = y_true.data
    if not y.size or (np.minimum.reduce(y, axis=None) >= 0 and np.maximum.reduce(y, axis=None) <= 1):
        return  # (two bare ufunc reductions: the check runs at every step; a NaN target is let through)
    bad = (y < 0) | (y > 1)
    if bad.any():
        raise InputError(
            f"{name}: targets must lie in [0, 1] (class 1 probabilities), got the label {y[bad].flat[0].item()!r} "
            f"at index {tuple(int(i) for i in np.argwhere(bad)[0])}. "
            "For integer class labels with more than two classes use 'sparse_categorical_crossentropy'; "
            "for labels in {-1, 1} use 'hinge'."
        )


def _smooth_binary(y_true, label_smoothing: float):
    if label_smoothing:
        return y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return y_true


def _binary_crossentropy_elements(y_true: Tensor, y_pred: Tensor, from_logits: bool):
    """Element-wise −[y log p + (1−y) log(1−p)] (fused from logits, else clipped probabilities)."""
    logits = y_pred if from_logits else _sigmoid_logits(y_pred)
    if logits is not None:
        return ops.sigmoid_cross_entropy(logits, y_true)
    eps = backend.epsilon()
    p = ops.clip(y_pred, eps, 1.0 - eps)
    return -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """mean over ``axis`` of −[y log p + (1−y) log(1−p)].

    ``from_logits=True``: ŷ are logits z and the stable form max(z,0) − z·y + log(1 + e^−|z|) is used.
    Otherwise p = ŷ clipped to [ε, 1−ε] (or the logits behind a recorded ``ops.sigmoid``).
    ``label_smoothing`` s squeezes targets towards ½: y ← y(1 − s) + s/2.
    """
    y_true, y_pred = _elementwise_pair("binary_crossentropy", y_true, y_pred)
    _check_binary_targets("binary_crossentropy", y_true)
    y_true = _smooth_binary(y_true, label_smoothing)
    return ops.mean(_binary_crossentropy_elements(y_true, y_pred, from_logits), axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1):
    """mean over ``axis`` of w · (1 − p_t)^γ · bce(y, p)  (Lin et al. 2017).

    p_t = p for y = 1 and 1 − p for y = 0, so 1 − p_t = y(1 − p) + (1 − y)p; easy examples
    (p_t → 1) are down-weighted. γ = 0 gives binary cross-entropy. With
    ``apply_class_balancing``, w = α for class 1 and 1 − α for class 0 (else w = 1).
    The focal factor uses p clipped to [ε, 1 − ε] (keeps (1 − p_t)^γ differentiable for γ < 1).
    """
    y_true, y_pred = _elementwise_pair("binary_focal_crossentropy", y_true, y_pred)
    _check_binary_targets("binary_focal_crossentropy", y_true)
    y_true = _smooth_binary(y_true, label_smoothing)
    logits = y_pred if from_logits else _sigmoid_logits(y_pred)
    if logits is not None:
        bce = ops.sigmoid_cross_entropy(logits, y_true)
        p = ops.sigmoid(logits)
    else:
        bce = _binary_crossentropy_elements(y_true, y_pred, from_logits=False)
        p = y_pred
    eps = backend.epsilon()
    p = ops.clip(p, eps, 1.0 - eps)
    one_minus_pt = y_true * (1.0 - p) + (1.0 - y_true) * p
    loss = bce if gamma == 0 else ops.power(one_minus_pt, float(gamma)) * bce
    if apply_class_balancing:
        loss = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * loss
    return ops.mean(loss, axis=axis)


def _categorical_shape_error(y_true: Tensor, y_pred: Tensor, axis: int):
    classes = y_pred.shape[axis] if y_pred.ndim else 1
    batch_shape = y_pred.shape[:-1]
    if (axis in (-1, y_pred.ndim - 1) and classes > 1 and y_true.shape in (batch_shape, batch_shape + (1,))
            and _integer_valued(y_true.data)):
        return InputError(
            f"categorical_crossentropy expects one-hot (or probability) targets of shape {y_pred.shape}, "
            f"but got integer class labels of shape {y_true.shape}. Use 'sparse_categorical_crossentropy' "
            "(SparseCategoricalCrossentropy) for integer labels, or one-hot encode them."
        )
    return ShapeError(
        f"categorical_crossentropy: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
        "they must be equal (one probability per class)."
    )


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1):
    """−Σ_c y_c log p_c along ``axis`` (one-hot or soft targets).

    ``from_logits=True``: log p = log_softmax(ŷ) (fused kernel, gradient softmax(ŷ)·Σy − y).
    Otherwise p = ŷ / Σŷ clipped to [ε, 1 − ε] (Keras), or the logits behind a recorded ``ops.softmax``.
    ``label_smoothing`` s: y ← y(1 − s) + s/C for C classes.
    """
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"categorical_crossentropy: axis must be an int, got {axis!r}.")
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise _categorical_shape_error(y_true, y_pred, axis)
    classes = y_pred.shape[axis]
    if classes == 1:
        warnings.warn(
            f"categorical_crossentropy: y_pred has shape {y_pred.shape}, a single class, so the loss is always "
            "~0. Use 'binary_crossentropy' with one sigmoid output for two classes.", UserWarning, stacklevel=2)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    logits = y_pred if from_logits else _softmax_logits(y_pred, axis)
    if logits is not None:
        return ops.softmax_cross_entropy(logits, y_true, axis=axis)
    eps = backend.epsilon()
    p = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), eps, 1.0 - eps)
    return -ops.sum(y_true * ops.log(p), axis=axis)


def _sparse_labels(y_true, y_pred: Tensor, axis: int = -1) -> np.ndarray:
    """Integer-valued label array of shape y_pred.shape without ``axis``, or a clear error."""
    labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    expected = tuple(n for i, n in enumerate(y_pred.shape) if i != axis % y_pred.ndim)
    if labels.shape != expected:
        classes = y_pred.shape[axis]
        if labels.shape == y_pred.shape and classes > 1:
            raise InputError(
                f"sparse_categorical_crossentropy expects integer class labels of shape {expected}, but got "
                f"y_true of shape {labels.shape}, the shape of y_pred: it looks one-hot encoded. Use "
                "'categorical_crossentropy' (CategoricalCrossentropy) for one-hot targets, or pass "
                "y_true.argmax(-1)."
            )
        raise ShapeError(
            f"sparse_categorical_crossentropy: y_true has shape {labels.shape} but y_pred has shape "
            f"{y_pred.shape}; expected integer labels of shape {expected} (or {expected + (1,)})."
        )
    return labels


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None,
                                    axis: int = -1):
    """−log p[y] for integer labels y; equals categorical_crossentropy on one-hot labels.

    ``y_true`` has shape ``y_pred.shape[:-1]`` (or with a trailing 1). ``from_logits=True`` uses
    the fused softmax kernel; otherwise p = ŷ/Σŷ clipped to [ε, 1 − ε] (Keras), or the logits
    behind a recorded ``ops.softmax``. Labels equal to ``ignore_class`` get loss 0 (and are left
    out of the batch mean by :class:`SparseCategoricalCrossentropy`).
    """
    y_pred = _as_prediction(y_pred)
    labels = _sparse_labels(y_true, y_pred, axis)
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = np.where(valid, labels, 0)
    if axis not in (-1, y_pred.ndim - 1):
        axis = axis % y_pred.ndim
        y_pred = ops.transpose(y_pred, [i for i in range(y_pred.ndim) if i != axis] + [axis])
    classes = y_pred.shape[-1]
    labels = check_sparse_labels(labels, classes)
    logits = y_pred if from_logits else _softmax_logits(y_pred, -1)
    if logits is not None:
        loss = ops.sparse_softmax_cross_entropy(logits, labels)
    else:
        eps = backend.epsilon()
        flat = ops.reshape(y_pred, (-1, classes))
        flat_labels = labels.reshape(-1)
        chosen = ops.getitem(flat, (np.arange(flat_labels.size), flat_labels))
        p = ops.clip(chosen / ops.sum(flat, axis=-1), eps, 1.0 - eps)
        loss = ops.reshape(-ops.log(p), labels.shape)
    if valid is not None:
        loss = ops.where(valid, loss, 0.0)
    return loss


def kl_divergence(y_true, y_pred):
    """Σ y log(y/ŷ) over the last axis, with y and ŷ clipped to [ε, 1]."""
    y_true, y_pred = _elementwise_pair("kl_divergence", y_true, y_pred)
    eps = backend.epsilon()
    y_true = ops.clip(y_true, eps, 1.0)
    y_pred = ops.clip(y_pred, eps, 1.0)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """mean(ŷ − y log(ŷ + ε)) over the last axis (Poisson NLL of rate ŷ without the log(y!) constant)."""
    y_true, y_pred = _elementwise_pair("poisson", y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + backend.epsilon()), axis=-1)


# ====================================================================== margin losses
def _hinge_labels(name: str, y_true: Tensor) -> Tensor:
    """Labels in {0, 1} become {−1, +1}; {−1, +1} (or a mix of −1, 0, 1) stay; others are refused."""
    y = y_true.data
    allowed = (y == -1) | (y == 0) | (y == 1)
    if not allowed.all():
        raise InputError(
            f"{name}: labels must be -1 or 1 (or 0 and 1, which are converted to -1 and 1), got the label "
            f"{y[~allowed].flat[0].item()!r} at index {tuple(int(i) for i in np.argwhere(~allowed)[0])}."
        )
    if y.size and np.all(y >= 0):
        return 2.0 * y_true - 1.0
    return y_true


def hinge(y_true, y_pred):
    """mean(max(0, 1 − y·ŷ)) over the last axis, y ∈ {−1, +1} (labels in {0, 1} are converted)."""
    y_true, y_pred = _elementwise_pair("hinge", y_true, y_pred)
    y_true = _hinge_labels("hinge", y_true)
    return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(0, 1 − y·ŷ)²) over the last axis, y ∈ {−1, +1} (labels in {0, 1} are converted)."""
    y_true, y_pred = _elementwise_pair("squared_hinge", y_true, y_pred)
    y_true = _hinge_labels("squared_hinge", y_true)
    return ops.mean(ops.square(ops.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(0, 1 + neg − pos) with pos = Σ y·ŷ and neg = max((1 − y)·ŷ) over the last axis (one-hot y)."""
    y_true, y_pred = _elementwise_pair("categorical_hinge", y_true, y_pred)
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


# ====================================================================== similarity losses
def cosine_similarity(y_true, y_pred, axis: int = -1):
    """−cos(y, ŷ) = −Σ (y/‖y‖)·(ŷ/‖ŷ‖) along ``axis`` (Keras sign: −1 is best)."""
    y_true, y_pred = _elementwise_pair("cosine_similarity", y_true, y_pred)
    return -ops.sum(ops.l2_normalize(y_true, axis=axis) * ops.l2_normalize(y_pred, axis=axis), axis=axis)


def cosine_distance(y_true, y_pred, axis: int = -1):
    """1 − cos(y, ŷ) along ``axis`` (0 is best, range [0, 2]); = 1 + cosine_similarity."""
    return 1.0 + cosine_similarity(y_true, y_pred, axis=axis)


def dice(y_true, y_pred, axis=None):
    """1 − 2Σ(y·ŷ) / (Σy + Σŷ + ε), the soft Dice loss.

    ``axis=None`` sums over every axis but the first, so each sample gets its own loss and
    ``sample_weight`` applies (Keras sums over all axes, one number per batch; pass
    ``axis=tuple(range(y_pred.ndim))`` for that). A 1-D ``y_pred`` is one sample.
    """
    y_true, y_pred = _elementwise_pair("dice", y_true, y_pred)
    if axis is None:
        axis = tuple(range(1, y_pred.ndim)) if y_pred.ndim > 1 else None
    elif isinstance(axis, list):
        axis = tuple(axis)
    intersection = ops.sum(y_true * y_pred, axis=axis)
    denominator = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + backend.epsilon()
    return 1.0 - 2.0 * intersection / denominator


# ====================================================================== reductions
def standardize_reduction(reduction):
    """Check ``reduction`` is one of :data:`REDUCTIONS`."""
    if reduction not in REDUCTIONS:
        raise UnknownNameError("reduction", reduction, [r for r in REDUCTIONS if r is not None])
    return reduction


def _weights_tensor(sample_weight, dtype) -> Tensor:
    if isinstance(sample_weight, Tensor):
        return sample_weight if sample_weight.dtype == dtype else ops.cast(sample_weight, dtype)
    return Tensor(np.asarray(sample_weight, dtype=dtype), dtype=dtype)


def _align_weights(values: Tensor, weights: Tensor):
    """Weights of shape (N,), (N, 1) or anything that broadcasts INTO the loss values' shape.

    Weights with fewer axes than the values apply along the leading (batch) axes.
    """
    given = weights.shape
    values, weights = squeeze_or_expand_to_same_rank(values, weights, expand_rank_1=False)
    if 0 < weights.ndim < values.ndim:
        weights = ops.reshape(weights, weights.shape + (1,) * (values.ndim - weights.ndim))
    try:
        fits = np.broadcast_shapes(values.shape, weights.shape) == values.shape
    except ValueError:
        fits = False
    if not fits:
        hint = ""
        if values.ndim == 0:
            hint = (" The loss returned a single number for the whole batch, so per-sample weights cannot be "
                    "applied: return one loss per sample (for the built-in losses give y_pred the shape "
                    "(N, outputs), e.g. (N, 1), since they average over the last axis).")
        raise ShapeError(f"sample_weight of shape {given} does not match the per-sample losses of shape "
                         f"{values.shape}.{hint}")
    return values, weights


def reduce_values(values: Tensor, sample_weight=None, reduction="sum_over_batch_size") -> Tensor:
    """Reduce (already weighted) losses: 'sum' → Σ; 'sum_over_batch_size'/'mean' → Σ / number of
    elements; 'mean_with_sample_weight' → Σ / Σ weights; 'none'/None → unchanged."""
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    if reduction in ("sum_over_batch_size", "mean") or sample_weight is None and reduction != "sum":
        return ops.mean(values)  # Σ / number of elements, as one op
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = ops.sum(sample_weight)
        return total / divisor if float(divisor.data) != 0.0 else total * 0.0
    return total / values.size if values.size else total


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size") -> Tensor:
    """Multiply per-sample losses by ``sample_weight`` (and a validity ``mask``), then reduce.

    As Keras: a mask (e.g. from ``ignore_class``) makes 'sum_over_batch_size' divide by the
    number of valid entries instead of all of them.
    """
    reduction = standardize_reduction(reduction)
    values = ops.as_tensor(values)
    if values.dtype.kind != "f":
        values = ops.cast(values, backend.floatx())
    weights = None if sample_weight is None else _weights_tensor(sample_weight, values.dtype)
    if mask is not None:
        m = np.asarray(mask, dtype=values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = m.sum()
            m = m * (m.size / valid) if valid > 0 else np.zeros_like(m)
        m = Tensor(m, dtype=values.dtype)
        if weights is None:
            weights = m
        else:
            m, weights = _align_weights(m, weights)
            weights = weights * m
    if weights is not None:
        values, weights = _align_weights(values, weights)
        values = values * weights
    return reduce_values(values, weights, reduction)


# ====================================================================== Loss classes
def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` → a scalar Tensor (by default).

    Subclasses implement only ``call(y_true, y_pred)`` returning per-sample losses, built from
    glassnet ops (the gradient is automatic). Before ``call``, ``y_pred`` becomes a float Tensor
    (its dtype kept unless ``dtype`` is given), ``y_true`` a constant Tensor of the same dtype, and
    their ranks are matched ((N,) ↔ (N, 1)). Then the losses are multiplied by ``sample_weight``
    and reduced:

    * ``"sum_over_batch_size"`` (default) and ``"mean"``: Σ wᵢℓᵢ / (number of loss elements);
    * ``"sum"``: Σ wᵢℓᵢ;   ``"mean_with_sample_weight"``: Σ wᵢℓᵢ / Σ wᵢ;
    * ``"none"`` or ``None``: the weighted per-sample losses.
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __call__(self, y_true, y_pred, sample_weight=None):
        prediction_mask = getattr(y_pred, "_keras_mask", None)  # e.g. padded time steps (Embedding mask_zero)
        y_pred = _as_prediction(y_pred, self.dtype)
        y_true = _as_target(y_true, y_pred.dtype, constant=True)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        values = self.call(y_true, y_pred)
        if not isinstance(values, Tensor):
            values = Tensor(np.asarray(values, dtype=y_pred.dtype), dtype=y_pred.dtype)
        mask = self._mask(y_true, y_pred, values)
        if prediction_mask is not None:
            prediction_mask = np.asarray(getattr(prediction_mask, "data", prediction_mask), dtype=bool)
            if prediction_mask.shape == values.shape:
                mask = prediction_mask if mask is None else (np.asarray(mask, dtype=bool) & prediction_mask)
        return reduce_weighted_values(values, sample_weight=sample_weight, mask=mask, reduction=self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def _mask(self, y_true, y_pred, values):
        """Which loss entries count (None = all). Overridden for ``ignore_class``."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


def _function_name(fn) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "lambda" if name == "<lambda>" else name


class LossFunctionWrapper(Loss):
    """A :class:`Loss` around a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    This is how plain functions, closures and lambdas become losses (``losses.get(fn)``).
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper needs a callable fn(y_true, y_pred), got {fn!r}.")
        super().__init__(name=name or _function_name(fn), reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _mask(self, y_true, y_pred, values):
        ignore_class = self._fn_kwargs.get("ignore_class")
        if self.fn is not sparse_categorical_crossentropy or ignore_class is None:
            return None
        labels = _sparse_labels(y_true, y_pred, self._fn_kwargs.get("axis", -1))
        mask = labels != ignore_class
        return mask if mask.shape == values.shape else None

    def get_config(self) -> dict:
        config = super().get_config()
        if type(self) is LossFunctionWrapper:  # the built-in subclasses rebuild their own fn
            config["fn"] = _serialize(self.fn, REGISTRY)
        config.update({k: _json_value(v) for k, v in self._fn_kwargs.items()})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "fn" in config:
            fn = config.pop("fn")
            config["fn"] = deserialize(fn, custom_objects) if isinstance(fn, (str, dict)) else fn
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}({_function_name(self.fn)}, kwargs={self._fn_kwargs}) name={self.name!r}>"


def _check_smoothing(label_smoothing) -> float:
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing!r}.")
    return float(label_smoothing)


class MeanSquaredError(LossFunctionWrapper):
    """mean((y − ŷ)²) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsoluteError(LossFunctionWrapper):
    """mean(|y − ŷ|) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """100 · mean(|y − ŷ| / max(|y|, ε)) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """mean((log(1 + ŷ) − log(1 + y))²) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


class Huber(LossFunctionWrapper):
    """mean(½e² if |e| ≤ δ else δ|e| − ½δ²) per sample."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        if not delta > 0:
            raise ValueError(f"Huber: delta must be > 0, got {delta!r}.")
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=float(delta))
        self.delta = float(delta)


class LogCosh(LossFunctionWrapper):
    """mean(log cosh(ŷ − y)) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class Quantile(LossFunctionWrapper):
    """Pinball loss mean(max(q·e, (q − 1)·e)), e = y − ŷ (not in Keras)."""

    def __init__(self, quantile=0.5, reduction="sum_over_batch_size", name="quantile", dtype=None):
        if not 0.0 < float(quantile) < 1.0:
            raise ValueError(f"Quantile: quantile must lie in (0, 1), got {quantile!r}.")
        super().__init__(_quantile_loss, reduction=reduction, name=name, dtype=dtype, quantile=float(quantile))
        self.quantile = float(quantile)


class BinaryCrossentropy(LossFunctionWrapper):
    """mean(−[y log p + (1−y) log(1−p)]) per sample; see :func:`binary_crossentropy`."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        label_smoothing = _check_smoothing(label_smoothing)
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), label_smoothing, axis


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """mean(w·(1 − p_t)^γ · bce) per sample; see :func:`binary_focal_crossentropy`."""

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        label_smoothing = _check_smoothing(label_smoothing)
        if gamma < 0:
            raise ValueError(f"BinaryFocalCrossentropy: gamma must be >= 0, got {gamma!r}.")
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=bool(apply_class_balancing), alpha=float(alpha),
                         gamma=float(gamma), from_logits=bool(from_logits), label_smoothing=label_smoothing,
                         axis=axis)
        self.apply_class_balancing, self.alpha, self.gamma = bool(apply_class_balancing), float(alpha), float(gamma)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), label_smoothing, axis


class CategoricalCrossentropy(LossFunctionWrapper):
    """−Σ_c y_c log p_c per sample (one-hot targets); see :func:`categorical_crossentropy`."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        label_smoothing = _check_smoothing(label_smoothing)
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = bool(from_logits), label_smoothing, axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """−log p[y] per sample (integer labels); entries labelled ``ignore_class`` are left out of the mean."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=bool(from_logits), ignore_class=ignore_class)
        self.from_logits, self.ignore_class = bool(from_logits), ignore_class


class Hinge(LossFunctionWrapper):
    """mean(max(0, 1 − y·ŷ)) per sample, y ∈ {−1, +1} ({0, 1} converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """mean(max(0, 1 − y·ŷ)²) per sample, y ∈ {−1, +1} ({0, 1} converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """max(0, 1 + max((1 − y)·ŷ) − Σ y·ŷ) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """Σ y log(y/ŷ) per sample (clipped to [ε, 1])."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """mean(ŷ − y log(ŷ + ε)) per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """−cos(y, ŷ) along ``axis`` per sample (Keras sign)."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class CosineDistance(LossFunctionWrapper):
    """1 − cos(y, ŷ) along ``axis`` per sample (not in Keras)."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_distance", dtype=None):
        super().__init__(cosine_distance, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class Dice(LossFunctionWrapper):
    """Soft Dice loss per sample, over every non-batch axis unless ``axis`` is given."""

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis


# ====================================================================== class weights
def _is_int_like(key) -> bool:
    if isinstance(key, (bool, np.bool_)):
        return False
    if isinstance(key, (numbers.Integral, np.integer)):
        return True
    return isinstance(key, (numbers.Real, np.floating)) and math.isfinite(key) and float(key) == int(key)


def class_weight_to_sample_weight(y_true, class_weight: dict, num_classes: int | None = None) -> np.ndarray:
    """Per-sample weights ``w[i] = class_weight[label of sample i]`` (1.0 for classes not listed).

    The label is the integer itself for sparse targets (N,) / (N, 1), the arg-max for one-hot
    targets (N, C), and the rounded value for binary probabilities (N, 1). Keys must be class
    indices (ints ≥ 0; < C for one-hot targets, 0 or 1 for binary probabilities, < ``num_classes``
    if given). Returns an array of shape (N,) (``y_true.shape[:-1]`` for one-hot sequences).
    """
    if not isinstance(class_weight, dict):
        raise InputError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}.")
    y = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if y.ndim == 0:
        raise InputError("class_weight needs one label per sample; y_true is a single number.")
    limit = num_classes
    if y.ndim >= 2 and y.shape[-1] > 1:
        labels = np.argmax(y, axis=-1)
        limit = y.shape[-1] if limit is None else min(limit, y.shape[-1])
    else:
        flat = y[..., 0] if (y.ndim >= 2 and y.shape[-1] == 1) else y
        if flat.dtype.kind in "iub" or _integer_valued(flat):
            labels = flat.astype(np.int64)
        elif np.all((flat >= 0) & (flat <= 1)):
            labels = np.round(flat).astype(np.int64)
            limit = 2 if limit is None else min(limit, 2)
        else:
            raise InputError("class_weight needs class labels (integers, one-hot rows or binary probabilities), "
                             f"but y_true holds values such as {flat[flat != np.round(flat)].flat[0].item()!r}.")
    keys, weights = [], []
    for key, weight in class_weight.items():
        if not _is_int_like(key) or int(key) < 0 or (limit is not None and int(key) >= limit):
            valid = f"0..{limit - 1}" if limit is not None else "integers >= 0"
            raise InputError(f"class_weight key {key!r} is not a valid class index (expected {valid}).")
        if not isinstance(weight, (numbers.Real, np.floating, np.integer)) or not math.isfinite(weight) or weight < 0:
            raise InputError(f"class_weight[{key!r}] = {weight!r}: weights must be finite numbers >= 0.")
        keys.append(int(key))
        weights.append(float(weight))
    size = max([int(labels.max()) if labels.size else 0] + keys) + 1
    table = np.ones(size, dtype=np.float64)
    table[keys] = weights
    return np.where(labels >= 0, table[np.clip(labels, 0, None)], 1.0)


# ====================================================================== registry
_FUNCTIONS = {
    "mean_squared_error": (mean_squared_error, MeanSquaredError, ["mse"]),
    "mean_absolute_error": (mean_absolute_error, MeanAbsoluteError, ["mae"]),
    "mean_absolute_percentage_error": (mean_absolute_percentage_error, MeanAbsolutePercentageError, ["mape"]),
    "mean_squared_logarithmic_error": (mean_squared_logarithmic_error, MeanSquaredLogarithmicError, ["msle"]),
    "huber": (huber, Huber, ["huber_loss"]),
    "log_cosh": (log_cosh, LogCosh, ["logcosh"]),
    "quantile": (quantile, Quantile, ["pinball", "quantile_loss", "pinball_loss"]),
    "binary_crossentropy": (binary_crossentropy, BinaryCrossentropy, ["bce"]),
    "binary_focal_crossentropy": (binary_focal_crossentropy, BinaryFocalCrossentropy, []),
    "categorical_crossentropy": (categorical_crossentropy, CategoricalCrossentropy, []),
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, SparseCategoricalCrossentropy, []),
    "hinge": (hinge, Hinge, []),
    "squared_hinge": (squared_hinge, SquaredHinge, []),
    "categorical_hinge": (categorical_hinge, CategoricalHinge, []),
    "kl_divergence": (kl_divergence, KLDivergence, ["kld", "kullback_leibler_divergence"]),
    "poisson": (poisson, Poisson, []),
    "cosine_similarity": (cosine_similarity, CosineSimilarity, []),
    "cosine_distance": (cosine_distance, CosineDistance, []),
    "dice": (dice, Dice, []),
}
_CLASS_OF_FUNCTION = {}
for _name, (_fn, _cls, _aliases) in _FUNCTIONS.items():
    for _alias in [_name] + _aliases:
        REGISTRY.add(_alias, _fn)
    REGISTRY.add(_cls.__name__, _cls)
    _CLASS_OF_FUNCTION[_fn] = _cls
REGISTRY.add("LossFunctionWrapper", LossFunctionWrapper)


def _instantiate(obj) -> Loss:
    if isinstance(obj, Loss):
        return obj
    if inspect.isclass(obj) and issubclass(obj, Loss):
        return obj()
    if obj in _CLASS_OF_FUNCTION:
        return _CLASS_OF_FUNCTION[obj]()
    if callable(obj):
        return LossFunctionWrapper(obj)
    raise TypeError(f"Could not interpret {obj!r} as a loss.")


def get(identifier):
    """A :class:`Loss` from a name ('mse', 'categorical_crossentropy', 'Huber'...), a config dict,
    a Loss (returned as is), a Loss subclass, or any callable ``fn(y_true, y_pred)`` (wrapped).
    ``None`` gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, (str, dict)):
        return _instantiate(deserialize(identifier))
    if callable(identifier):
        return _instantiate(identifier)
    raise TypeError(f"Could not interpret loss {identifier!r}: expected a name, a config, a Loss or a callable.")


def serialize(loss):
    """A function's registered name, or ``{"class_name", "config"}`` for a Loss object."""
    return _serialize(loss, REGISTRY)


def deserialize(config, custom_objects=None):
    """Rebuild what :func:`serialize` produced (a name gives the function, as in Keras)."""
    return _deserialize(config, REGISTRY, custom_objects)


def names() -> list[str]:
    """Every registered loss name (snake_case names, aliases and class names)."""
    return REGISTRY.names()
