"""Core layers: Dense, Dropout, Flatten, Reshape, Identity, Masking."""

from __future__ import annotations

import numpy as np

from .. import activations, backend, ops
from ..errors import ShapeError
from ..tensor import Tensor
from .base import InputSpec, Layer, current_training_flag


_FUSED_ACTIVATIONS = {activations.relu: "relu", activations.tanh: "tanh"}


class Dense(Layer):
    """Fully connected layer: ``outputs = activation(inputs @ kernel + bias)``.

    ``kernel`` has shape (input_dim, units); inputs of rank > 2 are mapped over the last axis.
    Parameters: input_dim·units + units.
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}.")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_options(locals(), "kernel", "bias")
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ShapeError(f"Layer '{self.name}' (Dense) needs the last input dimension to be known, "
                             f"got input shape {input_shape}.")
        self.kernel = self.add_weight((input_dim, self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: int(input_dim)})
        self.built = True

    def call(self, inputs):
        fused = _FUSED_ACTIVATIONS.get(self.activation)
        if fused is not None:  # relu / tanh computed inside the dense op (one node, in place)
            return ops.dense(inputs, self.kernel, self.bias, activation=fused)
        return self.activation(ops.dense(inputs, self.kernel, self.bias))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                **self._weight_options_config("kernel", "bias")}


class Dropout(Layer):
    """Inverted dropout: in training keep each unit with probability 1 − rate and scale kept units
    by 1/(1 − rate), so the expected output equals the input; the identity at inference.

    ``noise_shape`` (with None for "same as input") shares the mask along size-1 axes.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        return tuple(s if n is None else n for s, n in zip(shape, self.noise_shape))

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        rng = self._rng or backend.rng()
        keep = rng.random(self._mask_shape(inputs.shape), dtype=np.float32) >= self.rate
        mask = keep.astype(inputs.dtype) * (1.0 / (1.0 - self.rate))
        return ops.multiply(inputs, mask)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape), "seed": self.seed}


class Flatten(Layer):
    """(batch, d1, d2, ...) → (batch, d1·d2·...)."""

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(s is None for s in rest) else int(np.prod(rest))
        return (input_shape[0], size)


class Reshape(Layer):
    """(batch, ...) → (batch, *target_shape); one entry of ``target_shape`` may be −1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)

    def _resolved(self, input_shape):
        size = int(np.prod([s for s in input_shape[1:]]))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ShapeError(f"Layer '{self.name}' (Reshape) cannot reshape input of shape "
                                 f"{tuple(input_shape)} to {self.target_shape}.")
            return tuple(size // known if s == -1 else s for s in self.target_shape)
        if known != size:
            raise ShapeError(f"Layer '{self.name}' (Reshape) cannot reshape input of shape {tuple(input_shape)} "
                             f"({size} values per sample) to {self.target_shape} ({known} values).")
        return self.target_shape

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0],) + self._resolved(inputs.shape))

    def compute_output_shape(self, input_shape):
        if any(s is None for s in input_shape[1:]):  # the -1 axis cannot be resolved yet (Keras: None)
            return (input_shape[0],) + tuple(None if s == -1 else s for s in self.target_shape)
        return (input_shape[0],) + self._resolved(input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Identity(Layer):
    """Returns its input unchanged."""

    supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class Masking(Layer):
    """Marks padding in sequences (batch, timesteps, features): a time step whose features ALL equal
    ``mask_value`` is masked — the recurrent layers downstream skip it (they keep the previous state) —
    and its values are 0 in the output (Keras' ``Masking``)::

        mask[n, t] = any_f x[n, t, f] ≠ mask_value,     output = x · mask

    The incoming mask, if any, is replaced by this one (as in Keras).
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _keep(self, inputs) -> np.ndarray:
        return np.any(np.asarray(getattr(inputs, "data", inputs)) != self.mask_value, axis=-1)

    def call(self, inputs):
        return inputs * self._keep(inputs)[..., None].astype(inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return self._keep(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


__all__ = ["Dense", "Dropout", "Flatten", "Reshape", "Identity", "Masking", "current_training_flag", "Tensor"]
