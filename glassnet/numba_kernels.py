"""Compiled kernels (numba), used through :func:`glassnet.accel.kernels` only.

Each kernel does exactly the float operations of the NumPy path it replaces, in one loop, so the
results are identical; each releases the GIL, so the batch-parallel helpers can run it on every thread.
"""

from __future__ import annotations

import numba
import numpy as np

NO_ROUTE = 255
"""``arg`` value of a max-pool window holding NaN: its output is NaN and it passes no gradient."""

# error_model="numpy": a float division by zero gives inf/NaN as in NumPy instead of raising; the check
# Python semantics need also keeps the compiler from vectorising a loop that divides (Adam: 5× slower)
_jit = numba.njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")


@_jit
def max_pool2d_disjoint_forward(x, y, arg, kh, kw):
    """2-D max pooling with strides = pool size kh×kw and no padding ('valid': rows and columns past
    the last whole window are not read).

    x (N, ≥ oh·kh, ≥ ow·kw, C) → y (N, oh, ow, C) = max over each window, and ``arg`` (uint8) = the
    row-major offset of its FIRST maximum (PyTorch/TensorFlow's argmax); a window holding NaN gives
    y = NaN and ``arg = NO_ROUTE`` (as ``np.maximum`` propagates NaN).
    """
    n, oh, ow, channels = y.shape
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                top, left = i * kh, j * kw
                if kh == 2 and kw == 2:  # the common case, unrolled (vectorises over channels)
                    for k in range(channels):
                        best, first = x[b, top, left, k], 0
                        v = x[b, top, left + 1, k]
                        if v > best or v != v:  # NaN is sticky, as in np.maximum
                            best, first = v, 1
                        v = x[b, top + 1, left, k]
                        if v > best or v != v:
                            best, first = v, 2
                        v = x[b, top + 1, left + 1, k]
                        if v > best or v != v:
                            best, first = v, 3
                        y[b, i, j, k] = best
                        arg[b, i, j, k] = first
                else:  # running maximum kept in y, one window offset at a time
                    for k in range(channels):
                        y[b, i, j, k] = x[b, top, left, k]
                        arg[b, i, j, k] = 0
                    offset = 0
                    for p in range(kh):
                        for q in range(kw):
                            if offset:
                                for k in range(channels):
                                    v = x[b, top + p, left + q, k]
                                    if v > y[b, i, j, k] or v != v:
                                        y[b, i, j, k] = v
                                        arg[b, i, j, k] = offset
                            offset += 1
                for k in range(channels):
                    if y[b, i, j, k] != y[b, i, j, k]:
                        arg[b, i, j, k] = NO_ROUTE


@_jit
def max_pool2d_disjoint_backward(g, arg, gx, kh, kw):
    """∂L/∂x of :func:`max_pool2d_disjoint_forward`: each window's gradient g goes to its ``arg`` element,
    zeros to the rest of the window (elements outside every window are left to the caller)."""
    n, oh, ow, channels = g.shape
    zero = gx.dtype.type(0)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                offset = 0
                for p in range(kh):
                    for q in range(kw):
                        for k in range(channels):
                            gx[b, i * kh + p, j * kw + q, k] = g[b, i, j, k] if arg[b, i, j, k] == offset else zero
                        offset += 1


@_jit
def relu(x, out):
    """out = max(x, 0) element-wise (x and out distinct, contiguous); NaN stays NaN like ``np.maximum``."""
    source, target = x.reshape(-1), out.reshape(-1)
    zero = source.dtype.type(0)
    for i in range(source.size):
        v = source[i]
        target[i] = zero if v <= zero else v


@_jit
def relu_inplace(x):
    """x = max(x, 0) in place. (A separate kernel: with ``relu(x, x)`` the compiler sees two
    overlapping arrays and falls back to a scalar loop, 7× slower.)"""
    values = x.reshape(-1)
    zero = values.dtype.type(0)
    for i in range(values.size):
        v = values[i]
        values[i] = zero if v <= zero else v


@_jit
def relu_gradient(g, a, out):
    """out = g ⊙ 1[a > 0] element-wise, a = the ReLU's output (all contiguous, same size; out distinct
    from g and a)."""
    gradient, activation, target = g.reshape(-1), a.reshape(-1), out.reshape(-1)
    zero = gradient.dtype.type(0)
    for i in range(gradient.size):
        target[i] = gradient[i] if activation[i] > zero else zero


@_jit
def bias_relu_inplace(y, b):
    """y = max(y + b, 0) in place, y (rows, n) contiguous and b (n,): the bias add and ReLU of a dense
    layer in one pass."""
    rows, n = y.shape
    zero = y.dtype.type(0)
    for r in range(rows):
        for j in range(n):
            v = y[r, j] + b[j]
            y[r, j] = zero if v <= zero else v


@_jit
def adam_update(w, g, m, v, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, eps_hat, step):
    """One Adam step in one pass (arrays contiguous, scalars of w's dtype), with the float operations
    of the NumPy path (:meth:`glassnet.optimizers.Adam.update_step`) in the same order and no fused
    multiply-adds:  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·(g·g);  w −= (m / (√v + ε̂))·step."""
    weights, gradient, first, second = w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        mi = first[i] * beta_1 + gi * one_minus_beta_1
        vi = second[i] * beta_2 + (gi * gi) * one_minus_beta_2
        first[i] = mi
        second[i] = vi
        weights[i] -= (mi / (np.sqrt(vi) + eps_hat)) * step


@_jit
def sgd_momentum_update(w, g, buffer, momentum, gradient_scale, learning_rate, nesterov):
    """SGD with momentum in one pass, the float operations of :meth:`glassnet.optimizers.SGD.update_step`:
    b = μ·b + (1 − dampening)·g  (the factor is 1 without dampening: exact);
    w −= lr·(g + μ·b)  (Nesterov)  or  w −= lr·b."""
    weights, gradient, velocity = w.reshape(-1), g.reshape(-1), buffer.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        b = velocity[i] * momentum + gi * gradient_scale
        velocity[i] = b
        if nesterov:
            weights[i] -= learning_rate * (gi + momentum * b)
        else:
            weights[i] -= learning_rate * b


@_jit
def rmsprop_update(w, g, v, buffer, rho, one_minus_rho, epsilon, learning_rate, momentum):
    """RMSprop (not centered) in one pass, the float operations of
    :meth:`glassnet.optimizers.RMSprop.update_step`: v = ρ·v + (1 − ρ)·(g·g);  s = √v + ε;
    with momentum b = μ·b + g/s, w −= lr·b; without (``buffer`` unused), w −= (lr·g)/s."""
    weights, gradient, mean_square, velocity = w.reshape(-1), g.reshape(-1), v.reshape(-1), buffer.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        vi = mean_square[i] * rho + one_minus_rho * (gi * gi)
        mean_square[i] = vi
        scale = np.sqrt(vi) + epsilon
        if momentum != 0:
            b = velocity[i] * momentum + gi / scale
            velocity[i] = b
            weights[i] -= learning_rate * b
        else:
            weights[i] -= (learning_rate * gi) / scale
