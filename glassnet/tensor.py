"""Tensor: a NumPy array that records the operations made on it, and reverse-mode autodiff.

Every differentiable operation (see :mod:`glassnet.ops`) returns a new Tensor holding

* ``data``       the result, a NumPy array;
* ``_parents``   the input Tensors it was computed from;
* ``_backward``  a function ``g -> (g_parent_0, g_parent_1, ...)`` giving the vector-Jacobian
                 products, i.e. the chain rule ``∂L/∂input = ∂L/∂output · ∂output/∂input``.

``loss.backward()`` visits the recorded graph from the output back to the inputs in reverse
topological order, sums the gradients reaching each node, and stores them in ``.grad`` of the
leaves (tensors created by the user with ``requires_grad=True``). The graph is then freed,
as in PyTorch. Gradients accumulate across calls until cleared.
"""

from __future__ import annotations

import itertools
import numbers
import operator
from typing import Callable, Sequence

import numpy as np

from . import backend


_creation_counter = itertools.count()
_creation_number = operator.attrgetter("_number")


class _GradMode:
    """Global switch read by every op: when off, no graph is recorded (``no_grad``)."""

    enabled = True


class no_grad:
    """Context manager (and decorator) that disables graph recording, like ``torch.no_grad``."""

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous
        return False

    def __call__(self, fn):
        mode = type(self)  # no_grad or enable_grad

        def wrapper(*args, **kwargs):
            with mode():
                return fn(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
        return wrapper


class enable_grad(no_grad):
    """Context manager that re-enables graph recording inside a ``no_grad`` block."""

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = True
        return self


def is_grad_enabled() -> bool:
    return _GradMode.enabled


class Tensor:
    """An n-dimensional array with automatic differentiation.

    Create one with :func:`glassnet.tensor`. Arithmetic operators, ``@``, indexing and the
    methods below all build the graph that :meth:`backward` differentiates.
    """

    # `_keras_mask` (a boolean array or None) is set by layers that mask time steps. Every Tensor made
    # here starts with None (a missing slot would make each `getattr(t, "_keras_mask", None)` of a layer
    # call raise and catch an AttributeError: ~1 µs); subclasses may leave it unset, so read it that way.
    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op", "_hooks", "name",
                 "_keras_mask", "_number", "__weakref__")
    __array_priority__ = 1000  # make `ndarray + Tensor` call Tensor.__radd__
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Only floating-point tensors can require gradients, got dtype {self.data.dtype}.")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._backward = None
        self._op = None
        self._hooks = None
        self.name = name
        self._keras_mask = None
        self._number = next(_creation_counter)

    # ----------------------------------------------------------------- array facts
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype=None, copy=None):
        """NumPy 2 protocol: ``np.asarray(t)`` shares memory, ``np.array(t)`` (copy=True) copies."""
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            if copy is False:
                raise ValueError(f"Cannot convert a {self.data.dtype} tensor to {np.dtype(dtype)} without a copy.")
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory with the tensor)."""
        return self.data

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20, prefix="tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.data.dtype != np.dtype(backend.floatx()):
            extra = f", dtype={self.data.dtype.name}" + extra
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    __hash__ = object.__hash__  # tensors hash by identity (like torch), although == is element-wise

    # ----------------------------------------------------------------- graph helpers
    def detach(self) -> "Tensor":
        """A tensor sharing the same data but cut from the graph."""
        return Tensor(self.data, dtype=self.data.dtype)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"Only floating-point tensors can require gradients, got dtype {self.data.dtype}.")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def register_hook(self, hook: Callable[[np.ndarray], None]) -> None:
        """Call ``hook(grad)`` with the gradient reaching this tensor during ``backward``."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Back-propagate from this tensor and accumulate ``.grad`` in every leaf that requires it.

        ``grad`` is the seed ∂L/∂self; it may be omitted only for a tensor with one element
        (it is then 1). The graph is freed afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require gradients: none of its inputs "
                "had requires_grad=True, or it was computed under no_grad()."
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() needs a gradient argument for a non-scalar tensor of shape {self.shape}; "
                    "pass grad=ones of that shape to sum over it."
                )
            seed = np.ones_like(self.data)
        else:
            seed = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if seed.shape != self.data.shape:
                try:
                    seed = np.broadcast_to(seed, self.data.shape)
                except ValueError:
                    raise ValueError(f"backward(): gradient of shape {seed.shape} does not match the "
                                     f"tensor's shape {self.shape}.") from None
        run_backward(self, seed, retain_graph)


def _topological_order(root: Tensor) -> list:
    """Every tensor ``root`` depends on that requires gradients, inputs before outputs.

    Creation order is a topological order (an op's inputs exist before its output), so the
    reachable tensors are collected breadth-first and sorted by their creation number.
    """
    nodes, seen = [root], {root}
    i = 0
    while i < len(nodes):
        for parent in nodes[i]._parents:
            if parent.requires_grad and parent not in seen:
                seen.add(parent)
                nodes.append(parent)
        i += 1
    nodes.sort(key=_creation_number)
    return nodes


def run_backward(root: Tensor, seed: np.ndarray, retain_graph: bool = False) -> None:
    grads = {root: seed}
    adopted = {id(seed)}  # arrays that must not become a leaf's .grad without a copy
    for node in reversed(_topological_order(root)):
        g = grads.pop(node, None)
        if g is None:
            continue
        if node._hooks:
            for hook in node._hooks:
                hook(g)
        if node._backward is None:  # a leaf: accumulate
            if g.dtype != node.data.dtype or g.shape != node.data.shape:
                g = np.broadcast_to(g, node.data.shape).astype(node.data.dtype)
            if node.grad is None:
                # A fresh array that no other leaf holds becomes .grad as is; anything else (a view,
                # an array handed to a second leaf, the seed) is copied, so leaves never alias.
                if g.base is None and g.flags.writeable and id(g) not in adopted:
                    adopted.add(id(g))
                    node.grad = g
                else:
                    node.grad = np.array(g, copy=True)
            else:
                node.grad += g
            continue
        parent_grads = node._backward(g)
        for parent, pg in zip(node._parents, parent_grads):
            if pg is None or not parent.requires_grad:
                continue
            previous = grads.get(parent)
            grads[parent] = pg if previous is None else previous + pg
        if not retain_graph:
            node._parents = ()
            node._backward = _graph_freed


def _graph_freed(g):
    raise RuntimeError(
        "Trying to backward through the graph a second time: its intermediate results were freed by "
        "the first backward(). Call backward(retain_graph=True) the first time if you need to."
    )


class Parameter(Tensor):
    """A trainable weight: a leaf tensor owned by a layer (Keras ``Variable``, torch ``Parameter``).

    ``trainable=False`` weights (e.g. batch-norm moving statistics) never receive gradients.
    """

    __slots__ = ("trainable", "regularizer", "constraint", "path")

    def __init__(self, data, trainable: bool = True, name: str | None = None, dtype=None,
                 regularizer=None, constraint=None):
        super().__init__(data, requires_grad=trainable, dtype=dtype, name=name)
        source = data.data if isinstance(data, Tensor) else data
        if isinstance(source, np.ndarray) and np.shares_memory(self.data, source):
            self.data = self.data.copy()  # a weight owns its values (optimizers update them in place)
        self.trainable = bool(trainable)
        self.regularizer = regularizer
        self.constraint = constraint
        self.path = name

    def assign(self, value) -> None:
        """Overwrite the values in place (keeps the array object, so views stay valid)."""
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.data.shape:
            raise ValueError(f"Cannot assign a value of shape {value.shape} to weight "
                             f"{self.name!r} of shape {self.data.shape}.")
        self.data[...] = value

    def assign_add(self, value) -> None:
        """``w += value`` in place (Keras ``Variable.assign_add``)."""
        self.data += np.asarray(value.data if isinstance(value, Tensor) else value, dtype=self.data.dtype)

    def assign_sub(self, value) -> None:
        """``w -= value`` in place (Keras ``Variable.assign_sub``)."""
        self.data -= np.asarray(value.data if isinstance(value, Tensor) else value, dtype=self.data.dtype)

    @property
    def value(self) -> "Parameter":
        """The weight itself, so Keras' PyTorch-backend idiom ``[v.value.grad for v in weights]`` runs."""
        return self

    def __repr__(self) -> str:
        return f"<Parameter {self.name} shape={self.shape} dtype={self.dtype.name} trainable={self.trainable}>"


def _to_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    array = data if isinstance(data, np.ndarray) else np.asarray(data)
    if array.dtype.kind in "iu" or (array.dtype.kind == "f" and not isinstance(data, np.ndarray)):
        return array.astype(backend.floatx())
    return array


def tensor(data, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Create a Tensor.

    Python numbers and lists become ``floatx()`` (float32); a NumPy float array keeps its
    dtype (as ``torch.tensor`` does), integer arrays become ``floatx()``; ``dtype=`` overrides.
    The data is always copied, as ``torch.tensor`` does (the ``Tensor(array)`` constructor, like
    ``torch.as_tensor``, shares the array's memory instead).
    """
    result = Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)
    source = data.data if isinstance(data, Tensor) else data
    if isinstance(source, np.ndarray) and np.shares_memory(result.data, source):
        result.data = result.data.copy()
    return result


def as_tensor(x, dtype=None) -> Tensor:
    """``x`` itself if it is a Tensor (cast to ``dtype`` if given), else a constant Tensor."""
    if isinstance(x, Tensor):
        if dtype is not None and x.data.dtype != np.dtype(dtype):
            from .ops.elementwise import cast

            return cast(x, dtype)
        return x
    return Tensor(x, dtype=dtype)


def make_result(data: np.ndarray, parents: Sequence[Tensor], backward_fn, op: str) -> Tensor:
    """Wrap an op's output; record the graph only if grad mode is on and an input needs it.

    This is the hot path of every operation, so it bypasses ``Tensor.__init__``.
    """
    out = Tensor.__new__(Tensor)
    out._number = next(_creation_counter)
    # NumPy returns scalars, not 0-d arrays, from ufuncs on 0-d inputs; .data is always an ndarray.
    out.data = data if type(data) is np.ndarray else np.asarray(data)
    out.grad = None
    out._op = op
    out._hooks = None
    out.name = None
    out._keras_mask = None
    if _GradMode.enabled:
        for parent in parents:
            if parent.requires_grad:
                out.requires_grad = True
                out._parents = tuple(parents)
                out._backward = backward_fn
                return out
    out.requires_grad = False
    out._parents = ()
    out._backward = None
    return out


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def is_scalar_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)
