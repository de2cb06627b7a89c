"""Matrix products: ``matmul`` (NumPy ``@`` semantics, batched and broadcast) and the fused ``dense``.

For ``C = A @ B``: ``∂L/∂A = ∂L/∂C @ Bᵀ`` and ``∂L/∂B = Aᵀ @ ∂L/∂C`` (summed over broadcast
batch dimensions). Gradients are only computed for inputs that require them.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result, unbroadcast
from .elementwise import coerce_pair
from .nonlinear import bias_relu_inplace, relu_array, relu_gradient_array


def _swap(m: np.ndarray) -> np.ndarray:
    return np.swapaxes(m, -1, -2)


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and broadcast batch dimensions."""
    a, b = coerce_pair(a, b)
    A, B = a.data, b.data
    out = np.matmul(A, B)

    def backward(g):
        if A.ndim == 1 and B.ndim == 1:  # inner product
            return (g * B if a.requires_grad else None, g * A if b.requires_grad else None)
        A2 = A[None, :] if A.ndim == 1 else A
        B2 = B[:, None] if B.ndim == 1 else B
        g2 = g
        if A.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if B.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if a.requires_grad:
            if A2.ndim > 2 and B2.ndim == 2 and A.ndim != 1:  # (..., k) @ (k, n): one big GEMM
                ga = (g2.reshape(-1, g2.shape[-1]) @ B2.T).reshape(A2.shape)
            else:
                ga = unbroadcast(np.matmul(g2, _swap(B2)), A2.shape)
            ga = ga.reshape(A.shape)
        if b.requires_grad:
            if A2.ndim > 2 and B2.ndim == 2:
                gb = A2.reshape(-1, A2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = unbroadcast(np.matmul(_swap(A2), g2), B2.shape)
            gb = gb.reshape(B.shape)
        return ga, gb

    return make_result(out, (a, b), backward, "matmul")


def dense(x, kernel, bias=None, activation: str | None = None) -> Tensor:
    """Fused affine map ``x @ W + b`` over the last axis of ``x`` (any rank ≥ 2), optionally followed
    in place by ``activation`` ('relu' or 'tanh') — one graph node, no extra temporary.

    With z = x W + b and a = f(z):  ∂L/∂z = g ⊙ f'(z),  ∂L/∂x = ∂L/∂z Wᵀ,  ∂L/∂W = xᵀ ∂L/∂z,
    ∂L/∂b = Σ_batch ∂L/∂z;  relu' = 1[a > 0],  tanh' = 1 − a².
    The fused node is named after its activation, so tools that look at the op that produced a
    layer's output (dead-ReLU and saturation detectors) see 'relu' / 'tanh'.
    """
    if activation not in (None, "relu", "tanh"):
        raise ValueError(f"dense: activation must be None, 'relu' or 'tanh', got {activation!r}.")
    x, kernel = coerce_pair(x, kernel)
    if bias is not None and not isinstance(bias, Tensor):
        bias = Tensor(np.asarray(bias, dtype=kernel.data.dtype))
    X = x.data
    W = kernel.data
    X2 = X if X.ndim == 2 else X.reshape(-1, X.shape[-1])
    out = X2 @ W
    if not (activation == "relu" and bias is not None and bias_relu_inplace(out, bias.data)):
        if bias is not None:
            out += bias.data
        if activation == "relu":
            relu_array(out, out=out)
        elif activation == "tanh":
            np.tanh(out, out=out)
    if X.ndim != 2:
        out = out.reshape(X.shape[:-1] + (W.shape[1],))
    parents = (x, kernel) if bias is None else (x, kernel, bias)

    def backward(g):
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        if activation == "relu":
            g2 = relu_gradient_array(g2, out.reshape(g2.shape))
        elif activation == "tanh":
            a = out.reshape(g2.shape)
            g2 = g2 * (1.0 - a * a)
        gx = (g2 @ W.T).reshape(X.shape) if x.requires_grad else None
        gw = X2.T @ g2 if kernel.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if bias.requires_grad else None)

    return make_result(out, parents, backward, activation or "dense")
