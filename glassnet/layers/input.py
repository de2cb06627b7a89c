"""Symbolic inputs: ``Input(shape)`` returns a ``KerasTensor`` — a shape and dtype without values.

Calling a layer on a KerasTensor builds the layer for that shape and returns a new KerasTensor
that remembers the call (a ``Node``); functional models are read off these records.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..training import map_structure
from .base import Layer, _shape_str, _shapes_of


class Node:
    """One call of a layer on symbolic inputs: ``outputs = layer(inputs, *args, **kwargs)``."""

    def __init__(self, layer, inputs, args, kwargs):
        self.layer, self.inputs, self.args, self.kwargs = layer, inputs, args, kwargs
        self.outputs = None


class KerasTensor:
    """A symbolic tensor: ``shape`` (batch axis None), ``dtype`` and the node that produced it."""

    def __init__(self, shape, dtype=None, node: Node | None = None, index: int = 0, name: str | None = None):
        self.shape = tuple(shape)
        self.dtype = backend.standardize_dtype(dtype).name
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={_shape_str(self.shape)}, dtype={self.dtype}, name={self.name}>"


class InputLayer(Layer):
    """The entry point of a model: holds the input shape (without the batch axis)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, input_shape=None,
                 sparse=None, **kwargs):
        if batch_shape is None:
            shape = shape if shape is not None else input_shape
            if shape is None:
                raise ValueError("InputLayer needs a shape, e.g. Input(shape=(784,)).")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = tuple(None if s is None else int(s) for s in batch_shape)
        self._build_input_shape = (None,) + self.batch_shape[1:]
        self.built = True
        self.output = KerasTensor(self.batch_shape, self.dtype, node=Node(self, None, (), {}), name=self.name)
        self.output.node.outputs = self.output

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None) -> KerasTensor:  # noqa: N802
    """A symbolic model input of ``shape`` (without the batch axis), as ``keras.Input``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


def symbolic_call(layer: Layer, inputs, *args, training=None, **kwargs):
    """Build ``layer`` for the symbolic inputs' shapes and return symbolic outputs."""
    shapes = map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else tuple(np.shape(t)), inputs)
    if not layer.built:
        layer._build_input_shape = shapes
        layer.build(shapes)
        layer.built = True
    if layer.input_spec is not None and isinstance(inputs, KerasTensor):
        layer.input_spec.check(layer, inputs.shape)
    out_shapes = layer.compute_output_shape(shapes)
    node = Node(layer, inputs, args, dict(kwargs, **({} if training is None else {"training": training})))
    counter = iter(range(1000))

    def make(shape):
        return KerasTensor(shape, layer.dtype, node=node, index=next(counter), name=layer.name)

    if isinstance(out_shapes, tuple) and all(isinstance(s, (int, type(None))) for s in out_shapes):
        outputs = make(out_shapes)
    else:
        outputs = _structure_map_shapes(make, out_shapes)
    node.outputs = outputs
    return outputs


def _structure_map_shapes(fn, shapes):
    if isinstance(shapes, dict):
        return {k: _structure_map_shapes(fn, v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and shapes and not all(isinstance(s, (int, type(None))) for s in shapes):
        return [_structure_map_shapes(fn, s) for s in shapes]
    return fn(tuple(shapes))


__all__ = ["Input", "InputLayer", "KerasTensor", "Node", "symbolic_call", "_shapes_of"]
