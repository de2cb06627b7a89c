"""Convolution and pooling primitives (channels-last, 1-D/2-D/3-D), each with a hand-written backward.

Layout: inputs ``(N, *spatial, C)``; conv kernels ``(*k, C/groups, F)`` (Keras); transposed-conv
kernels ``(*k, F, C)``; depthwise kernels ``(*k, C, depth_multiplier)``.

Convolution (cross-correlation, as every framework computes it), for one spatial axis::

    y[n, o, f] = b[f] + Σ_{i, c} x_pad[n, o·s + i·d, c] · W[i, c, f]

is computed as **im2col + one GEMM**: the windows of the padded input are copied into a matrix
``A`` of shape (N·out, k·C) (row = one output position, column = one (kernel offset, channel)),
then ``Y = A @ W.reshape(k·C, F)``. The backward pass reuses ``A``::

    ∂L/∂W = Aᵀ G            ∂L/∂b = Σ G            ∂L/∂x = col2im(G Wᵀ)

``col2im`` adds each kernel offset's slab back into the padded input: a loop over the kh·kw
offsets only (each iteration one vectorised strided add over the whole batch), never over pixels.
A transposed convolution is exactly that input-gradient map, so it reuses col2im for its forward
and im2col for its backward. Pooling loops over the pool offsets the same way.

Measurements that chose the code paths (2-core Xeon VM shared with other jobs, OpenBLAS, float32,
batch 64, 3×3 kernels, best of 15–40 interleaved runs, 1 BLAS thread; ms; ±30 % run to run):

=======================  =====================  ==================  =====================================
shape (H×W×C → F)        forward: im2col+GEMM   per-offset GEMMs    ∂x: per-offset GEMMs + contiguous adds
                         (of which the copy)    (Σ_ij x_ij @ W_ij)  / one GEMM + strided adds
                                                                    / one GEMM (Πk·C, M) + C-first adds
=======================  =====================  ==================  =====================================
28×28×1 → 32             2.4 (1.3)              70                  —  (first layer: no ∂x needed)
13×13×32 → 64            8.0 (1.4)              8.0                 7.8 / 10.5 / 8.7
32×32×3 → 32             5.2 (2.2)              23                  16.7 / 20.3 / 7.5
16×16×64 → 64 (N=32)     —                      —                   11.6 / 15.6 / 13.1
=======================  =====================  ==================  =====================================

* forward: im2col + one GEMM always wins (per-offset GEMMs have K = C, far too thin for BLAS);
* building ``A``: for C = 1 an offset-major copy (``A`` stored transposed, (Πk, N·out), filled by
  kh·kw contiguous slab copies) is 2.5–5× faster than the as_strided window copy (0.3 vs 1.7 ms at
  28×28×1); for C ≥ 3 the as_strided copy is faster (1.5 vs 7.5 ms at 13×13×32). BLAS takes either
  layout without a copy, so C = 1 uses the first and C > 1 the second;
* ∂x: per-offset GEMMs (one batched ``matmul``, each result contiguous, then contiguous adds) for
  C ≥ 16; for C < 16 those GEMMs have only C output columns, so one GEMM ``W · Gᵀ`` scattered into a
  channels-first buffer is used instead (2.2× faster at C = 3);
* bias fused into the GEMMs: ``A`` gets a column of ones, so ``[A 1] @ [W; b]`` adds the bias and
  ``[A 1]ᵀ G`` gives ``[∂W; ∂b]`` (saves a pass over the output each way: conv 13×13×32 → 64
  forward + backward 17.2 → 13.9 ms); the bias of the other ops is summed with a GEMV
  (``1ᵀ G``, 0.5 ms vs 1.5 ms for ``G.sum(0)`` on 43 264 × 32).
* pooling: a running ``np.maximum``/sum over the pool offsets (2.2 ms for 64×26×26×32, vs 6–8 ms for
  a reshape + ``max(axis=(2, 4))``).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import accel
from ..errors import ShapeError
from ..tensor import Tensor, make_result
from .elementwise import as_float_tensor, coerce_pair
from .nonlinear import relu_array, relu_gradient_array
from .parallel import in_parts

PADDING_MODES = ("valid", "same", "causal")


# ============================================================== shape arithmetic (shared with layers)
def normalize_tuple(value, rank: int, name: str, allow_zero: bool = False) -> tuple:
    """An int or a sequence of ``rank`` positive ints as a tuple (``kernel_size=3`` → ``(3, 3)``)."""
    if isinstance(value, (int, np.integer)):
        result = (int(value),) * rank
    else:
        try:
            result = tuple(int(v) for v in value)
        except TypeError:
            raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {value!r}.") from None
        if len(result) != rank:
            raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {value!r}.")
    if any(v < 0 or (v == 0 and not allow_zero) for v in result):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {value!r}.")
    return result


def normalize_padding(padding, rank: int = 2, allow_causal: bool = False):
    """``'valid'``/``'same'``(/``'causal'`` for 1-D conv), or explicit ``(before, after)`` per spatial axis."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in PADDING_MODES or (mode == "causal" and not allow_causal):
            valid = "'valid', 'same'" + (" or 'causal'" if allow_causal else "")
            raise ValueError(f"padding must be {valid}, got {padding!r}.")
        return mode
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * rank
    pairs = []
    for p in padding:
        pairs.append((int(p), int(p)) if isinstance(p, (int, np.integer)) else tuple(int(v) for v in p))
    if len(pairs) != rank or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"padding must be 'valid', 'same', an int, or {rank} non-negative (before, after) "
                         f"pairs, got {padding!r}.")
    return tuple(pairs)


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``(k − 1)·d + 1``."""
    return (kernel - 1) * dilation + 1


def padding_amounts(length: int, kernel: int, stride: int, padding, dilation: int = 1) -> tuple:
    """(before, after) zeros for one axis. 'same' follows TensorFlow/Keras: output ``ceil(n/s)``,
    total ``max((out − 1)·s + k_eff − n, 0)``, the extra one (if odd) after (bottom/right)."""
    k = effective_kernel(kernel, dilation)
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        out = -(-length // stride)
        total = max((out - 1) * stride + k - length, 0)
        return (total // 2, total - total // 2)
    if padding == "causal":
        return (k - 1, 0)
    return tuple(padding)


def conv_output_length(length, kernel: int, stride: int = 1, padding="valid", dilation: int = 1):
    """Output length of a convolution or pooling along one axis (None stays None).

    valid: ``⌊(n − k_eff)/s⌋ + 1``;  same/causal: ``⌈n/s⌉``;  explicit: ``⌊(n + lo + hi − k_eff)/s⌋ + 1``.
    May be ≤ 0 when the window does not fit (callers raise).
    """
    if length is None:
        return None
    lo, hi = padding_amounts(length, kernel, stride, padding, dilation)
    return (length + lo + hi - effective_kernel(kernel, dilation)) // stride + 1


def conv_transpose_output_length(length, kernel: int, stride: int = 1, padding="valid", output_padding=None,
                                 dilation: int = 1):
    """Output length of a transposed convolution (Keras rule).

    Without ``output_padding``: valid ``n·s + max(k_eff − s, 0)``, same ``n·s``; with it:
    ``(n − 1)·s + k_eff − 2·pad + output_padding`` where pad is ``k_eff // 2`` for 'same', else 0.
    """
    if length is None:
        return None
    k = effective_kernel(kernel, dilation)
    if output_padding is None:
        return length * stride + max(k - stride, 0) if padding == "valid" else length * stride
    pad = k // 2 if padding == "same" else 0
    return (length - 1) * stride + k - 2 * pad + output_padding


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _check_input(what: str, x: np.ndarray, rank: int, channels=None) -> None:
    if x.ndim != rank + 2:
        layout = "(batch, " + ", ".join(["steps"] if rank == 1 else ["height", "width"] if rank == 2
                                        else ["d1", "d2", "d3"][:rank]) + ", channels)"
        raise ShapeError(f"{what} expects an input of rank {rank + 2} {layout}, got shape {_shape_str(x.shape)}.")
    if channels is not None and x.shape[-1] != channels:
        raise ShapeError(f"{what}: input has {x.shape[-1]} channels (shape {_shape_str(x.shape)}) but the kernel "
                         f"expects {channels}.")


def _geometry(what, x_shape, window, strides, padding, dilation):
    """Per-axis padding and output sizes; a ShapeError when the window is larger than the padded input."""
    spatial = x_shape[1:-1]
    if isinstance(padding, tuple):  # explicit (before, after) per axis
        pads = padding
    else:
        pads = tuple(padding_amounts(n, k, s, padding, d) for n, k, s, d in zip(spatial, window, strides, dilation))
    out = tuple((n + lo + hi - effective_kernel(k, d)) // s + 1
                for n, (lo, hi), k, s, d in zip(spatial, pads, window, strides, dilation))
    if any(o <= 0 for o in out):
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
        span = tuple(effective_kernel(k, d) for k, d in zip(window, dilation))
        raise ShapeError(f"{what}: the window {span} is larger than the (padded) input {padded}; input shape "
                         f"{_shape_str(x_shape)}, padding {padding!r}. Use padding='same' or a smaller "
                         f"kernel/pool size.")
    return pads, out


def _pad(X: np.ndarray, pads, value=0.0) -> np.ndarray:
    """Pad the spatial axes of ``X`` (N, *spatial, C) with ``value`` (no copy when nothing to pad)."""
    if not any(lo or hi for lo, hi in pads):
        return X
    shape = (X.shape[0],) + tuple(n + lo + hi for n, (lo, hi) in zip(X.shape[1:-1], pads)) + (X.shape[-1],)
    out = np.full(shape, value, dtype=X.dtype) if value else np.zeros(shape, dtype=X.dtype)
    out[_interior(X.shape, pads)] = X
    return out


def _interior(shape, pads) -> tuple:
    return (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape[1:-1], pads)) + (slice(None),)


def _offset_slices(offset, strides, dilation, out) -> tuple:
    """Index of the padded-input slab that kernel offset ``offset`` touches, for all outputs at once:
    along each axis ``o·s + i·d`` for o = 0..out−1."""
    return (slice(None),) + tuple(slice(i * d, i * d + s * (n - 1) + 1, s)
                                  for i, s, d, n in zip(offset, strides, dilation, out))


def _offsets(window) -> list:
    return list(itertools.product(*(range(k) for k in window)))


# ============================================================== batch-parallel kernels
PARALLEL_MIN_ELEMENTS = 1 << 16   # below this many elements per thread, a thread costs more than it saves


def _parallel(fn, n: int, elements: int) -> None:
    """``fn(lo, hi)`` over the index range [0, n) (images, rows or columns), cut into one contiguous range
    per thread (:func:`glassnet.backend.num_threads`); NumPy releases the GIL inside its loops, copies
    and BLAS calls. Each element sees the same operations as in one call, so the result is bit-for-bit
    the same.

    Meanwhile OpenBLAS runs on one thread (:data:`glassnet.blas.SINGLE_THREADED_BLAS`): each of our
    threads does its own images' im2col, GEMM, ReLU and col2im, so the copies and element-wise passes
    that a threaded BLAS leaves on one core are shared too (CNN benchmark: 2,700 instead of 2,260
    samples/s on 2 cores). Splitting while OpenBLAS is threaded itself was slower: its workers and ours
    compete for the same cores.
    """
    in_parts(fn, n, elements // PARALLEL_MIN_ELEMENTS)


# ============================================================== im2col / col2im
def _im2col_buffer(n: int, c: int, window, out, extra: int, dtype):
    """Storage for A (N·Πout, Πk·C [+ 1]) and the 2-D matrix view of it.

    C == 1: a (Πk [+ 1], N, *out) buffer filled offset by offset, seen transposed (BLAS takes the
    transposed layout for free); C > 1: A itself, filled through an as_strided window view (see the
    module docstring). The optional last column of ones fuses the bias into the GEMMs.
    """
    kk, rows = math.prod(window), n * math.prod(out)
    if c == 1:
        cols = np.empty((kk + extra, n) + tuple(out), dtype=dtype)
        return cols, cols.reshape(kk + extra, rows).T
    A = np.empty((rows, kk * c + extra), dtype=dtype)
    return A, A


def _im2col_fill(xp: np.ndarray, buffer: np.ndarray, window, strides, dilation, out, extra: int, lo: int, hi: int):
    """Copy the windows of images lo..hi−1 of the padded input into their rows of A."""
    c, kk = xp.shape[-1], math.prod(window)
    if c == 1:
        for index, offset in enumerate(_offsets(window)):
            buffer[index, lo:hi] = xp[lo:hi][_offset_slices(offset, strides, dilation, out)][..., 0]
        if extra:
            buffer[kk, lo:hi] = 1
        return
    per = math.prod(out)
    A = buffer[lo * per:hi * per]
    if extra:
        A[:, -1] = 1
    st, item, row = xp.strides, A.itemsize, A.strides[0]
    shape = (hi - lo,) + tuple(out) + tuple(window) + (c,)
    view = as_strided(xp[lo:hi], shape, (st[0],) + tuple(a * s for a, s in zip(st[1:-1], strides))
                      + tuple(a * d for a, d in zip(st[1:-1], dilation)) + (st[-1],), writeable=False)
    # A[:, :Πk·C] seen with the window view's shape: rows split into (N, *out), columns into (*k, C)
    row_strides = [row * math.prod(out[i + 1:]) for i in range(len(out))]
    col_strides = [item * math.prod(window[i + 1:]) * c for i in range(len(window))]
    np.copyto(as_strided(A, shape, (row * per,) + tuple(row_strides) + tuple(col_strides) + (item,)), view)


def _im2col(xp: np.ndarray, window, strides, dilation, out, ones_column: bool = False) -> np.ndarray:
    """Matrix A (N·Πout, Πk·C) of the windows, columns ordered (kernel offset, channel) like the kernel
    (``ones_column=True`` appends a column of ones: ``A @ [W; b]`` adds the bias, ``Aᵀ G`` = [∂W; ∂b])."""
    n, extra = xp.shape[0], int(ones_column)
    buffer, A = _im2col_buffer(n, xp.shape[-1], window, out, extra, xp.dtype)
    _parallel(lambda lo, hi: _im2col_fill(xp, buffer, window, strides, dilation, out, extra, lo, hi), n, A.size)
    return A


def _gemm_col2im_fill(g2: np.ndarray, kernel3: np.ndarray, result: np.ndarray, window, strides, dilation, out):
    """``result`` (images lo..hi−1, *padded, C) = col2im of the products ``g2 @ kernel3[o]ᵀ`` (g2: their rows).

    C ≥ 16: one batched matmul giving each offset's (rows, C) block contiguously, then channels-last
    adds. C < 16: those per-offset GEMMs would have only C output columns (BLAS is slow on them), so
    one GEMM ``kernel3 · g2ᵀ`` (Πk·C, rows) is scattered into a channels-first buffer instead
    (2.2× faster for C = 3, F = 32 at 32×32; see the module docstring).
    """
    kk, channels, filters = kernel3.shape
    slabs = [_offset_slices(offset, strides, dilation, out) for offset in _offsets(window)]
    block = (result.shape[0],) + tuple(out)
    if channels >= 16:
        parts = np.matmul(g2, kernel3.transpose(0, 2, 1))
        result[...] = 0
        for index, slab in enumerate(slabs):
            result[slab] += parts[index].reshape(block + (channels,))
        return
    products = (kernel3.reshape(kk * channels, filters) @ g2.T).reshape((kk, channels) + block)
    first = np.zeros((channels,) + result.shape[:-1], dtype=products.dtype)
    for index, slab in enumerate(slabs):
        first[(slice(None),) + slab] += products[index]
    result[...] = np.moveaxis(first, 0, -1)


def _gemm_col2im(g2: np.ndarray, kernel3: np.ndarray, padded_shape, window, strides, dilation, out) -> np.ndarray:
    """col2im of ``g2 @ kernel3[o]ᵀ``: g2 (N·Πout, F), kernel3 (Πk, C, F) → (N, *padded, C), split by images."""
    result = np.empty(padded_shape, dtype=np.result_type(g2, kernel3))
    per = math.prod(out)
    _parallel(lambda lo, hi: _gemm_col2im_fill(g2[lo * per:hi * per], kernel3, result[lo:hi], window, strides,
                                               dilation, out), padded_shape[0], g2.size + result.size)
    return result


def _sum_rows(g2: np.ndarray) -> np.ndarray:
    """Σ over rows as a matrix-vector product (≈3× faster than ``sum(axis=0)`` for tall matrices)."""
    return np.ones(g2.shape[0], dtype=g2.dtype) @ g2


# ============================================================== convolution
def conv(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups: int = 1,
         activation: str | None = None) -> Tensor:
    """N-d convolution (cross-correlation), channels-last: x (N, *spatial, C), kernel (*k, C/groups, F).

    ``y[n, p, f] = b[f] + Σ_{i, c} x_pad[n, p·s + i·d, g(f)·C_g + c] · W[i, c, f]`` where ``g(f)`` is the
    group of filter f (filters and channels are split into ``groups`` equal consecutive blocks).
    ``padding``: 'valid', 'same' (TF rule, see :func:`padding_amounts`), 'causal' (1-D) or explicit pairs.
    Backward: ∂W = Aᵀ G, ∂b = Σ G, ∂x = col2im(G Wᵀ) (see the module docstring).

    ``activation='relu'`` fuses ``a = max(z, 0)`` into the same node, computed in place on the GEMM
    output; its backward masks once, ``∂L/∂z = g ⊙ 1[a > 0]``, before the products above. Like the
    fused :func:`~glassnet.ops.linalg.dense`, the node is then named ``'relu'`` (tools that look at the
    op producing a layer's output, e.g. the dead-ReLU monitor, see the activation).
    """
    if activation not in (None, "relu"):
        raise ValueError(f"conv: activation must be None or 'relu', got {activation!r}.")
    x, kernel = coerce_pair(x, kernel)
    if bias is not None:
        bias = coerce_pair(x, bias)[1]
    X, K = x.data, kernel.data
    rank = K.ndim - 2
    if rank < 1:
        raise ShapeError(f"conv: the kernel must have rank ≥ 3 (*kernel_size, in_channels, filters), got shape "
                         f"{_shape_str(K.shape)}.")
    groups = int(groups)
    window, c_group, filters = K.shape[:rank], K.shape[-2], K.shape[-1]
    _check_input(f"conv{rank}d", X, rank, c_group * groups)
    if filters % groups:
        raise ShapeError(f"conv: {filters} filters cannot be split into {groups} groups.")
    strides = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding = normalize_padding(padding, rank, allow_causal=rank == 1)
    pads, out = _geometry(f"conv{rank}d", X.shape, window, strides, padding, dilation)
    Xp = _pad(X, pads)
    n, kk = X.shape[0], math.prod(window)
    rows = n * math.prod(out)
    fused = groups == 1 and bias is not None
    relu = activation == "relu"
    per = math.prod(out)
    if groups == 1:
        extra = int(fused)
        buffer, A = _im2col_buffer(n, c_group, window, out, extra, Xp.dtype)  # (M, Πk·C [+ 1])
        W2 = K.reshape(kk * c_group, filters)
        if fused:
            W2 = np.concatenate([W2, bias.data[None].astype(W2.dtype, copy=False)])
        Y = np.empty((rows, filters), dtype=np.result_type(A, W2))

        def forward(lo, hi):  # images lo..hi−1: their windows, their rows of the GEMM, ReLU in place
            _im2col_fill(Xp, buffer, window, strides, dilation, out, extra, lo, hi)
            block = Y[lo * per:hi * per]
            np.matmul(A[lo * per:hi * per], W2, out=block)
            if relu:
                relu_array(block, out=block)

        _parallel(forward, n, A.size + Y.size)
    else:
        fg = filters // groups
        st = Xp.strides
        view = as_strided(Xp, (n,) + tuple(out) + tuple(window) + (groups, c_group),
                          (st[0],) + tuple(a * s for a, s in zip(st[1:-1], strides))
                          + tuple(a * d for a, d in zip(st[1:-1], dilation)) + (st[-1] * c_group, st[-1]),
                          writeable=False)
        order = (rank * 2 + 1,) + tuple(range(rank * 2 + 1)) + (rank * 2 + 2,)
        A = view.transpose(order).reshape(groups, rows, kk * c_group)  # (G, M, Πk·C_g)
        Wg = K.reshape(kk, c_group, groups, fg).transpose(2, 0, 1, 3).reshape(groups, kk * c_group, fg)
        Y = np.matmul(A, Wg).transpose(1, 0, 2).reshape(rows, filters)
    if bias is not None and not fused:
        Y += bias.data
    if relu and groups != 1:
        _parallel(lambda lo, hi: relu_array(Y[lo:hi], out=Y[lo:hi]), len(Y), Y.size)
    Y = Y.reshape((n,) + tuple(out) + (filters,))
    parents = (x, kernel) if bias is None else (x, kernel, bias)

    def backward(g):
        g2 = g.reshape(rows, filters)
        gx = gk = gb = None
        if groups == 1:
            Y2 = Y.reshape(rows, filters)
            masked = np.empty(g2.shape, dtype=g2.dtype) if relu else g2
            gxp = np.empty(Xp.shape, dtype=np.result_type(g2, K)) if x.requires_grad else None
            K3 = K.reshape(kk, c_group, filters)

            def input_gradient(lo, hi):  # images lo..hi−1: ReLU mask, then ∂x = col2im(G Wᵀ)
                r = slice(lo * per, hi * per)
                if relu:
                    relu_gradient_array(g2[r], Y2[r], out=masked[r])
                if gxp is not None:
                    _gemm_col2im_fill(masked[r], K3, gxp[lo:hi], window, strides, dilation, out)

            _parallel(input_gradient, n, g2.size + (0 if gxp is None else gxp.size))
            g2 = masked
            if gxp is not None:
                gx = gxp[_interior(X.shape, pads)]
            if kernel.requires_grad or fused and bias.requires_grad:
                # [∂W; ∂b] if fused. One GEMM on the threaded BLAS: its reduction runs over every window, and
                # splitting its few output rows between our threads made each re-read all of G (conv 1 of
                # the CNN benchmark: 1.7 ms split, 0.7 ms whole)
                products = A.T @ g2
                gk = products[:kk * c_group].reshape(K.shape) if kernel.requires_grad else None
                if fused:
                    gb = products[-1]
        else:
            fg = filters // groups
            if relu:
                g2 = relu_gradient_array(g2, Y.reshape(rows, filters))
            gg = g2.reshape(rows, groups, fg).transpose(1, 0, 2)            # (G, M, F_g)
            if kernel.requires_grad:
                gwg = np.matmul(A.transpose(0, 2, 1), gg)                    # (G, Πk·C_g, F_g)
                gk = gwg.reshape(groups, kk, c_group, fg).transpose(1, 2, 0, 3).reshape(K.shape)
            if x.requires_grad:
                gcols = np.matmul(gg, Wg.transpose(0, 2, 1)).reshape((groups, n) + tuple(out) + (kk, c_group))
                gxp = np.zeros(Xp.shape, dtype=gcols.dtype)
                grouped = gxp.reshape(Xp.shape[:-1] + (groups, c_group))
                for index, offset in enumerate(_offsets(window)):
                    grouped[_offset_slices(offset, strides, dilation, out)] += np.moveaxis(
                        gcols[..., index, :], 0, -2)
                gx = gxp[_interior(X.shape, pads)]
        if bias is not None and bias.requires_grad and gb is None:
            gb = _sum_rows(g2)
        return (gx, gk) if bias is None else (gx, gk, gb)

    return make_result(Y, parents, backward, "relu" if relu else f"conv{rank}d")


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups: int = 1,
           activation: str | None = None) -> Tensor:
    """1-D convolution: x (N, T, C), kernel (k, C/groups, F). See :func:`conv`."""
    _check_rank("conv1d", kernel, 3)
    return conv(x, kernel, bias, strides, padding, dilation_rate, groups, activation)


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups: int = 1,
           activation: str | None = None) -> Tensor:
    """2-D convolution: x (N, H, W, C), kernel (kh, kw, C/groups, F). See :func:`conv`."""
    _check_rank("conv2d", kernel, 4)
    return conv(x, kernel, bias, strides, padding, dilation_rate, groups, activation)


def _check_rank(what, kernel, ndim):
    shape = np.shape(kernel.data if isinstance(kernel, Tensor) else kernel)
    if len(shape) != ndim:
        raise ShapeError(f"{what}: the kernel must have rank {ndim}, got shape {_shape_str(shape)}.")


# ============================================================== transposed convolution
def conv_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                   dilation_rate=1) -> Tensor:
    """Transposed convolution ("deconvolution"): the input-gradient map of :func:`conv`.

    x (N, *spatial, C), kernel (*k, F, C) (Keras layout). Each input pixel scatters ``x[n, p, :] @ W[i]ᵀ``
    to output position ``p·s + i·d``; the full result (length ``(n − 1)·s + k_eff``) is then cropped to
    :func:`conv_transpose_output_length` starting at the 'same' padding's ``before`` amount (TF rule).
    Backward: ∂x = im2col(G) @ W (a plain convolution of G), ∂W = im2col(G)ᵀ x.
    """
    x, kernel = coerce_pair(x, kernel)
    if bias is not None:
        bias = coerce_pair(x, bias)[1]
    X, K = x.data, kernel.data
    rank = K.ndim - 2
    window, filters, channels = K.shape[:rank], K.shape[-2], K.shape[-1]
    _check_input(f"conv{rank}d_transpose", X, rank, channels)
    strides = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding = normalize_padding(padding, rank)
    if isinstance(padding, tuple):
        raise ValueError("conv_transpose: padding must be 'valid' or 'same'.")
    if output_padding is not None:
        output_padding = normalize_tuple(output_padding, rank, "output_padding", allow_zero=True)
        if any(op >= s for op, s in zip(output_padding, strides)):
            raise ValueError(f"conv_transpose: output_padding {output_padding} must be smaller than the strides "
                             f"{strides}.")
    spatial = X.shape[1:-1]
    lengths = tuple(conv_transpose_output_length(n, k, s, padding, None if output_padding is None else op, d)
                    for n, k, s, d, op in zip(spatial, window, strides, dilation, output_padding or (0,) * rank))
    full = tuple((n - 1) * s + effective_kernel(k, d) for n, k, s, d in zip(spatial, window, strides, dilation))
    starts = tuple(max(f - length, 0) // 2 if padding == "same" else 0 for f, length in zip(full, lengths))
    buffer = (X.shape[0],) + tuple(max(f, st + length) for f, st, length in zip(full, starts, lengths)) + (filters,)
    crop = (slice(None),) + tuple(slice(st, st + length) for st, length in zip(starts, lengths)) + (slice(None),)
    n, kk = X.shape[0], math.prod(window)
    rows = n * math.prod(spatial)
    X2 = X.reshape(rows, channels)
    K3 = K.reshape(kk, filters, channels)
    Y = _gemm_col2im(X2, K3, buffer, window, strides, dilation, spatial)[crop]
    if bias is not None:
        Y = Y + bias.data
    parents = (x, kernel) if bias is None else (x, kernel, bias)

    def backward(g):
        gfull = np.zeros(buffer, dtype=g.dtype)
        gfull[crop] = g
        A = _im2col(gfull, window, strides, dilation, spatial)                # (M_in, Πk·F)
        gx = (A @ K.reshape(kk * filters, channels)).reshape(X.shape) if x.requires_grad else None
        gk = (A.T @ X2).reshape(K.shape) if kernel.requires_grad else None
        if bias is None:
            return gx, gk
        return gx, gk, (_sum_rows(g.reshape(-1, filters)) if bias.requires_grad else None)

    return make_result(np.ascontiguousarray(Y), parents, backward, f"conv{rank}d_transpose")


def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                     dilation_rate=1) -> Tensor:
    """2-D transposed convolution: x (N, H, W, C), kernel (kh, kw, F, C). See :func:`conv_transpose`."""
    _check_rank("conv2d_transpose", kernel, 4)
    return conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation_rate)


# ============================================================== depthwise convolution
def depthwise_conv(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1) -> Tensor:
    """Depthwise convolution: each channel convolved with its own ``depth_multiplier`` filters.

    x (N, *spatial, C), kernel (*k, C, m) → (N, *out, C·m) with output channel ``c·m + j``::

        y[n, p, c, j] = b[c·m + j] + Σ_i x_pad[n, p·s + i·d, c] · W[i, c, j]

    Computed as a loop over the kernel offsets of broadcast multiply-adds (no GEMM: each channel's
    contraction has length Πk only). Backward per offset: ∂W[i] = Σ_{n,p} x_i ⊗ G,
    ∂x_i += Σ_j G · W[i].
    """
    x, kernel = coerce_pair(x, kernel)
    if bias is not None:
        bias = coerce_pair(x, bias)[1]
    X, K = x.data, kernel.data
    rank = K.ndim - 2
    window, channels, multiplier = K.shape[:rank], K.shape[-2], K.shape[-1]
    _check_input(f"depthwise_conv{rank}d", X, rank, channels)
    strides = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding = normalize_padding(padding, rank)
    pads, out = _geometry(f"depthwise_conv{rank}d", X.shape, window, strides, padding, dilation)
    Xp = _pad(X, pads)
    offsets = _offsets(window)
    K3 = K.reshape(len(offsets), channels, multiplier)
    block = (X.shape[0],) + tuple(out) + (channels, multiplier)
    Y = np.zeros(block, dtype=np.result_type(X, K))
    scratch = np.empty(block, dtype=Y.dtype)
    for index, offset in enumerate(offsets):
        np.multiply(Xp[_offset_slices(offset, strides, dilation, out)][..., None], K3[index], out=scratch)
        Y += scratch
    Y = Y.reshape(block[:-2] + (channels * multiplier,))
    if bias is not None:
        Y += bias.data
    parents = (x, kernel) if bias is None else (x, kernel, bias)

    def backward(g):
        g5 = g.reshape(block)
        gx = gk = None
        if kernel.requires_grad:
            gk = np.empty(K3.shape, dtype=g.dtype)
            g3 = g5.reshape(-1, channels, multiplier)
            for index, offset in enumerate(offsets):
                slab = Xp[_offset_slices(offset, strides, dilation, out)].reshape(-1, channels)
                gk[index] = np.einsum("pc,pcm->cm", slab, g3)
            gk = gk.reshape(K.shape)
        if x.requires_grad:
            gxp = np.zeros(Xp.shape, dtype=g.dtype)
            for index, offset in enumerate(offsets):
                if multiplier == 1:
                    contribution = g5[..., 0] * K3[index, :, 0]
                else:
                    contribution = np.einsum("pcm,cm->pc", g5.reshape(-1, channels, multiplier), K3[index])
                gxp[_offset_slices(offset, strides, dilation, out)] += contribution.reshape(block[:-1])
            gx = gxp[_interior(X.shape, pads)]
        if bias is None:
            return gx, gk
        return gx, gk, (_sum_rows(g.reshape(-1, channels * multiplier)) if bias.requires_grad else None)

    return make_result(Y, parents, backward, f"depthwise_conv{rank}d")


def depthwise_conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1) -> Tensor:
    """2-D depthwise convolution: x (N, H, W, C), kernel (kh, kw, C, m). See :func:`depthwise_conv`."""
    _check_rank("depthwise_conv2d", kernel, 4)
    return depthwise_conv(x, kernel, bias, strides, padding, dilation_rate)


# ============================================================== pooling
def _pool_setup(what, x, pool_size, strides, padding):
    x = as_float_tensor(x)
    X = x.data
    rank = X.ndim - 2
    if rank < 1:
        raise ShapeError(f"{what} expects an input of rank ≥ 3 (batch, *spatial, channels), got shape "
                         f"{_shape_str(X.shape)}.")
    window = normalize_tuple(pool_size, rank, "pool_size")
    strides = window if strides is None else normalize_tuple(strides, rank, "strides")
    padding = normalize_padding(padding, rank)
    pads, out = _geometry(f"{what}{rank}d", X.shape, window, strides, padding, (1,) * rank)
    return x, X, rank, window, strides, pads, out


def max_pool(x, pool_size, strides=None, padding="valid") -> Tensor:
    """Max pooling over windows of ``pool_size`` (``strides`` default to ``pool_size``); 'same' pads with −∞.

    Forward: running maxima over the pool offsets o = 0..K−1 (row-major window order),
    ``P_o = max(x_0, …, x_o)``, ``y = P_{K−1}``. Backward: the gradient of each window goes to ONE
    element, the first maximum (as PyTorch/TensorFlow pick the argmax): offset o wins exactly where
    the running maximum first reaches y, ``hit_o = [P_o = y] ∧ ¬[P_{o−1} = y]``. The prefixes are kept
    from the forward pass when they take no more memory than the input (e.g. 2×2 windows), else
    recomputed; a window holding NaN outputs NaN and passes no gradient (NaN ≠ NaN).
    With the compiled kernels on (:mod:`glassnet.accel`), 2-D windows that do not overlap and are not
    padded take :func:`_max_pool2d_disjoint_compiled` instead (same results).
    """
    x, X, rank, window, strides, pads, out = _pool_setup("max_pool", x, pool_size, strides, padding)
    disjoint = all(k == s for k, s in zip(window, strides)) and all(lo == hi == 0 for lo, hi in pads)
    tiled = disjoint and all(size == o * s for size, o, s in zip(X.shape[1:-1], out, strides))
    kernels = accel.kernels() if disjoint and rank == 2 and 1 < math.prod(window) < 255 else None
    if kernels is not None and X.dtype in (np.float32, np.float64):
        return _max_pool2d_disjoint_compiled(kernels, x, X, window, out)
    Xp = _pad(X, pads, value=-np.inf)
    slabs = [_offset_slices(offset, strides, (1,) * rank, out) for offset in _offsets(window)]
    count, n = len(slabs), X.shape[0]
    keep = (count - 1) * math.prod(out) <= math.prod(X.shape[1:-1])
    shape = (n,) + tuple(out) + (X.shape[-1],)
    # P_0 is a view of the input; P_1..P_{K−1} are computed (only the last, y, when not kept)
    prefixes = [Xp[slabs[0]]] + [np.empty(shape, dtype=X.dtype) for _ in range(count - 1 if keep else 1)]
    Y = prefixes[-1]

    def forward(lo, hi):
        if count == 1:
            Y[lo:hi] = Xp[lo:hi][slabs[0]]
            return
        for number, index in enumerate(slabs[1:], start=1):
            previous = prefixes[number - 1 if keep else min(number - 1, 1)]
            target = prefixes[number if keep else 1]
            np.maximum(previous[lo:hi], Xp[lo:hi][index], out=target[lo:hi])

    _parallel(forward, n, Xp.size)
    overlapping = any(k > s for k, s in zip(window, strides))

    def backward(g):
        # every input element is written exactly once when the windows tile the input
        gxp = np.empty(Xp.shape, dtype=g.dtype) if tiled else np.zeros(Xp.shape, dtype=g.dtype)

        def route(lo, hi):
            gp, gl, yl = gxp[lo:hi], g[lo:hi], Y[lo:hi]
            if count == 1:
                gp[slabs[0]] = gl
                return
            reached, before, hit = (np.empty(yl.shape, dtype=bool) for _ in range(3))
            running = None if keep else np.empty(yl.shape, dtype=yl.dtype)
            for number, index in enumerate(slabs):
                if number == count - 1:
                    np.equal(yl, yl, out=reached)                     # P_{K−1} = y unless y is NaN
                elif keep:
                    np.equal(prefixes[number][lo:hi], yl, out=reached)
                else:
                    if number == 0:
                        np.copyto(running, Xp[lo:hi][index])
                    else:
                        np.maximum(running, Xp[lo:hi][index], out=running)
                    np.equal(running, yl, out=reached)
                if number:
                    np.greater(reached, before, out=hit)              # reached now, not before
                if overlapping:
                    gp[index] += gl * (hit if number else reached)
                else:
                    np.multiply(gl, hit if number else reached, out=gp[index])
                reached, before = before, reached

        _parallel(route, n, gxp.size)
        return (gxp[_interior(X.shape, pads)],)

    return make_result(Y, (x,), backward, f"max_pool{rank}d")


def _max_pool2d_disjoint_compiled(kernels, x: Tensor, X: np.ndarray, window, out) -> Tensor:
    """:func:`max_pool` of 2-D windows that do not overlap (strides = pool size, no padding) by the
    compiled kernels (:mod:`glassnet.numba_kernels`): one pass forward, keeping each window's
    first-argmax offset (uint8), and one pass backward writing each input gradient once. Same results
    as the NumPy path (a running ``np.maximum`` per offset, then three masks per offset backward);
    ~3× faster (64×26×26×32: 0.7 instead of 2.2 ms forward and backward)."""
    X = np.ascontiguousarray(X)
    (kh, kw), (oh, ow) = window, out
    shape = (X.shape[0], oh, ow, X.shape[-1])
    Y = np.empty(shape, dtype=X.dtype)
    first = np.empty(shape, dtype=np.uint8)
    _parallel(lambda lo, hi: kernels.max_pool2d_disjoint_forward(X[lo:hi], Y[lo:hi], first[lo:hi], kh, kw),
              len(X), X.size)

    def backward(g):
        g = np.ascontiguousarray(g)
        gx = np.empty(X.shape, dtype=g.dtype)
        gx[:, oh * kh:] = 0  # 'valid' pooling drops the rows and columns past the last window
        gx[:, :, ow * kw:] = 0
        _parallel(lambda lo, hi: kernels.max_pool2d_disjoint_backward(g[lo:hi], first[lo:hi], gx[lo:hi], kh, kw),
                  len(gx), gx.size)
        return (gx,)

    return make_result(Y, (x,), backward, "max_pool2d")


@functools.lru_cache(maxsize=64)
def _window_counts(spatial, window, strides, pads, out) -> np.ndarray:
    """How many real (non-padded) input elements each output window covers, shape (1, *out, 1)."""
    ones = _pad(np.ones((1,) + spatial + (1,)), pads)
    counts = np.zeros((1,) + out + (1,))
    for offset in _offsets(window):
        counts += ones[_offset_slices(offset, strides, (1,) * len(window), out)]
    counts.setflags(write=False)
    return counts


def average_pool(x, pool_size, strides=None, padding="valid") -> Tensor:
    """Average pooling; with 'same' each window is divided by its number of VALID (non-padded)
    elements, as Keras/TensorFlow do (PyTorch's ``count_include_pad=False``).

    Backward: each window spreads ``g / count`` evenly over its elements (col2im over the offsets).
    """
    x, X, rank, window, strides, pads, out = _pool_setup("average_pool", x, pool_size, strides, padding)
    Xp = _pad(X, pads)
    slabs = [_offset_slices(offset, strides, (1,) * rank, out) for offset in _offsets(window)]
    Y = np.array(Xp[slabs[0]])
    for index in slabs[1:]:
        Y += Xp[index]
    if any(lo or hi for lo, hi in pads):
        counts = _window_counts(tuple(X.shape[1:-1]), window, strides, pads, tuple(out)).astype(X.dtype)
    else:
        counts = X.dtype.type(math.prod(window))
    Y /= counts

    def backward(g):
        share = g / counts
        gxp = np.zeros(Xp.shape, dtype=g.dtype)
        for index in slabs:
            gxp[index] += share
        return (gxp[_interior(X.shape, pads)],)

    return make_result(Y, (x,), backward, f"average_pool{rank}d")


avg_pool = average_pool


def max_pool1d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    _check_pool_rank("max_pool1d", x, 3)
    return max_pool(x, pool_size, strides, padding)


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid") -> Tensor:
    _check_pool_rank("max_pool2d", x, 4)
    return max_pool(x, pool_size, strides, padding)


def average_pool1d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    _check_pool_rank("average_pool1d", x, 3)
    return average_pool(x, pool_size, strides, padding)


def average_pool2d(x, pool_size=(2, 2), strides=None, padding="valid") -> Tensor:
    _check_pool_rank("average_pool2d", x, 4)
    return average_pool(x, pool_size, strides, padding)


def _check_pool_rank(what, x, ndim):
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    if len(shape) != ndim:
        raise ShapeError(f"{what} expects an input of rank {ndim}, got shape {_shape_str(shape)}.")


# ============================================================== resampling
def upsample_nearest(x, size) -> Tensor:
    """Repeat every spatial element ``size[i]`` times along spatial axis i (nearest-neighbour upsampling).

    One broadcast copy forward; backward sums each ``size`` block: ``g.reshape(N, H, sh, W, sw, C).sum((2, 4))``.
    """
    x = as_float_tensor(x)
    X = x.data
    rank = X.ndim - 2
    size = normalize_tuple(size, rank, "size")
    expanded = [X.shape[0]]
    for n, s in zip(X.shape[1:-1], size):
        expanded += [n, s]
    expanded.append(X.shape[-1])
    index = (slice(None),) + (slice(None), None) * rank + (slice(None),)
    Y = np.broadcast_to(X[index], expanded).reshape(
        (X.shape[0],) + tuple(n * s for n, s in zip(X.shape[1:-1], size)) + (X.shape[-1],))

    def backward(g):
        return (g.reshape(expanded).sum(axis=tuple(range(2, 2 * rank + 1, 2))),)

    return make_result(Y, (x,), backward, f"upsample{rank}d")


def linear_resize_matrix(n_in: int, n_out: int, dtype=np.float64) -> np.ndarray:
    """(n_out, n_in) matrix of linear interpolation with half-pixel centres (TF ``resize`` bilinear,
    PyTorch ``align_corners=False``): source ``(o + ½)·n_in/n_out − ½`` clamped to [0, n_in − 1]."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    matrix = np.zeros((n_out, n_in), dtype=dtype)
    np.add.at(matrix, (np.arange(n_out), lo), 1 - frac)
    np.add.at(matrix, (np.arange(n_out), hi), frac)
    return matrix


__all__ = [
    "conv", "conv1d", "conv2d", "conv_transpose", "conv2d_transpose", "depthwise_conv", "depthwise_conv2d",
    "max_pool", "max_pool1d", "max_pool2d", "average_pool", "avg_pool", "average_pool1d", "average_pool2d",
    "upsample_nearest", "linear_resize_matrix", "conv_output_length", "conv_transpose_output_length",
    "padding_amounts", "normalize_tuple", "normalize_padding", "effective_kernel",
]
