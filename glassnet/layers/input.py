"""Symbolic inputs: ``Input(shape)`` returns a ``KerasTensor`` — a shape and dtype without values.

Calling a layer on a KerasTensor builds the layer for that shape and returns a new KerasTensor
that remembers the call (a ``Node``); functional models are read off these records.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, no_grad
from ..training import flatten_structure, map_structure
from .base import Layer, _shape_str, merge_unknown_axes


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
        node = Node(self, None, (), {})
        node.outputs = KerasTensor(self.batch_shape, self.dtype, node=node, name=self.name)
        self._inbound_nodes.append(node)

    @property
    def input(self) -> KerasTensor:
        """An Input's input is its output (Keras)."""
        return self.output

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None) -> KerasTensor:  # noqa: N802
    """A symbolic model input of ``shape`` (without the batch axis), as ``keras.Input``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


def _shape_of(value) -> tuple:
    return value.shape if isinstance(value, KerasTensor) else tuple(np.shape(value))


def _dry_run_shapes(layer: Layer, inputs, args, kwargs):
    """Output shapes found by running ``layer`` on zeros shaped like the symbolic tensors (the fallback
    for layers without their own ``compute_output_shape``, and for calls with symbolic arguments).

    The batch axis becomes None. When a symbolic tensor has other unknown (None) axes, the layer
    runs twice with different sizes for them, and output axes that change are reported as None.
    """
    symbolic = [t for t in flatten_structure([inputs, args, kwargs]) if isinstance(t, KerasTensor)]
    unknown = any(s is None for t in symbolic for s in t.shape[1:])

    def run(size):
        def concrete(value):
            if not isinstance(value, KerasTensor):
                return value
            shape = tuple(1 if i == 0 else (size if s is None else s) for i, s in enumerate(value.shape))
            return Tensor(np.zeros(shape, dtype=value.dtype), dtype=value.dtype)

        with no_grad():
            out = layer(map_structure(concrete, inputs), *map_structure(concrete, list(args)),
                        training=False, **map_structure(concrete, dict(kwargs)))
        return map_structure(lambda t: tuple(t.shape), out)

    first = run(2)
    shapes = merge_unknown_axes(first, run(3)) if unknown else first
    return map_structure_shapes(lambda shape: (None,) + shape[1:], shapes)


def map_structure_shapes(fn, shapes):
    """Apply ``fn`` to every shape tuple in a nested structure of shapes."""
    if isinstance(shapes, dict):
        return {k: map_structure_shapes(fn, v) for k, v in shapes.items()}
    if isinstance(shapes, list) or (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], tuple)):
        return [map_structure_shapes(fn, s) for s in shapes]
    return fn(tuple(shapes))


def _overrides_compute_output_shape(layer: Layer) -> bool:
    return type(layer).compute_output_shape is not Layer.compute_output_shape


def symbolic_call(layer: Layer, inputs, *args, training=None, **kwargs):
    """Build ``layer`` for the symbolic inputs' shapes and return symbolic outputs (recording a Node)."""
    shapes = map_structure(_shape_of, inputs)
    if layer.input_spec is not None and isinstance(inputs, KerasTensor):
        layer.input_spec.check(layer, inputs.shape)
    if not layer.built:
        layer._build_input_shape = shapes
        layer.build(shapes)
        layer.built = True
    if layer.input_spec is not None and isinstance(inputs, KerasTensor):
        layer.input_spec.check(layer, inputs.shape)
    extra_symbolic = _contains_keras_tensor(args) or _contains_keras_tensor(kwargs)
    if _overrides_compute_output_shape(layer) and not extra_symbolic:  # a formula: unknown axes stay None
        out_shapes = layer.compute_output_shape(shapes)
    else:
        out_shapes = _dry_run_shapes(layer, inputs, args, kwargs)
    node = Node(layer, inputs, args, dict(kwargs, **({} if training is None else {"training": training})))
    layer._inbound_nodes.append(node)  # what layer.input / layer.output read
    counter = iter(range(10_000))

    def make(shape):
        return KerasTensor(shape, layer.dtype, node=node, index=next(counter), name=layer.name)

    if isinstance(out_shapes, tuple) and all(isinstance(s, (int, type(None))) for s in out_shapes):
        outputs = make(out_shapes)
    else:
        outputs = _structure_map_shapes(make, out_shapes)
    node.outputs = outputs
    return outputs


def _contains_keras_tensor(x) -> bool:
    return any(isinstance(t, KerasTensor) for t in flatten_structure(x))


def _structure_map_shapes(fn, shapes):
    if isinstance(shapes, dict):
        return {k: _structure_map_shapes(fn, v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and shapes and not all(isinstance(s, (int, type(None))) for s in shapes):
        return [_structure_map_shapes(fn, s) for s in shapes]
    return fn(tuple(shapes))


__all__ = ["Input", "InputLayer", "KerasTensor", "Node", "symbolic_call"]
