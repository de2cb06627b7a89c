"""Normalisation layers: BatchNormalization, LayerNormalization, GroupNormalization.

All three standardise ``x̂ = (x − μ)/√(σ² + ε)`` (biased variance) and return ``γ·x̂ + β``; they
differ in which axes μ and σ² are taken over. Their training forward and backward pass is the
fused op :func:`glassnet.ops.normalization.normalize`.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import ShapeError
from ..ops import normalization as norm_ops
from .base import InputSpec, Layer


class _AffineNormalization(Layer):
    """Shared arguments of the normalisation layers: ε, and the optional γ (scale) and β (center)."""

    supports_masking = True  # normalising features keeps time steps (and their mask) in place

    def __init__(self, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not float(epsilon) > 0:
            raise ValueError(f"{type(self).__name__}: epsilon must be positive, got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._set_weight_options(locals(), "beta", "gamma")
        self.gamma = None
        self.beta = None

    def _add_gamma_beta(self, shape, gamma: bool = True, beta: bool = True) -> None:
        if gamma:
            self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma",
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if beta:
            self.beta = self.add_weight(shape, self.beta_initializer, name="beta",
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def _known_size(self, input_shape, axis: int) -> int:
        rank = len(input_shape)
        if not -rank <= axis < rank:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): axis {axis} is out of range for "
                             f"input of shape {tuple(input_shape)} (rank {rank}).")
        size = input_shape[axis]
        if size is None:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) needs axis {axis} of its input to have a "
                             f"known size, got input shape {tuple(input_shape)}.")
        return int(size)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **self._weight_options_config("beta", "gamma")}


class BatchNormalization(_AffineNormalization):
    """Batch normalisation (Ioffe & Szegedy, 2015), for inputs of any rank; ``axis`` is the feature axis.

    Training (``training=True`` and the layer trainable), with μ_B, σ²_B the mean and *biased*
    variance of the batch over every axis but ``axis``::

        y = γ·(x − μ_B)/√(σ²_B + ε) + β
        moving_mean     ← momentum·moving_mean     + (1 − momentum)·μ_B
        moving_variance ← momentum·moving_variance + (1 − momentum)·σ²_B     (biased, as Keras)

    Inference (or ``trainable=False``, as in Keras): ``y = γ·(x − moving_mean)/√(moving_variance + ε) + β``.

    Weights, in order: gamma, beta (trainable), moving_mean, moving_variance (non-trainable):
    4 parameters per feature, 2 of them non-trainable. PyTorch's ``BatchNorm`` equals this with
    ``torch_momentum = 1 − momentum`` except that it uses the *unbiased* variance for ``running_var``.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, **kwargs):
        super().__init__(epsilon=epsilon, center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        if isinstance(axis, (list, tuple)) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"BatchNormalization: axis must be one integer (the feature axis), got {axis!r}.")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum!r}.")
        if synchronized:
            raise ValueError("BatchNormalization: synchronized=True needs several devices; glassnet runs on one.")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.synchronized = False
        self._set_weight_options(locals(), "moving_mean", "moving_variance")

    def build(self, input_shape):
        size = self._known_size(input_shape, self.axis)
        self._add_gamma_beta((size,), gamma=self.scale, beta=self.center)
        self.moving_mean = self.add_weight((size,), self.moving_mean_initializer, trainable=False,
                                           name="moving_mean")
        self.moving_variance = self.add_weight((size,), self.moving_variance_initializer, trainable=False,
                                               name="moving_variance")
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: size})
        self.built = True

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            if mask is None:
                out, mean, variance = norm_ops.batch_norm_train(inputs, self.gamma, self.beta, self.axis,
                                                                self.epsilon)
            else:
                out, mean, variance = norm_ops.masked_batch_norm_train(inputs, self._checked_mask(inputs, mask),
                                                                       self.gamma, self.beta, self.epsilon)
            m = self.momentum
            self.moving_mean.data[...] = m * self.moving_mean.data + (1.0 - m) * mean
            self.moving_variance.data[...] = m * self.moving_variance.data + (1.0 - m) * variance
            return out
        return norm_ops.batch_normalization(inputs, self.moving_mean.data, self.moving_variance.data, self.axis,
                                            offset=self.beta, scale=self.gamma, epsilon=self.epsilon)

    def _checked_mask(self, inputs, mask) -> np.ndarray:
        """The mask as a bool array of the inputs' shape without the feature axis (which must be last)."""
        mask = np.asarray(getattr(mask, "data", mask), dtype=bool)
        if self.axis % inputs.ndim != inputs.ndim - 1 or mask.shape != inputs.shape[:-1]:
            raise ShapeError(f"Layer '{self.name}' received a mask of shape {mask.shape} for inputs of shape "
                             f"{inputs.shape} (feature axis {self.axis}); a mask must have the inputs' shape "
                             f"without the feature axis, which must be the last ({inputs.shape[:-1]}).")
        return mask

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                **self._weight_options_config("moving_mean", "moving_variance"),
                "synchronized": False}


class LayerNormalization(_AffineNormalization):
    """Layer normalisation (Ba et al., 2016): each example is standardised over ``axis`` (int or list).

    ``y = γ·(x − μ)/√(σ² + ε) + β`` with μ, σ² per example over ``axis``; γ, β span those axes.
    ``rms_scaling=True`` gives RMSNorm, ``y = γ·x/√(mean(x²) + ε)`` (``center``/``scale`` ignored,
    no β). Same in training and inference.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(epsilon=epsilon, center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = [int(a) for a in axis]
        elif isinstance(axis, (int, np.integer)):
            self.axis = int(axis)
        else:
            raise TypeError(f"LayerNormalization: axis must be an int or a list of ints, got {axis!r}.")
        self.rms_scaling = bool(rms_scaling)

    def _axes(self):
        return self.axis if isinstance(self.axis, list) else [self.axis]

    def build(self, input_shape):
        axes = self._axes()
        shape = tuple(self._known_size(input_shape, a) for a in axes)
        self._add_gamma_beta(shape, gamma=self.scale or self.rms_scaling, beta=self.center and not self.rms_scaling)
        rank = len(input_shape)
        self.input_spec = InputSpec(ndim=rank, axes={a if a < 0 else a - rank: n for a, n in zip(axes, shape)})
        self.built = True

    def call(self, inputs):
        axes = tuple(a % inputs.ndim for a in self._axes())
        order = tuple(np.argsort(axes))
        gamma, beta = self.gamma, self.beta
        if list(order) != list(range(len(axes))):  # γ, β are stored in the order `axis` was given
            gamma = None if gamma is None else ops.transpose(gamma, order)
            beta = None if beta is None else ops.transpose(beta, order)
        return norm_ops.layer_norm(inputs, gamma, beta, axes, self.epsilon, rms_scaling=self.rms_scaling)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "rms_scaling": self.rms_scaling}


class GroupNormalization(_AffineNormalization):
    """Group normalisation (Wu & He, 2018): the channels on ``axis`` are split into ``groups`` contiguous
    groups, and each example is standardised per group over the group's channels and all other
    non-batch axes. γ, β have one value per channel.

    ``groups=1`` normalises over everything but the batch (LayerNormalization over all axes, with
    per-channel γ, β); ``groups=-1`` (= number of channels) is instance normalisation.
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(epsilon=epsilon, center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        if int(groups) == 0 or int(groups) < -1:
            raise ValueError(f"GroupNormalization: groups must be a positive integer or -1, got {groups!r}.")
        self.groups = int(groups)
        self.axis = int(axis)
        self._groups = None

    def build(self, input_shape):
        channels = self._known_size(input_shape, self.axis)
        groups = channels if self.groups == -1 else self.groups
        if groups > channels:
            raise ValueError(f"Layer '{self.name}' (GroupNormalization): number of groups ({groups}) cannot be more "
                             f"than the number of channels ({channels}) of input shape {tuple(input_shape)}.")
        if channels % groups:
            raise ValueError(f"Layer '{self.name}' (GroupNormalization): {channels} channels cannot be split into "
                             f"{groups} equal groups; choose groups dividing {channels}.")
        self._groups = groups
        self._add_gamma_beta((channels,), gamma=self.scale, beta=self.center)
        self.input_spec = InputSpec(ndim=len(input_shape), axes={self.axis: channels})
        self.built = True

    def call(self, inputs):
        return norm_ops.group_norm(inputs, self._groups, self.gamma, self.beta, self.axis, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis}


__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization"]
