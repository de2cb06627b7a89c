"""Weight penalties added to the training loss: L1 (λΣ|w|), L2 (λΣw², no ½), L1L2 (elastic net).

Used as ``Dense(..., kernel_regularizer=L2(1e-4))`` (or the Keras lower-case spellings ``l1(0.01)``,
``l2(...)``, ``l1_l2(...)``) or by name (``'l1'``, ``'l2'``, ``'l1_l2'``, default factor 0.01 as in Keras). Each regularizer maps a weight Tensor to a scalar Tensor,
so its gradient comes from the ops.
"""

from __future__ import annotations

from . import ops
from .saving import Registry, deserialize as _deserialize, serialize as _serialize

REGISTRY = Registry("regularizer")


class Regularizer:
    """Base class: ``regularizer(weight) -> scalar Tensor`` penalty."""

    def __call__(self, x):
        return ops.as_tensor(0.0)

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@REGISTRY.register("L1L2", "l1_l2")
class L1L2(Regularizer):
    """``l1·Σ|w| + l2·Σw²``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = ops.as_tensor(0.0, dtype=getattr(x, "dtype", None))
        if self.l1:
            penalty = penalty + self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * ops.sum(ops.square(x))
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


@REGISTRY.register("L1", "l1")
class L1(Regularizer):
    """``l1·Σ|w|``."""

    def __init__(self, l1: float = 0.01):
        self.l1 = float(l1)

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(x))

    def get_config(self) -> dict:
        return {"l1": self.l1}


@REGISTRY.register("L2", "l2")
class L2(Regularizer):
    """``l2·Σw²`` (no ½, as in Keras)."""

    def __init__(self, l2: float = 0.01):
        self.l2 = float(l2)

    def __call__(self, x):
        return self.l2 * ops.sum(ops.square(x))

    def get_config(self) -> dict:
        return {"l2": self.l2}


# Keras exports the classes under lower-case names too: ``regularizers.l2(1e-4)`` is an ``L2``
# (it serializes as class_name 'L2', as in Keras).
l1, l2 = L1, L2


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Keras' helper: an L1L2 regularizer with both factors (0.01 by default)."""
    return L1L2(l1=l1, l2=l2)


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2' with factor 0.01), a config or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = REGISTRY.lookup(identifier)
        return l1_l2() if cls is L1L2 and identifier.lower() == "l1_l2" else cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret regularizer {identifier!r}.")


def serialize(regularizer):
    return _serialize(regularizer, REGISTRY)


def deserialize(config, custom_objects=None):
    return _deserialize(config, REGISTRY, custom_objects)
