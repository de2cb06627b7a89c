"""Fused, numerically stable cross-entropies computed from logits (per sample, not reduced).

Fusing gives the textbook gradients directly — softmax(z) − y and σ(z) − y — instead of
differentiating through exp and log, which is both faster and exact for large |z|.
The composed forms (log_softmax then a sum) are gradient-checked against these in the tests.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..tensor import Tensor, make_result, unbroadcast
from .elementwise import as_float_tensor, coerce_pair
from .nonlinear import log_softmax_array, sigmoid_array


def softmax_cross_entropy(logits, labels, axis: int = -1) -> Tensor:
    """−Σ_c y_c · log softmax(z)_c along ``axis`` (y one-hot or soft labels).

    ∂/∂z = softmax(z)·Σ_c y_c − y;  ∂/∂y = −log softmax(z).
    """
    logits, labels = coerce_pair(logits, labels)
    log_p = log_softmax_array(logits.data, axis)
    y = labels.data
    out = -(y * log_p).sum(axis=axis)

    def backward(g):
        g = np.expand_dims(g, axis)
        gz = gy = None
        if logits.requires_grad:  # labels and logits may broadcast against each other
            gz = unbroadcast(g * (np.exp(log_p) * y.sum(axis=axis, keepdims=True) - y), logits.data.shape)
        if labels.requires_grad:
            gy = unbroadcast(-g * log_p, y.shape)
        return gz, gy

    return make_result(out, (logits, labels), backward, "softmax_cross_entropy")


def check_sparse_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer class indices in ``[0, num_classes)`` or a clear error naming the bad label and its index."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        finite = np.isfinite(labels)
        if not np.all(finite):
            raise InputError(f"Sparse labels must be integer class indices, got the NaN or infinite label "
                             f"{labels[~finite].flat[0]} at index {_first_index(~finite)}.")
        fractional = labels != np.round(labels)
        if np.any(fractional):
            raise InputError(
                f"Sparse labels must be integer class indices, got the non-integer label "
                f"{labels[fractional].flat[0].item()} at index {_first_index(fractional)}. "
                "If your targets are one-hot or probabilities, use 'categorical_crossentropy'."
            )
    elif labels.dtype.kind not in "iub":
        raise InputError(f"Sparse labels must be integers, got dtype {labels.dtype}.")
    labels = labels.astype(np.intp)
    if labels.size:
        low, high = labels.min(), labels.max()
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise InputError(
                f"Label {int(bad)} at index {_first_index(labels == bad)} is out of range for {num_classes} classes: "
                f"sparse labels must lie in [0, {num_classes - 1}]. Check the output layer has one unit per class."
            )
    return labels


def _first_index(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def sparse_softmax_cross_entropy(logits, labels) -> Tensor:
    """−log softmax(z)[y] for integer labels y, over the last axis of ``logits``.

    ∂/∂z = softmax(z) − onehot(y).
    """
    logits = as_float_tensor(logits)
    z = logits.data
    y = check_sparse_labels(labels.data if isinstance(labels, Tensor) else labels, z.shape[-1])
    if y.shape != z.shape[:-1]:
        raise InputError(f"Sparse labels of shape {y.shape} do not match predictions of shape {z.shape}: "
                         f"expected labels of shape {z.shape[:-1]}.")
    log_p = log_softmax_array(z, -1)
    flat_log_p = log_p.reshape(-1, z.shape[-1])
    flat_y = y.reshape(-1)
    rows = np.arange(flat_y.size)
    out = (-flat_log_p[rows, flat_y]).reshape(y.shape)

    def backward(g):
        grad = np.exp(flat_log_p)
        grad[rows, flat_y] -= 1.0
        grad *= g.reshape(-1, 1)
        return (grad.reshape(z.shape),)

    return make_result(out, (logits,), backward, "sparse_softmax_cross_entropy")


def sigmoid_cross_entropy(logits, labels) -> Tensor:
    """Element-wise −[y log σ(z) + (1−y) log(1−σ(z))] = max(z, 0) − z·y + log(1 + e^−|z|).

    ∂/∂z = σ(z) − y;  ∂/∂y = −z.
    """
    logits, labels = coerce_pair(logits, labels)
    z, y = logits.data, labels.data
    if z.size <= 1024:  # softplus(z) − z·y in 3 ufunc calls (fewer, slower ones pay off on small arrays)
        out = np.logaddexp(0, z) - z * y
    else:
        out = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))

    def backward(g):
        gz = unbroadcast(g * (sigmoid_array(z) - y), z.shape) if logits.requires_grad else None
        gy = unbroadcast(-g * z, y.shape) if labels.requires_grad else None
        return gz, gy

    return make_result(out, (logits, labels), backward, "sigmoid_cross_entropy")
