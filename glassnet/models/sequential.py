"""``Sequential``: a plain stack of layers, each feeding the next (Keras semantics)."""

from __future__ import annotations

from ..errors import ShapeError
from ..layers.base import InputSpec, Layer, _batchless
from ..layers.input import InputLayer, KerasTensor
from .model import Model


class Sequential(Model):
    """``Sequential([Dense(16, activation='relu', input_shape=(8,)), Dense(1)])`` or ``.add(layer)``.

    The input shape may be given by an ``Input(shape)`` first element, an ``InputLayer``, or
    ``input_shape=``/``input_dim=`` on the first layer (Keras 2); otherwise the model is built
    on its first call from the data's shape.
    """

    def __init__(self, layers=None, name=None, trainable: bool = True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._dtype_given = kwargs.get("dtype") is not None
        self._input_batch_shape = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list:
        return list(self._tracked_layers)

    def add(self, layer) -> None:
        """Append a layer (or set the input shape with an ``Input``/``InputLayer``)."""
        if isinstance(layer, KerasTensor):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._tracked_layers:
                raise ValueError("An Input/InputLayer can only be the first element of a Sequential model.")
            self._input_batch_shape = _batchless(layer.batch_shape)
            if not self._dtype_given and layer.dtype != self.dtype:
                self.dtype = layer.dtype  # inputs are converted to the Input's dtype, as in a functional model
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}: {layer!r}.")
        if any(layer is known for known in self._tracked_layers):
            raise ValueError(f"Layer '{layer.name}' is already in this model.")
        if not self._tracked_layers and self._input_batch_shape is None and layer._input_shape_arg is not None:
            self._input_batch_shape = layer._input_shape_arg
        self._tracked_layers.append(layer)
        self.built = False
        if self._input_batch_shape is not None:
            self.build(self._input_batch_shape)

    def pop(self) -> Layer:
        layer = self._tracked_layers.pop()
        self.built = False
        return layer

    def build(self, input_shape=None) -> None:
        """Build every layer by propagating ``input_shape`` (batch axis first, may be None)."""
        if input_shape is None:
            input_shape = self._input_batch_shape
        if input_shape is None:
            raise ValueError("Sequential.build needs an input shape, e.g. model.build((None, 784)).")
        shape = _batchless(tuple(input_shape))
        for layer in self._tracked_layers:
            if not layer.built:
                layer._build_input_shape = shape
                layer.build(shape)
                layer.built = True
            elif layer.input_spec is not None:
                layer.input_spec.check(layer, shape)
            shape = layer.compute_output_shape(shape)
            layer._last_output_shape = shape
        self._build_input_shape = _batchless(tuple(input_shape))
        if self._input_batch_shape is not None:  # a declared input shape is a contract (Keras)
            declared = self._input_batch_shape
            first = self._tracked_layers[0] if self._tracked_layers else None
            where = (f"Layer '{first.name}' ({type(first).__name__}), the first layer of model '{self.name}',"
                     if first is not None else None)
            self.input_spec = InputSpec(ndim=len(declared), where=where,
                                        axes={i: s for i, s in enumerate(declared) if i > 0 and s is not None})
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._tracked_layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._tracked_layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # ----------------------------------------------------------------- symbolic view (Keras)
    def _symbolic_graph(self) -> tuple:
        """``(input, output)`` KerasTensors: the layers called once on a symbolic Input of the model's
        input shape, made on first use and again after ``add``/``pop``. It lets ``model.inputs``,
        ``model.output`` and each layer's ``.output`` build new models (feature extraction)."""
        from ..layers.input import Input

        cached = self.__dict__.get("_symbolic")
        layers = list(self._tracked_layers)
        if cached is not None and len(cached[2]) == len(layers) and all(a is b for a, b in zip(cached[2], layers)):
            return cached[0], cached[1]
        if self._build_input_shape is None:
            raise AttributeError(f"Model '{self.name}' has no input shape yet, so it has no symbolic inputs or "
                                 "outputs: start it with glassnet.Input(shape=...) or build it first.")
        if cached is not None:  # forget the calls of the previous layer stack
            for layer, node in zip(cached[2], cached[3]):
                if node in layer._inbound_nodes:
                    layer._inbound_nodes.remove(node)
        inputs = x = Input(batch_shape=tuple(self._build_input_shape), dtype=self.dtype)
        nodes = []
        for layer in layers:
            x = layer(x)
            nodes.append(layer._inbound_nodes[-1])
        object.__setattr__(self, "_symbolic", (inputs, x, layers, nodes))
        return inputs, x

    @property
    def inputs(self) -> list:
        return [self._symbolic_graph()[0]]

    @property
    def outputs(self) -> list:
        return [self._symbolic_graph()[1]]

    @property
    def input(self):
        return self._symbolic_graph()[0]

    @property
    def output(self):
        return self._symbolic_graph()[1]

    @property
    def input_shape(self):
        return self._symbolic_graph()[0].shape

    @property
    def output_shape(self):
        return self._symbolic_graph()[1].shape

    def output_shapes(self) -> list:
        """Each layer's output shape (batch axis None), propagated from the input shape."""
        if self._build_input_shape is None:
            raise ShapeError(f"Model '{self.name}' has no known input shape yet.")
        shapes, shape = [], self._build_input_shape
        for layer in self._tracked_layers:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    def get_config(self) -> dict:
        from .. import layers as layers_module

        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
                  "layers": [layers_module.serialize(layer) for layer in self._tracked_layers]}
        if self._build_input_shape is not None:
            config["build_input_shape"] = list(self._build_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from .. import layers as layers_module

        config = dict(config)
        layer_configs = config.pop("layers", [])
        build_shape = config.pop("build_input_shape", None)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True), dtype=config.get("dtype"))
        for layer_config in layer_configs:
            model.add(layers_module.deserialize(layer_config, custom_objects))
        if build_shape is not None and not model.built:
            model.build(tuple(build_shape))
        return model
