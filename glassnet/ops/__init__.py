"""glassnet.ops: every differentiable primitive, as functions (``ops.sigmoid(x)``, ``ops.mean(x)``...).

Anything built from these functions gets correct gradients automatically: a custom loss or
activation needs no backward code of its own. Inputs may be Tensors, NumPy arrays or numbers.
"""

from ..tensor import Tensor, as_tensor, tensor
# (``conv`` itself stays the module glassnet.ops.conv; its functions are re-exported by name.)
from .conv import (
    average_pool, avg_pool, conv1d, conv2d, conv2d_transpose, conv_transpose, depthwise_conv, depthwise_conv2d, max_pool,
)
from .crossentropy import sigmoid_cross_entropy, softmax_cross_entropy, sparse_softmax_cross_entropy
from .elementwise import (
    abs, add, cast, clip, cos, divide, equal, exp, expm1, floor, greater, greater_equal, isfinite, isnan,
    less, less_equal, log, log1p, logical_and, logical_not, logical_or, maximum, minimum, multiply,
    negative, not_equal, power, reciprocal, round, sign, sin, sqrt, square, subtract, where,
)
from .linalg import dense, matmul
from .normalization import batch_normalization, moments, normalize
from .nonlinear import (
    elu, erf, gelu, hard_sigmoid, hard_silu, hard_tanh, leaky_relu, log_sigmoid, log_softmax, mish, relu,
    relu6, selu, sigmoid, silu, softmax, softplus, softsign, step, swish, tanh,
)
from .reduce import argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .shape import (
    broadcast_to, concatenate, expand_dims, flatten, getitem, pad, permute, repeat, reshape, split, squeeze,
    stack, swapaxes, take, tile, transpose,
)

hard_swish = hard_silu
concat = concatenate
pow = power  # noqa: A001
mul = multiply
sub = subtract
div = divide
true_divide = divide
clamp = clip
dot = matmul


def l2_normalize(x, axis=-1, epsilon: float = 1e-12):
    """x / max(‖x‖₂, √ε) along ``axis`` (Keras ``ops.normalize`` / ``l2_normalize``)."""
    squared = sum(square(x), axis=axis, keepdims=True)
    return multiply(x, power(maximum(squared, epsilon), -0.5))


def _attach_tensor_methods() -> None:
    """Operators and methods on Tensor, all defined once here in terms of the ops above."""
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: subtract(a, b)
    T.__rsub__ = lambda a, b: subtract(b, a)
    T.__mul__ = lambda a, b: multiply(a, b)
    T.__rmul__ = lambda a, b: multiply(b, a)
    T.__truediv__ = lambda a, b: divide(a, b)
    T.__rtruediv__ = lambda a, b: divide(b, a)
    T.__pow__ = lambda a, b: power(a, b)
    T.__rpow__ = lambda a, b: power(b, a)
    T.__neg__ = lambda a: negative(a)
    T.__pos__ = lambda a: a
    T.__abs__ = lambda a: abs(a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__getitem__ = lambda a, index: getitem(a, index)
    T.__lt__ = lambda a, b: less(a, b)
    T.__le__ = lambda a, b: less_equal(a, b)
    T.__gt__ = lambda a, b: greater(a, b)
    T.__ge__ = lambda a, b: greater_equal(a, b)
    T.__eq__ = lambda a, b: equal(a, b)
    T.__ne__ = lambda a, b: not_equal(a, b)
    T.__invert__ = lambda a: logical_not(a)

    def _axis_method(fn):
        def method(self, axis=None, keepdims=False, **kwargs):
            return fn(self, axis=axis, keepdims=keepdims, **kwargs)

        method.__name__, method.__doc__ = fn.__name__, fn.__doc__
        return method

    for name, fn in (("sum", sum), ("mean", mean), ("max", max), ("min", min), ("var", var), ("std", std),
                     ("logsumexp", logsumexp)):
        setattr(T, name, _axis_method(fn))

    def _reshape(self, *shape):
        return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def _transpose(self, *axes):
        return transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None))

    T.reshape = _reshape
    T.view = _reshape
    T.transpose = _transpose
    T.permute = lambda self, *axes: permute(self, *axes)
    T.T = property(lambda self: transpose(self))
    T.mT = property(lambda self: swapaxes(self, -1, -2))
    T.flatten = lambda self, start_axis=0: flatten(self, start_axis)
    T.expand_dims = lambda self, axis: expand_dims(self, axis)
    T.unsqueeze = lambda self, axis: expand_dims(self, axis)
    T.squeeze = lambda self, axis=None: squeeze(self, axis)
    T.astype = lambda self, dtype: cast(self, dtype)
    T.clip = lambda self, min_value=None, max_value=None: clip(self, min_value, max_value)
    T.argmax = lambda self, axis=-1: argmax(self, axis)
    T.argmin = lambda self, axis=-1: argmin(self, axis)
    T.matmul = lambda self, other: matmul(self, other)
    for name in ("exp", "log", "sqrt", "abs", "square", "sigmoid", "tanh", "relu", "log1p", "expm1", "sign"):
        setattr(T, name, globals()[name])
    T.softmax = lambda self, axis=-1: softmax(self, axis)
    T.log_softmax = lambda self, axis=-1: log_softmax(self, axis)
    T.pow = lambda self, exponent: power(self, exponent)


_attach_tensor_methods()
