"""Preprocessing layers that live inside the model, so a saved model takes raw inputs."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor
from .base import InputSpec, Layer


class Normalization(Layer):
    """Feature-wise standardisation ``(x − mean) / √variance`` with statistics from ``adapt(data)``
    (or given as ``mean=``/``variance=``). ``invert=True`` maps standardised values back.

    The statistics are non-trainable weights, saved with the model. Zero variance is treated
    as 1 so constant features pass through centred but unscaled.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = (axis,) if isinstance(axis, int) else (tuple(axis) if axis is not None else ())
        self.invert = bool(invert)
        self._init_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self._init_variance = None if variance is None else np.asarray(variance, dtype=np.float64)

    def _stat_shape(self, input_shape):
        rank = len(input_shape)
        keep = {a % rank for a in self.axis}
        return tuple(input_shape[a] if a in keep else 1 for a in range(1, rank))

    def build(self, input_shape):
        shape = self._stat_shape(input_shape)
        self.mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape, "ones", trainable=False, name="variance")
        if self._init_mean is not None:
            self.mean.data[...] = np.broadcast_to(self._init_mean, shape)
        if self._init_variance is not None:
            self.variance.data[...] = np.broadcast_to(self._init_variance, shape)
        rank = len(input_shape)
        keep = {a % rank for a in self.axis}  # the normalised axes must keep their sizes
        self.input_spec = InputSpec(min_ndim=rank, axes={a - rank: int(input_shape[a]) for a in keep
                                                         if a > 0 and input_shape[a] is not None})
        self.built = True

    def adapt(self, data) -> None:
        """Compute mean and variance over every axis except ``axis`` (in float64)."""
        array = np.asarray(data.data if isinstance(data, Tensor) else data, dtype=np.float64)
        if not self.built:
            self._build_input_shape = (None,) + array.shape[1:]
            self.build(self._build_input_shape)
        rank = array.ndim
        keep = {a % rank for a in self.axis}
        reduce_axes = tuple(a for a in range(rank) if a not in keep)
        self.mean.data[...] = array.mean(axis=reduce_axes, keepdims=True)[0]
        self.variance.data[...] = array.var(axis=reduce_axes, keepdims=True)[0]

    def call(self, inputs):
        std = np.sqrt(np.where(self.variance.data > 0, self.variance.data, 1.0)).astype(inputs.dtype)
        mean = self.mean.data.astype(inputs.dtype)
        if self.invert:
            return ops.add(ops.multiply(inputs, std), mean)
        return ops.divide(ops.subtract(inputs, mean), std)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {**super().get_config(), "axis": list(self.axis), "invert": self.invert}
        if self._init_mean is not None:  # statistics given to the constructor are part of the architecture
            config["mean"] = self._init_mean.tolist()
        if self._init_variance is not None:
            config["variance"] = self._init_variance.tolist()
        return config


class Rescaling(Layer):
    """``y = x·scale + offset``, in training and at inference (Keras' ``Rescaling``): ``scale=1/255``
    maps [0, 255] to [0, 1]; ``scale=1/127.5, offset=-1`` maps it to [−1, 1].

    ``scale`` and ``offset`` are numbers or arrays broadcasting against the trailing axes (e.g. one
    value per channel). Integer inputs (uint8 images) give outputs of the layer's float dtype.
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_array(self, "scale", scale)
        self.offset = _number_or_array(self, "offset", offset)

    def call(self, inputs):
        if inputs.dtype != self._np_dtype:
            inputs = ops.cast(inputs, self.dtype)
        scale = np.asarray(self.scale, dtype=self._np_dtype)
        offset = np.asarray(self.offset, dtype=self._np_dtype)
        return ops.add(ops.multiply(inputs, scale), offset)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        def plain(value):  # arrays are saved as (nested) lists, numbers as numbers: JSON either way
            return value.tolist() if isinstance(value, np.ndarray) else value

        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


def _number_or_array(layer: Layer, name: str, value):
    """A float, or a float64 array for list/array arguments; anything non-numeric is a clear error."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or not np.all(np.isfinite(array)):
        raise ValueError(f"{type(layer).__name__}: {name} must be a finite number or an array of numbers, "
                         f"got {value!r:.80}.")
    return float(array) if array.ndim == 0 else array
