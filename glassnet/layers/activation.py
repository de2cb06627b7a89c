"""Activation layers. Each applies one function from :mod:`glassnet.activations` (one definition);
``PReLU`` and ``Swish`` add learnable parameters and are differentiated through the ops."""

from __future__ import annotations

from .. import activations, initializers, ops
from .base import InputSpec, Layer


class _Elementwise(Layer):
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return input_shape


class Activation(_Elementwise):
    """Applies ``activation`` (a name or any callable built from glassnet ops)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(_Elementwise):
    """max(0, x), with Keras' optional ``max_value``, ``negative_slope`` and ``threshold``."""

    def __init__(self, max_value=None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)

    def call(self, inputs):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """x if x > 0 else α·x. α = ``negative_slope`` = 0.01 by default (PyTorch's and the spec's value;
    Keras uses 0.3). ``alpha=`` is accepted as the Keras 2 spelling."""

    def __init__(self, negative_slope: float = 0.01, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(alpha if alpha is not None else negative_slope)

    def call(self, inputs):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """x if x > 0 else α(eˣ − 1)."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """Softmax along ``axis`` (default −1)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return activations.softmax(inputs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class PReLU(_Elementwise):
    """Parametric ReLU: max(0, x) + α·min(0, x) with α learned (∂/∂α = x for x ≤ 0).

    As in Keras, α has the input's shape without the batch axis; list axes in ``shared_axes`` to
    share α along them — ``shared_axes=[1, 2]`` on images gives one α per channel.
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self._set_weight_options(locals(), "alpha")
        if shared_axes is None:
            self.shared_axes = None
        else:
            self.shared_axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            shape[axis - 1] = 1
        self.alpha = self.add_weight(tuple(shape), self.alpha_initializer, name="alpha",
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        rank = len(input_shape)
        shared = {axis % rank for axis in self.shared_axes or []}
        self.input_spec = InputSpec(ndim=rank, axes={i: int(input_shape[i]) for i in range(1, rank)
                                                     if i not in shared and input_shape[i] is not None})
        self.built = True

    def call(self, inputs):
        return ops.relu(inputs) - ops.multiply(self.alpha, ops.relu(-inputs))

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                **self._weight_options_config("alpha"), "shared_axes": self.shared_axes}


class Swish(_Elementwise):
    """x·σ(βx); with ``trainable_beta=True`` β is a learned scalar (initialised to ``beta``)."""

    def __init__(self, beta: float = 1.0, trainable_beta: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.beta_value, self.trainable_beta = float(beta), bool(trainable_beta)

    def build(self, input_shape):
        if self.trainable_beta:
            self.beta = self.add_weight((), initializers.Constant(self.beta_value), name="beta")
        self.built = True

    def call(self, inputs):
        return activations.swish(inputs, beta=self.beta if self.trainable_beta else self.beta_value)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta_value, "trainable_beta": self.trainable_beta}
