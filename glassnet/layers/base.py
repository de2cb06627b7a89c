"""The ``Layer`` base class: weights created on first call, tracked, saved and restored.

A layer subclass implements ``build(input_shape)`` (create weights with ``add_weight``) and
``call(inputs, training=...)`` (compute outputs with glassnet ops). ``__call__`` converts the
inputs, builds the layer from the first input's shape, checks later inputs against the shape
it was built for (errors name the layer and both shapes), and propagates the ``training``
flag to nested layers.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from .. import backend, constraints as constraints_module, initializers, regularizers
from ..errors import NotBuiltError, ShapeError
from ..saving import Registry
from ..tensor import Parameter, Tensor, no_grad

REGISTRY = Registry("layer")
_NAME_COUNTS: dict = defaultdict(int)


def to_snake_case(name: str) -> str:
    """``'Dense'`` → ``'dense'``, ``'GlobalAveragePooling2D'`` → ``'global_average_pooling2d'`` (Keras rule)."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``... within a session (as Keras names layers)."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset automatic layer names (``dense``, ``dense_1``...)."""
    _NAME_COUNTS.clear()


class _CallContext:
    """State shared by nested layer calls: the training flag, losses added during the call, and
    observers — functions ``observer(layer, inputs, outputs)`` called after every layer call
    (diagnostics use them to record activations; the list is empty otherwise)."""

    training = None
    depth = 0
    losses: list = []
    observers: list = []


class weight_budget:
    """Within this block (in this thread), weights created by ``add_weight`` may hold at most
    ``elements`` values in total, else FileFormatError. ``load_model`` rebuilds a model from a file
    under a budget derived from the weights the file holds, so a damaged or hostile config
    (``"units": 10**9``) is refused at once instead of allocating gigabytes."""

    _state = threading.local()  # .remaining (None: no limit, the normal case) and .where

    def __init__(self, elements: int, where: str = "the file"):
        self.elements, self.where = int(elements), where

    def __enter__(self):
        state = weight_budget._state
        self._previous = (getattr(state, "remaining", None), getattr(state, "where", None))
        state.remaining, state.where = self.elements, self.where
        return self

    def __exit__(self, *exc):
        weight_budget._state.remaining, weight_budget._state.where = self._previous
        return False

    @staticmethod
    def charge(layer, shape) -> None:
        state = weight_budget._state
        remaining = getattr(state, "remaining", None)
        if remaining is None:
            return
        size = 1
        for s in shape:
            size *= max(int(s), 0)
        if size > remaining:
            from ..errors import FileFormatError

            raise FileFormatError(f"Layer '{layer.name}' asks for a weight of shape {tuple(shape)} ({size} values), "
                                  f"more than {state.where} holds: its configuration does not match the saved "
                                  "weights.")
        state.remaining = remaining - size


class observe_layers:
    """Context manager calling ``observer(layer, inputs, outputs)`` after every layer call inside it."""

    def __init__(self, observer):
        self.observer = observer

    def __enter__(self):
        _CallContext.observers = _CallContext.observers + [self.observer]
        return self

    def __exit__(self, *exc):
        _CallContext.observers = [o for o in _CallContext.observers if o is not self.observer]
        return False


def current_training_flag() -> bool:
    return bool(_CallContext.training)


class InputSpec:
    """What a layer accepts: rank (``ndim``/``min_ndim``/``max_ndim``) and fixed sizes of some axes."""

    def __init__(self, ndim=None, min_ndim=None, max_ndim=None, axes=None, where: str | None = None):
        self.ndim, self.min_ndim, self.max_ndim = ndim, min_ndim, max_ndim
        self.axes = dict(axes or {})
        self.where = where  # how errors name the receiver (default: "Layer 'name' (Class)")
        self._accepted = None

    def expected(self) -> str:
        rank = self.ndim or self.min_ndim or (max(-a for a in self.axes) if self.axes else None)
        if rank:
            shape = ["None"] * rank
            for axis, size in self.axes.items():
                if -rank <= axis < rank:
                    shape[axis] = str(size)
            return "(" + ", ".join(shape) + ")"
        return "any shape"

    def check(self, layer: "Layer", shape: tuple) -> None:
        if shape == self._accepted:  # the usual case: the same shape as the previous call
            return
        rank = len(shape)
        wrong_rank = ((self.ndim is not None and rank != self.ndim)
                      or (self.min_ndim is not None and rank < self.min_ndim)
                      or (self.max_ndim is not None and rank > self.max_ndim))
        wrong_axis = not wrong_rank and any(
            -rank <= axis < rank and shape[axis] is not None and shape[axis] != size
            for axis, size in self.axes.items())
        if wrong_rank or wrong_axis:
            detail = ""
            if wrong_axis:
                detail = "; ".join(f"axis {axis} should be {size} but is {shape[axis]}"
                                   for axis, size in self.axes.items() if -rank <= axis < rank
                                   and shape[axis] is not None and shape[axis] != size)
            elif wrong_rank:
                detail = f"rank should be {self.ndim or f'at least {self.min_ndim}'} but is {rank}"
            where = self.where or f"Layer '{layer.name}' ({type(layer).__name__})"
            raise ShapeError(
                f"{where} expected input of shape {self.expected()}, "
                f"but received input of shape {_shape_str(shape)}: {detail}."
            )
        self._accepted = shape

    def get_config(self) -> dict:
        return {"ndim": self.ndim, "min_ndim": self.min_ndim, "max_ndim": self.max_ndim,
                "axes": {str(k): v for k, v in self.axes.items()}}


def _shape_str(shape) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _batchless(shape) -> tuple:
    return (None,) + tuple(shape[1:])


class Layer:
    """Base class of all layers (and models).

    Attributes: ``name``, ``trainable``, ``dtype`` (compute dtype, floatx by default), ``built``,
    ``weights`` / ``trainable_weights`` / ``non_trainable_weights``, ``losses``.
    Keras-2 style ``input_shape=``/``input_dim=`` on a model's first layer are accepted.
    """

    _call_flags_cache: dict = {}
    _structured_inputs = False  # True: _convert_input reshapes the inputs (functional models), no fast path
    supports_masking = False  # True: the layer keeps its input's time-step mask on its output

    @property
    def dtype(self) -> str:
        """The compute dtype's name ('float32' unless set); inputs are cast to it."""
        return self._dtype_name

    @dtype.setter
    def dtype(self, value) -> None:
        try:
            dtype = backend.standardize_dtype(value)
        except (TypeError, ValueError, RecursionError):
            dtype = None
        if dtype is None or dtype.kind not in "biuf" or dtype.names is not None:
            from ..errors import InputError

            raise InputError(f"Layer '{self.__dict__.get('name', type(self).__name__)}' ({type(self).__name__}): "
                             f"dtype must be a numeric type (float16, float32, float64, or an integer or bool "
                             f"type for inputs), got {value!r:.80}.")
        object.__setattr__(self, "_dtype_name", dtype.name)
        object.__setattr__(self, "_np_dtype", dtype)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("glassnet.") and not cls.__name__.startswith("_"):
            REGISTRY.add(cls.__name__, cls)

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None, input_shape=None,
                 input_dim=None, batch_input_shape=None, batch_size=None, activity_regularizer=None, **kwargs):
        if kwargs:
            from ..errors import UnknownNameError

            bad = sorted(kwargs)[0]
            valid = [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "kwargs")]
            valid += ["trainable", "name", "dtype", "input_shape", "input_dim", "batch_input_shape"]
            raise TypeError(str(UnknownNameError(f"keyword argument to {type(self).__name__}", bad, valid)))
        object.__setattr__(self, "_tracked_layers", [])
        object.__setattr__(self, "_own_weights", [])
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = dtype
        self.built = False
        self.input_spec = None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_losses = []
        self._build_input_shape = None
        self._last_shape = None
        if batch_input_shape is not None:
            self._input_shape_arg = _batchless(tuple(batch_input_shape))
        elif input_shape is not None:
            self._input_shape_arg = (None,) + tuple(input_shape)
        elif input_dim is not None:
            self._input_shape_arg = (None, int(input_dim))
        else:
            self._input_shape_arg = None

    # ----------------------------------------------------------------- tracking
    def __setattr__(self, name, value):
        if isinstance(value, Layer) and name != "_outer":
            if not any(value is layer for layer in self._tracked_layers):
                self._tracked_layers.append(value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Layer) for v in value):
            for layer in value:
                if not any(layer is known for known in self._tracked_layers):
                    self._tracked_layers.append(layer)
        elif isinstance(value, Parameter):
            if not any(value is w for w in self._own_weights):
                self._own_weights.append(value)
        object.__setattr__(self, name, value)

    # ----------------------------------------------------------------- symbolic inputs and outputs (Keras)
    @property
    def _inbound_nodes(self) -> list:
        """The calls of this layer on symbolic inputs (functional models), in order."""
        nodes = self.__dict__.get("_symbolic_nodes")
        if nodes is None:
            nodes = []
            object.__setattr__(self, "_symbolic_nodes", nodes)
        return nodes

    def _only_node(self, what: str):
        nodes = self._inbound_nodes
        if len(nodes) == 1:
            return nodes[0]
        if not nodes:
            raise AttributeError(f"Layer '{self.name}' has no {what}: it has not been called on a symbolic input "
                                 "(glassnet.Input(...)); its model must have a known input shape.")
        raise AttributeError(f"Layer '{self.name}' has been called {len(nodes)} times on symbolic inputs (a shared "
                             f"layer), so it has several {what}s; use the tensors those calls returned.")

    @property
    def input(self):
        """The symbolic input of this layer's one call in a model (to build models from parts, Keras)."""
        if "_user_input" in self.__dict__:
            return self.__dict__["_user_input"]
        return self._only_node("input").inputs

    @input.setter
    def input(self, value) -> None:  # a subclass may name a sub-layer `input` (Keras forbids it)
        self.__setattr__("_user_input", value)

    @property
    def output(self):
        """The symbolic output of this layer's one call in a model (Keras' feature-extraction idiom:
        ``Model(model.inputs, [layer.output for layer in model.layers])``)."""
        if "_user_output" in self.__dict__:
            return self.__dict__["_user_output"]
        return self._only_node("output").outputs

    @output.setter
    def output(self, value) -> None:  # a subclass may name a sub-layer `output` (Keras forbids it)
        self.__setattr__("_user_output", value)

    def _discover_layers(self) -> list:
        """``_tracked_layers`` plus layers that reached a list/tuple/dict attribute after it was assigned
        (``self.blocks = []`` then ``self.blocks.append(Dense(8))``), appended in discovery order."""
        tracked = self._tracked_layers
        for name, value in self.__dict__.items():
            if name in ("_tracked_layers", "_outer"):
                continue
            if isinstance(value, (list, tuple)):
                items = value
            elif isinstance(value, dict):
                items = value.values()
            else:
                continue
            for item in items:
                if isinstance(item, Layer) and item is not self and not any(item is t for t in tracked):
                    tracked.append(item)
        return tracked

    @property
    def layers(self) -> list:
        """Directly nested layers, in the order they were assigned."""
        return list(self._discover_layers())

    def _flatten_layers(self, include_self: bool = True):
        seen, stack, result = set(), [self] if include_self else list(reversed(self._discover_layers())), []
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            result.append(layer)
            stack.extend(reversed(layer._discover_layers()))
        return result

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self._flatten_layers():
            layer._trainable = bool(value)
            for w in layer._own_weights:
                w.requires_grad = bool(value) and w.trainable

    def _collect_weights(self) -> list:
        seen, result = set(), []
        for layer in self._flatten_layers():
            for w in layer._own_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    result.append(w)
        return result

    @property
    def weights(self) -> list:
        """All weights (trainable first within each layer, in creation order)."""
        return self._collect_weights()

    @property
    def variables(self) -> list:
        return self.weights

    @property
    def trainable_weights(self) -> list:
        return [w for w in self._collect_weights() if w.requires_grad]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self) -> list:
        return [w for w in self._collect_weights() if not w.requires_grad]

    non_trainable_variables = non_trainable_weights

    def parameters(self) -> list:
        """Trainable weights (PyTorch spelling), for ``optimizer.step(model.parameters())``."""
        return self.trainable_weights

    def named_parameters(self):
        return [(w.path, w) for w in self.trainable_weights]

    def zero_grad(self) -> None:
        """Clear ``.grad`` of every weight."""
        for w in self._collect_weights():
            w.grad = None

    # ----------------------------------------------------------------- weights
    _WEIGHT_OPTION_KINDS = ("initializer", "regularizer", "constraint")

    @staticmethod
    def _weight_option_module(kind: str):
        return {"initializer": initializers, "regularizer": regularizers, "constraint": constraints_module}[kind]

    def _set_weight_options(self, arguments: dict, *weights: str) -> None:
        """For each weight name w (``'kernel'``, ``'bias'``, ...) and each of ``w_initializer``,
        ``w_regularizer``, ``w_constraint`` found in ``arguments`` (an ``__init__``'s ``locals()``):
        ``self.w_kind = <kind module>.get(value)`` — objects from names, configs or callables."""
        for weight in weights:
            for kind in self._WEIGHT_OPTION_KINDS:
                key = f"{weight}_{kind}"
                if key in arguments:
                    setattr(self, key, self._weight_option_module(kind).get(arguments[key]))

    def _weight_options_config(self, *weights: str) -> dict:
        """The serialized ``w_initializer`` / ``w_regularizer`` / ``w_constraint`` the layer has, for its config."""
        return {f"{weight}_{kind}": self._weight_option_module(kind).serialize(getattr(self, f"{weight}_{kind}"))
                for weight in weights for kind in self._WEIGHT_OPTION_KINDS if hasattr(self, f"{weight}_{kind}")}

    def add_weight(self, shape=(), initializer=None, dtype=None, trainable: bool = True, regularizer=None,
                   constraint=None, name: str | None = None) -> Parameter:
        """Create a weight of ``shape`` filled by ``initializer`` (glorot_uniform by default)."""
        dtype = backend.standardize_dtype(dtype or self.dtype)
        init = initializers.get(initializer if initializer is not None else "glorot_uniform")
        shape = tuple(int(s) for s in shape)
        weight_budget.charge(self, shape)
        value = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        weight = Parameter(value, trainable=trainable, name=name or f"weight_{len(self._own_weights)}",
                           regularizer=regularizers.get(regularizer), constraint=constraints_module.get(constraint))
        weight.path = f"{self.name}/{weight.name}"
        if not self._trainable:
            weight.requires_grad = False
        self._own_weights.append(weight)
        return weight

    def get_weights(self) -> list:
        """Copies of the weights as NumPy arrays, in ``weights`` order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load NumPy arrays into the weights (same order and shapes as ``get_weights``)."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ShapeError(f"Layer '{self.name}' has {len(own)} weights but set_weights received "
                             f"{len(weights)} arrays (expected shapes {[w.shape for w in own]}).")
        for w, value in zip(own, weights):
            value = np.asarray(value)
            if value.shape != w.shape:
                raise ShapeError(f"Layer '{self.name}': weight '{w.name}' has shape {w.shape} but the value given "
                                 f"has shape {value.shape}.")
        for w, value in zip(own, weights):
            w.data[...] = value

    def count_params(self) -> int:
        if not self.built and not self.weights:
            raise NotBuiltError(f"Layer '{self.name}' is not built yet, so it has no weights to count. "
                                "Call it on data, or give the model an input shape, first.")
        return int(sum(w.size for w in self.weights))

    # ----------------------------------------------------------------- calling
    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first). Override."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement call().")

    def _call_flags(self) -> tuple:
        """(call accepts ``training``, call accepts ``mask``, the class computes its own masks) — cached."""
        cls = type(self)
        flags = Layer._call_flags_cache.get(cls)
        if flags is None:
            params = inspect.signature(cls.call).parameters
            var_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
            flags = ("training" in params or var_keyword, "mask" in params,
                     cls.compute_mask is not Layer.compute_mask)
            Layer._call_flags_cache[cls] = flags
        return flags

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs: passed through unchanged by layers with ``supports_masking``."""
        return mask if self.supports_masking else None

    def _convert_input(self, x):
        if isinstance(x, Tensor):
            if x.data.dtype != self._np_dtype and x.data.dtype.kind == "f":
                from ..ops import cast

                converted = cast(x, self.dtype)
                mask = getattr(x, "_keras_mask", None)
                if mask is not None:
                    converted._keras_mask = mask
                return converted
            return x
        if isinstance(x, (list, tuple)):
            return type(x)(self._convert_input(v) for v in x)
        if isinstance(x, dict):
            return {k: self._convert_input(v) for k, v in x.items()}
        array = np.asarray(x)
        if array.dtype.kind in "biuf":
            array = array.astype(self._np_dtype, copy=False)
        return Tensor(array, dtype=array.dtype)

    def _maybe_build(self, inputs) -> None:
        shapes = _shapes_of(inputs, batch_none=True)
        self._build_input_shape = shapes
        self.build(shapes)
        self.built = True

    def __call__(self, inputs, *args, training=None, **kwargs):
        if not isinstance(inputs, Tensor) or args or kwargs or self._structured_inputs:
            from .input import KerasTensor, symbolic_call

            if _contains(inputs, KerasTensor) or (args and _contains(args, KerasTensor)) \
                    or (kwargs and _contains(kwargs, KerasTensor)):
                return symbolic_call(self, inputs, *args, training=training, **kwargs)
            inputs = self._convert_input(inputs)
        elif inputs.data.dtype != self._np_dtype and inputs.data.dtype.kind == "f":
            inputs = self._convert_input(inputs)
        spec = self.input_spec
        if not self.built:
            if spec is not None and isinstance(inputs, Tensor):
                spec.check(self, inputs.data.shape)  # a wrong rank is reported before build fails
            self._maybe_build(inputs)
            spec = self.input_spec
        if spec is not None and isinstance(inputs, Tensor):
            spec.check(self, inputs.data.shape)
        accepts_training, accepts_mask, computes_mask = (Layer._call_flags_cache.get(type(self))
                                                         or self._call_flags())
        previous_mask = getattr(inputs, "_keras_mask", None) if type(inputs) is Tensor else _mask_of(inputs)
        if accepts_mask and previous_mask is not None and "mask" not in kwargs:
            kwargs["mask"] = previous_mask

        context = _CallContext
        previous_training = context.training
        if training is not None:
            context.training = bool(training)
        outer = context.depth == 0
        if outer:
            previous_losses, context.losses = context.losses, []
        context.depth += 1
        try:
            if accepts_training:
                outputs = self.call(inputs, *args, training=bool(context.training), **kwargs)
            else:
                outputs = self.call(inputs, *args, **kwargs)
            if type(outputs) is Tensor:
                object.__setattr__(self, "_last_shape", outputs.data.shape)
            if previous_mask is not None or computes_mask:
                _set_mask(outputs, self.compute_mask(inputs, kwargs.get("mask", previous_mask)))
            if self.activity_regularizer is not None:
                for out in _flatten(outputs):
                    context.losses.append(self.activity_regularizer(out))
            if context.observers:
                for observer in context.observers:
                    observer(self, inputs, outputs)
        finally:
            context.depth -= 1
            context.training = previous_training
            if outer:
                object.__setattr__(self, "_activity_losses", context.losses)
                context.losses = previous_losses
        return outputs

    @property
    def _last_output_shape(self):
        """The shape (batch axis None) of this layer's most recent output, if known."""
        shape = self.__dict__.get("_last_shape")
        return None if shape is None else _batchless(shape) if shape and shape[0] is not None else shape

    @_last_output_shape.setter
    def _last_output_shape(self, shape) -> None:
        object.__setattr__(self, "_last_shape", None if shape is None else tuple(shape))

    def add_loss(self, loss) -> None:
        """Add a scalar loss Tensor (e.g. an activity penalty) to the current forward pass."""
        if _CallContext.depth > 0:
            _CallContext.losses.append(loss)
        else:
            self._activity_losses.append(loss)

    @property
    def losses(self) -> list:
        """Activity losses of the last forward pass plus the weight regularization penalties."""
        penalties = [w.regularizer(w) for w in self._collect_weights() if w.regularizer is not None]
        return list(self._activity_losses) + penalties

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis may be None). By default, a dry run on zeros:
        the batch axis runs as 1 and any other unknown (None) axis at two sizes, 2 then 3; output axes
        whose size changes between the runs are None. Layers whose output shape follows from a
        formula override this (and then also build in functional models with unknown axes)."""
        def run(size):
            with no_grad():
                dummy = _zeros_for(input_shape, self.dtype, unknown=size)
                previous = _CallContext.training
                _CallContext.training = False
                try:
                    out = self(dummy, training=False)
                finally:
                    _CallContext.training = previous
            return _shapes_of(out, batch_none=_first_is_none(input_shape))

        first = run(2)
        return merge_unknown_axes(first, run(3)) if has_unknown_axes(input_shape) else first

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = list(self._input_shape_arg)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def get_build_config(self):
        return {"input_shape": _jsonable_shape(self._build_input_shape)} if self._build_input_shape else None

    def build_from_config(self, config) -> None:
        if config and config.get("input_shape") is not None:
            shape = _from_json_shape(config["input_shape"])
            self.build(shape)
            self._build_input_shape = shape
            self.built = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# ----------------------------------------------------------------- helpers
def _mask_of(x):
    """The time-step mask carried by a tensor (or a list of masks for a list of tensors), or None."""
    if isinstance(x, Tensor):
        return getattr(x, "_keras_mask", None)
    if isinstance(x, (list, tuple)):
        masks = [_mask_of(v) for v in x]
        return masks if any(m is not None for m in masks) else None
    return None


def _set_mask(outputs, mask) -> None:
    if mask is None:
        return
    if isinstance(outputs, Tensor):
        outputs._keras_mask = np.asarray(getattr(mask, "data", mask), dtype=bool)
    elif isinstance(outputs, (list, tuple)):
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(outputs)
        for out, m in zip(outputs, masks):
            _set_mask(out, m)


def _contains(x, cls) -> bool:
    if isinstance(x, cls):
        return True
    if isinstance(x, (list, tuple)):
        return any(_contains(v, cls) for v in x)
    if isinstance(x, dict):
        return any(_contains(v, cls) for v in x.values())
    return False


def _flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        return [item for v in x for item in _flatten(v)]
    if isinstance(x, dict):
        return [item for v in x.values() for item in _flatten(v)]
    return [x]


def _shapes_of(x, batch_none: bool = False):
    if isinstance(x, (list, tuple)):
        return [_shapes_of(v, batch_none) for v in x]
    if isinstance(x, dict):
        return {k: _shapes_of(v, batch_none) for k, v in x.items()}
    shape = tuple(x.shape)
    return _batchless(shape) if batch_none and shape else shape


def _first_is_none(shapes) -> bool:
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple, dict)):
        return _first_is_none(shapes[0])
    if isinstance(shapes, dict):
        return _first_is_none(next(iter(shapes.values())))
    return bool(shapes) and shapes[0] is None


def _zeros_for(shapes, dtype, unknown: int = 1):
    """Zeros for a (nested) shape: a None batch axis becomes 1, other None axes ``unknown``."""
    if isinstance(shapes, dict):
        return {k: _zeros_for(v, dtype, unknown) for k, v in shapes.items()}
    if isinstance(shapes, list) or (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], (list, tuple))):
        return [_zeros_for(s, dtype, unknown) for s in shapes]
    concrete = tuple((1 if i == 0 else unknown) if s is None else int(s) for i, s in enumerate(shapes))
    return Tensor(np.zeros(concrete, dtype=dtype), dtype=dtype)


def has_unknown_axes(shapes) -> bool:
    """True when a (nested) shape has a None axis other than the batch axis."""
    if isinstance(shapes, dict):
        return any(has_unknown_axes(v) for v in shapes.values())
    if isinstance(shapes, list) or (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], (list, tuple))):
        return any(has_unknown_axes(s) for s in shapes)
    return any(s is None for s in tuple(shapes)[1:])


def merge_unknown_axes(a, b):
    """Output shapes of two dry runs that differ only in the sizes given to unknown input axes:
    axes whose sizes differ are unknown (None), the others are kept."""
    if isinstance(a, dict):
        return {k: merge_unknown_axes(a[k], b[k]) for k in a}
    if isinstance(a, list) or (isinstance(a, tuple) and a and isinstance(a[0], (list, tuple))):
        return [merge_unknown_axes(x, y) for x, y in zip(a, b)]
    return tuple(x if x == y else None for x, y in zip(a, b))


def _jsonable_shape(shape):
    if isinstance(shape, dict):
        return {k: _jsonable_shape(v) for k, v in shape.items()}
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], (list, tuple))):
        return [_jsonable_shape(s) for s in shape]
    return [None if s is None else int(s) for s in shape]


def _from_json_shape(shape):
    if isinstance(shape, dict):
        return {k: _from_json_shape(v) for k, v in shape.items()}
    if shape and isinstance(shape[0], list):
        return [_from_json_shape(s) for s in shape]
    return tuple(shape)
