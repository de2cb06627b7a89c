"""Merge layers: combine a list of tensors element-wise (Add, Subtract, Multiply, Average,
Maximum, Minimum) or by concatenation along an axis. Shapes must agree (broadcasting along
size-1 axes is allowed for the element-wise ones); masks are combined with logical AND."""

from __future__ import annotations

import functools

import numpy as np

from .. import ops
from ..errors import ShapeError
from .base import Layer, _shape_str


class _Merge(Layer):
    supports_masking = True
    minimum_inputs = 2

    def _check_shapes(self, shapes) -> None:
        if not isinstance(shapes, (list, tuple)) or len(shapes) < self.minimum_inputs:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) must be called on a list of at least "
                             f"{self.minimum_inputs} tensors.")
        try:
            self._output_shape(shapes)
        except ValueError:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) cannot merge inputs of shapes "
                             f"{', '.join(_shape_str(tuple(s)) for s in shapes)}: they must match (or be 1) in "
                             "every axis.") from None

    def _output_shape(self, shapes):
        """Broadcast shape; None (unknown) axes stay None unless another input fixes their size."""
        rank = max(len(s) for s in shapes)
        padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
        out = []
        for dims in zip(*padded):
            known = {d for d in dims if d is not None and d != 1}
            if len(known) > 1:
                raise ValueError(dims)
            out.append(known.pop() if known else (None if None in dims else 1))
        return tuple(out)

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.built = True

    def call(self, inputs):
        self._check_shapes([tuple(t.shape) for t in inputs])
        return functools.reduce(self._merge, inputs)

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        return self._output_shape(input_shape)

    def compute_mask(self, inputs, mask=None):
        if not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        present = [np.asarray(m, dtype=bool) for m in mask if m is not None]
        return functools.reduce(np.logical_and, present)


class Add(_Merge):
    """x₁ + x₂ + …"""

    @staticmethod
    def _merge(a, b):
        return ops.add(a, b)


class Subtract(_Merge):
    """x₁ − x₂ (exactly two inputs)."""

    def _check_shapes(self, shapes):
        if isinstance(shapes, (list, tuple)) and len(shapes) != 2:
            raise ShapeError(f"Layer '{self.name}' (Subtract) takes exactly 2 inputs, got {len(shapes)}.")
        super()._check_shapes(shapes)

    @staticmethod
    def _merge(a, b):
        return ops.subtract(a, b)


class Multiply(_Merge):
    """x₁ ⊙ x₂ ⊙ … (element-wise)."""

    @staticmethod
    def _merge(a, b):
        return ops.multiply(a, b)


class Maximum(_Merge):
    """Element-wise maximum of the inputs."""

    @staticmethod
    def _merge(a, b):
        return ops.maximum(a, b)


class Minimum(_Merge):
    """Element-wise minimum of the inputs."""

    @staticmethod
    def _merge(a, b):
        return ops.minimum(a, b)


class Average(_Merge):
    """(x₁ + … + xₙ) / n."""

    def call(self, inputs):
        self._check_shapes([tuple(t.shape) for t in inputs])
        return ops.multiply(functools.reduce(ops.add, inputs), 1.0 / len(inputs))


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (all other axes must match)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) < 2:
            raise ShapeError(f"Layer '{self.name}' (Concatenate) must be called on a list of at least 2 tensors.")
        ranks = {len(s) for s in shapes}
        axis = self.axis % next(iter(ranks)) if len(ranks) == 1 else None
        if len(ranks) != 1 or any(
                any(a != b and None not in (a, b) for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis)
                for s in shapes):
            raise ShapeError(f"Layer '{self.name}' (Concatenate) needs inputs that match except along axis "
                             f"{self.axis}; got shapes {', '.join(_shape_str(tuple(s)) for s in shapes)}.")

    def _output_shape(self, shapes):
        axis = self.axis % len(shapes[0])
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if None in sizes else int(sum(sizes))
        return tuple(out)

    def call(self, inputs):
        self._check_shapes([tuple(t.shape) for t in inputs])
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if self.axis % len(inputs[0].shape) == len(inputs[0].shape) - 1:
            return super().compute_mask(inputs, mask)  # features joined: the time-step masks must all hold
        return None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional interface: ``add([x1, x2])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)
