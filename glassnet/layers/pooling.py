"""Pooling layers (Keras 3 names and arguments), channels-last only.

``MaxPooling1D/2D/3D`` and ``AveragePooling1D/2D/3D`` (``pool_size``, ``strides=None`` → pool_size,
``padding`` 'valid'/'same'); ``GlobalAveragePooling1D/2D/3D`` and ``GlobalMaxPooling1D/2D/3D``
(mean / max over all spatial axes, ``keepdims`` keeps them as size 1). No weights.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ShapeError
from ..ops import conv as conv_ops
from .base import InputSpec, Layer
from .conv import check_rank, output_spatial, standardize_data_format


class _Pooling(Layer):
    """Windowed pooling; subclasses set ``rank`` and ``op``."""

    rank = 2
    op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = conv_ops.normalize_tuple(pool_size, self.rank, f"{cls}: pool_size")
        self.strides = self.pool_size if strides is None else conv_ops.normalize_tuple(strides, self.rank,
                                                                                        f"{cls}: strides")
        if not isinstance(padding, str):
            raise ValueError(f"{cls}: padding must be 'valid' or 'same', got {padding!r}.")
        self.padding = conv_ops.normalize_padding(padding, self.rank)
        self.data_format = standardize_data_format(data_format, cls)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _output_spatial(self, input_shape):
        return output_spatial(self, input_shape, self.pool_size, self.strides, self.padding)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self._output_spatial(input_shape)
        self.built = True

    def call(self, inputs):
        self._output_spatial(inputs.shape)
        return type(self).op(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        return (input_shape[0],) + self._output_spatial(input_shape) + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps of (batch, steps, channels); gradient to the argmax."""

    rank = 1
    op = staticmethod(conv_ops.max_pool)


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of (batch, height, width, channels), moved by ``strides``.

    Output ``⌊(n − p)/s⌋ + 1`` ('valid') or ``⌈n/s⌉`` ('same', padding acts as −∞). The gradient goes to
    one element per window (the first maximum), as in TensorFlow and PyTorch.
    """

    rank = 2
    op = staticmethod(conv_ops.max_pool)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    """Max over 3-D windows of (batch, d1, d2, d3, channels)."""

    rank = 3
    op = staticmethod(conv_ops.max_pool)

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps; with 'same', padded positions are not counted."""

    rank = 1
    op = staticmethod(conv_ops.average_pool)


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows; with 'same', each window is divided by its number of real
    (non-padded) elements, as Keras does."""

    rank = 2
    op = staticmethod(conv_ops.average_pool)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pooling):
    """Mean over 3-D windows."""

    rank = 3
    op = staticmethod(conv_ops.average_pool)

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """Reduce all spatial axes: (batch, *spatial, C) → (batch, C) (or (batch, 1, ..., 1, C) with keepdims)."""

    rank = 2
    reduce = None

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self.built = True

    def call(self, inputs):
        return type(self).reduce(inputs, axis=tuple(range(1, self.rank + 1)), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps axis: (batch, steps, C) → (batch, C). With a mask (e.g. from
    ``Embedding(mask_zero=True)``) the mean of the unmasked steps only (Keras):
    ``y = Σ_t m_t·x_t / max(Σ_t m_t, 1)`` — an all-padding sample gives 0 where Keras gives 0/0 = NaN."""

    rank = 1
    reduce = staticmethod(ops.mean)

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        weights = np.asarray(getattr(mask, "data", mask))
        if weights.shape != inputs.shape[:2]:
            raise ShapeError(f"Layer '{self.name}' received a mask of shape {weights.shape} for inputs of shape "
                             f"{inputs.shape}; expected a mask of shape {inputs.shape[:2]} (batch, steps).")
        weights = weights.astype(inputs.data.dtype)[:, :, None]
        counts = np.maximum(weights.sum(axis=1, keepdims=self.keepdims), 1)
        return ops.sum(inputs * weights, axis=1, keepdims=self.keepdims) / counts


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width: (batch, H, W, C) → (batch, C)."""

    rank = 2
    reduce = staticmethod(ops.mean)


class GlobalAveragePooling3D(_GlobalPooling):
    rank = 3
    reduce = staticmethod(ops.mean)


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps axis: (batch, steps, C) → (batch, C)."""

    rank = 1
    reduce = staticmethod(ops.max)


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width: (batch, H, W, C) → (batch, C)."""

    rank = 2
    reduce = staticmethod(ops.max)


class GlobalMaxPooling3D(_GlobalPooling):
    rank = 3
    reduce = staticmethod(ops.max)


# Keras aliases
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, \
    GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
           "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
           "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
           "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D"]
