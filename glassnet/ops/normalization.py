"""Normalisation kernels: standardise over some axes, then scale and shift.

One fused op, :func:`normalize`, does batch, layer, group and RMS normalisation in one forward
pass and one closed-form backward pass (instead of the ~10 recorded ops of the composed form)::

    μ = mean(x),  σ² = mean((x − μ)²)          over ``axes`` (biased variance)
    x̂ = (x − μ) / √(σ² + ε),   y = γ·x̂ + β

    backward, with ĝ = γ·g (γ broadcast to x's shape):
    ∂L/∂x = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / √(σ² + ε)
    ∂L/∂γ = Σ g·x̂,   ∂L/∂β = Σ g               (summed over the axes γ, β are broadcast along)

When γ is constant along ``axes`` (batch norm) this is the textbook
``γ/σ·(g − mean(g) − x̂·mean(g·x̂))``. With ``center=False`` (RMS normalisation) μ is taken as 0
and σ² = mean(x²), and the ``mean(ĝ)`` term drops out.

The other functions are conveniences on top of it, plus the Keras ops ``moments`` and
``batch_normalization`` (normalise with given statistics, composed from ordinary ops).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result, unbroadcast
from .elementwise import add, as_float_tensor, coerce_pair, divide, multiply, sqrt, square, subtract
from .reduce import mean as _mean, sum as reduce_sum, var as _var
from .shape import reshape


def _axes(axes, ndim: int) -> tuple:
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    for a in axes:
        if not -ndim <= int(a) < ndim:
            raise ValueError(f"normalize: axis {a} is out of range for an input of rank {ndim}.")
    return tuple(sorted({int(a) % ndim for a in axes}))


def _sum_of_product(a: np.ndarray, b: np.ndarray, axes: tuple) -> np.ndarray:
    """``Σ a·b`` over ``axes`` (other axes kept, in order) without materialising ``a·b``."""
    letters = "abcdefghijklmnopqrstuvwxyz"[:a.ndim]
    kept = "".join(letter for i, letter in enumerate(letters) if i not in axes)
    return np.einsum(f"{letters},{letters}->{kept}", a, b)


def _mean_of_product(a: np.ndarray, b: np.ndarray, axes: tuple) -> np.ndarray:
    """``mean(a·b)`` over ``axes``, with the reduced axes kept as size 1."""
    count = 1
    for i in axes:
        count *= a.shape[i]
    shape = [1 if i in axes else n for i, n in enumerate(a.shape)]
    return (_sum_of_product(a, b, axes) / count).reshape(shape).astype(a.dtype, copy=False)


def _product_to_shape(a: np.ndarray, b: np.ndarray, shape: tuple) -> np.ndarray:
    """``unbroadcast(a·b, shape)``: the gradient of a parameter of ``shape`` broadcast against ``a``."""
    aligned = (1,) * (a.ndim - len(shape)) + tuple(shape)
    axes = tuple(i for i, n in enumerate(aligned) if n == 1 and a.shape[i] != 1)
    return _sum_of_product(a, b, axes).reshape(shape)


def normalize(x, axes, gamma=None, beta=None, epsilon: float = 1e-3, center: bool = True,
              return_moments: bool = False):
    """Fused ``γ·(x − μ)/√(σ² + ε) + β`` with μ, σ² over ``axes`` (see the module docstring).

    ``gamma``/``beta`` (Tensors or arrays, or None) must broadcast against ``x``.
    ``center=False`` gives RMS normalisation (no mean subtracted, σ² = mean(x²)).
    With ``return_moments=True`` also returns μ and σ² as NumPy arrays (keepdims shape, no gradient).
    """
    x = as_float_tensor(x)
    if gamma is not None:
        gamma = coerce_pair(x, gamma)[1]
    if beta is not None:
        beta = coerce_pair(x, beta)[1]
    axes = _axes(axes, x.ndim)
    X = x.data
    if center:
        mu = X.mean(axis=axes, keepdims=True)
        x_hat = X - mu                                     # centred; scaled in place below
    else:
        mu = np.zeros([1 if i in axes else n for i, n in enumerate(X.shape)], dtype=X.dtype)
        x_hat = X.copy()
    variance = _mean_of_product(x_hat, x_hat, axes)
    inv_std = 1.0 / np.sqrt(variance + np.asarray(epsilon, dtype=X.dtype))
    x_hat *= inv_std                                       # x̂, kept for the backward pass
    out = x_hat * gamma.data if gamma is not None else x_hat.copy()
    if beta is not None:
        out += beta.data

    parents = [x] + [p for p in (gamma, beta) if p is not None]

    def backward(g):
        gx = None
        if x.requires_grad:
            g_hat = g * gamma.data if gamma is not None else g
            gx = g_hat - x_hat * _mean_of_product(g_hat, x_hat, axes)
            if center:
                gx -= g_hat.mean(axis=axes, keepdims=True)
            gx *= inv_std
        grads = [gx]
        if gamma is not None:
            grads.append(_product_to_shape(g, x_hat, gamma.data.shape) if gamma.requires_grad else None)
        if beta is not None:
            grads.append(unbroadcast(g, beta.data.shape) if beta.requires_grad else None)
        return tuple(grads)

    y = make_result(out, parents, backward, "normalize")
    if return_moments:
        return y, mu, variance
    return y


def _param_shape(ndim: int, axes: tuple, sizes: tuple) -> tuple:
    shape = [1] * ndim
    for a, n in zip(axes, sizes):
        shape[a] = n
    return tuple(shape)


def _broadcastable(p, shape: tuple):
    """Reshape a per-feature parameter (Tensor, array or None) to ``shape`` unless it already broadcasts."""
    if p is None:
        return None
    data_shape = p.shape if isinstance(p, Tensor) else np.shape(p)
    if tuple(data_shape) == tuple(shape[len(shape) - len(data_shape):]) and len(data_shape) <= len(shape):
        return p  # trailing-axis broadcast works as is (the common channels-last case)
    return reshape(p, shape) if isinstance(p, Tensor) else np.reshape(p, shape)


def batch_norm_train(x, gamma=None, beta=None, axis: int = -1, epsilon: float = 1e-3):
    """Training-mode batch normalisation: statistics over every axis but ``axis``.

    Returns ``(y, mean, variance)``; ``mean`` and ``variance`` (biased) have shape (features,)
    and are NumPy arrays, for the moving-average update.
    """
    x = as_float_tensor(x)
    axis = int(axis) % x.ndim
    reduce_axes = tuple(a for a in range(x.ndim) if a != axis)
    shape = _param_shape(x.ndim, (axis,), (x.shape[axis],))
    y, mu, variance = normalize(x, reduce_axes, _broadcastable(gamma, shape), _broadcastable(beta, shape),
                                epsilon, return_moments=True)
    return y, mu.reshape(-1), variance.reshape(-1)


MASK_WEIGHT_EPSILON = 1e-7
"""Added to the count of unmasked positions in :func:`masked_batch_norm_train` (Keras' backend epsilon)."""


def masked_batch_norm_train(x, mask, gamma=None, beta=None, epsilon: float = 1e-3):
    """Training-mode batch normalisation over the positions where ``mask`` is true (Keras' masked
    moments). ``mask`` has the shape of ``x`` without its feature axis, which must be the last; with
    weights m and n = Σ m + 1e-7::

        μ = Σ m·x / n,   σ² = Σ m·(m·x − μ)² / n,   y = γ·(x − μ)/√(σ² + ε) + β   (at every position)

    Returns ``(y, mean, variance)`` like :func:`batch_norm_train`; gradients flow through μ and σ².
    """
    x = as_float_tensor(x)
    weights = np.asarray(mask, dtype=x.dtype)[..., None]
    reduce_axes = tuple(range(x.ndim - 1))
    count = weights.sum(axis=reduce_axes) + x.dtype.type(MASK_WEIGHT_EPSILON)
    weighted = multiply(x, weights)
    mu = divide(reduce_sum(weighted, axis=reduce_axes), count)
    variance = divide(reduce_sum(multiply(weights, square(subtract(weighted, mu))), axis=reduce_axes), count)
    y = batch_normalization(x, mu, variance, -1, offset=beta, scale=gamma, epsilon=epsilon)
    return y, mu.data.copy(), variance.data.copy()


def layer_norm(x, gamma=None, beta=None, axis=-1, epsilon: float = 1e-3, rms_scaling: bool = False):
    """Per-example normalisation over ``axis`` (int or tuple); γ, β span those axes.

    ``rms_scaling=True``: ``y = γ·x/√(mean(x²) + ε)`` (RMSNorm; β unused).
    """
    x = as_float_tensor(x)
    axes = _axes(axis, x.ndim)
    shape = _param_shape(x.ndim, axes, tuple(x.shape[a] for a in axes))
    return normalize(x, axes, _broadcastable(gamma, shape),
                     None if rms_scaling else _broadcastable(beta, shape), epsilon, center=not rms_scaling)


def group_norm(x, groups: int, gamma=None, beta=None, axis: int = -1, epsilon: float = 1e-3):
    """Group normalisation: the ``C`` channels on ``axis`` are split into ``groups`` contiguous groups;
    each example and group is standardised over its channels and all non-batch axes.
    γ, β have shape (C,)."""
    x = as_float_tensor(x)
    ndim = x.ndim
    axis = int(axis) % ndim
    channels = x.shape[axis]
    if channels % groups:
        raise ValueError(f"group_norm: {channels} channels cannot be split into {groups} equal groups.")
    grouped_shape = x.shape[:axis] + (groups, channels // groups) + x.shape[axis + 1:]
    reduce_axes = tuple(a for a in range(1, ndim + 1) if a != axis)
    param_shape = [1] * (ndim + 1)
    param_shape[axis], param_shape[axis + 1] = groups, channels // groups
    param_shape = tuple(param_shape)
    grouped = normalize(reshape(x, grouped_shape), reduce_axes, _reshape_param(gamma, param_shape),
                        _reshape_param(beta, param_shape), epsilon)
    return reshape(grouped, x.shape)


def _reshape_param(p, shape):
    if p is None:
        return None
    return reshape(p, shape) if isinstance(p, Tensor) else np.reshape(p, shape)


def moments(x, axes, keepdims: bool = False):
    """``(mean, variance)`` over ``axes`` (biased variance), differentiable, as ``keras.ops.moments``."""
    return _mean(x, axis=axes, keepdims=keepdims), _var(x, axis=axes, keepdims=keepdims)


def batch_normalization(x, mean, variance, axis: int = -1, offset=None, scale=None, epsilon: float = 1e-3):
    """``(x − mean)/√(variance + ε)·scale + offset`` with given per-feature statistics along ``axis``
    (as ``keras.ops.batch_normalization``); used for batch norm at inference.

    Computed as ``x·a + b`` with ``a = scale/√(variance + ε)`` and ``b = offset − mean·a``, so only
    two passes touch ``x``; gradients reach ``x``, ``scale`` and ``offset`` (and the statistics if
    they are Tensors).
    """
    x = as_float_tensor(x)
    axis = int(axis) % x.ndim
    shape = _param_shape(x.ndim, (axis,), (x.shape[axis],))
    mean, variance = coerce_pair(x, mean)[1], coerce_pair(x, variance)[1]
    inv = 1.0 / sqrt(add(variance, epsilon))
    if scale is not None:
        inv = multiply(inv, scale)
    shift = multiply(mean, inv)
    shift = subtract(offset, shift) if offset is not None else -shift
    return add(multiply(x, _broadcastable(inv, shape)), _broadcastable(shift, shape))


__all__ = ["normalize", "batch_norm_train", "masked_batch_norm_train", "layer_norm", "group_norm", "moments", "batch_normalization"]
