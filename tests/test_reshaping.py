"""Spatial reshaping layers in glassnet.layers.reshaping: UpSampling1D/2D/3D (nearest, and bilinear in
2-D), ZeroPadding1D/2D/3D and Cropping1D/2D/3D — values, gradient checks, PyTorch parity of bilinear
upsampling, shapes, configs and bad input."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError
from glassnet.layers.base import REGISTRY
from glassnet.layers.reshaping import (
    Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D,
    ZeroPadding3D,
)
from glassnet.ops import conv as conv_ops
from glassnet.tensor import Tensor


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ====================================================================== upsampling
def test_upsampling2d_nearest_repeats_each_pixel():
    x = rand(2, 3, 4, 2)
    y = UpSampling2D((2, 3), dtype="float64")(x)
    np.testing.assert_array_equal(y.data, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
    assert y.shape == (2, 6, 12, 2)


def test_upsampling1d_and_3d_nearest():
    x = rand(2, 5, 3)
    np.testing.assert_array_equal(UpSampling1D(3, dtype="float64")(x).data, np.repeat(x, 3, axis=1))
    v = rand(1, 2, 3, 2, 2)
    expected = np.repeat(np.repeat(np.repeat(v, 2, axis=1), 1, axis=2), 3, axis=3)
    np.testing.assert_array_equal(UpSampling3D((2, 1, 3), dtype="float64")(v).data, expected)


@pytest.mark.parametrize("make, shape", [
    (lambda: UpSampling2D((2, 3), dtype="float64"), (2, 3, 2, 2)),
    (lambda: UpSampling2D((3, 2), interpolation="bilinear", dtype="float64"), (2, 3, 4, 2)),
    (lambda: UpSampling1D(2, dtype="float64"), (2, 4, 3)),
    (lambda: UpSampling3D(2, dtype="float64"), (1, 2, 2, 2, 2)),
])
def test_upsampling_gradcheck(make, shape):
    layer = make()
    assert gradcheck(lambda x: layer(x), rand(*shape))


def test_nearest_upsampling_gradient_sums_each_block():
    x = Tensor(rand(1, 2, 2, 1), requires_grad=True)
    y = conv_ops.upsample_nearest(x, (2, 2))
    y.backward(np.arange(16.0).reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7],
                                                       [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_bilinear_upsampling_matches_torch_align_corners_false(size):
    torch = pytest.importorskip("torch")
    x = rand(2, 4, 5, 3)
    layer = UpSampling2D(size, interpolation="bilinear", dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    r = rand(*y.shape, seed=1)
    y.backward(r)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, scale_factor=size, mode="bilinear", align_corners=False)
    yt.backward(torch.tensor(r.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)


def test_bilinear_keeps_constant_images_constant_and_float32():
    x = np.full((1, 3, 3, 2), 2.5, np.float32)
    y = UpSampling2D(2, interpolation="bilinear")(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, 2.5, rtol=1e-6)


def test_unknown_interpolation_suggests_a_valid_one():
    with pytest.raises(ValueError, match="bilinear"):
        UpSampling2D(interpolation="bilinearr")


# ====================================================================== zero padding
@pytest.mark.parametrize("padding, widths", [
    (1, ((1, 1), (1, 1))), ((2, 1), ((2, 2), (1, 1))), (((1, 2), (0, 3)), ((1, 2), (0, 3)))])
def test_zero_padding2d_forms_and_values(padding, widths):
    x = rand(2, 3, 4, 2)
    layer = ZeroPadding2D(padding, dtype="float64")
    y = layer(x)
    np.testing.assert_array_equal(y.data, np.pad(x, ((0, 0),) + widths + ((0, 0),)))
    assert layer.compute_output_shape((None, 3, 4, 2)) == (None,) + y.shape[1:]
    assert gradcheck(lambda x: layer(x), x)


def test_zero_padding1d_and_3d():
    x = rand(2, 4, 3)
    np.testing.assert_array_equal(ZeroPadding1D(2, dtype="float64")(x).data, np.pad(x, ((0, 0), (2, 2), (0, 0))))
    np.testing.assert_array_equal(ZeroPadding1D((0, 3), dtype="float64")(x).data, np.pad(x, ((0, 0), (0, 3), (0, 0))))
    v = rand(1, 2, 2, 2, 1)
    y = ZeroPadding3D((1, 0, 2), dtype="float64")(v)
    np.testing.assert_array_equal(y.data, np.pad(v, ((0, 0), (1, 1), (0, 0), (2, 2), (0, 0))))
    assert gradcheck(lambda x: ZeroPadding1D((1, 2), dtype="float64")(x), x)


# ====================================================================== cropping
@pytest.mark.parametrize("cropping, index", [
    (1, (slice(1, -1), slice(1, -1))), ((2, 1), (slice(2, -2), slice(1, -1))),
    (((1, 2), (0, 3)), (slice(1, -2), slice(0, -3))), (((0, 0), (0, 0)), (slice(None), slice(None)))])
def test_cropping2d_forms_and_values(cropping, index):
    x = rand(2, 7, 8, 2)
    layer = Cropping2D(cropping, dtype="float64")
    y = layer(x)
    np.testing.assert_array_equal(y.data, x[(slice(None),) + index])
    assert layer.compute_output_shape((None, 7, 8, 2)) == (None,) + y.shape[1:]
    assert gradcheck(lambda x: layer(x), x)


def test_cropping1d_and_3d():
    x = rand(2, 6, 3)
    np.testing.assert_array_equal(Cropping1D(dtype="float64")(x).data, x[:, 1:-1])
    np.testing.assert_array_equal(Cropping1D((2, 0), dtype="float64")(x).data, x[:, 2:])
    v = rand(1, 4, 4, 4, 1)
    np.testing.assert_array_equal(Cropping3D(dtype="float64")(v).data, v[:, 1:-1, 1:-1, 1:-1])
    assert gradcheck(lambda x: Cropping1D((1, 2), dtype="float64")(x), x)


def test_padding_then_cropping_is_the_identity_with_identity_gradient():
    x = Tensor(rand(2, 4, 5, 3), requires_grad=True)
    y = Cropping2D(((1, 2), (3, 0)), dtype="float64")(ZeroPadding2D(((1, 2), (3, 0)), dtype="float64")(x))
    np.testing.assert_array_equal(y.data, x.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(x.shape))


def test_cropping_everything_is_a_shape_error_naming_the_layer():
    with pytest.raises(ShapeError) as info:
        gn.Sequential([layers.Input(shape=(4, 8, 1)), Cropping2D(((2, 2), (0, 0)), name="crop")])
    assert "crop" in str(info.value) and "(None, 4, 8, 1)" in str(info.value)
    layer = Cropping1D((3, 3))
    with pytest.raises(ShapeError, match=r"cropping1d.*\(None, 5, 2\)"):
        layer(np.zeros((1, 5, 2), np.float32))


# ====================================================================== shared: shapes, configs, bad input
@pytest.mark.parametrize("make", [
    lambda: UpSampling1D(3), lambda: UpSampling2D((2, 3), interpolation="bilinear"), lambda: UpSampling3D(),
    lambda: ZeroPadding1D((1, 2)), lambda: ZeroPadding2D(((1, 2), (3, 4))), lambda: ZeroPadding3D(1),
    lambda: Cropping1D((0, 1)), lambda: Cropping2D(((1, 0), (0, 2))), lambda: Cropping3D(1),
])
def test_get_config_round_trips_and_output_shapes_agree(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    clone = REGISTRY.lookup(type(layer).__name__).from_config(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    x = rand(2, *(6,) * layer.rank, 3, dtype=np.float32)
    y = clone(x)
    np.testing.assert_array_equal(y.data, layer(x).data)
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + y.shape[1:]
    assert layer.compute_output_shape((None,) + (None,) * layer.rank + (3,)) == (None,) * (layer.rank + 1) + (3,)


@pytest.mark.parametrize("make", [lambda: UpSampling2D(name="up"), lambda: ZeroPadding2D(name="up"),
                                  lambda: Cropping2D(name="up")])
def test_wrong_rank_names_the_layer_and_the_shape(make):
    with pytest.raises(ShapeError, match=r"'up'.*\(2, 8, 8\)"):
        make()(np.zeros((2, 8, 8), np.float32))


@pytest.mark.parametrize("make, words", [
    (lambda: ZeroPadding2D(-1), "padding"), (lambda: ZeroPadding2D((1, 2, 3)), "padding"),
    (lambda: Cropping2D("a"), "cropping"), (lambda: UpSampling2D(0), "size"),
    (lambda: UpSampling2D(data_format="channels_first"), "channels-last"),
    (lambda: ZeroPadding2D(data_format="channels_first"), "channels-last"),
])
def test_bad_arguments_are_refused(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_conv_autoencoder_shapes_with_upsampling_and_padding():
    from glassnet.layers.conv import Conv2D
    from glassnet.layers.pooling import MaxPooling2D

    model = gn.Sequential([
        layers.Input(shape=(7, 7, 1)), ZeroPadding2D(((0, 1), (0, 1))),
        Conv2D(4, 3, padding="same", activation="relu"), MaxPooling2D(),
        UpSampling2D(), Conv2D(1, 3, padding="same"), Cropping2D(((0, 1), (0, 1))),
    ])
    assert model.output_shapes()[-1] == (None, 7, 7, 1)
    assert model(np.zeros((3, 7, 7, 1), np.float32)).shape == (3, 7, 7, 1)
