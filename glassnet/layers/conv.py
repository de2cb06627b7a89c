"""Convolution layers (Keras 3 names, arguments and defaults), channels-last only.

``Conv1D``/``Conv2D``/``Conv3D`` (kernel ``(*kernel_size, in/groups, filters)``), ``Conv1DTranspose``/
``Conv2DTranspose`` (kernel ``(*kernel_size, filters, in)``), ``DepthwiseConv1D``/``DepthwiseConv2D``
(kernel ``(*kernel_size, in, depth_multiplier)``) and ``SeparableConv1D``/``SeparableConv2D``
(depthwise then a 1×1 pointwise convolution). The arithmetic lives in :mod:`glassnet.ops.conv`.

Parameter counts (as Keras): Conv ``Πk·(C/groups)·F + F``; transposed ``Πk·F·C + F``; depthwise
``Πk·C·m + C·m``; separable ``Πk·C·m + C·m·F + F``.
"""

from __future__ import annotations

from .. import activations
from ..errors import ShapeError
from ..ops import conv as conv_ops
from ..ops.linalg import dense
from ..ops.nonlinear import relu
from ..ops.shape import reshape
from .base import InputSpec, Layer, _shape_str


def standardize_data_format(data_format, layer: str) -> str:
    """glassnet is channels-last only: None/'channels_last' pass, anything else is refused clearly."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        raise ValueError(
            f"{layer}: data_format='channels_first' is not supported; glassnet layers are channels-last "
            "(batch, ..., channels). Move the channel axis last, e.g. np.moveaxis(x, 1, -1).")
    raise ValueError(f"{layer}: data_format must be 'channels_last' (or None), got {data_format!r}.")


def check_rank(layer: Layer, input_shape, rank: int) -> None:
    """ShapeError naming the layer and both shapes when the input is not (batch, *spatial[rank], channels)."""
    InputSpec(ndim=rank + 2).check(layer, tuple(input_shape))


def output_spatial(layer: Layer, input_shape, window, strides, padding, dilation=None) -> tuple:
    """Output spatial sizes for a windowed layer; ShapeError naming the layer when the window does not fit."""
    dilation = dilation or (1,) * len(window)
    spatial = tuple(input_shape[1:-1])
    out = tuple(conv_ops.conv_output_length(n, k, s, padding, d)
                for n, k, s, d in zip(spatial, window, strides, dilation))
    if any(o is not None and o <= 0 for o in out):
        span = tuple(conv_ops.effective_kernel(k, d) for k, d in zip(window, dilation))
        padded = tuple(None if n is None else n + sum(conv_ops.padding_amounts(n, k, s, padding, d))
                       for n, k, s, d in zip(spatial, window, strides, dilation))
        raise ShapeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): the window {span} (kernel/pool size "
            f"{tuple(window)}, dilation {tuple(dilation)}) is larger than the padded input {_shape_str(padded)}; "
            f"received input of shape {_shape_str(tuple(input_shape))} with padding={padding!r}. "
            "Use padding='same', a smaller kernel, or a larger input.")
    return out


def _known_channels(layer: Layer, input_shape) -> int:
    channels = input_shape[-1]
    if channels is None:
        raise ShapeError(f"Layer '{layer.name}' ({type(layer).__name__}) needs the channel dimension (last axis) "
                         f"to be known, got input shape {_shape_str(tuple(input_shape))}.")
    return int(channels)


class _BaseConv(Layer):
    """Shared arguments and shape logic of every convolution layer (not registered: leading underscore)."""

    rank = 2
    transpose = False

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation=None, use_bias: bool = True, bias_initializer="zeros", bias_regularizer=None,
                 activity_regularizer=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        cls = type(self).__name__
        self.kernel_size = conv_ops.normalize_tuple(kernel_size, self.rank, f"{cls}: kernel_size")
        self.strides = conv_ops.normalize_tuple(strides, self.rank, f"{cls}: strides")
        self.dilation_rate = conv_ops.normalize_tuple(dilation_rate, self.rank, f"{cls}: dilation_rate")
        if not isinstance(padding, str):
            raise ValueError(f"{cls}: padding must be a string ('valid' or 'same'), got {padding!r}.")
        self.padding = conv_ops.normalize_padding(padding, self.rank, allow_causal=self.rank == 1
                                                  and not self.transpose and cls.startswith("Conv"))
        self.data_format = standardize_data_format(data_format, cls)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_options(locals(), "bias")
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _add_bias(self, size: int):
        if not self.use_bias:
            return None
        return self.add_weight((size,), self.bias_initializer, name="bias", regularizer=self.bias_regularizer,
                               constraint=self.bias_constraint)

    def _output_spatial(self, input_shape) -> tuple:
        return output_spatial(self, input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def _check_call(self, inputs) -> None:
        self._output_spatial(inputs.shape)  # a too-small image raises a ShapeError naming this layer

    def get_config(self) -> dict:
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, **self._weight_options_config("bias")}


class _Conv(_BaseConv):
    """N-d convolution layer: ``outputs = activation(conv(inputs, kernel) + bias)``."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups: int = 1, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        cls = type(self).__name__
        if int(filters) <= 0:
            raise ValueError(f"{cls}: filters must be a positive integer, got {filters!r}.")
        if int(groups) <= 0 or int(filters) % int(groups):
            raise ValueError(f"{cls}: groups must be a positive divisor of filters ({filters}), got {groups!r}.")
        self.filters = int(filters)
        self.groups = int(groups)
        self._set_weight_options(locals(), "kernel")

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = _known_channels(self, input_shape)
        if channels % self.groups:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): the input's {channels} channels "
                             f"(input shape {_shape_str(tuple(input_shape))}) cannot be split into "
                             f"groups={self.groups}.")
        self._output_spatial(input_shape)
        self.kernel = self.add_weight(self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer, name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})
        self.built = True

    def call(self, inputs):
        self._check_call(inputs)
        if self.activation is relu:  # fused: one node, ReLU in place on the GEMM output
            return conv_ops.conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                                 self.groups, activation="relu")
        outputs = conv_ops.conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                                self.groups)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        return (input_shape[0],) + self._output_spatial(input_shape) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                **self._weight_options_config("kernel")}


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); ``padding`` may also be 'causal' (left zeros only,
    so output t sees inputs ≤ t). Kernel (k, in/groups, filters)."""

    rank = 1


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels). Kernel (kh, kw, in/groups, filters).

    ``y[n, i, j, f] = activation(b[f] + Σ_{a, b, c} x_pad[n, i·sh + a·dh, j·sw + b·dw, c] · W[a, b, c, f])``;
    'same' padding gives ``ceil(size / stride)`` outputs (TensorFlow rule), 'valid' none.
    """

    rank = 2


class Conv3D(_Conv):
    """3-D convolution over (batch, d1, d2, d3, channels). Kernel (k1, k2, k3, in/groups, filters)."""

    rank = 3


class _ConvTranspose(_BaseConv):
    """Transposed convolution: the adjoint (input-gradient map) of a convolution, used to upsample."""

    transpose = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        cls = type(self).__name__
        if int(filters) <= 0:
            raise ValueError(f"{cls}: filters must be a positive integer, got {filters!r}.")
        self.filters = int(filters)
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = conv_ops.normalize_tuple(output_padding, self.rank, f"{cls}: output_padding",
                                                           allow_zero=True)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(f"{cls}: output_padding {self.output_padding} must be smaller than strides "
                                 f"{self.strides} on every axis.")
        self._set_weight_options(locals(), "kernel")

    def _output_spatial(self, input_shape) -> tuple:
        pads = self.output_padding or (None,) * self.rank
        out = tuple(conv_ops.conv_transpose_output_length(n, k, s, self.padding, p, d) for n, k, s, p, d in
                    zip(input_shape[1:-1], self.kernel_size, self.strides, pads, self.dilation_rate))
        if any(o is not None and o <= 0 for o in out):
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): input of shape "
                             f"{_shape_str(tuple(input_shape))} gives an empty output {out}.")
        return out

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = _known_channels(self, input_shape)
        self.kernel = self.add_weight(self.kernel_size + (self.filters, channels), self.kernel_initializer,
                                      name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self._add_bias(self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})
        self.built = True

    def call(self, inputs):
        outputs = conv_ops.conv_transpose(inputs, self.kernel, self.bias, self.strides, self.padding,
                                          self.output_padding, self.dilation_rate)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        return (input_shape[0],) + self._output_spatial(input_shape) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                **self._weight_options_config("kernel")}


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution. Kernel (k, filters, in). Output length: valid ``n·s + max(k − s, 0)``,
    same ``n·s`` (or ``(n − 1)·s + k − 2·pad + output_padding`` when output_padding is given)."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution ("deconvolution"). Kernel (kh, kw, filters, in).

    Output size per axis: valid ``n·s + max(k − s, 0)``, same ``n·s``; with ``output_padding``
    ``(n − 1)·s + k − 2·pad + output_padding`` (pad = k // 2 for 'same', else 0), as Keras.
    """

    rank = 2


class _DepthwiseConv(_BaseConv):
    """Depthwise convolution: every input channel gets its own ``depth_multiplier`` filters."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier: int = 1, data_format=None,
                 dilation_rate=1, activation=None, use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        if int(depth_multiplier) <= 0:
            raise ValueError(f"{type(self).__name__}: depth_multiplier must be a positive integer, "
                             f"got {depth_multiplier!r}.")
        self.depth_multiplier = int(depth_multiplier)
        self._set_weight_options(locals(), "depthwise")

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = _known_channels(self, input_shape)
        self._output_spatial(input_shape)
        self.kernel = self.add_weight(self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, name="kernel",
                                      regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.bias = self._add_bias(channels * self.depth_multiplier)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})
        self.built = True

    def call(self, inputs):
        self._check_call(inputs)
        outputs = conv_ops.depthwise_conv(inputs, self.kernel, self.bias, self.strides, self.padding,
                                          self.dilation_rate)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_shape[-1]
        return ((input_shape[0],) + self._output_spatial(input_shape)
                + (None if channels is None else channels * self.depth_multiplier,))

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                **self._weight_options_config("depthwise")}


class DepthwiseConv1D(_DepthwiseConv):
    """1-D depthwise convolution over (batch, steps, channels). Kernel (k, in, depth_multiplier)."""

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2-D depthwise convolution. Kernel (kh, kw, in, depth_multiplier); output channel ``c·m + j`` is
    channel c convolved with its j-th filter."""

    rank = 2


class _SeparableConv(_BaseConv):
    """Depthwise convolution followed by a pointwise (1×1) convolution mixing the channels."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier: int = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         bias_initializer, bias_regularizer, activity_regularizer, bias_constraint, **kwargs)
        cls = type(self).__name__
        if int(filters) <= 0:
            raise ValueError(f"{cls}: filters must be a positive integer, got {filters!r}.")
        if int(depth_multiplier) <= 0:
            raise ValueError(f"{cls}: depth_multiplier must be a positive integer, got {depth_multiplier!r}.")
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
        self._set_weight_options(locals(), "depthwise", "pointwise")

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = _known_channels(self, input_shape)
        self._output_spatial(input_shape)
        middle = channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer,
            name="depthwise_kernel", regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            (1,) * self.rank + (middle, self.filters), self.pointwise_initializer, name="pointwise_kernel",
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        self.bias = self._add_bias(self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})
        self.built = True

    def call(self, inputs):
        self._check_call(inputs)
        middle = conv_ops.depthwise_conv(inputs, self.depthwise_kernel, None, self.strides, self.padding,
                                         self.dilation_rate)
        pointwise = reshape(self.pointwise_kernel, self.pointwise_kernel.shape[-2:])
        return self.activation(dense(middle, pointwise, self.bias))  # a 1×1 convolution is a dense map

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        return (input_shape[0],) + self._output_spatial(input_shape) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                **self._weight_options_config("depthwise", "pointwise")}


class SeparableConv1D(_SeparableConv):
    """1-D separable convolution: DepthwiseConv1D then a 1×1 Conv1D (one bias, after the pointwise step)."""

    rank = 1


class SeparableConv2D(_SeparableConv):
    """2-D separable convolution: DepthwiseConv2D (kernel (kh, kw, in, m)) then a 1×1 convolution
    (pointwise kernel (1, 1, in·m, filters)) and the bias. Params ``kh·kw·in·m + in·m·filters + filters``."""

    rank = 2


# Keras aliases
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D

__all__ = ["Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D",
           "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Convolution1D", "Convolution2D",
           "Convolution3D", "Convolution2DTranspose", "SeparableConvolution1D", "SeparableConvolution2D",
           "standardize_data_format", "output_spatial", "check_rank"]
