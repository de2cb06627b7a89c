"""Convolution: the ops in glassnet.ops.conv (conv, conv_transpose, depthwise_conv) and the layers in
glassnet.layers.conv (Conv1D/2D/3D, Conv1DTranspose/Conv2DTranspose, DepthwiseConv1D/2D,
SeparableConv1D/2D): gradient checks w.r.t. inputs, kernels and biases, PyTorch parity with weights
mapped between layouts, shapes, configs, parameter counts, bad input, float32, and a CNN that learns."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError
from glassnet.layers.base import REGISTRY
from glassnet.layers.conv import (
    Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
    SeparableConv2D,
)
from glassnet.layers.pooling import MaxPooling2D
from glassnet.ops import conv as conv_ops
from glassnet.tensor import Tensor
from parallel_helpers import spy_threads


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ====================================================================== naive reference (loops, tests only)
def reference_conv2d(x, w, b, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Direct definition: y[n,i,j,f] = b[f] + Σ x_pad[n, i·s + a·d, j·s + c·d, g·Cg + ch] W[a, c, ch, f]."""
    xp = np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),))
    kh, kw, cg, filters = w.shape
    fg = filters // groups
    ho = (xp.shape[1] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (xp.shape[2] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], ho, wo, filters))
    for i in range(ho):
        for j in range(wo):
            for f in range(filters):
                g = f // fg
                patch = xp[:, i * stride[0]:i * stride[0] + (kh - 1) * dilation[0] + 1:dilation[0],
                           j * stride[1]:j * stride[1] + (kw - 1) * dilation[1] + 1:dilation[1], g * cg:(g + 1) * cg]
                y[:, i, j, f] = np.tensordot(patch, w[..., f], axes=3)
    return y + (0 if b is None else b)


# ====================================================================== shape arithmetic
@pytest.mark.parametrize("n, k, s, d, padding, expected", [
    (28, 3, 1, 1, "valid", 26), (28, 3, 1, 1, "same", 28), (28, 3, 2, 1, "same", 14), (27, 3, 2, 1, "same", 14),
    (28, 3, 2, 1, "valid", 13), (10, 3, 1, 2, "valid", 6), (10, 3, 3, 1, "causal", 4), (5, 5, 1, 1, "valid", 1),
])
def test_conv_output_length_follows_keras(n, k, s, d, padding, expected):
    assert conv_ops.conv_output_length(n, k, s, padding, d) == expected
    assert conv_ops.conv_output_length(None, k, s, padding, d) is None


@pytest.mark.parametrize("n, k, s, expected", [(7, 3, 1, (1, 1)), (8, 3, 2, (0, 1)), (7, 3, 2, (1, 1)),
                                               (6, 4, 1, (1, 2)), (5, 2, 2, (0, 1))])
def test_same_padding_puts_the_extra_zero_at_the_end(n, k, s, expected):
    assert conv_ops.padding_amounts(n, k, s, "same") == expected


@pytest.mark.parametrize("n, k, s, padding, output_padding, expected", [
    (4, 3, 2, "valid", None, 9), (4, 3, 2, "same", None, 8), (4, 2, 3, "valid", None, 12),
    (4, 3, 2, "valid", 1, 10), (4, 3, 2, "same", 1, 8), (5, 3, 1, "same", None, 5),
])
def test_conv_transpose_output_length_follows_keras(n, k, s, padding, output_padding, expected):
    assert conv_ops.conv_transpose_output_length(n, k, s, padding, output_padding) == expected


# ====================================================================== op: values against the definition
@pytest.mark.parametrize("stride, padding, dilation, groups, channels, filters", [
    (1, "valid", 1, 1, 3, 4), (2, "same", 1, 1, 3, 2), (1, "same", 2, 1, 2, 3), (2, "valid", 1, 2, 4, 6),
    (1, "same", 1, 3, 3, 3), ((2, 1), "same", (1, 2), 1, 1, 2), (1, "valid", 1, 1, 16, 2),
])
def test_conv2d_matches_the_direct_definition(stride, padding, dilation, groups, channels, filters):
    x, w, b = rand(2, 7, 8, channels), rand(3, 3, channels // groups, filters, seed=1), rand(filters, seed=2)
    s = conv_ops.normalize_tuple(stride, 2, "s")
    d = conv_ops.normalize_tuple(dilation, 2, "d")
    pads = tuple(conv_ops.padding_amounts(n, 3, si, padding, di) for n, si, di in zip((7, 8), s, d))
    y = conv_ops.conv2d(Tensor(x), w, b, strides=stride, padding=padding, dilation_rate=dilation, groups=groups)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, reference_conv2d(x, w, b, s, pads, d, groups), atol=1e-12)


def test_conv_with_explicit_padding_pairs():
    x, w = rand(1, 5, 5, 2), rand(2, 3, 2, 3, seed=1)
    y = conv_ops.conv2d(Tensor(x), w, padding=((1, 0), (2, 1)))
    np.testing.assert_allclose(y.data, reference_conv2d(x, w, None, pads=((1, 0), (2, 1))), atol=1e-12)


def test_causal_conv1d_output_t_sees_only_inputs_up_to_t():
    x, w = rand(1, 9, 2), rand(3, 2, 1, seed=1)
    y = conv_ops.conv1d(Tensor(x), w, padding="causal", dilation_rate=2)
    assert y.shape == (1, 9, 1)
    x2 = x.copy()
    x2[:, 6:] += 5.0  # changing the future leaves the past unchanged
    y2 = conv_ops.conv1d(Tensor(x2), w, padding="causal", dilation_rate=2)
    np.testing.assert_allclose(y.data[:, :6], y2.data[:, :6])
    assert not np.allclose(y.data[:, 6:], y2.data[:, 6:])


def test_float32_stays_float32_forward_and_backward():
    x = Tensor(rand(2, 6, 6, 3, dtype=np.float32), requires_grad=True)
    w = Tensor(rand(3, 3, 3, 4, seed=1, dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, np.float32), requires_grad=True)
    y = conv_ops.conv2d(x, w, b, strides=2, padding="same")
    assert y.dtype == np.float32
    t = conv_ops.conv2d_transpose(y, rand(3, 3, 2, 4, dtype=np.float32), strides=2, padding="same")
    d = conv_ops.depthwise_conv2d(t, rand(3, 3, 2, 2, dtype=np.float32), padding="same")
    assert t.dtype == d.dtype == np.float32
    d.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


# ====================================================================== op: gradient checks (input, kernel, bias)
@pytest.mark.parametrize("stride, padding, dilation, groups, channels, filters", [
    (1, "valid", 1, 1, 2, 3),          # plain
    (2, "same", 1, 1, 3, 2),           # stride + asymmetric 'same' padding
    (1, "same", 2, 1, 2, 2),           # dilation
    (2, "valid", 1, 2, 4, 4),          # groups
    (1, "valid", 1, 1, 1, 2),          # C = 1 im2col layout
    (1, "same", 1, 1, 16, 2),          # C ≥ 16: per-offset col2im path
    ((1, 2), "same", (2, 1), 1, 2, 3),  # per-axis strides/dilation
])
def test_conv2d_gradcheck_input_kernel_bias(stride, padding, dilation, groups, channels, filters):
    x, w, b = rand(2, 5, 6, channels), rand(3, 2, channels // groups, filters, seed=1), rand(filters, seed=2)
    assert gradcheck(lambda x, w, b: conv_ops.conv2d(x, w, b, strides=stride, padding=padding,
                                                     dilation_rate=dilation, groups=groups), x, w, b)


@pytest.mark.parametrize("padding, stride, dilation, groups", [
    ("valid", 1, 1, 1), ("same", 2, 1, 1), ("causal", 1, 2, 1), ("same", 1, 1, 2)])
def test_conv1d_gradcheck(padding, stride, dilation, groups):
    x, w, b = rand(2, 7, 4), rand(3, 4 // groups, 2, seed=1), rand(2, seed=2)
    assert gradcheck(lambda x, w, b: conv_ops.conv1d(x, w, b, stride, padding, dilation, groups), x, w, b)


def test_conv3d_gradcheck():
    x, w, b = rand(1, 4, 4, 3, 2), rand(2, 2, 2, 2, 2, seed=1), rand(2, seed=2)
    assert gradcheck(lambda x, w, b: conv_ops.conv(x, w, b, strides=(1, 2, 1), padding="same"), x, w, b)


@pytest.mark.parametrize("stride, padding, output_padding, dilation, channels, filters", [
    (2, "valid", None, 1, 2, 3), (2, "same", None, 1, 3, 2), (2, "valid", 1, 1, 2, 2), (1, "same", None, 2, 2, 2),
    (3, "valid", None, 1, 1, 1),  # kernel smaller than the stride: zeros between the pieces
    (1, "valid", None, 1, 2, 16),
])
def test_conv2d_transpose_gradcheck(stride, padding, output_padding, dilation, channels, filters):
    x, w, b = rand(2, 3, 4, channels), rand(2, 3, filters, channels, seed=1), rand(filters, seed=2)
    assert gradcheck(lambda x, w, b: conv_ops.conv2d_transpose(x, w, b, stride, padding, output_padding, dilation),
                     x, w, b)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> = <x, conv_transpose(y)> for the same kernel (kernel axes swapped to the transpose layout)."""
    x, w = rand(2, 9, 8, 3), rand(3, 3, 3, 4, seed=1)
    y = conv_ops.conv2d(Tensor(x), w, strides=2, padding="valid")
    r = rand(*y.shape, seed=3)
    back = conv_ops.conv2d_transpose(Tensor(r), w, strides=2, padding="valid", output_padding=(0, 1))
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y.data * r), np.sum(x * back.data), rtol=1e-10)


@pytest.mark.parametrize("multiplier, stride, padding, dilation", [
    (1, 1, "valid", 1), (2, 2, "same", 1), (1, 1, "same", 2), (3, (1, 2), "valid", 1)])
def test_depthwise_conv2d_gradcheck(multiplier, stride, padding, dilation):
    x, w, b = rand(2, 5, 6, 3), rand(3, 2, 3, multiplier, seed=1), rand(3 * multiplier, seed=2)
    assert gradcheck(lambda x, w, b: conv_ops.depthwise_conv2d(x, w, b, stride, padding, dilation), x, w, b)


def test_depthwise_equals_grouped_conv_with_one_group_per_channel():
    x, w = rand(2, 6, 6, 3), rand(3, 3, 3, 2, seed=1)
    depthwise = conv_ops.depthwise_conv2d(Tensor(x), w, strides=2, padding="same")
    grouped = conv_ops.conv2d(Tensor(x), w.reshape(3, 3, 1, 6), strides=2, padding="same", groups=3)
    np.testing.assert_allclose(depthwise.data, grouped.data, atol=1e-12)


# ====================================================================== layers: input gradcheck and weight grads
def _swap_in(layer, names):
    """A function f(x, *weights) that runs ``layer`` with the given tensors in place of its weights."""
    def f(x, *weights):
        for name, value in zip(names, weights):
            object.__setattr__(layer, name, value)
        return layer(x)
    return f


@pytest.mark.parametrize("make, shape, names", [
    (lambda: Conv2D(3, (3, 2), strides=(2, 1), padding="same", activation="tanh", dtype="float64"),
     (2, 5, 6, 2), ("kernel", "bias")),
    (lambda: Conv2D(4, 3, padding="same", dilation_rate=2, groups=2, dtype="float64"), (1, 6, 6, 4),
     ("kernel", "bias")),
    (lambda: Conv1D(3, 3, padding="causal", activation="sigmoid", dtype="float64"), (2, 6, 2), ("kernel", "bias")),
    (lambda: Conv3D(2, 2, dtype="float64"), (1, 3, 3, 3, 2), ("kernel", "bias")),
    (lambda: Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64"), (2, 3, 3, 2), ("kernel", "bias")),
    (lambda: Conv1DTranspose(2, 3, strides=2, dtype="float64"), (2, 4, 2), ("kernel", "bias")),
    (lambda: DepthwiseConv2D(3, depth_multiplier=2, padding="same", dtype="float64"), (2, 4, 5, 2),
     ("kernel", "bias")),
    (lambda: DepthwiseConv1D(2, strides=2, dtype="float64"), (2, 6, 3), ("kernel", "bias")),
    (lambda: SeparableConv2D(3, 3, depth_multiplier=2, padding="same", activation="relu", dtype="float64"),
     (2, 4, 4, 2), ("depthwise_kernel", "pointwise_kernel", "bias")),
    (lambda: SeparableConv1D(2, 3, dtype="float64"), (2, 6, 3), ("depthwise_kernel", "pointwise_kernel", "bias")),
])
def test_layer_gradcheck_wrt_input_and_weights(make, shape, names):
    layer = make()
    x = rand(*shape)
    layer(x)  # build
    assert gradcheck(lambda x: layer(x), x)
    weights = [getattr(layer, name).data.copy() for name in names]
    assert gradcheck(_swap_in(layer, names), x, *weights)


def test_layer_backward_fills_weight_grads_like_the_op():
    layer = Conv2D(3, 3, strides=2, padding="same", dtype="float64")
    x = rand(2, 6, 6, 2)
    layer(x).sum().backward()
    k, b = Tensor(layer.kernel.data, requires_grad=True), Tensor(layer.bias.data, requires_grad=True)
    conv_ops.conv2d(Tensor(x), k, b, strides=2, padding="same").sum().backward()
    np.testing.assert_allclose(layer.kernel.grad, k.grad)
    np.testing.assert_allclose(layer.bias.grad, b.grad)


# ====================================================================== PyTorch parity
def _t(a, torch):
    return torch.tensor(np.asarray(a), requires_grad=True)


def _pad_torch(xt, pads, F):
    flat = []
    for lo, hi in reversed(pads):
        flat += [lo, hi]
    return F.pad(xt, flat)


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, "valid", 1, 1), (2, "same", 1, 1), (1, "same", 2, 1), (2, "valid", 1, 2), (1, "same", 1, 4)])
def test_conv2d_layer_matches_torch(stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 9, 8, 4)
    layer = Conv2D(8, 3, strides=stride, padding=padding, dilation_rate=dilation, groups=groups, dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    r = rand(*y.shape, seed=5)
    y.backward(r)
    # layouts: x NHWC → NCHW, kernel (kh, kw, in/g, out) → (out, in/g, kh, kw)
    xt = _t(x.transpose(0, 3, 1, 2), torch)
    wt = _t(layer.kernel.data.transpose(3, 2, 0, 1), torch)
    bt = _t(layer.bias.data, torch)
    pads = [conv_ops.padding_amounts(n, 3, stride, padding, dilation) for n in (9, 8)]
    yt = F.conv2d(_pad_torch(xt, pads, F), wt, bt, stride=stride, dilation=dilation, groups=groups)
    yt.backward(torch.tensor(r.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(layer.kernel.grad, wt.grad.numpy().transpose(2, 3, 1, 0), atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, bt.grad.numpy(), atol=1e-10)


def test_conv2d_same_stride1_matches_torch_padding_same_in_float32():
    torch = pytest.importorskip("torch")
    x = rand(3, 10, 10, 3, dtype=np.float32)
    layer = Conv2D(5, 3, padding="same")
    y = layer(x)
    conv = torch.nn.Conv2d(3, 5, 3, padding="same")
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.kernel.data.transpose(3, 2, 0, 1)))
        conv.bias.copy_(torch.from_numpy(layer.bias.data))
        yt = conv(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, yt.numpy().transpose(0, 2, 3, 1), atol=1e-5)


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, "valid", 1, 1), (2, "same", 1, 1), (1, "valid", 3, 2), (1, "causal", 2, 1)])
def test_conv1d_layer_matches_torch(stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 11, 4)
    layer = Conv1D(6, 3, strides=stride, padding=padding, dilation_rate=dilation, groups=groups, dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    r = rand(*y.shape, seed=5)
    y.backward(r)
    xt, wt, bt = _t(x.transpose(0, 2, 1), torch), _t(layer.kernel.data.transpose(2, 1, 0), torch), \
        _t(layer.bias.data, torch)
    pads = [conv_ops.padding_amounts(11, 3, stride, padding, dilation)]
    yt = F.conv1d(_pad_torch(xt, pads, F), wt, bt, stride=stride, dilation=dilation, groups=groups)
    yt.backward(torch.tensor(r.transpose(0, 2, 1)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 1), atol=1e-10)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 1), atol=1e-10)
    np.testing.assert_allclose(layer.kernel.grad, wt.grad.numpy().transpose(2, 1, 0), atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, bt.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("kernel, stride, padding, output_padding, dilation", [
    (3, 2, "valid", None, 1), (4, 2, "same", None, 1), (3, 1, "same", None, 1), (3, 2, "valid", 1, 1),
    (3, 2, "valid", None, 2), (2, 3, "valid", None, 1)])
def test_conv2d_transpose_layer_matches_torch(kernel, stride, padding, output_padding, dilation):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 4, 5, 3)
    layer = Conv2DTranspose(2, kernel, strides=stride, padding=padding, output_padding=output_padding,
                            dilation_rate=dilation, dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    assert y.shape == layer.compute_output_shape((None, 4, 5, 3))[:0] + (2,) + y.shape[1:]
    r = rand(*y.shape, seed=5)
    y.backward(r)
    # torch: output = full[p : p + out]; TF 'same' crops max(k_eff − s, 0)//2 at the start (symmetric here)
    k_eff = (kernel - 1) * dilation + 1
    full = [(n - 1) * stride + k_eff for n in (4, 5)]
    start = [max(f - o, 0) // 2 if padding == "same" else 0 for f, o in zip(full, y.shape[1:3])]
    assert start[0] == start[1]
    extra = [o - (f - 2 * start[0]) for f, o in zip(full, y.shape[1:3])]
    # kernel (kh, kw, out, in) → torch ConvTranspose2d weight (in, out, kh, kw)
    xt, wt, bt = _t(x.transpose(0, 3, 1, 2), torch), _t(layer.kernel.data.transpose(3, 2, 0, 1), torch), \
        _t(layer.bias.data, torch)
    yt = F.conv_transpose2d(xt, wt, bt, stride=stride, padding=start[0], output_padding=tuple(extra),
                            dilation=dilation)
    yt.backward(torch.tensor(r.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(layer.kernel.grad, wt.grad.numpy().transpose(2, 3, 1, 0), atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, bt.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("multiplier, stride, padding", [(1, 1, "valid"), (2, 2, "same"), (3, 1, "same")])
def test_depthwise_conv2d_layer_matches_torch_groups_equal_in_channels(multiplier, stride, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 7, 6, 3)
    layer = DepthwiseConv2D(3, strides=stride, padding=padding, depth_multiplier=multiplier, dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    r = rand(*y.shape, seed=5)
    y.backward(r)
    # kernel (kh, kw, C, m) → torch (C·m, 1, kh, kw); output channel c·m + j in both
    weight = layer.kernel.data.reshape(3, 3, 3 * multiplier).transpose(2, 0, 1)[:, None]
    xt, wt, bt = _t(x.transpose(0, 3, 1, 2), torch), _t(weight, torch), _t(layer.bias.data, torch)
    pads = [conv_ops.padding_amounts(n, 3, stride, padding) for n in (7, 6)]
    yt = F.conv2d(_pad_torch(xt, pads, F), wt, bt, stride=stride, groups=3)
    yt.backward(torch.tensor(r.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-10)
    np.testing.assert_allclose(layer.kernel.grad,
                               wt.grad.numpy()[:, 0].transpose(1, 2, 0).reshape(3, 3, 3, multiplier), atol=1e-10)


def test_separable_conv2d_is_depthwise_then_pointwise():
    x = rand(2, 6, 6, 3)
    layer = SeparableConv2D(4, 3, depth_multiplier=2, padding="same", dtype="float64")
    y = layer(x)
    middle = conv_ops.depthwise_conv2d(Tensor(x), layer.depthwise_kernel.data, padding="same")
    expected = conv_ops.conv2d(middle, layer.pointwise_kernel.data, layer.bias.data)
    np.testing.assert_allclose(y.data, expected.data, atol=1e-12)


# ====================================================================== shapes, configs, parameter counts
@pytest.mark.parametrize("make, input_shape", [
    (lambda: Conv2D(4, 3), (2, 9, 8, 3)), (lambda: Conv2D(4, (3, 2), strides=2, padding="same"), (2, 9, 8, 3)),
    (lambda: Conv2D(4, 3, strides=(2, 3), dilation_rate=1), (2, 11, 10, 3)),
    (lambda: Conv2D(4, 3, dilation_rate=2, padding="valid"), (2, 9, 8, 3)),
    (lambda: Conv1D(5, 4, strides=3, padding="same"), (2, 13, 2)), (lambda: Conv1D(5, 3, padding="causal"), (2, 7, 2)),
    (lambda: Conv3D(2, 2, strides=2), (1, 5, 4, 4, 1)),
    (lambda: Conv2DTranspose(3, 3, strides=2), (2, 4, 5, 2)),
    (lambda: Conv2DTranspose(3, 4, strides=2, padding="same"), (2, 4, 5, 2)),
    (lambda: Conv2DTranspose(3, 3, strides=2, output_padding=1), (2, 4, 5, 2)),
    (lambda: Conv1DTranspose(3, 3, strides=3, padding="same"), (2, 4, 2)),
    (lambda: DepthwiseConv2D(3, depth_multiplier=3, strides=2, padding="same"), (2, 7, 7, 2)),
    (lambda: DepthwiseConv1D(3), (2, 7, 2)),
    (lambda: SeparableConv2D(5, 3, strides=2), (2, 9, 9, 2)), (lambda: SeparableConv1D(5, 2), (2, 9, 3)),
])
def test_compute_output_shape_matches_the_real_output(make, input_shape):
    layer = make()
    out = layer(np.zeros(input_shape, np.float32))
    assert layer.compute_output_shape((None,) + input_shape[1:]) == (None,) + out.shape[1:]
    assert make().compute_output_shape(input_shape) == out.shape


def test_unknown_spatial_sizes_propagate_as_none():
    layer = Conv2D(4, 3, strides=2)
    model = gn.Sequential([layers.Input(shape=(None, None, 3)), layer])
    assert model.output_shapes() == [(None, None, None, 4)]
    assert layer(np.zeros((1, 9, 7, 3), np.float32)).shape == (1, 4, 3, 4)


@pytest.mark.parametrize("make", [
    lambda: Conv2D(8, (3, 5), strides=(2, 1), padding="same", dilation_rate=1, groups=2, activation="relu",
                   use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2",
                   bias_constraint="non_neg", name="c"),
    lambda: Conv1D(3, 2, padding="causal", dilation_rate=2, activation="tanh"),
    lambda: Conv3D(2, (1, 2, 3)),
    lambda: Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1, activation="sigmoid"),
    lambda: Conv1DTranspose(4, 3, strides=2),
    lambda: DepthwiseConv2D(3, depth_multiplier=2, padding="same", depthwise_regularizer="l1"),
    lambda: DepthwiseConv1D(2),
    lambda: SeparableConv2D(6, 3, depth_multiplier=2, pointwise_initializer="zeros", pointwise_constraint="max_norm"),
    lambda: SeparableConv1D(6, 3),
])
def test_get_config_round_trips_through_json_and_the_registry(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    cls = REGISTRY.lookup(type(layer).__name__)
    assert cls is type(layer)
    clone = cls.from_config(config)
    assert clone.get_config() == layer.get_config()
    x = rand(2, *(9,) * layer.rank, 4, dtype=np.float32)
    layer(x)
    clone(x)
    assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]


def test_kernel_layouts_and_parameter_counts_follow_keras():
    x = np.zeros((1, 9, 9, 4), np.float32)
    conv = Conv2D(6, (3, 2), groups=2)
    conv(x)
    assert conv.kernel.shape == (3, 2, 2, 6) and conv.count_params() == 3 * 2 * 2 * 6 + 6
    transpose = Conv2DTranspose(5, 3)
    transpose(x)
    assert transpose.kernel.shape == (3, 3, 5, 4) and transpose.count_params() == 9 * 5 * 4 + 5
    depthwise = DepthwiseConv2D(3, depth_multiplier=2)
    depthwise(x)
    assert depthwise.kernel.shape == (3, 3, 4, 2) and depthwise.count_params() == 9 * 4 * 2 + 8
    separable = SeparableConv2D(7, 3, depth_multiplier=2)
    separable(x)
    assert separable.depthwise_kernel.shape == (3, 3, 4, 2)
    assert separable.pointwise_kernel.shape == (1, 1, 8, 7)
    assert separable.count_params() == 9 * 4 * 2 + 8 * 7 + 7
    assert [w.name for w in separable.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]


def test_cifar_style_cnn_has_122570_parameters():
    model = gn.Sequential([
        layers.Input(shape=(32, 32, 3)),
        Conv2D(32, 3, activation="relu"), MaxPooling2D(),
        Conv2D(64, 3, activation="relu"), MaxPooling2D(),
        Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10),
    ])
    assert model.count_params() == 122_570
    assert [layer.count_params() for layer in model.layers] == [896, 0, 18_496, 0, 36_928, 0, 65_600, 650]
    assert model.output_shapes()[:5] == [(None, 30, 30, 32), (None, 15, 15, 32), (None, 13, 13, 64),
                                         (None, 6, 6, 64), (None, 4, 4, 64)]
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 10)


def test_keras2_input_shape_argument_on_a_conv_layer():
    model = gn.Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), layers.Flatten(), layers.Dense(2)])
    assert model.built and model.count_params() == (9 * 4 + 4) + (6 * 6 * 4 * 2 + 2)


# ====================================================================== bad input
def test_rank3_input_into_conv2d_names_the_layer_and_both_shapes():
    layer = Conv2D(4, 3, name="my_conv")
    with pytest.raises(ShapeError) as info:
        layer(np.zeros((2, 8, 8), np.float32))
    message = str(info.value)
    assert "my_conv" in message and "Conv2D" in message and "(2, 8, 8)" in message and "rank" in message


def test_rank_error_when_building_a_sequential_from_an_input_shape():
    with pytest.raises(ShapeError, match=r"conv1d.*\(None, 8, 8, 1\)"):
        gn.Sequential([layers.Input(shape=(8, 8, 1)), Conv1D(4, 3)])


def test_kernel_larger_than_the_input_is_a_shape_error_at_build():
    with pytest.raises(ShapeError) as info:
        gn.Sequential([layers.Input(shape=(4, 4, 1)), Conv2D(2, 5, name="big_kernel")])
    message = str(info.value)
    assert "big_kernel" in message and "(None, 4, 4, 1)" in message and "(5, 5)" in message


def test_kernel_larger_than_the_input_is_a_shape_error_at_call_when_sizes_were_unknown():
    layer = Conv2D(2, 3, dilation_rate=2, name="dilated")
    gn.Sequential([layers.Input(shape=(None, None, 1)), layer])
    assert layer(np.zeros((1, 5, 5, 1), np.float32)).shape == (1, 1, 1, 2)
    with pytest.raises(ShapeError) as info:
        layer(np.zeros((1, 4, 9, 1), np.float32))
    message = str(info.value)
    assert "dilated" in message and "(1, 4, 9, 1)" in message and "(5, 5)" in message
    assert layer(np.zeros((1, 4, 9, 1), np.float32).repeat(2, axis=1)).shape == (1, 4, 5, 2)


def test_same_padding_never_fails_on_small_inputs():
    assert Conv2D(2, 5, padding="same", strides=3)(np.zeros((1, 2, 2, 1), np.float32)).shape == (1, 1, 1, 2)


def test_wrong_channel_count_after_build_names_the_layer():
    layer = Conv2D(2, 3, name="rgb")
    layer(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ShapeError, match=r"rgb.*\(1, 5, 5, 1\).*axis -1 should be 3"):
        layer(np.zeros((1, 5, 5, 1), np.float32))


def test_op_level_errors_name_the_op_and_shapes():
    with pytest.raises(ShapeError, match=r"conv2d.*rank 4.*\(5, 5, 1\)"):
        conv_ops.conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)))
    with pytest.raises(ShapeError, match=r"3 channels.*expects 2"):
        conv_ops.conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 2)))
    with pytest.raises(ShapeError, match=r"window \(7, 7\).*\(5, 5\)"):
        conv_ops.conv2d(np.zeros((1, 5, 5, 1)), np.zeros((4, 4, 1, 2)), dilation_rate=2)


@pytest.mark.parametrize("make, words", [
    (lambda: Conv2D(4, 3, data_format="channels_first"), "channels-last"),
    (lambda: Conv2D(4, 3, data_format="NHWC"), "channels_last"),
    (lambda: Conv2D(4, 3, padding="full"), "padding"),
    (lambda: Conv2D(4, 3, padding="causal"), "padding"),
    (lambda: Conv2D(4, 0), "kernel_size"),
    (lambda: Conv2D(4, (3, 3, 3)), "kernel_size"),
    (lambda: Conv2D(0, 3), "filters"),
    (lambda: Conv2D(6, 3, groups=4), "groups"),
    (lambda: Conv2D(4, 3, strides=0), "strides"),
    (lambda: Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: Conv2D(4, 3, unknown_arg=1), "unknown_arg"),
])
def test_bad_arguments_are_refused_with_clear_messages(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()


def test_channels_not_divisible_by_groups_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"Layer 'conv2d' \(Conv2D\).*3 channels.*\(None, 5, 5, 3\).*groups=2"):
        Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3), np.float32))


# ====================================================================== save/load and training
def test_cnn_saves_and_loads_with_identical_predictions(tmp_path):
    model = gn.Sequential([layers.Input(shape=(8, 8, 1)), Conv2D(4, 3, padding="same", activation="relu"),
                           DepthwiseConv2D(3, depth_multiplier=2), SeparableConv2D(3, 2),
                           Conv2DTranspose(2, 3, strides=2), layers.Flatten(), layers.Dense(3)])
    x = rand(5, 8, 8, 1, dtype=np.float32)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "cnn.glassnet"
    model.save(str(path))
    loaded = gn.load_model(str(path))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    clone = gn.model_from_json(model.to_json())
    assert [type(layer).__name__ for layer in clone.layers] == [type(layer).__name__ for layer in model.layers]


def test_small_cnn_learns_the_digits():
    pytest.importorskip("sklearn")
    x, y = gn.datasets.load_digits(images=True)
    x = (x / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    model = gn.Sequential([
        layers.Input(shape=(8, 8, 1)),
        Conv2D(16, 3, padding="same", activation="relu"), MaxPooling2D(),
        Conv2D(32, 3, padding="same", activation="relu"), MaxPooling2D(),
        layers.Flatten(), layers.Dense(10),
    ])
    model.compile(optimizer=gn.optimizers.Adam(3e-3),
                  loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9


# ====================================================================== fused conv + ReLU, batch-parallel kernels
@pytest.mark.parametrize("channels, groups, use_bias, padding", [
    (1, 1, True, "valid"),     # C = 1 im2col layout, bias fused into the GEMM
    (3, 1, False, "same"),     # C < 16 col2im, no bias
    (16, 1, True, "valid"),    # C ≥ 16 col2im
    (4, 2, True, "same"),      # groups (separate GEMMs, bias added after)
])
def test_fused_conv_relu_gradcheck(channels, groups, use_bias, padding):
    x, w, b = rand(2, 5, 6, channels), rand(3, 3, channels // groups, 4, seed=1), rand(4, seed=2)
    if use_bias:
        assert gradcheck(lambda x, w, b: conv_ops.conv2d(x, w, b, padding=padding, groups=groups,
                                                         activation="relu"), x, w, b)
    else:
        assert gradcheck(lambda x, w: conv_ops.conv2d(x, w, padding=padding, groups=groups, activation="relu"),
                         x, w)


@pytest.mark.parametrize("channels, groups", [(1, 1), (16, 1), (4, 2)])
def test_fused_conv_relu_equals_relu_of_conv_exactly(channels, groups):
    """Same values and gradients, bit for bit, as the conv node followed by the relu node (float32)."""
    arrays = (rand(3, 7, 6, channels, dtype=np.float32), rand(3, 3, channels // groups, 8, seed=1, dtype=np.float32),
              rand(8, seed=2, dtype=np.float32))
    projection = rand(3, 5, 4, 8, seed=3, dtype=np.float32)
    results = []
    for fused in (True, False):
        x, w, b = (Tensor(a, requires_grad=True) for a in arrays)
        if fused:
            out = conv_ops.conv2d(x, w, b, groups=groups, activation="relu")
        else:
            out = gn.ops.relu(conv_ops.conv2d(x, w, b, groups=groups))
        (out * projection).sum().backward()
        results.append((out, [t.grad for t in (x, w, b)]))
    (fused_out, fused_grads), (composed_out, composed_grads) = results
    assert fused_out.dtype == np.float32 and all(g.dtype == np.float32 for g in fused_grads)
    assert (fused_out.data == 0).any() and (fused_out.data > 0).any()  # the mask matters
    np.testing.assert_array_equal(fused_out.data, composed_out.data)
    for a, b in zip(fused_grads, composed_grads):
        np.testing.assert_array_equal(a, b)
    assert fused_out._op == "relu"  # tools reading the producing op see the activation


def test_conv_activation_argument_is_checked():
    with pytest.raises(ValueError, match="activation"):
        conv_ops.conv2d(rand(1, 4, 4, 1), rand(3, 3, 1, 2), activation="tanh")


def test_relu_conv_layer_is_one_fused_node_that_the_gradient_monitor_sees_as_relu():
    from glassnet.diagnostics.monitor import activation_kind

    x = rand(2, 6, 6, 2, dtype=np.float32)
    relu_layer, tanh_layer = Conv2D(3, 3, activation="relu"), Conv2D(3, 3, activation="tanh")
    out = relu_layer(x)
    assert out._op == "relu"
    assert out._parents[1:] == (relu_layer.kernel, relu_layer.bias)  # one node straight on the weights
    assert activation_kind(relu_layer, out) == "relu"
    assert activation_kind(tanh_layer, tanh_layer(x)) == "tanh"  # other activations stay separate nodes
    expected = np.maximum(conv_ops.conv2d(x, relu_layer.kernel.data, relu_layer.bias.data).data, 0)
    np.testing.assert_array_equal(out.data, expected)


def test_gradient_monitor_reports_dead_fraction_for_a_relu_conv_layer():
    from glassnet.diagnostics import GradientMonitor

    model = gn.Sequential([layers.Input((6, 6, 1)), Conv2D(4, 3, activation="relu", name="c"), layers.Flatten(),
                           layers.Dense(2)])
    model.compile("sgd", gn.losses.SparseCategoricalCrossentropy(from_logits=True))
    monitor = GradientMonitor()
    model.fit(rand(8, 6, 6, 1, dtype=np.float32), np.arange(8) % 2, batch_size=8, epochs=1, verbose=0,
              callbacks=[monitor])
    assert monitor.history.layers["c"]["activation"] == "relu"
    assert np.isfinite(monitor.history.series("c", "dead_fraction")).all()


@pytest.mark.parametrize("channels, padding", [(1, "valid"), (16, "same"), (3, "same")])
def test_batch_parallel_conv_is_bit_identical_to_one_thread(monkeypatch, channels, padding):
    from glassnet import backend

    arrays = (rand(4, 7, 6, channels, dtype=np.float32), rand(3, 3, channels, 5, seed=1, dtype=np.float32),
              rand(5, seed=2, dtype=np.float32))
    seed = rand(4, *((7, 6) if padding == "same" else (5, 4)), 5, seed=3, dtype=np.float32)

    def run():
        x, w, b = (Tensor(a, requires_grad=True) for a in arrays)
        out = conv_ops.conv2d(x, w, b, padding=padding, activation="relu")
        out.backward(seed)
        return [out.data, x.grad, w.grad, b.grad]

    try:
        backend.set_num_threads(1)
        serial = run()
        used = spy_threads(monkeypatch)
        parallel = run()
    finally:
        backend.set_num_threads(None)
    assert len(used) == 2
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_large_convolutions_split_the_batch_across_threads_with_a_serial_blas(monkeypatch):
    """Default threshold, 2 threads: a batch of 64 MNIST-sized images is split across both threads, OpenBLAS is
    held to one thread meanwhile (when it is found) and its thread count is restored afterwards."""
    import threading

    from glassnet import backend
    from glassnet.blas import SINGLE_THREADED_BLAS

    before = SINGLE_THREADED_BLAS.threads()
    used, blas_threads = set(), set()
    original = conv_ops._parallel

    def spy(fn, n, elements):
        def wrapped(lo, hi):
            used.add(threading.get_ident())
            blas_threads.add(SINGLE_THREADED_BLAS.threads())
            fn(lo, hi)
        original(wrapped, n, elements)

    monkeypatch.setattr(conv_ops, "_parallel", spy)
    try:
        backend.set_num_threads(2)
        x = Tensor(rand(64, 28, 28, 1, dtype=np.float32), requires_grad=True)
        w = Tensor(rand(3, 3, 1, 32, seed=1, dtype=np.float32), requires_grad=True)
        out = conv_ops.conv2d(x, w, Tensor(np.zeros(32, np.float32), requires_grad=True), activation="relu")
        out.backward(np.ones(out.shape, np.float32))
    finally:
        backend.set_num_threads(None)
    assert len(used) == 2
    if before is not None:
        assert blas_threads == {1}
        assert SINGLE_THREADED_BLAS.threads() == before
