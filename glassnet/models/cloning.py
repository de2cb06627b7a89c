"""``clone_model``: the same architecture with new layers and freshly initialised weights (Keras).

Every layer is rebuilt by ``clone_function(layer)`` — by default ``type(layer).from_config(layer.get_config())``,
so the clone shares no weights with the original and draws new initial values. A functional model's
graph is replayed on the clones (shared layers stay shared, once each); a Sequential model is rebuilt
from its cloned layers with the same input shape. Copy the weights too with
``clone.set_weights(model.get_weights())``.
"""

from __future__ import annotations

from ..layers.base import Layer
from ..layers.input import Input, InputLayer, KerasTensor
from ..training import flatten_structure, map_structure
from .functional import Functional
from .sequential import Sequential


def _clone_layer(layer: Layer) -> Layer:
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with ``model``'s architecture and new, freshly initialised weights.

    ``input_tensors``: ``Input`` tensors to build the clone on (one per model input) instead of new
    ones. ``clone_function(layer) -> layer`` replaces the default rebuild from the layer's config.
    Subclassed models are rebuilt from their config and accept neither argument (as Keras).
    """
    clone_function = clone_function or _clone_layer
    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone_function)
    if isinstance(model, Functional):
        return _clone_functional(model, input_tensors, clone_function)
    if not isinstance(model, Layer):
        raise TypeError(f"clone_model expects a glassnet model, got {type(model).__name__}: {model!r:.80}.")
    if input_tensors is not None or clone_function is not _clone_layer:
        raise ValueError(f"clone_model: input_tensors and clone_function apply to Sequential and functional models "
                         f"only; '{model.name}' is a subclassed {type(model).__name__}, which is rebuilt from its "
                         "config.")
    return type(model).from_config(model.get_config())


def _clone_sequential(model: Sequential, input_tensors, clone_function) -> Sequential:
    clones = [clone_function(layer) for layer in model.layers]
    if input_tensors is not None:
        inputs = flatten_structure(input_tensors)
        if len(inputs) != 1:
            raise ValueError(f"clone_model: Sequential model '{model.name}' has one input, got {len(inputs)} "
                             "input_tensors.")
        clones = inputs + clones
    elif model._input_batch_shape is not None:
        clones = [Input(batch_shape=model._input_batch_shape, dtype=model.dtype)] + clones
    return Sequential(clones, name=model.name, trainable=model.trainable,
                      **({"dtype": model.dtype} if model._dtype_given else {}))


def _clone_functional(model: Functional, input_tensors, clone_function) -> Functional:
    if input_tensors is None:
        new_inputs = [InputLayer.from_config(t.node.layer.get_config()).output for t in model.inputs]
    else:
        new_inputs = flatten_structure(input_tensors)
        if len(new_inputs) != len(model.inputs) or not all(isinstance(t, KerasTensor) for t in new_inputs):
            raise ValueError(f"clone_model: model '{model.name}' has {len(model.inputs)} inputs "
                             f"({', '.join(model.input_names)}); input_tensors must be as many glassnet.Input "
                             "tensors.")
    tensors = {id(old): new for old, new in zip(model.inputs, new_inputs)}
    clones = {}

    def new_tensor(item):
        return tensors[id(item)] if isinstance(item, KerasTensor) else item

    for node in model._nodes:  # dependency order: every input of a node is already cloned
        layer = clones.get(id(node.layer))
        if layer is None:
            layer = clones[id(node.layer)] = clone_function(node.layer)
        outputs = layer(map_structure(new_tensor, node.inputs), *map_structure(new_tensor, list(node.args)),
                        **map_structure(new_tensor, dict(node.kwargs)))
        for old, new in zip(flatten_structure(node.outputs), flatten_structure(outputs)):
            tensors[id(old)] = new
    return Functional(map_structure(new_tensor, model._input_structure),
                      map_structure(new_tensor, model._output_structure), name=model.name, trainable=model.trainable)


__all__ = ["clone_model"]
