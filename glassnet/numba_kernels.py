"""Compiled kernels (numba), used through :func:`glassnet.accel.kernels` only.

Each kernel does exactly the float operations of the NumPy path it replaces, in one loop, so the
results are identical; each releases the GIL, so the batch-parallel helpers can run it on every thread.
"""

from __future__ import annotations

import numba
import numpy as np

NO_ROUTE = 255
"""``arg`` value of a max-pool window holding NaN: its output is NaN and it passes no gradient."""


def _jit(function):
    """Compile lazily, releasing the GIL. error_model="numpy": a float division by zero gives inf/NaN as in
    NumPy instead of raising (the check Python semantics need also keeps the compiler from vectorising a
    loop that divides: Adam 5× slower). Compiled code is cached on disk; where numba finds no writable
    cache location (it raises at decoration), the kernel is compiled in each process instead."""
    options = {"nogil": True, "boundscheck": False, "error_model": "numpy"}
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError:
        return numba.njit(cache=False, **options)(function)


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


# LSTM steps (σ/tanh, see glassnet.ops.recurrent.lstm): each a few simple loops over the (U·N) values of
# one step, rather than one loop with many arrays — the compiler vectorises a loop only when it can
# check that its arrays do not overlap, and gives up beyond a handful of them (one fused loop: 9.6 µs,
# these loops: 4.4 µs, NumPy's 4 calls: 12.7 µs, U = N = 64).
@_jit
def lstm_cell(values, gates, records, c_next):
    """From the tanh values t = [tᵢ t_f t_o c̃ cₜ₋₁ ·] of one step: the σ gates [i f o] = t/2 + 1/2,
    records [i⊙c̃, f⊙cₜ₋₁] and cₜ = i⊙c̃ + f⊙cₜ₋₁ (the NumPy path's float operations)."""
    v = values.reshape(values.shape[0], -1)
    s = gates.reshape(gates.shape[0], -1)
    r = records.reshape(records.shape[0], -1)
    c = c_next.reshape(-1)
    half = v.dtype.type(0.5)
    for k in range(3):
        source, target = v[k], s[k]
        for i in range(c.size):
            target[i] = source[i] * half + half
    for k in range(2):
        gate, value, target = s[k], v[3 + k], r[k]
        for i in range(c.size):
            target[i] = gate[i] * value[i]
    first, second = r[0], r[1]
    for i in range(c.size):
        c[i] = first[i] + second[i]


@_jit
def lstm_output_and_coefficients(values, gates, records, e):
    """After φ(cₜ) is in values[5]: hₜ = o⊙φ(cₜ) into records[2], and the backward's coefficients of the
    step, E = [f, W_c̃, W_i, W_f, W_o, B] with 2·[W_i W_f W_o] = (1 − t)⊙[i⊙c̃, f⊙cₜ₋₁, h],
    W_c̃ = i − (i⊙c̃)⊙c̃, B = o − h⊙φ(c) (the float operations of ``_lstm_coefficients``)."""
    v = values.reshape(values.shape[0], -1)
    s = gates.reshape(gates.shape[0], -1)
    r = records.reshape(records.shape[0], -1)
    out = e.reshape(e.shape[0], -1)
    one = v.dtype.type(1)
    n = v.shape[1]
    o, phi, h = s[2], v[5], r[2]
    for i in range(n):
        h[i] = o[i] * phi[i]
    f, target = s[1], out[0]
    for i in range(n):
        target[i] = f[i]
    for k in range(3):  # E[2 + k] = (1 − t_k)⊙record_k
        t, record, target = v[k], r[k], out[2 + k]
        for i in range(n):
            target[i] = (one - t[i]) * record[i]
    gate, record, value, target = s[0], r[0], v[3], out[1]
    for i in range(n):
        target[i] = gate[i] - record[i] * value[i]
    target = out[5]
    for i in range(n):
        target[i] = o[i] - h[i] * phi[i]


@_jit
def lstm_backward_step(e, da, dh, dc, dc_previous, total):
    """One backward step's element-wise part (the float operations of the NumPy path):
    ∂A_o = W_o⊙∂h;  ∂c = ∂c_next + B⊙∂h (into ``total``);  ∂cₜ₋₁ = f⊙∂c (into ``dc_previous``);
    [∂A_c̃ ∂A_i ∂A_f] = [W_c̃ W_i W_f]⊙∂c.  ``da`` = the step's rows [∂A_c̃ ∂A_i ∂A_f ∂A_o]."""
    coefficients = e.reshape(e.shape[0], -1)
    gradients = da.reshape(4, -1)
    gradient_h, gradient_c = dh.reshape(-1), dc.reshape(-1)
    carry, summed = dc_previous.reshape(-1), total.reshape(-1)
    n = gradient_h.size
    coefficient, target = coefficients[4], gradients[3]
    for i in range(n):
        target[i] = coefficient[i] * gradient_h[i]
    coefficient = coefficients[5]
    for i in range(n):
        summed[i] = gradient_c[i] + coefficient[i] * gradient_h[i]
    coefficient = coefficients[0]
    for i in range(n):
        carry[i] = coefficient[i] * summed[i]
    for k in range(3):
        coefficient, target = coefficients[1 + k], gradients[k]
        for i in range(n):
            target[i] = coefficient[i] * summed[i]
