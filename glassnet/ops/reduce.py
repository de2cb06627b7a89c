"""Reductions: sum, mean, max, min, var, std, logsumexp (and argmax/argmin, which have no gradient).

``axis`` may be None (all axes), an int or a tuple; ``keepdims`` keeps reduced axes with size 1.
The backward pass broadcasts the incoming gradient back over the reduced axes.
"""

from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Tensor, make_result
from .elementwise import as_float_tensor


def _axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        return tuple(sorted(a % ndim for a in axis)) if ndim else ()
    return (axis % ndim,) if ndim else ()


def _expand_to(g: np.ndarray, shape: tuple, axes: tuple, keepdims: bool) -> np.ndarray:
    """Undo a reduction's shape change, then broadcast back to the input shape (a fresh array)."""
    out = np.empty(shape, dtype=g.dtype)
    if not keepdims and axes:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    out[...] = g
    return out


def _count(shape: tuple, axes: tuple) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """``Σ x`` over ``axis``; ∂/∂x = 1."""
    x = as_float_tensor(x)
    axes = _axes(axis, x.ndim)
    shape = x.data.shape
    out = np.add.reduce(x.data, axis=axes, keepdims=keepdims)
    return make_result(np.asarray(out), (x,), lambda g: (_expand_to(g, shape, axes, keepdims),), "sum")


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """``Σ x / n`` over ``axis``; ∂/∂x = 1/n.

    Over axes of size 1 only (n = 1, e.g. the per-sample loss of one output unit), the mean of floats is
    the values themselves: a reshaped view, and the gradient g reshaped back (no reduction, no copy)."""
    x = as_float_tensor(x)
    axes = _axes(axis, x.ndim)
    shape = x.data.shape
    count = _count(shape, axes)
    if count == 1 and axes and x.data.dtype.kind == "f":
        reduced = shape if keepdims else tuple(n for i, n in enumerate(shape) if i not in axes)
        return make_result(x.data.reshape(reduced), (x,), lambda g: (g.reshape(shape),), "mean")
    scale = 1.0 / builtins.max(count, 1)
    out = np.asarray(np.add.reduce(x.data, axis=axes, keepdims=keepdims) * scale)  # ufunc: no Python wrapper
    return make_result(out, (x,), lambda g: (_expand_to(g * scale, shape, axes, keepdims),), "mean")


def _extreme(x, axis, keepdims, reducer, name) -> Tensor:
    x = as_float_tensor(x)
    axes = _axes(axis, x.ndim)
    out = np.asarray(reducer(x.data, axis=axes, keepdims=True))

    def backward(g):
        # The gradient is shared equally between tied extremes (as TensorFlow and torch.amax do).
        chosen = (x.data == out)
        counts = chosen.sum(axis=axes, keepdims=True)
        g = g if keepdims else (np.expand_dims(g, axes) if axes else g)
        return (chosen * (g / counts).astype(x.data.dtype, copy=False),)

    result = out if keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in axes])
    return make_result(result, (x,), backward, name)


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient flows to the arg-max entries."""
    return _extreme(x, axis, keepdims, np.max, "max")


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; the gradient flows to the arg-min entries."""
    return _extreme(x, axis, keepdims, np.min, "min")


def var(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance ``Σ (x − μ)² / (n − ddof)``; biased (ddof=0) by default as in NumPy and Keras.

    ∂/∂x = 2 (x − μ) / (n − ddof).
    """
    x = as_float_tensor(x)
    axes = _axes(axis, x.ndim)
    shape = x.data.shape
    centered = x.data - x.data.mean(axis=axes, keepdims=True)
    denominator = _count(shape, axes) - ddof
    out = (centered * centered).sum(axis=axes, keepdims=keepdims) / denominator

    def backward(g):
        return (_expand_to(g, shape, axes, keepdims) * centered * (2.0 / denominator),)

    return make_result(np.asarray(out, dtype=x.data.dtype), (x,), backward, "var")


def std(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation ``√var``."""
    from .elementwise import sqrt

    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """``log Σ eˣ`` computed as ``m + log Σ e^(x−m)`` with m the max (no overflow);
    ∂/∂x = softmax(x)."""
    x = as_float_tensor(x)
    axes = _axes(axis, x.ndim)
    shape = x.data.shape
    m = np.max(x.data, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(x.data - m)
    s = e.sum(axis=axes, keepdims=True)
    out_keep = np.log(s) + m

    def backward(g):
        g = g if keepdims else (np.expand_dims(g, axes) if axes else g)
        return (g * (e / s),)

    out = out_keep if keepdims else out_keep.reshape([n for i, n in enumerate(shape) if i not in axes])
    return make_result(out, (x,), backward, "logsumexp")


def argmax(x, axis=-1) -> Tensor:
    """Index of the maximum along ``axis`` (integer tensor, no gradient)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(np.argmax(data, axis=axis), dtype=np.int64)


def argmin(x, axis=-1) -> Tensor:
    """Index of the minimum along ``axis`` (integer tensor, no gradient)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    return Tensor(np.argmin(data, axis=axis), dtype=np.int64)
