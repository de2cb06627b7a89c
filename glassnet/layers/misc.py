"""Assorted layers: Maxout, RBF (Gaussian radial-basis units), RepeatVector, Permute, Lambda."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np

from .. import activations, backend, initializers, ops, saving
from ..errors import ShapeError, UnknownNameError
from .base import InputSpec, Layer


class Maxout(Layer):
    """Maxout units (Goodfellow et al., 2013): the maximum of ``pieces`` affine functions per unit,

        y_j = max_k (x·W_k[:, j] + b_k[j]),   k = 1..pieces,  j = 1..units.

    A piecewise-linear convex activation that is learned; ``ReLU(x·w + b)`` is the special case
    of 2 pieces with one fixed at 0. The gradient flows only to the winning piece.

    ``kernel`` has shape (input_dim, pieces·units): columns ``k·units … (k+1)·units − 1`` are
    piece k, i.e. ``kernel.reshape(input_dim, pieces, units)[:, k, :]`` is W_k. ``bias`` has shape
    (pieces·units,). Parameters: (input_dim + 1)·units·pieces. Inputs of rank > 2 are mapped over the
    last axis.
    """

    def __init__(self, units, pieces, use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0 or int(pieces) <= 0:
            raise ValueError(f"Maxout: units and pieces must be positive integers, got units={units!r}, "
                             f"pieces={pieces!r}.")
        self.units, self.pieces = int(units), int(pieces)
        self.use_bias = bool(use_bias)
        self._set_weight_options(locals(), "kernel", "bias")
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ShapeError(f"Layer '{self.name}' (Maxout) needs the last input dimension to be known, "
                             f"got input shape {tuple(input_shape)}.")
        width = self.units * self.pieces
        self.kernel = self.add_weight((input_dim, width), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight((width,), self.bias_initializer, name="bias", regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: int(input_dim)})
        self.built = True

    def call(self, inputs):
        z = ops.dense(inputs, self.kernel, self.bias)
        z = ops.reshape(z, tuple(z.shape[:-1]) + (self.pieces, self.units))
        return ops.max(z, axis=-2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces, "use_bias": self.use_bias,
                **self._weight_options_config("kernel", "bias")}


class RBF(Layer):
    """Gaussian radial-basis units with learned centres and widths:

        φ_j(x) = exp(−‖x − c_j‖² / (2·s_j²)),   j = 1..units.

    ``centers`` has shape (units, input_dim) — row j is c_j. The widths are stored as
    ``log_width`` (shape (units,)), s_j = exp(log_width_j), so gradient steps can never make a
    width zero or negative; they start at ``initial_width``. ``‖x − c‖²`` is computed as
    ``‖x‖² − 2·x·c + ‖c‖²`` (one matrix product, clipped at 0 against rounding).
    Parameters: units·(input_dim + 1). Put centres where the data is (e.g.
    ``centers_initializer=RandomUniform(lo, hi)`` over the input range, or ``adapt(x)``).
    """

    def __init__(self, units, initial_width=1.0, centers_initializer=None, trainable_widths=True,
                 centers_regularizer=None, centers_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"RBF: units must be a positive integer, got {units!r}.")
        if not float(initial_width) > 0:
            raise ValueError(f"RBF: initial_width must be positive, got {initial_width!r}.")
        self.units = int(units)
        self.initial_width = float(initial_width)
        if centers_initializer is None:
            centers_initializer = initializers.RandomUniform(-1.0, 1.0)
        self.trainable_widths = bool(trainable_widths)
        self._set_weight_options(locals(), "centers")
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ShapeError(f"Layer '{self.name}' (RBF) needs the last input dimension to be known, "
                             f"got input shape {tuple(input_shape)}.")
        self.centers = self.add_weight((self.units, input_dim), self.centers_initializer, name="centers",
                                       regularizer=self.centers_regularizer, constraint=self.centers_constraint)
        self.log_width = self.add_weight((self.units,), initializers.Constant(math.log(self.initial_width)),
                                         trainable=self.trainable_widths, name="log_width")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: int(input_dim)})
        self.built = True

    @property
    def widths(self) -> np.ndarray:
        """s_j = exp(log_width_j), as a NumPy array."""
        return np.exp(self.log_width.data)

    def adapt(self, data, seed=None) -> None:
        """Set the centres to ``units`` distinct rows of ``data`` (drawn at random), a common RBF start."""
        array = np.asarray(getattr(data, "data", data))
        array = array.reshape(-1, array.shape[-1])
        if not self.built:
            self._build_input_shape = (None, array.shape[-1])
            self.build(self._build_input_shape)
        if len(array) < self.units:
            raise ValueError(f"RBF.adapt needs at least units={self.units} rows, got {len(array)}.")
        rng = backend.make_rng(seed)
        self.centers.data[...] = array[rng.choice(len(array), self.units, replace=False)]

    def call(self, inputs):
        squared_x = ops.sum(ops.square(inputs), axis=-1, keepdims=True)              # (..., 1)
        squared_c = ops.sum(ops.square(self.centers), axis=-1)                        # (units,)
        cross = ops.matmul(inputs, ops.transpose(self.centers))                       # (..., units)
        distance = ops.maximum(squared_x - 2.0 * cross + squared_c, 0.0)              # ‖x − c_j‖²
        return ops.exp(-0.5 * distance * ops.exp(-2.0 * self.log_width))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "initial_width": self.initial_width,
                "trainable_widths": self.trainable_widths,
                **self._weight_options_config("centers")}


class RepeatVector(Layer):
    """(batch, features) → (batch, n, features): the input vector repeated ``n`` times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if int(n) <= 0:
            raise ValueError(f"RepeatVector: n must be a positive integer, got {n!r}.")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` are 1-based (1 is the first axis after the batch), as in
    Keras; ``Permute((2, 1))`` swaps the two axes of (batch, a, b) inputs."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(dims)} (1-based, the batch axis "
                             f"excluded), got {dims}.")
        self.dims = dims
        self.input_spec = InputSpec(ndim=len(dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


def _function_name(fn):
    """A name under which ``fn`` can be found again when loading: registered custom objects first,
    then glassnet's activations (so ``Lambda(ops.relu)`` saves as ``'relu'``)."""
    name = getattr(fn, "_glassnet_registered_name", None)
    if name is None:
        for key, value in saving.get_custom_objects().items():
            if value is fn:
                return key
        name = activations.REGISTRY.name_of(fn)
    return name


def _resolve_function(name: str, custom_objects=None):
    try:
        return activations.REGISTRY.lookup(name, custom_objects)
    except UnknownNameError:
        valid = list(activations.names()) + list(saving.get_custom_objects()) + list(custom_objects or {})
        raise UnknownNameError("Lambda function", name, valid) from None


class Lambda(Layer):
    """Wraps a function of glassnet ops as a layer: ``outputs = function(inputs, **arguments)``.

    Gradients flow through whatever ops ``function`` uses. If ``function`` accepts ``training``,
    the training flag is passed. ``output_shape`` (without the batch axis, or a function of the
    input shape) is only needed when a dry run on zeros cannot infer it.

    Saving: glassnet never pickles or marshals code, so a Lambda can be saved only when its
    function (and a callable ``output_shape``) is registered — decorate a named function with
    ``@glassnet.saving.register_serializable()`` (or use one of glassnet's activation functions);
    it is then stored by name and found again at load time (or pass ``custom_objects``).
    ``arguments`` must be JSON-serialisable.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}.")
        if mask is not None:
            raise ValueError("Lambda: masking is not supported by glassnet; pass mask=None.")
        self.function = function
        self.output_shape = output_shape if output_shape is None or callable(output_shape) \
            else tuple(output_shape)
        self.arguments = dict(arguments or {})
        try:
            parameters = inspect.signature(function).parameters
            self._pass_training = "training" in parameters
        except (TypeError, ValueError):
            self._pass_training = False

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self._pass_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self.output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self.output_shape):
            return self.output_shape(input_shape)
        first = input_shape[0] if input_shape and isinstance(input_shape[0], (tuple, list)) else input_shape
        return (first[0],) + self.output_shape

    def _name_or_raise(self, fn, what: str) -> str:
        name = _function_name(fn)
        if name is None:
            raise ValueError(
                f"Layer '{self.name}' (Lambda) cannot be serialised: its {what} "
                f"{getattr(fn, '__name__', repr(fn))!r} is not registered, and glassnet never pickles or marshals "
                "code. Define a named function and decorate it with @glassnet.saving.register_serializable() "
                "(then pass custom_objects or keep it imported when loading), or write a Layer subclass.")
        return name

    def get_config(self):
        config = {**super().get_config(), "function": self._name_or_raise(self.function, "function")}
        if self.output_shape is None:
            config["output_shape"] = None
        elif callable(self.output_shape):
            config["output_shape"] = {"function": self._name_or_raise(self.output_shape, "output_shape function")}
        else:
            config["output_shape"] = [None if s is None else int(s) for s in self.output_shape]
        try:
            json.dumps(self.arguments)
        except TypeError as error:
            raise ValueError(f"Layer '{self.name}' (Lambda) cannot be serialised: its arguments must be "
                             f"JSON-serialisable ({error}).") from None
        config["arguments"] = self.arguments
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        name = config.pop("function")
        if not isinstance(name, str):
            raise TypeError(f"Lambda config: 'function' must be a registered function name, got {name!r}.")
        function = _resolve_function(name, custom_objects)
        output_shape = config.pop("output_shape", None)
        if isinstance(output_shape, dict):
            output_shape = _resolve_function(output_shape["function"], custom_objects)
        return cls(function, output_shape=output_shape, **config)


__all__ = ["Maxout", "RBF", "RepeatVector", "Permute", "Lambda"]
