"""Seeing inside: gradient checking (finite differences against the autodiff engine).

``gradcheck`` compares the analytic vector-Jacobian product that ``backward()`` computes with
central differences ``(f(x+ε) − f(x−ε)) / 2ε`` in float64, for every element of every input.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradcheckError
from ..tensor import Tensor


def _as_input(x):
    """Float inputs become float64 leaves to differentiate; others stay constants."""
    if isinstance(x, Tensor):
        if x.data.dtype.kind == "f" and (x.requires_grad or x.is_leaf):
            return Tensor(x.data.astype(np.float64), requires_grad=True), True
        return x, False
    array = np.asarray(x)
    if array.dtype.kind == "f":
        return Tensor(array.astype(np.float64), requires_grad=True), True
    return array, False


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0, raise_exception: bool = True, **model_kwargs):
    """Check ``fn``'s gradients with respect to each float input by central differences.

    Whole-model form: ``gradcheck(model, x, y, loss)`` (a Layer/Model first, then x, y and a loss —
    or ``loss=``, or just (x, y) for a compiled model) checks ∂loss/∂(every weight) per layer and
    returns a :class:`~glassnet.diagnostics.model_gradcheck.GradcheckReport`; see
    :func:`~glassnet.diagnostics.model_gradcheck.model_gradcheck` (extra keywords go there).

    ``fn(*inputs)`` must return a Tensor of any shape; it is reduced to a scalar
    ``L = Σ r ⊙ fn(x)`` with a fixed random ``r`` so every output element takes part.
    Float inputs (arrays or Tensors) are promoted to float64 leaves; integer inputs (labels,
    indices) are passed through unchanged. Build layers with ``dtype='float64'`` to check them.

    Returns True, or raises :class:`GradcheckError` naming the input, the element, and both
    gradients (or returns False when ``raise_exception=False``).
    """
    from .model_gradcheck import is_model_call, model_gradcheck

    if is_model_call(fn, inputs, model_kwargs):
        return model_gradcheck(fn, *inputs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                               raise_exception=raise_exception, **model_kwargs)
    if model_kwargs:
        raise TypeError(f"gradcheck() got unexpected keyword argument(s) {sorted(model_kwargs)} (they are only "
                        "accepted by the whole-model form gradcheck(model, x, y, loss)).")
    prepared = [_as_input(x) for x in inputs]
    leaves = [t for t, differentiable in prepared if differentiable]
    args = [t for t, _ in prepared]
    if not leaves:
        raise ValueError("gradcheck: no floating-point input to differentiate.")

    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}.")
    projection = np.random.default_rng(seed).standard_normal(out.shape)
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input through differentiable ops.")
    out.backward(projection.astype(out.dtype))
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad.astype(np.float64) for t in leaves]

    def loss_at() -> float:
        return float(np.sum(fn(*args).data.astype(np.float64) * projection))

    for input_number, (leaf, grad) in enumerate(zip(leaves, analytic)):
        flat = leaf.data.reshape(-1)  # a view: perturb in place
        numeric = np.empty(flat.size)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = loss_at()
            flat[i] = original - eps
            minus = loss_at()
            flat[i] = original
            numeric[i] = (plus - minus) / (2 * eps)
        numeric = numeric.reshape(leaf.shape)
        error = np.abs(grad - numeric)
        bad = error > atol + rtol * np.abs(numeric)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            message = (
                f"gradcheck failed for input {input_number} (shape {leaf.shape}) at index {where}: "
                f"analytic {grad[where]:.8g} vs numerical {numeric[where]:.8g} "
                f"(max abs error {error.max():.3g}, {int(bad.sum())} of {bad.size} elements off; "
                f"atol={atol}, rtol={rtol})."
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
