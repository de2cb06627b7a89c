"""Noise and dropout variants (active only in training; the identity at inference), and
ActivityRegularization.

======================  ==========================================================================
SpatialDropout1D/2D/3D  Dropout of whole channels: one keep/drop draw per (example, channel),
                        kept channels scaled by 1/(1 − rate)
GaussianNoise           x + n,  n ~ N(0, stddev²)
GaussianDropout         x · m,  m ~ N(1, rate/(1 − rate))
ActivityRegularization  identity; adds l1·Σ|y| + l2·Σy² to the loss
======================  ==========================================================================

Random draws use the layer's own generator when it was given a ``seed``, else the global one
(:func:`glassnet.backend.rng`), so ``glassnet.set_seed`` makes them reproducible.
"""

from __future__ import annotations

import numpy as np

from .. import backend, ops, regularizers
from .base import InputSpec, Layer
from .core import Dropout


def _layer_rng(seed):
    return None if seed is None else np.random.default_rng(int(seed))


def _check_data_format(data_format, layer: str) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    return data_format


class _SpatialDropout(Dropout):
    """Dropout with a mask shared over the spatial axes: (batch, 1, ..., 1, channels)."""

    rank = None  # number of spatial axes

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = _check_data_format(data_format, type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _mask_shape(self, shape):
        if self.data_format == "channels_last":
            return (shape[0],) + (1,) * self.rank + (shape[-1],)
        return (shape[0], shape[1]) + (1,) * self.rank

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape", None)
        return {**config, "data_format": self.data_format}


class SpatialDropout1D(_SpatialDropout):
    """Drops entire channels of (batch, steps, channels) inputs: one draw per example and channel,
    so a dropped channel is zero at every step; kept channels are scaled by 1/(1 − rate)."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, data_format="channels_last", seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format", None)
        return config


class SpatialDropout2D(_SpatialDropout):
    """Drops entire feature maps of (batch, height, width, channels) inputs (``channels_first``:
    (batch, channels, height, width)); kept maps are scaled by 1/(1 − rate)."""

    rank = 2


class SpatialDropout3D(_SpatialDropout):
    """Drops entire feature volumes of (batch, d1, d2, d3, channels) inputs; kept ones scaled by 1/(1 − rate)."""

    rank = 3


class GaussianNoise(Layer):
    """Additive zero-centred Gaussian noise in training: ``y = x + n``, ``n ~ N(0, stddev²)``;
    the identity at inference."""

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not float(stddev) >= 0:
            raise ValueError(f"GaussianNoise: stddev must be >= 0, got {stddev!r}.")
        self.stddev = float(stddev)
        self.seed = seed
        self._rng = _layer_rng(seed)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0.0:
            return inputs
        rng = self._rng if self._rng is not None else backend.rng()
        noise = rng.standard_normal(inputs.shape, dtype=np.float32 if inputs.dtype != np.float64 else np.float64)
        return ops.add(inputs, (self.stddev * noise).astype(inputs.dtype, copy=False))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplicative Gaussian noise in training: ``y = x·m``, ``m ~ N(1, rate/(1 − rate))`` — the
    same mean and variance as inverted dropout's mask (Srivastava et al., 2014); identity at inference."""

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"GaussianDropout: rate must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self._rng = _layer_rng(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        rng = self._rng if self._rng is not None else backend.rng()
        stddev = np.sqrt(self.rate / (1.0 - self.rate))
        mask = 1.0 + stddev * rng.standard_normal(inputs.shape,
                                                  dtype=np.float32 if inputs.dtype != np.float64 else np.float64)
        return ops.multiply(inputs, mask.astype(inputs.dtype, copy=False))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer):
    """The identity, adding ``l1·Σ|y| + l2·Σy²`` of its output to the training loss."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}


__all__ = ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
           "ActivityRegularization"]
