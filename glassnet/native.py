"""Addresses of two C functions NumPy itself runs, for compiled loops that call them without the GIL.

A compiled loop over time (the LSTM's, :mod:`glassnet.numba_kernels`) needs, at every step, the GEMM
and the ``tanh`` that NumPy would run. Calling NumPy's own — its OpenBLAS's ``cblas_?gemm`` and the
inner loop that ``np.tanh`` uses for float32/float64 — gives the results NumPy would give, in a loop
that never returns to Python:

* :func:`gemm_address` — ``scipy_cblas_sgemm64_`` / ``scipy_cblas_dgemm64_`` of the scipy-openblas64
  library that NumPy ≥ 2's wheels ship (64-bit integers), found with :func:`glassnet.blas.symbol`.
* :func:`tanh_loop` — the ``(function, data)`` pair NumPy's ``tanh`` ufunc holds for the type (its
  ``PyUFuncObject``, a struct of NumPy's stable C API, read with ctypes).

Each address is checked once by calling it through ctypes on test data and comparing the result with
NumPy's to the bit; anything unexpected (another BLAS, another NumPy layout, a mismatch) gives None,
and the caller keeps its NumPy path.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from .blas import symbol

ROW_MAJOR, NO_TRANSPOSE, TRANSPOSE = 101, 111, 112  # CBLAS enum values

_GEMM_NAMES = {np.dtype(np.float32): "scipy_cblas_sgemm64_", np.dtype(np.float64): "scipy_cblas_dgemm64_"}
_UNARY_LOOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


def _address(array: np.ndarray) -> int:
    return array.ctypes.data


@functools.cache
def gemm_address(dtype) -> int | None:
    """Address of NumPy's ``cblas_?gemm`` (ILP64) for ``dtype``, checked against ``np.matmul``; or None."""
    dtype = np.dtype(dtype)
    name = _GEMM_NAMES.get(dtype)
    function = None if name is None else symbol(name)
    if function is None:
        return None
    scalar, index = (ctypes.c_float if dtype == np.float32 else ctypes.c_double), ctypes.c_int64
    pointer = ctypes.c_void_p
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, index, index, index, scalar, pointer, index,
                         pointer, index, scalar, pointer, index]
    function.restype = None
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)).astype(dtype), rng.standard_normal((7, 3)).astype(dtype)
    c = np.full((5, 3), np.nan, dtype=dtype)
    try:
        function(ROW_MAJOR, NO_TRANSPOSE, NO_TRANSPOSE, 5, 3, 7, 1.0, _address(a), 7, _address(b), 3, 0.0,
                 _address(c), 3)
    except Exception:  # noqa: BLE001 - any failure means: do not use it
        return None
    if not np.array_equal(c, a @ b):
        return None
    return ctypes.cast(function, ctypes.c_void_p).value


class _UfuncHead(ctypes.Structure):
    """The leading fields of NumPy's ``PyUFuncObject`` (numpy/ufuncobject.h, unchanged since NumPy 1.0)."""

    _fields_ = [("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p),
                ("nin", ctypes.c_int), ("nout", ctypes.c_int), ("nargs", ctypes.c_int), ("identity", ctypes.c_int),
                ("functions", ctypes.POINTER(ctypes.c_void_p)), ("data", ctypes.POINTER(ctypes.c_void_p)),
                ("ntypes", ctypes.c_int), ("reserved1", ctypes.c_int), ("name", ctypes.c_char_p),
                ("types", ctypes.POINTER(ctypes.c_char))]


def _test_values(dtype) -> np.ndarray:
    """Values that exercise every branch of a SIMD tanh: tiny, small, large, ±0, ±inf, NaN, a sweep."""
    sweep = np.linspace(-12, 12, 4001)
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-8, 0.1, 0.5, 0.625, 1.0, 9.0, 20.0, 89.0, 1e30, -1e30,
               np.inf, -np.inf, np.nan]
    return np.concatenate([sweep, special, np.geomspace(1e-12, 1e3, 2000), -np.geomspace(1e-12, 1e3, 2000)]
                          ).astype(dtype)


@functools.cache
def tanh_loop(dtype) -> tuple[int, int] | None:
    """``(function address, data pointer)`` of the inner loop ``np.tanh`` runs for ``dtype`` (float32 or
    float64; signature ``void (char **args, npy_intp *dimensions, npy_intp *steps, void *data)``), checked
    against ``np.tanh`` to the bit on :func:`_test_values`; or None."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        return None
    head = _UfuncHead.from_address(id(np.tanh))
    if (head.nin, head.nout, head.nargs, head.name) != (1, 1, 2, b"tanh") or not 0 < head.ntypes < 64:
        return None
    codes = [head.types[k][0] for k in range(2 * head.ntypes)]
    # the first loop whose types match is the one NumPy's type resolution picks for this dtype
    index = next((k for k in range(head.ntypes) if codes[2 * k] == codes[2 * k + 1] == dtype.num), None)
    if index is None or not head.functions[index]:
        return None
    function, data = head.functions[index], head.data[index] or 0
    x = _test_values(dtype)
    out = np.full_like(x, 7.0)
    args = (ctypes.c_void_p * 2)(_address(x), _address(out))
    dimensions = (ctypes.c_ssize_t * 1)(x.size)
    steps = (ctypes.c_ssize_t * 2)(dtype.itemsize, dtype.itemsize)
    try:
        _UNARY_LOOP(function)(ctypes.addressof(args), ctypes.addressof(dimensions), ctypes.addressof(steps),
                              data or None)
    except Exception:  # noqa: BLE001
        return None
    with np.errstate(all="ignore"):
        expected = np.tanh(x)
    if not np.array_equal(out.view(np.uint8), expected.view(np.uint8)):
        return None
    return function, data
