"""Element-wise differentiable operations, with NumPy broadcasting.

Each op computes its forward value and returns, in ``backward(g)``, the vector-Jacobian
product for each input; broadcast inputs get their gradient summed back to their own shape.
Constants (Python numbers, NumPy arrays) adopt the dtype of the tensor they meet, so
``float32_tensor * 0.5`` stays float32.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, is_scalar_number, make_result, unbroadcast


def _constant(x, dtype: np.dtype) -> Tensor:
    if isinstance(x, Tensor):
        return x
    array = x if isinstance(x, np.ndarray) else np.asarray(x)
    if array.dtype.kind in "biuf":
        target = dtype if dtype.kind == "f" else np.dtype(backend.floatx())
        if array.dtype.kind != "b" or is_scalar_number(x):
            array = array.astype(target, copy=False)
    return Tensor(array, dtype=array.dtype)


def coerce_pair(a, b) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a non-Tensor operand takes the other one's float dtype."""
    if isinstance(a, Tensor):
        return a, (b if isinstance(b, Tensor) else _constant(b, a.data.dtype))
    if isinstance(b, Tensor):
        return _constant(a, b.data.dtype), b
    a = _constant(a, np.dtype(backend.floatx()))
    return a, _constant(b, a.data.dtype)


def as_float_tensor(x) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return _constant(x, np.dtype(backend.floatx()))


# ------------------------------------------------------------------ arithmetic
def add(a, b) -> Tensor:
    """``a + b``; ∂/∂a = ∂/∂b = 1."""
    a, b = coerce_pair(a, b)

    def backward(g):
        return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
                unbroadcast(g, b.data.shape) if b.requires_grad else None)

    return make_result(a.data + b.data, (a, b), backward, "add")


def subtract(a, b) -> Tensor:
    """``a - b``; ∂/∂a = 1, ∂/∂b = −1."""
    a, b = coerce_pair(a, b)

    def backward(g):
        return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
                unbroadcast(-g, b.data.shape) if b.requires_grad else None)

    return make_result(a.data - b.data, (a, b), backward, "subtract")


def multiply(a, b) -> Tensor:
    """``a * b``; ∂/∂a = b, ∂/∂b = a."""
    a, b = coerce_pair(a, b)

    def backward(g):
        return (unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None,
                unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None)

    return make_result(a.data * b.data, (a, b), backward, "multiply")


def divide(a, b) -> Tensor:
    """``a / b``; ∂/∂a = 1/b, ∂/∂b = −a/b²."""
    a, b = coerce_pair(a, b)
    out = a.data / b.data

    def backward(g):
        ga = g / b.data
        return (unbroadcast(ga, a.data.shape) if a.requires_grad else None,
                unbroadcast(-ga * out, b.data.shape) if b.requires_grad else None)

    return make_result(out, (a, b), backward, "divide")


def power(a, b) -> Tensor:
    """``a ** b``; ∂/∂a = b·a^(b−1), ∂/∂b = a^b·ln a (taken as 0 where a ≤ 0)."""
    if isinstance(a, Tensor) and is_scalar_number(b):
        exponent = float(b)
        x = a.data
        out = x * x if exponent == 2.0 else x ** exponent

        def backward_scalar(g):
            if exponent == 2.0:
                return (g * (2.0 * x),)
            if exponent == 0.0:
                return (np.zeros_like(g),)
            return (g * (exponent * x ** (exponent - 1.0)),)

        return make_result(out, (a,), backward_scalar, "power")
    a, b = coerce_pair(a, b)
    out = a.data ** b.data

    def backward(g):
        ga = gb = None
        if a.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = np.where(b.data == 0, 0, g * b.data * a.data ** (b.data - 1))
            ga = unbroadcast(ga.astype(g.dtype, copy=False), a.data.shape)
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a.data > 0, np.log(np.where(a.data > 0, a.data, 1)), 0)
            gb = unbroadcast(g * out * log_a, b.data.shape)
        return ga, gb

    return make_result(out, (a, b), backward, "power")


def negative(x) -> Tensor:
    """``-x``."""
    x = as_float_tensor(x)
    return make_result(-x.data, (x,), lambda g: (-g,), "negative")


def reciprocal(x) -> Tensor:
    """``1/x``; derivative −1/x²."""
    x = as_float_tensor(x)
    out = 1.0 / x.data
    return make_result(out, (x,), lambda g: (-g * out * out,), "reciprocal")


# ------------------------------------------------------------------ unary functions
def exp(x) -> Tensor:
    """``eˣ``; derivative eˣ."""
    x = as_float_tensor(x)
    out = np.exp(x.data)
    return make_result(out, (x,), lambda g: (g * out,), "exp")


def expm1(x) -> Tensor:
    """``eˣ − 1`` accurate near 0; derivative eˣ."""
    x = as_float_tensor(x)
    out = np.expm1(x.data)
    return make_result(out, (x,), lambda g: (g * (out + 1.0),), "expm1")


def log(x) -> Tensor:
    """Natural log; derivative 1/x."""
    x = as_float_tensor(x)
    return make_result(np.log(x.data), (x,), lambda g: (g / x.data,), "log")


def log1p(x) -> Tensor:
    """``ln(1 + x)`` accurate near 0; derivative 1/(1+x)."""
    x = as_float_tensor(x)
    return make_result(np.log1p(x.data), (x,), lambda g: (g / (1.0 + x.data),), "log1p")


def sqrt(x) -> Tensor:
    """``√x``; derivative 1/(2√x)."""
    x = as_float_tensor(x)
    out = np.sqrt(x.data)
    return make_result(out, (x,), lambda g: (g / (2.0 * out),), "sqrt")


def square(x) -> Tensor:
    """``x²``; derivative 2x."""
    x = as_float_tensor(x)
    return make_result(x.data * x.data, (x,), lambda g: (g * (2.0 * x.data),), "square")


def abs(x) -> Tensor:  # noqa: A001 - mirrors numpy / keras.ops naming
    """``|x|``; derivative sign(x) (0 at 0, as in PyTorch)."""
    x = as_float_tensor(x)
    return make_result(np.abs(x.data), (x,), lambda g: (g * np.sign(x.data),), "abs")


def sin(x) -> Tensor:
    x = as_float_tensor(x)
    return make_result(np.sin(x.data), (x,), lambda g: (g * np.cos(x.data),), "sin")


def cos(x) -> Tensor:
    x = as_float_tensor(x)
    return make_result(np.cos(x.data), (x,), lambda g: (-g * np.sin(x.data),), "cos")


def cast(x, dtype) -> Tensor:
    """Change the dtype; the gradient is cast back to the input's dtype."""
    x = as_float_tensor(x)
    dtype = np.dtype(dtype)
    source = x.data.dtype
    return make_result(x.data.astype(dtype), (x,), lambda g: (g.astype(source),), "cast")


# ------------------------------------------------------------------ piecewise
def _share(wins: np.ndarray, ties: np.ndarray, dtype) -> np.ndarray:
    """1 where the first input wins, 0.5 on ties, 0 where it loses."""
    return np.where(ties, 0.5, wins).astype(dtype, copy=False)  # np.where: 0-d inputs work too


def maximum(a, b) -> Tensor:
    """Element-wise max; the gradient goes to the larger input (split in half on ties, like PyTorch)."""
    a, b = coerce_pair(a, b)
    out = np.maximum(a.data, b.data)

    def backward(g):
        a_wins = _share(a.data > b.data, a.data == b.data, g.dtype)
        return (unbroadcast(g * a_wins, a.data.shape) if a.requires_grad else None,
                unbroadcast(g * (1.0 - a_wins), b.data.shape) if b.requires_grad else None)

    return make_result(out, (a, b), backward, "maximum")


def minimum(a, b) -> Tensor:
    """Element-wise min; the gradient goes to the smaller input (split in half on ties)."""
    a, b = coerce_pair(a, b)
    out = np.minimum(a.data, b.data)

    def backward(g):
        a_wins = _share(a.data < b.data, a.data == b.data, g.dtype)
        return (unbroadcast(g * a_wins, a.data.shape) if a.requires_grad else None,
                unbroadcast(g * (1.0 - a_wins), b.data.shape) if b.requires_grad else None)

    return make_result(out, (a, b), backward, "minimum")


def where(condition, x, y) -> Tensor:
    """``x`` where ``condition`` holds, else ``y``; each branch receives the gradient where chosen."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    x, y = coerce_pair(x, y)
    out = np.where(cond, x.data, y.data)

    def backward(g):
        return (unbroadcast(np.where(cond, g, 0), x.data.shape) if x.requires_grad else None,
                unbroadcast(np.where(cond, 0, g), y.data.shape) if y.requires_grad else None)

    return make_result(out, (x, y), backward, "where")


def clip(x, min_value=None, max_value=None) -> Tensor:
    """Clamp to ``[min_value, max_value]``; gradient 1 inside the range (bounds included), 0 outside."""
    x = as_float_tensor(x)
    low = -np.inf if min_value is None else float(min_value)
    high = np.inf if max_value is None else float(max_value)
    out = np.clip(x.data, low, high)

    def backward(g):
        return (g * ((x.data >= low) & (x.data <= high)),)

    return make_result(out, (x,), backward, "clip")


# ------------------------------------------------------------------ no gradient
def _constant_result(array) -> Tensor:
    return Tensor(array, dtype=array.dtype)


def sign(x) -> Tensor:
    """Sign of x (−1, 0, 1); piecewise constant, so no gradient flows."""
    return _constant_result(np.sign(as_float_tensor(x).data))


def floor(x) -> Tensor:
    return _constant_result(np.floor(as_float_tensor(x).data))


def round(x) -> Tensor:  # noqa: A001
    return _constant_result(np.round(as_float_tensor(x).data))


def _compare(ufunc):
    def compare(a, b) -> Tensor:
        a, b = coerce_pair(a, b)
        return _constant_result(ufunc(a.data, b.data))

    compare.__name__ = ufunc.__name__
    compare.__doc__ = f"Element-wise ``{ufunc.__name__}`` as a boolean tensor (no gradient)."
    return compare


equal = _compare(np.equal)
not_equal = _compare(np.not_equal)
less = _compare(np.less)
less_equal = _compare(np.less_equal)
greater = _compare(np.greater)
greater_equal = _compare(np.greater_equal)
logical_and = _compare(np.logical_and)
logical_or = _compare(np.logical_or)


def logical_not(x) -> Tensor:
    return _constant_result(np.logical_not(x.data if isinstance(x, Tensor) else x))


def isnan(x) -> Tensor:
    return _constant_result(np.isnan(as_float_tensor(x).data))


def isfinite(x) -> Tensor:
    return _constant_result(np.isfinite(as_float_tensor(x).data))
