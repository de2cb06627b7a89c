"""Weight constraints, applied to a weight's values after each optimizer update.

``MaxNorm(m)``: rescale columns whose L2 norm exceeds m; ``NonNeg``: w = max(w, 0);
``UnitNorm``: w / ‖w‖; ``MinMaxNorm(lo, hi, rate)``: pull norms into [lo, hi].
Norms are taken along ``axis`` (0 for a Dense kernel: one norm per output unit).
A constraint maps a NumPy array to a NumPy array (it is not differentiated).
"""

from __future__ import annotations

import numpy as np

from .saving import Registry, deserialize as _deserialize, serialize as _serialize

REGISTRY = Registry("constraint")
_EPS = 1e-7


class Constraint:
    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _norms(w: np.ndarray, axis) -> np.ndarray:
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


@REGISTRY.register("MaxNorm", "max_norm")
class MaxNorm(Constraint):
    """w · min(‖w‖, max_value) / ‖w‖ along ``axis``."""

    def __init__(self, max_value: float = 2.0, axis=0):
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (norms + _EPS))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@REGISTRY.register("NonNeg", "non_neg")
class NonNeg(Constraint):
    """w · 1[w ≥ 0]."""

    def __call__(self, w):
        return w * (w >= 0)


@REGISTRY.register("UnitNorm", "unit_norm")
class UnitNorm(Constraint):
    """w / ‖w‖ along ``axis``."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (_norms(w, self.axis) + _EPS)

    def get_config(self):
        return {"axis": self.axis}


@REGISTRY.register("MinMaxNorm", "min_max_norm")
class MinMaxNorm(Constraint):
    """w · (rate·clip(‖w‖, lo, hi) + (1 − rate)·‖w‖) / ‖w‖ along ``axis``."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = float(min_value), float(max_value), float(rate), axis

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (norms + _EPS))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return REGISTRY.lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret constraint {identifier!r}.")


def serialize(constraint):
    return _serialize(constraint, REGISTRY)


def deserialize(config, custom_objects=None):
    return _deserialize(config, REGISTRY, custom_objects)
