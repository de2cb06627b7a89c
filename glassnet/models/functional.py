"""Functional models: ``Model(inputs, outputs)`` built from layers called on symbolic tensors.

Calling a layer on a :class:`~glassnet.layers.KerasTensor` records a ``Node`` (layer, inputs,
extra arguments, outputs). A functional model walks those records back from its outputs to its
inputs once, keeps the nodes in dependency order, and at call time replays them on real
tensors. This supports several inputs and outputs (lists or dicts), shared layers (one layer,
several nodes), nested models, and skip connections.
"""

from __future__ import annotations

from ..errors import GlassnetError, ShapeError
from ..layers.base import _shape_str
from ..layers.input import InputLayer, KerasTensor
from ..training import flatten_structure, map_structure
from .model import Model


def _is_symbolic(x) -> bool:
    flat = flatten_structure(x)
    return bool(flat) and all(isinstance(t, KerasTensor) for t in flat)


def _topological_nodes(outputs: list, inputs: list) -> list:
    """Nodes needed to compute ``outputs`` from ``inputs``, each after the nodes it depends on."""
    input_ids = {id(t) for t in inputs}
    order, visited, on_path = [], set(), set()

    def visit(tensor: KerasTensor, consumer):
        node = tensor.node
        if id(tensor) in input_ids:
            return
        if node is None or isinstance(node.layer, InputLayer):
            needed_by = f" (needed by layer '{consumer.name}')" if consumer is not None else ""
            raise GlassnetError(
                f"Graph disconnected: the model cannot compute tensor '{tensor.name}' of shape "
                f"{_shape_str(tensor.shape)}{needed_by} from the given inputs "
                f"{[t.name for t in inputs]}. Pass every Input the outputs depend on.")
        if id(node) in visited:
            return
        if id(node) in on_path:
            raise GlassnetError(f"The layer graph has a cycle through layer '{node.layer.name}'.")
        on_path.add(id(node))
        for value in flatten_structure([node.inputs, list(node.args), node.kwargs]):
            if isinstance(value, KerasTensor):
                visit(value, node.layer)
        on_path.discard(id(node))
        visited.add(id(node))
        order.append(node)

    for output in outputs:
        visit(output, None)
    return order


class Functional(Model):
    """A model defined by its symbolic inputs and outputs: ``Model(inputs=x, outputs=y)``."""

    _structured_inputs = True

    def __init__(self, inputs, outputs, name=None, trainable: bool = True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        if not _is_symbolic(inputs):
            raise TypeError("Model(inputs, outputs): inputs must be glassnet.Input(...) tensors (or lists/dicts "
                            "of them).")
        if not _is_symbolic(outputs):
            raise TypeError("Model(inputs, outputs): outputs must be tensors returned by calling layers on the "
                            "inputs.")
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        flat_inputs = flatten_structure(inputs)
        for t in flat_inputs:
            if t.node is None or not isinstance(t.node.layer, InputLayer):
                raise GlassnetError(f"Model inputs must come from glassnet.Input(); '{t.name}' is the output of "
                                    f"layer '{t.node.layer.name if t.node else '?'}'.")
        self._input_structure = inputs
        self._output_structure = outputs
        self._flat_inputs = flat_inputs
        self._flat_outputs = flatten_structure(outputs)
        self._nodes = _topological_nodes(self._flat_outputs, flat_inputs)
        layers = [t.node.layer for t in flat_inputs]
        for node in self._nodes:
            if not any(node.layer is known for known in layers):
                layers.append(node.layer)
        self._tracked_layers.extend(layers)
        self._build_input_shape = map_structure(lambda t: t.shape, inputs)
        self.built = True

    # ----------------------------------------------------------------- structure
    @property
    def layers(self) -> list:
        return list(self._tracked_layers)

    @property
    def inputs(self) -> list:
        return list(self._flat_inputs)

    @property
    def outputs(self) -> list:
        return list(self._flat_outputs)

    @property
    def input(self):
        """The model's symbolic input(s), in the structure they were given (Keras)."""
        return self._input_structure

    @property
    def output(self):
        """The model's symbolic output(s), in the structure they were given (Keras)."""
        return self._output_structure

    @property
    def input_shape(self):
        return map_structure(lambda t: t.shape, self._input_structure)

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self._output_structure)

    @property
    def input_names(self) -> list:
        return [t.node.layer.name for t in self._flat_inputs]

    @property
    def output_names(self) -> list:
        return [t.node.layer.name for t in self._flat_outputs]

    def _nodes_of(self, layer) -> list:
        return [node for node in self._nodes if node.layer is layer]

    # ----------------------------------------------------------------- calling
    def _convert_input(self, x):
        """Each input keeps the dtype of its Input (integer inputs stay integers, e.g. for Embedding)."""
        values = self._match_inputs(x)
        converted = []
        for value, symbolic in zip(values, self._flat_inputs):
            layer = symbolic.node.layer
            converted.append(layer._convert_input(value))
        return converted

    def _match_inputs(self, x) -> list:
        """The given input values in the order of ``self._flat_inputs``."""
        structure = self._input_structure
        if isinstance(structure, dict):
            if not isinstance(x, dict):
                raise ShapeError(f"Model '{self.name}' expects a dict of inputs with keys {sorted(structure)}, "
                                 f"got {type(x).__name__}.")
            missing = sorted(set(structure) - set(x))
            if missing:
                raise ShapeError(f"Model '{self.name}' is missing inputs {missing}.")
            return [x[k] for k in structure]
        if isinstance(structure, list):
            if isinstance(x, dict):
                names = self.input_names
                missing = [n for n in names if n not in x]
                if missing:
                    raise ShapeError(f"Model '{self.name}' is missing inputs {missing}.")
                return [x[n] for n in names]
            if len(structure) == 1 and not isinstance(x, (list, tuple)):  # Model(inputs=[inp]) fed one array
                return [x]
            if not isinstance(x, (list, tuple)) or len(x) != len(structure):
                got = f"{len(x)} arrays" if isinstance(x, (list, tuple)) else "one array"
                raise ShapeError(f"Model '{self.name}' expects {len(structure)} inputs "
                                 f"({', '.join(self.input_names)}), got {got}.")
            return list(x)
        if isinstance(x, (list, tuple)) and len(x) == 1:
            return [x[0]]
        return [x]

    def _maybe_build(self, inputs) -> None:
        self.built = True

    def call(self, inputs, training=None):
        values = {}
        for symbolic, value in zip(self._flat_inputs, inputs):
            _check_input_shape(self, symbolic, value)
            values[id(symbolic)] = value

        def lookup(item):
            return values[id(item)] if isinstance(item, KerasTensor) else item

        for node in self._nodes:
            args = map_structure(lookup, list(node.args))
            kwargs = map_structure(lookup, dict(node.kwargs))
            outputs = node.layer(map_structure(lookup, node.inputs), *args, **kwargs)
            for symbolic, value in zip(flatten_structure(node.outputs), flatten_structure(outputs)):
                values[id(symbolic)] = value
        return map_structure(lookup, self._output_structure)

    def compute_output_shape(self, input_shape):
        return map_structure(lambda t: t.shape, self._output_structure)

    def output_shapes(self) -> list:
        """Each layer's output shape (of its first node), for ``summary()``."""
        shapes = []
        for layer in self._tracked_layers:
            if isinstance(layer, InputLayer):
                shapes.append(layer.output.shape)
                continue
            nodes = self._nodes_of(layer)
            out = nodes[0].outputs
            shapes.append(out.shape if isinstance(out, KerasTensor) else [t.shape for t in flatten_structure(out)])
        return shapes

    def connections(self, layer) -> list:
        """``name[node][tensor]`` of every tensor feeding ``layer`` in this model (Keras' "Connected to")."""
        result = []
        for node in self._nodes_of(layer):
            for t in flatten_structure([node.inputs, list(node.args), node.kwargs]):
                if isinstance(t, KerasTensor):
                    producer = t.node.layer
                    node_index = self._node_index(producer, t.node)
                    result.append(f"{producer.name}[{node_index}][{t.index}]")
        return result

    def _node_index(self, layer, node) -> int:
        if isinstance(layer, InputLayer):
            return 0
        for i, candidate in enumerate(self._nodes_of(layer)):
            if candidate is node:
                return i
        return 0

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict:
        from .. import layers as layers_module

        layer_configs = []
        for layer in self._tracked_layers:
            layer_configs.append({"name": layer.name, **layers_module.serialize(layer)})

        def ref(item):
            if isinstance(item, KerasTensor):
                producer = item.node.layer
                return {"__tensor__": [producer.name, self._node_index(producer, item.node), item.index]}
            return item

        nodes = []
        for node in self._nodes:
            nodes.append({"layer": node.layer.name, "inputs": map_structure(ref, node.inputs),
                          "args": map_structure(ref, list(node.args)), "kwargs": map_structure(ref, dict(node.kwargs))})
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs, "nodes": nodes,
                "inputs": map_structure(ref, self._input_structure),
                "outputs": map_structure(ref, self._output_structure)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from .. import layers as layers_module

        by_name = {}
        tensors = {}
        for layer_config in config["layers"]:
            layer = layers_module.deserialize({"class_name": layer_config["class_name"],
                                               "config": layer_config["config"]}, custom_objects)
            by_name[layer_config["name"]] = layer
            if isinstance(layer, InputLayer):
                tensors[(layer_config["name"], 0, 0)] = layer.output
        node_counts = {}

        def resolve(item):
            if isinstance(item, dict) and set(item) == {"__tensor__"}:
                key = tuple(item["__tensor__"])
                if key not in tensors:
                    raise GlassnetError(f"Functional config refers to tensor {list(key)} before it is computed.")
                return tensors[key]
            return item

        def resolve_structure(value):
            if isinstance(value, dict) and set(value) == {"__tensor__"}:
                return resolve(value)
            if isinstance(value, list):
                return [resolve_structure(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve_structure(v) for k, v in value.items()}
            return value

        for node in config["nodes"]:
            layer = by_name[node["layer"]]
            outputs = layer(resolve_structure(node["inputs"]), *resolve_structure(node["args"]),
                            **resolve_structure(node["kwargs"]))
            node_index = node_counts.get(node["layer"], 0)
            node_counts[node["layer"]] = node_index + 1
            for i, t in enumerate(flatten_structure(outputs)):
                tensors[(node["layer"], node_index, i)] = t
        return cls(resolve_structure(config["inputs"]), resolve_structure(config["outputs"]), name=config.get("name"),
                   trainable=config.get("trainable", True))


def _check_input_shape(model: Functional, symbolic: KerasTensor, value) -> None:
    shape = tuple(getattr(value, "shape", ()))
    expected = symbolic.shape
    if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
        raise ShapeError(f"Input '{symbolic.name}' of model '{model.name}' expects shape {_shape_str(expected)}, "
                         f"but received input of shape {_shape_str(shape)}.")
