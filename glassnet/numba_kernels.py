"""Compiled kernels (numba), used through :func:`glassnet.accel.kernels` only.

Each kernel does exactly the float operations of the NumPy path it replaces, in one loop, so the
results are identical; each releases the GIL, so the batch-parallel helpers can run it on every thread.
The LSTM's loops over time (at the end) call NumPy's own GEMM and tanh at every step; only their weight
gradient is summed in another order than on the NumPy path.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .native import NO_TRANSPOSE, ROW_MAJOR, TRANSPOSE

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


@numba.njit(inline="always")
def _nan_max(a, b):
    """np.maximum of two scalars: NaN if either is NaN."""
    return b if b > a or b != b else a


@numba.njit(inline="always")
def _adam_moments(first, second, i, gi, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2):
    """Element i of Adam's (and Nadam's) moments, stored and returned: m = β1·m + (1−β1)·g;
    v = β2·v + (1−β2)·(g·g)."""
    mi = first[i] * beta_1 + gi * one_minus_beta_1
    vi = second[i] * beta_2 + (gi * gi) * one_minus_beta_2
    first[i] = mi
    second[i] = vi
    return mi, vi


@_jit
def adam_update(w, g, m, v, v_max, amsgrad, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, eps_hat, step):
    """One Adam step in one pass (arrays contiguous, scalars of w's dtype), with the float operations
    of the NumPy path (:meth:`glassnet.optimizers.Adam.update_step`) in the same order and no fused
    multiply-adds:  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·(g·g);  (AMSGrad: v_max = max(v_max, v),
    used for v below);  w −= (m / (√v + ε̂))·step.  Without AMSGrad ``v_max`` is not touched."""
    weights, gradient, first, second, largest = w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), \
        v_max.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        mi, vi = _adam_moments(first, second, i, gi, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2)
        if amsgrad:
            vi = _nan_max(largest[i], vi)
            largest[i] = vi
        weights[i] -= (mi / (np.sqrt(vi) + eps_hat)) * step


@_jit
def nadam_update(w, g, m, v, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, root_scale, epsilon,
                 gradient_step, momentum_step):
    """Nadam in one pass, the float operations of :meth:`glassnet.optimizers.Nadam.update_step`:
    m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·(g·g);  d = √v·(1/√(1−β2ᵗ)) + ε;
    w −= (g/d)·gradient_step;  w −= (m/d)·momentum_step (two subtractions, as there)."""
    weights, gradient, first, second = w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        mi, vi = _adam_moments(first, second, i, gi, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2)
        denominator = np.sqrt(vi) * root_scale + epsilon
        wi = weights[i] - (gi / denominator) * gradient_step
        weights[i] = wi - (mi / denominator) * momentum_step


@_jit
def adamax_update(w, g, m, u, beta_1, one_minus_beta_1, beta_2, epsilon, step):
    """Adamax in one pass, the float operations of :meth:`glassnet.optimizers.Adamax.update_step`:
    m = β1·m + (1−β1)·g;  u = max(β2·u, |g| + ε);  w −= (m/u)·step."""
    weights, gradient, first, norm = w.reshape(-1), g.reshape(-1), m.reshape(-1), u.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        mi = first[i] * beta_1 + gi * one_minus_beta_1
        ui = _nan_max(norm[i] * beta_2, np.abs(gi) + epsilon)
        first[i] = mi
        norm[i] = ui
        weights[i] -= (mi / ui) * step


@_jit
def adagrad_update(w, g, accumulator, epsilon, learning_rate):
    """Adagrad in one pass, the float operations of :meth:`glassnet.optimizers.Adagrad.update_step`:
    G = G + g·g;  w −= (g/(√G + ε))·lr."""
    weights, gradient, total = w.reshape(-1), g.reshape(-1), accumulator.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        a = total[i] + gi * gi
        total[i] = a
        weights[i] -= (gi / (np.sqrt(a) + epsilon)) * learning_rate


@_jit
def adadelta_update(w, g, mean_g2, mean_d2, rho, one_minus_rho, epsilon, learning_rate):
    """Adadelta in one pass, the float operations of :meth:`glassnet.optimizers.Adadelta.update_step`:
    E[g²] = ρ·E[g²] + (g·g)·(1−ρ);  Δ = (√(E[Δ²] + ε)/√(E[g²] + ε))·g;  E[Δ²] = ρ·E[Δ²] + (Δ·Δ)·(1−ρ);
    w −= Δ·lr."""
    weights, gradient, squares, deltas = w.reshape(-1), g.reshape(-1), mean_g2.reshape(-1), mean_d2.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        s = squares[i] * rho + (gi * gi) * one_minus_rho
        squares[i] = s
        delta = (np.sqrt(deltas[i] + epsilon) / np.sqrt(s + epsilon)) * gi
        deltas[i] = deltas[i] * rho + (delta * delta) * one_minus_rho
        weights[i] -= delta * learning_rate


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
def rmsprop_update(w, g, v, average, buffer, centered, rho, one_minus_rho, epsilon, learning_rate, momentum):
    """RMSprop in one pass, the float operations of :meth:`glassnet.optimizers.RMSprop.update_step`:
    v = ρ·v + (1 − ρ)·(g·g);  s = √v + ε, or centered: ḡ = ρ·ḡ + (1 − ρ)·g, s = √(v − ḡ·ḡ) + ε;
    with momentum b = μ·b + g/s, w −= lr·b; without, w −= (lr·g)/s. Unused arrays (``average`` when not
    centered, ``buffer`` without momentum) are not touched."""
    weights, gradient, mean_square, velocity = w.reshape(-1), g.reshape(-1), v.reshape(-1), buffer.reshape(-1)
    mean = average.reshape(-1)
    for i in range(weights.size):
        gi = gradient[i]
        vi = mean_square[i] * rho + one_minus_rho * (gi * gi)
        mean_square[i] = vi
        if centered:
            ai = mean[i] * rho + one_minus_rho * gi
            mean[i] = ai
            scale = np.sqrt(vi - ai * ai) + epsilon
        else:
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


# ---------------------------------------------------------------- calls into NumPy's own C functions
# The loops over time below call, at every step, the GEMM and the tanh NumPy would run (addresses from
# glassnet.native, passed as integers so that the compiled code can be cached on disk).
@intrinsic
def _call_gemm(typingctx, address, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """cblas_?gemm(RowMajor, NoTrans, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) at
    ``address`` (ILP64: 64-bit integers); ``alpha`` and ``beta`` (float32 or float64) select the precision."""
    if not isinstance(alpha, types.Float) or beta != alpha:
        return None
    signature = types.void(address, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, sig, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        pointer, real = ir.IntType(8).as_pointer(), context.get_value_type(sig.args[5])

        def integer(index, bits=i64):
            value = context.cast(builder, args[index], sig.args[index], types.int64)
            return value if bits is i64 else builder.trunc(value, bits)

        def address_of(index):
            return builder.inttoptr(integer(index), pointer)

        function_type = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, pointer, i64,
                                                        pointer, i64, real, pointer, i64])
        function = builder.inttoptr(integer(0), function_type.as_pointer())
        builder.call(function, [ir.Constant(i32, ROW_MAJOR), ir.Constant(i32, NO_TRANSPOSE), integer(1, i32),
                                integer(2), integer(3), integer(4), args[5], address_of(6), integer(7),
                                address_of(8), integer(9), args[10], address_of(11), integer(12)])
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def _call_unary_loop(typingctx, address, data, source, target, n, step):
    """A NumPy ufunc inner loop ``void f(char **args, npy_intp *dimensions, npy_intp *steps, void *data)``
    at ``address`` over n elements: args = {source, target}, steps = {step, step}."""
    signature = types.void(address, data, source, target, n, step)

    def codegen(context, builder, sig, args):
        i64, pointer = ir.IntType(64), ir.IntType(8).as_pointer()
        address_, data_, source_, target_, n_, step_ = [
            context.cast(builder, value, kind, types.int64) for value, kind in zip(args, sig.args)]
        arrays = cgutils.alloca_once(builder, i64, size=2)
        dimensions = cgutils.alloca_once(builder, i64, size=1)
        steps = cgutils.alloca_once(builder, i64, size=2)
        for base, values in ((arrays, (source_, target_)), (dimensions, (n_,)), (steps, (step_, step_))):
            for index, value in enumerate(values):
                builder.store(value, builder.gep(base, [ir.Constant(i64, index)]))
        function_type = ir.FunctionType(ir.VoidType(), [pointer] * 4)
        function = builder.inttoptr(address_, function_type.as_pointer())
        builder.call(function, [builder.bitcast(arrays, pointer), builder.bitcast(dimensions, pointer),
                                builder.bitcast(steps, pointer), builder.inttoptr(data_, pointer)])
        return context.get_dummy_value()

    return signature, codegen


@_jit
def _matmul(gemm, a, b, c):
    """c = a·b for 2-D arrays whose rows are contiguous (as ``np.matmul(a, b, out=c)`` on NumPy's OpenBLAS)."""
    size, one, zero = a.itemsize, a.dtype.type(1), a.dtype.type(0)
    _call_gemm(gemm, NO_TRANSPOSE, a.shape[0], b.shape[1], a.shape[1], one, a.ctypes.data, a.strides[0] // size,
               b.ctypes.data, b.strides[0] // size, zero, c.ctypes.data, c.strides[0] // size)


@_jit
def _add_outer(gemm, a, b, c):
    """c += a·bᵀ for 2-D arrays whose rows are contiguous."""
    size, one = a.itemsize, a.dtype.type(1)
    _call_gemm(gemm, TRANSPOSE, a.shape[0], b.shape[0], a.shape[1], one, a.ctypes.data, a.strides[0] // size,
               b.ctypes.data, b.strides[0] // size, one, c.ctypes.data, c.strides[0] // size)


@_jit
def _tanh(tanh, tanh_data, x, out):
    """out = tanh(x) by NumPy's own loop, for contiguous arrays of the same size."""
    _call_unary_loop(tanh, tanh_data, x.ctypes.data, out.ctypes.data, x.size, x.itemsize)


@_jit
def _keep_masked_states(skip, c_previous, c, h_previous, h):
    """Padding keeps the previous state: in the columns (samples) n with skip[n], cₜ ← cₜ₋₁ and hₜ ← hₜ₋₁."""
    units, samples = c.shape
    for j in range(units):
        for n in range(samples):
            if skip[n]:
                c[j, n] = c_previous[j, n]
                h[j, n] = h_previous[j, n]


@_jit
def _pass_masked_gradients(skip, da, dc, dc_previous):
    """Padding passes ∂c straight through and its gates get no gradient: in the columns n with skip[n],
    ∂A = 0 and ∂cₜ₋₁ = ∂c (the NumPy path multiplies by the 0/1 mask instead: the same values for finite
    gradients)."""
    rows, samples = da.shape
    for n in range(samples):
        if skip[n]:
            for j in range(rows):
                da[j, n] = 0
            for j in range(dc.shape[0]):
                dc_previous[j, n] = dc[j, n]


@_jit
def _copy_columns(skip, source, target):
    """target[:, n] = source[:, n] in the columns (samples) n with skip[n]: a padded step passes a state
    (forward) or its gradient (backward) straight through."""
    units, samples = source.shape
    for j in range(units):
        for n in range(samples):
            if skip[n]:
                target[j, n] = source[j, n]


@_jit
def _drop_state(h, rmask, out):
    """Recurrent dropout of a step's state: h̃ = h⊙rmask into ``out`` (all (U, N))."""
    units, samples = h.shape
    for j in range(units):
        for n in range(samples):
            out[j, n] = h[j, n] * rmask[j, n]


@_jit
def lstm_forward_loop(gemm, tanh, tanh_data, WT, records, XH, rmask, values, gates, E, training, skip):
    """The LSTM's forward loop over all steps in one call (σ/tanh; see glassnet.ops.recurrent.lstm): per
    step t the GEMM [Ū; W; b]ᵀ·[h̃ₜ₋₁; xₜ; 1] into the ring buffer ``values[t % 2]``, tanh,
    :func:`lstm_cell`, tanh(cₜ), then hₜ (and, when ``training``, the step's E).
    ``records`` (T+1, 2U+K, N) = per step [i⊙c̃, f⊙cₜ₋₁, hₜ₋₁, xₜ, 1]; K = U+F+1 rows from hₜ₋₁ on.
    ``XH`` (T+1, K, N): the GEMM's inputs [h̃ₜ₋₁; xₜ; 1] — the records' own rows, or with recurrent dropout
    (``rmask`` (U, N); no rows without) a copy whose h̃ₜ = hₜ⊙rmask is written here after each step.
    ``skip`` (T, N) bool, or no rows without a mask: padded steps keep the previous cₜ and hₜ (their E is
    never used: the backward loop gives them no gate gradient)."""
    steps, u = records.shape[0] - 1, values.shape[2]
    masked = skip.shape[0] == steps
    dropped = rmask.shape[0] > 0
    for t in range(steps):
        v, v_next = values[t % 2], values[1 - t % 2]
        pre = v[0:4]
        _matmul(gemm, WT, XH[t], pre.reshape(4 * u, pre.shape[2]))
        _tanh(tanh, tanh_data, pre, pre)
        record = records[t + 1, :3 * u].reshape(3, u, v.shape[2])
        lstm_cell(v, gates, record, v_next[4])
        _tanh(tanh, tanh_data, v_next[4], v[5])
        if training:
            lstm_output_and_coefficients(v, gates, record, E[t])
        else:
            o, phi, h = gates[2].reshape(-1), v[5].reshape(-1), record[2].reshape(-1)
            for i in range(h.size):
                h[i] = o[i] * phi[i]
        if masked:
            _keep_masked_states(skip[t], v[4], v_next[4], records[t, 2 * u:3 * u], record[2])
        if dropped:
            _drop_state(record[2], rmask, XH[t + 1, :u])


@_jit
def lstm_backward_loop(gemm, E, DA, M, GH, dh, dh_next, dc, dc_next, total, XH, rmask, G, skip):
    """The LSTM's backward loop over all steps in one call: per step t (from the last) ∂h += GH[t] (when
    GH has steps), :func:`lstm_backward_step` into DA[t], ∂hₜ₋₁ = M·∂A (M = the recurrent kernel in the
    backward block order, scaled; times ``rmask`` with recurrent dropout) and, when G has rows,
    G += ∂A·XH[t]ᵀ while ∂A is in cache (XH: the forward's GEMM inputs, see :func:`lstm_forward_loop`).
    ``dh``/``dh_next`` and ``dc``/``dc_next`` are two buffers each; returns the (∂h₀, ∂c₀) buffers. With
    ``skip`` rows (the forward's mask), padded steps pass ∂h and ∂c straight through to the previous step."""
    steps = E.shape[0]
    masked = skip.shape[0] == steps
    dropped = rmask.shape[0] > 0
    for t in range(steps - 1, -1, -1):
        if GH.shape[0] == steps:
            incoming, target = GH[t].reshape(-1), dh.reshape(-1)
            for i in range(target.size):
                target[i] += incoming[i]
        lstm_backward_step(E[t], DA[t], dh, dc, dc_next, total)
        if masked:
            _pass_masked_gradients(skip[t], DA[t], dc, dc_next)
        _matmul(gemm, M, DA[t], dh_next)
        if dropped:
            for j in range(rmask.shape[0]):
                for n in range(rmask.shape[1]):
                    dh_next[j, n] *= rmask[j, n]
        if masked:
            _copy_columns(skip[t], dh, dh_next)
        if G.shape[0] > 0:
            _add_outer(gemm, DA[t], XH[t], G)
        dc, dc_next = dc_next, dc
        dh, dh_next = dh_next, dh
    return dh, dc


@_jit
def _sigmoid_in_place(tanh, tanh_data, a):
    """σ(a) = (1 + tanh(a/2))/2 in place: a·½, NumPy's tanh, ·½, +½ (the float operations of
    ``glassnet.ops.recurrent._sigmoid_``); ``a`` contiguous."""
    rows, samples = a.shape
    half = a.dtype.type(0.5)
    for j in range(rows):
        for n in range(samples):
            a[j, n] = a[j, n] * half
    _tanh(tanh, tanh_data, a, a)
    for j in range(rows):
        for n in range(samples):
            a[j, n] = a[j, n] * half + half


@_jit
def gru_forward_loop(gemm, tanh, tanh_data, UT, b_rec, Gates, REC, H, HD, rmask, skip):
    """The GRU's forward loop (σ/tanh, reset_after; see glassnet.ops.recurrent.gru) in one call, the NumPy
    path's float operations: per step t, REC[t] = Ūᵀ·h̃ₜ₋₁ (+ b̄ when ``b_rec`` has rows), the σ gates
    [z r] = σ(Gates[t, :2U] + REC[t, :2U]), h̃ = tanh(Gates[t, 2U:] + r⊙REC[t, 2U:]) (Gates holds the
    activations afterwards), hₜ = (hₜ₋₁ − h̃)⊙z + h̃ into H[t+1]; padded steps (``skip`` rows) keep hₜ₋₁;
    with recurrent dropout (``rmask`` rows) HD[t+1] = hₜ⊙rmask (else HD is H)."""
    steps, u = Gates.shape[0], H.shape[1]
    masked, dropped, biased = skip.shape[0] == steps, rmask.shape[0] > 0, b_rec.shape[0] > 0
    samples = H.shape[2]
    for t in range(steps):
        a, rec, previous, h = Gates[t], REC[t], H[t], H[t + 1]
        _matmul(gemm, UT, HD[t], rec)
        if biased:
            for j in range(3 * u):
                for n in range(samples):
                    rec[j, n] += b_rec[j]
        for j in range(2 * u):
            for n in range(samples):
                a[j, n] += rec[j, n]
        _sigmoid_in_place(tanh, tanh_data, a[:2 * u])
        for j in range(u):
            for n in range(samples):
                a[2 * u + j, n] += a[u + j, n] * rec[2 * u + j, n]
        _tanh(tanh, tanh_data, a[2 * u:], a[2 * u:])
        for j in range(u):
            for n in range(samples):
                candidate = a[2 * u + j, n]
                h[j, n] = (previous[j, n] - candidate) * a[j, n] + candidate
        if masked:
            _copy_columns(skip[t], previous, h)
        if dropped:
            _drop_state(h, rmask, HD[t + 1])


@_jit
def gru_backward_loop(gemm, Gates, REC, H, U, GH, dh, dh_next, DA, DR, rmask, keep, skip):
    """The GRU's backward loop (σ/tanh, reset_after) in one call, the float operations of the NumPy path
    in ``glassnet.ops.recurrent.gru``: per step t (from the last) ∂h += GH[t] (when GH has steps),
    ∂ĥ = ∂h·keep (the 0/1 mask as floats, when masked), ∂h̃ = ((1 − z)·∂ĥ)·(1 − h̃·h̃), ∂z = (hₜ₋₁ − h̃)·∂ĥ,
    ∂r = ∂h̃·REC[t, 2U:], [∂z ∂r] ·= [z r]·(1 − [z r]) into DA[t]; DR[t] = [∂z, ∂r, ∂h̃·r];
    ∂hₜ₋₁ = U·DR[t] (·rmask) + ∂ĥ·z (+ ∂h·skip). ``dh``/``dh_next`` are two buffers; returns ∂h₀'s."""
    steps, u = Gates.shape[0], H.shape[1]
    masked, dropped = keep.shape[0] == steps, rmask.shape[0] > 0
    samples = H.shape[2]
    one = Gates.dtype.type(1)
    scaled = np.empty((u, samples), dtype=Gates.dtype)
    for t in range(steps - 1, -1, -1):
        if GH.shape[0] == steps:
            incoming = GH[t]
            for j in range(u):
                for n in range(samples):
                    dh[j, n] += incoming[j, n]
        g, d, r_grad, rec, previous = Gates[t], DA[t], DR[t], REC[t], H[t]
        for j in range(u):
            for n in range(samples):
                dhn = dh[j, n] * keep[t, n] if masked else dh[j, n]
                scaled[j, n] = dhn
                z, r, candidate = g[j, n], g[u + j, n], g[2 * u + j, n]
                d_candidate = ((one - z) * dhn) * (one - candidate * candidate)
                d[2 * u + j, n] = d_candidate
                d_z = (previous[j, n] - candidate) * dhn
                d_r = d_candidate * rec[2 * u + j, n]
                d_z = d_z * (z * (one - z))
                d_r = d_r * (r * (one - r))
                d[j, n] = d_z
                d[u + j, n] = d_r
                r_grad[j, n] = d_z
                r_grad[u + j, n] = d_r
                r_grad[2 * u + j, n] = d_candidate * r
        _matmul(gemm, U, r_grad, dh_next)
        for j in range(u):
            for n in range(samples):
                value = dh_next[j, n]
                if dropped:
                    value = value * rmask[j, n]
                value = value + scaled[j, n] * g[j, n]
                if masked:
                    value = value + dh[j, n] * skip[t, n]
                dh_next[j, n] = value
        dh, dh_next = dh_next, dh
    return dh
