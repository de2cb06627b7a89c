"""Non-linear element-wise functions (the activation primitives) with hand-written derivatives.

Each is stable for inputs of ±1e4: exponentials only ever see non-positive arguments, and
log(1 + eˣ) is computed as ``logaddexp(0, x)``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import accel
from ..tensor import Tensor, make_result
from .elementwise import as_float_tensor
from .special import erf_array

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ------------------------------------------------------------------ NumPy kernels (no graph)
def sigmoid_array(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1+e^−z), evaluated without overflow and accurate for very negative z.

    Small arrays: σ(z) = exp(−log(1 + e^−z)) with NumPy's stable ``logaddexp`` (3 ufunc calls);
    large arrays: branches on e^−|z| (cheaper per element). Both agree to float rounding.
    """
    if z.size <= 1024:
        return np.exp(-np.logaddexp(0, -z))
    e = np.exp(-np.abs(z))
    r = 1.0 / (1.0 + e)  # σ(|z|)
    return np.where(z >= 0, r, e * r)  # σ(−|z|) = 1 − σ(|z|) = e·σ(|z|)


def softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """e^{z_i − max z} / Σ_j e^{z_j − max z}. float16 is computed in float32 (z − max z can leave
    float16's range, ±65504, and the sum loses precision), then rounded back."""
    work = z.astype(np.float32) if z.dtype.itemsize < 4 else z
    e = np.exp(work - work.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e.astype(z.dtype, copy=False)


def log_softmax_array(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """z_i − max z − log Σ_j e^{z_j − max z}. float16 is computed in float32 and rounded back,
    log-probabilities below float16's range saturating at −65504 (probability 0) instead of −inf."""
    work = z.astype(np.float32) if z.dtype.itemsize < 4 else z
    shifted = work - work.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    if shifted.dtype != z.dtype:
        limits = np.finfo(z.dtype)
        shifted = np.clip(shifted, limits.min, limits.max).astype(z.dtype)
    return shifted


def relu_array(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(z, 0), into ``out`` (may be ``z``: in place). NaN stays NaN."""
    if out is None:
        out = np.empty_like(z)
    kernels = accel.kernels_for(z, out)
    if kernels is None:
        np.maximum(z, 0, out=out)
    elif out is z:  # np.maximum's NaN-propagating loop is 3–7× slower than a vectorised compare-and-select
        kernels.relu_inplace(z)
    else:
        kernels.relu(z, out)
    return out


def bias_relu_inplace(y: np.ndarray, bias: np.ndarray) -> bool:
    """y = max(y + b, 0) in one compiled pass, y (rows, n) and b (n,); False (y untouched) when the
    compiled kernels cannot take these arrays — the caller then adds and rectifies with NumPy."""
    kernels = accel.kernels_for(y) if y.ndim == 2 and bias.shape == y.shape[1:] and bias.dtype == y.dtype else None
    if kernels is None:
        return False
    kernels.bias_relu_inplace(y, bias)
    return True


def relu_gradient_array(g: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """∂L/∂z = g ⊙ 1[a > 0] for a = relu(z) (``out`` may be ``g``)."""
    if g.shape != a.shape:
        return g * (a > 0)
    if out is None:
        out = np.empty(g.shape, dtype=g.dtype)
    kernels = accel.kernels_for(g, a, out) if out is not g and out is not a else None
    if kernels is None:
        np.multiply(g, a > 0, out=out)
    else:  # one pass instead of a comparison and a multiply
        kernels.relu_gradient(g, a, out)
    return out


# ------------------------------------------------------------------ ops
def sigmoid(x) -> Tensor:
    """σ(x) = 1/(1+e^−x);  σ' = σ(1−σ) ≤ 0.25."""
    x = as_float_tensor(x)
    out = sigmoid_array(x.data)
    return make_result(out, (x,), lambda g: (g * out * (1.0 - out),), "sigmoid")


def tanh(x) -> Tensor:
    """tanh x = 2σ(2x) − 1;  derivative 1 − tanh²x."""
    x = as_float_tensor(x)
    out = np.tanh(x.data)
    return make_result(out, (x,), lambda g: (g * (1.0 - out * out),), "tanh")


def relu(x, negative_slope: float = 0.0, max_value=None, threshold: float = 0.0) -> Tensor:
    """max(0, x); derivative 1 for x > 0 and 0 for x ≤ 0.

    Keras' general form: x for threshold ≤ x < max_value, max_value above it, and
    negative_slope·(x − threshold) below the threshold.
    """
    x = as_float_tensor(x)
    data = x.data
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        out = relu_array(data)
        return make_result(out, (x,), lambda g: (relu_gradient_array(g, out),), "relu")
    above = data > threshold
    out = np.where(above, data, negative_slope * (data - threshold)).astype(data.dtype, copy=False)
    slope = np.where(above, 1.0, negative_slope).astype(data.dtype)
    if max_value is not None:
        capped = data >= max_value
        out = np.where(capped, np.asarray(max_value, dtype=data.dtype), out)
        slope[capped] = 0.0
    return make_result(out, (x,), lambda g: (g * slope,), "relu")


def relu6(x) -> Tensor:
    """min(max(0, x), 6)."""
    return relu(x, max_value=6.0)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else αx (α = 0.01 by default, as in PyTorch and the glassnet spec)."""
    x = as_float_tensor(x)
    data = x.data
    positive = data > 0
    out = np.where(positive, data, data * negative_slope)
    return make_result(out, (x,), lambda g: (np.where(positive, g, g * negative_slope),), "leaky_relu")


def elu(x, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else α(eˣ − 1);  derivative 1 or α·eˣ = out + α."""
    x = as_float_tensor(x)
    data = x.data
    positive = data > 0
    negative_part = alpha * np.expm1(np.minimum(data, 0))
    out = np.where(positive, data, negative_part)
    return make_result(out, (x,), lambda g: (np.where(positive, g, g * (negative_part + alpha)),), "elu")


def selu(x) -> Tensor:
    """λ·elu(x, α) with λ ≈ 1.0507, α ≈ 1.67326 (self-normalising; pair with LeCun normal init)."""
    x = as_float_tensor(x)
    data = x.data
    positive = data > 0
    negative_part = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(data, 0))
    out = np.where(positive, SELU_SCALE * data, negative_part)

    def backward(g):
        return (np.where(positive, g * SELU_SCALE, g * (negative_part + SELU_SCALE * SELU_ALPHA)),)

    return make_result(out.astype(data.dtype, copy=False), (x,), backward, "selu")


def softplus(x) -> Tensor:
    """log(1 + eˣ) (as logaddexp(0, x));  derivative σ(x)."""
    x = as_float_tensor(x)
    out = np.logaddexp(0, x.data).astype(x.data.dtype, copy=False)
    return make_result(out, (x,), lambda g: (g * sigmoid_array(x.data),), "softplus")


def log_sigmoid(x) -> Tensor:
    """log σ(x) = −softplus(−x);  derivative σ(−x) = 1 − σ(x)."""
    x = as_float_tensor(x)
    out = -np.logaddexp(0, -x.data).astype(x.data.dtype, copy=False)
    return make_result(out, (x,), lambda g: (g * sigmoid_array(-x.data),), "log_sigmoid")


def softsign(x) -> Tensor:
    """x / (1 + |x|);  derivative 1/(1 + |x|)²."""
    x = as_float_tensor(x)
    denominator = 1.0 + np.abs(x.data)
    return make_result(x.data / denominator, (x,), lambda g: (g / denominator / denominator,), "softsign")


def swish(x, beta: float = 1.0) -> Tensor:
    """x·σ(βx) (SiLU when β = 1);  derivative σ(βx)·(1 + βx(1 − σ(βx))).

    A ``Tensor`` beta (a learnable β) is differentiated through the composed ops.
    """
    if isinstance(beta, Tensor):
        from .elementwise import multiply

        return multiply(x, sigmoid(multiply(beta, x)))
    x = as_float_tensor(x)
    data = x.data
    s = sigmoid_array(beta * data) if beta != 1.0 else sigmoid_array(data)
    out = data * s

    def backward(g):
        return (g * (s * (1.0 + beta * data * (1.0 - s))),)

    return make_result(out, (x,), backward, "swish")


silu = swish


def mish(x) -> Tensor:
    """x·tanh(softplus(x));  derivative tanh(sp) + x·sech²(sp)·σ(x)."""
    x = as_float_tensor(x)
    data = x.data
    t = np.tanh(np.logaddexp(0, data)).astype(data.dtype, copy=False)
    out = data * t

    def backward(g):
        return (g * (t + data * (1.0 - t * t) * sigmoid_array(data)),)

    return make_result(out, (x,), backward, "mish")


def erf(x) -> Tensor:
    """Error function;  derivative 2/√π · e^{−x²}."""
    x = as_float_tensor(x)
    out = erf_array(x.data)
    scale = 2.0 / math.sqrt(math.pi)
    return make_result(out, (x,), lambda g: (g * (scale * np.exp(-x.data * x.data)),), "erf")


def gelu(x, approximate: bool = False) -> Tensor:
    """x·Φ(x) with Φ the standard normal CDF (exact, through erf);
    ``approximate=True``: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).

    Exact derivative: Φ(x) + x·φ(x).
    """
    x = as_float_tensor(x)
    data = x.data
    if not approximate:
        cdf = 0.5 * (1.0 + erf_array(data / _SQRT_2))
        out = data * cdf

        def backward(g):
            xc = np.clip(data, -40.0, 40.0)  # φ(x) underflows to 0 beyond |x| = 40; keeps x² finite
            return (g * (cdf + data * (_INV_SQRT_2PI * np.exp(-0.5 * xc * xc))),)

        return make_result(out, (x,), backward, "gelu")
    # tanh(inner) is exactly ±1 for |x| ≥ 20, so clipping there changes nothing but keeps x³ finite.
    xc = np.clip(data, -20.0, 20.0)
    inner = _SQRT_2_OVER_PI * (xc + 0.044715 * xc ** 3)
    t = np.tanh(inner)
    out = 0.5 * data * (1.0 + t)

    def backward_approx(g):
        d_inner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * xc * xc)
        return (g * (0.5 * (1.0 + t) + 0.5 * data * (1.0 - t * t) * d_inner),)

    return make_result(out, (x,), backward_approx, "gelu")


def hard_sigmoid(x) -> Tensor:
    """Keras 3: relu6(x + 3)/6 = clip(x/6 + 1/2, 0, 1);  derivative 1/6 on (−3, 3)."""
    x = as_float_tensor(x)
    data = x.data
    out = np.clip(data / 6.0 + 0.5, 0.0, 1.0)
    inside = (data > -3.0) & (data < 3.0)
    return make_result(out, (x,), lambda g: (g * inside * (1.0 / 6.0),), "hard_sigmoid")


def hard_silu(x) -> Tensor:
    """x·hard_sigmoid(x) (hard swish)."""
    x = as_float_tensor(x)
    data = x.data
    hs = np.clip(data / 6.0 + 0.5, 0.0, 1.0)
    inside = (data > -3.0) & (data < 3.0)
    return make_result(data * hs, (x,), lambda g: (g * (hs + data * inside * (1.0 / 6.0)),), "hard_silu")


def hard_tanh(x) -> Tensor:
    """clip(x, −1, 1)."""
    x = as_float_tensor(x)
    data = x.data
    inside = (data > -1.0) & (data < 1.0)
    return make_result(np.clip(data, -1.0, 1.0), (x,), lambda g: (g * inside,), "hard_tanh")


def step(x) -> Tensor:
    """Heaviside step 1[x ≥ 0] (the perceptron's activation). Its gradient is 0 everywhere."""
    x = as_float_tensor(x)
    out = (x.data >= 0).astype(x.data.dtype)
    return make_result(out, (x,), lambda g: (np.zeros_like(g),), "step")


def softmax(x, axis: int = -1) -> Tensor:
    """e^{x_i − max}/Σ_j e^{x_j − max} along ``axis``;  backward: s ⊙ (g − Σ g⊙s)."""
    x = as_float_tensor(x)
    out = softmax_array(x.data, axis)

    def backward(g):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    backward.axis = axis % max(x.ndim, 1)  # read by the cross-entropies to recover the logits (losses.py)
    return make_result(out, (x,), backward, "softmax")


def log_softmax(x, axis: int = -1) -> Tensor:
    """x_i − logsumexp(x) along ``axis``;  backward: g − softmax·Σ g."""
    x = as_float_tensor(x)
    out = log_softmax_array(x.data, axis)

    def backward(g):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return make_result(out, (x,), backward, "log_softmax")
