"""Pooling: the ops glassnet.ops.conv.max_pool / average_pool and the layers in glassnet.layers.pooling
(Max/AveragePooling1D/2D/3D, GlobalAverage/GlobalMaxPooling1D/2D/3D): values against a direct loop
definition, gradient checks with overlapping windows and 'same' padding, the one-element-per-window
max gradient (ties), PyTorch parity of values and input gradients, shapes, configs and bad input."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError
from glassnet.layers.base import REGISTRY
from glassnet.layers.pooling import (
    AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
    GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D, MaxPooling2D,
    MaxPooling3D,
)
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


def reference_pool2d(x, pool, stride, padding, kind):
    """Direct loop definition; 'same' windows only cover real elements (Keras/TF)."""
    n, h, w, c = x.shape
    (top, bottom), (left, right) = [conv_ops.padding_amounts(size, p, s, padding) for size, p, s in
                                    zip((h, w), pool, stride)]
    ho = (h + top + bottom - pool[0]) // stride[0] + 1
    wo = (w + left + right - pool[1]) // stride[1] + 1
    out = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * stride[0] - top, j * stride[1] - left
            window = x[:, max(r0, 0):min(r0 + pool[0], h), max(c0, 0):min(c0 + pool[1], w)]
            out[:, i, j] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


# ====================================================================== values
@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("pool, stride, padding", [
    ((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "valid"), ((3, 3), (2, 2), "same"), ((2, 3), (1, 2), "same"),
    ((3, 3), (1, 1), "same"), ((2, 2), (3, 3), "valid"), ((4, 4), (4, 4), "same")])
def test_pool2d_matches_the_direct_definition(kind, pool, stride, padding):
    x = rand(2, 7, 9, 3)
    op = conv_ops.max_pool if kind == "max" else conv_ops.average_pool
    y = op(Tensor(x), pool, stride, padding)
    np.testing.assert_allclose(y.data, reference_pool2d(x, pool, stride, padding, kind), atol=1e-12)


def test_average_pool_same_divides_by_the_number_of_real_elements():
    x = np.ones((1, 3, 3, 1))
    y = conv_ops.average_pool(Tensor(x), 2, 2, "same")   # padding only after: windows of 4, 2, 2, 1 real elements
    np.testing.assert_allclose(y.data, np.ones((1, 2, 2, 1)))
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = conv_ops.average_pool(Tensor(x), 2, 2, "same")
    np.testing.assert_allclose(y.data[0, :, :, 0], [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8]])


def test_strides_default_to_the_pool_size():
    x = rand(1, 8, 8, 2)
    np.testing.assert_allclose(conv_ops.max_pool(Tensor(x), 2).data, conv_ops.max_pool(Tensor(x), 2, 2).data)
    assert MaxPooling2D((2, 4)).strides == (2, 4)
    assert AveragePooling1D(3).strides == (3,)


def test_max_pool_same_padding_never_wins_even_for_negative_inputs():
    x = -np.ones((1, 3, 3, 1)) - np.arange(9.0).reshape(1, 3, 3, 1)
    y = conv_ops.max_pool(Tensor(x), 2, 2, "same")
    np.testing.assert_allclose(y.data[0, :, :, 0], [[-1, -3], [-7, -9]])


def test_float32_stays_float32():
    x = Tensor(rand(2, 6, 6, 3, dtype=np.float32), requires_grad=True)
    y = conv_ops.max_pool(x, 3, 2, "same")
    z = conv_ops.average_pool(y, 2, 1, "same")
    assert y.dtype == z.dtype == np.float32
    z.sum().backward()
    assert x.grad.dtype == np.float32


# ====================================================================== gradients
@pytest.mark.parametrize("pool, stride, padding", [
    (2, None, "valid"), (3, 2, "valid"), (3, 2, "same"), ((2, 3), (1, 2), "same"), (2, 3, "valid"), (3, 1, "same")])
def test_pool2d_gradcheck(pool, stride, padding):
    x = rand(2, 6, 7, 2)
    assert gradcheck(lambda x: conv_ops.max_pool(x, pool, stride, padding), x)
    assert gradcheck(lambda x: conv_ops.average_pool(x, pool, stride, padding), x)


@pytest.mark.parametrize("pool, stride, padding", [(2, None, "valid"), (3, 2, "same"), (3, 1, "valid")])
def test_pool1d_and_3d_gradcheck(pool, stride, padding):
    x1, x3 = rand(2, 9, 3), rand(1, 5, 4, 5, 2)
    for x in (x1, x3):
        assert gradcheck(lambda x: conv_ops.max_pool(x, pool, stride, padding), x)
        assert gradcheck(lambda x: conv_ops.average_pool(x, pool, stride, padding), x)


@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 2), (3, 1)])
def test_max_pool_gradient_goes_to_exactly_one_element_per_window_even_with_ties(pool, stride):
    x = Tensor(np.zeros((1, 7, 7, 2)), requires_grad=True)   # every element ties
    y = conv_ops.max_pool(x, pool, stride)
    y.backward(np.ones(y.shape))
    assert x.grad.sum() == y.size                       # one unit per window, not one per tied element
    # the first element of each window in row-major order receives it
    expected = np.zeros((7, 7))
    for i in range(y.shape[1]):
        for j in range(y.shape[2]):
            expected[i * stride, j * stride] += 1
    np.testing.assert_array_equal(x.grad[0, :, :, 0], expected)


def test_max_pool_gradient_is_zero_in_the_gaps_when_strides_exceed_the_pool():
    x = Tensor(rand(1, 6, 6, 1), requires_grad=True)   # pool 2, stride 3: rows/cols 2 and 5 are never pooled
    for _ in range(3):  # fresh gradient buffers each time
        x.grad = None
        y = conv_ops.max_pool(x, 2, 3)
        y.backward(np.ones(y.shape))
        assert np.count_nonzero(x.grad) == 4 and x.grad.sum() == 4
        assert not x.grad[0, [2, 5]].any() and not x.grad[0, :, [2, 5]].any()


# ====================================================================== PyTorch parity
def _t(a, torch):
    return torch.tensor(np.asarray(a), requires_grad=True)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 2), (3, 1), (2, 3)])
def test_pool2d_layers_match_torch_values_and_input_gradients(kind, pool, stride):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.round(rand(2, 9, 8, 3) * 2) / 2   # many ties: checks the argmax choice too
    layer = (MaxPooling2D if kind == "max" else AveragePooling2D)(pool, stride, dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    r = rand(*y.shape, seed=3)
    y.backward(r)
    xt = _t(x.transpose(0, 3, 1, 2), torch)
    yt = (F.max_pool2d if kind == "max" else F.avg_pool2d)(xt, pool, stride)
    yt.backward(torch.tensor(r.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 2), (4, 1)])
def test_pool1d_layers_match_torch_values_and_input_gradients(kind, pool, stride):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.round(rand(2, 11, 3) * 2) / 2
    layer = (MaxPooling1D if kind == "max" else AveragePooling1D)(pool, stride, dtype="float64")
    xg = Tensor(x, requires_grad=True)
    y = layer(xg)
    r = rand(*y.shape, seed=3)
    y.backward(r)
    xt = _t(x.transpose(0, 2, 1), torch)
    yt = (F.max_pool1d if kind == "max" else F.avg_pool1d)(xt, pool, stride)
    yt.backward(torch.tensor(r.transpose(0, 2, 1)))
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 1), atol=1e-12)
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 1), atol=1e-12)


def test_same_padding_pools_match_torch_with_symmetric_padding_and_count_exclude_pad():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 7, 7, 3)   # 7 with pool 3, stride 1: TF 'same' pads (1, 1), which torch can express
    for layer, fn in ((MaxPooling2D(3, 1, "same", dtype="float64"), lambda t: F.max_pool2d(t, 3, 1, padding=1)),
                      (AveragePooling2D(3, 1, "same", dtype="float64"),
                       lambda t: F.avg_pool2d(t, 3, 1, padding=1, count_include_pad=False))):
        xg = Tensor(x, requires_grad=True)
        y = layer(xg)
        y.backward(np.ones(y.shape))
        xt = _t(x.transpose(0, 3, 1, 2), torch)
        yt = fn(xt)
        yt.sum().backward()
        np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
        np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)


# ====================================================================== pooling layers
@pytest.mark.parametrize("make, input_shape, expected", [
    (lambda: MaxPooling2D(), (2, 9, 8, 3), (2, 4, 4, 3)),
    (lambda: MaxPooling2D(3, 2, "same"), (2, 9, 8, 3), (2, 5, 4, 3)),
    (lambda: AveragePooling2D((2, 3), (1, 2)), (2, 9, 8, 3), (2, 8, 3, 3)),
    (lambda: MaxPooling1D(), (2, 9, 3), (2, 4, 3)),
    (lambda: AveragePooling1D(3, 2, "same"), (2, 9, 3), (2, 5, 3)),
    (lambda: MaxPooling3D(), (1, 4, 5, 6, 2), (1, 2, 2, 3, 2)),
    (lambda: AveragePooling3D(2, 1, "same"), (1, 4, 5, 6, 2), (1, 4, 5, 6, 2)),
])
def test_layer_output_shape_and_compute_output_shape(make, input_shape, expected):
    layer = make()
    x = rand(*input_shape, dtype=np.float32)
    assert layer(x).shape == expected
    assert layer.compute_output_shape((None,) + input_shape[1:]) == (None,) + expected[1:]
    assert layer.weights == []


@pytest.mark.parametrize("make", [
    lambda: MaxPooling2D((3, 2), (1, 2), "same", name="pool"), lambda: AveragePooling2D(),
    lambda: MaxPooling1D(4, padding="same"), lambda: AveragePooling1D(2, 1), lambda: MaxPooling3D(),
    lambda: AveragePooling3D(), lambda: GlobalAveragePooling2D(keepdims=True), lambda: GlobalMaxPooling2D(),
    lambda: GlobalAveragePooling1D(), lambda: GlobalMaxPooling1D(keepdims=True), lambda: GlobalAveragePooling3D(),
    lambda: GlobalMaxPooling3D(),
])
def test_get_config_round_trips_through_json_and_the_registry(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    assert config["data_format"] == "channels_last"
    clone = REGISTRY.lookup(type(layer).__name__).from_config(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    x = rand(2, *(6,) * layer.rank, 3, dtype=np.float32)
    np.testing.assert_array_equal(clone(x).data, layer(x).data)


def test_layer_gradcheck_overlapping_same():
    x = rand(2, 6, 5, 2)
    assert gradcheck(lambda x: MaxPooling2D(3, 2, "same", dtype="float64")(x), x)
    assert gradcheck(lambda x: AveragePooling2D(3, 2, "same", dtype="float64")(x), x)
    assert gradcheck(lambda x: MaxPooling1D(3, 2, "same", dtype="float64")(x), x[:, :, 0])
    assert gradcheck(lambda x: AveragePooling1D(3, 2, "same", dtype="float64")(x), x[:, :, 0])


# ====================================================================== global pooling
@pytest.mark.parametrize("cls, reduce, rank", [
    (GlobalAveragePooling2D, np.mean, 2), (GlobalMaxPooling2D, np.max, 2), (GlobalAveragePooling1D, np.mean, 1),
    (GlobalMaxPooling1D, np.max, 1), (GlobalAveragePooling3D, np.mean, 3), (GlobalMaxPooling3D, np.max, 3)])
def test_global_pooling_values_shapes_keepdims_and_gradcheck(cls, reduce, rank):
    x = rand(2, *(4,) * rank, 3)
    axes = tuple(range(1, rank + 1))
    layer = cls(dtype="float64")
    y = layer(x)
    assert y.shape == (2, 3) and layer.compute_output_shape((None,) + x.shape[1:]) == (None, 3)
    np.testing.assert_allclose(y.data, reduce(x, axis=axes))
    kept = cls(keepdims=True, dtype="float64")
    assert kept(x).shape == (2,) + (1,) * rank + (3,)
    assert kept.compute_output_shape((None,) + x.shape[1:]) == (None,) + (1,) * rank + (3,)
    assert gradcheck(lambda x: layer(x), x)


def test_global_average_pooling_matches_torch_adaptive_pool():
    torch = pytest.importorskip("torch")
    x = rand(2, 5, 6, 3)
    xg = Tensor(x, requires_grad=True)
    GlobalAveragePooling2D(dtype="float64")(xg).sum().backward()
    xt = _t(x.transpose(0, 3, 1, 2), torch)
    torch.nn.functional.adaptive_avg_pool2d(xt, 1).sum().backward()
    np.testing.assert_allclose(xg.grad, xt.grad.numpy().transpose(0, 2, 3, 1))


def test_global_pooling_in_a_model_with_unknown_spatial_size():
    model = gn.Sequential([layers.Input(shape=(None, None, 3)), GlobalMaxPooling2D(), layers.Dense(2)])
    assert model.output_shapes() == [(None, 3), (None, 2)]
    assert model(np.zeros((4, 7, 5, 3), np.float32)).shape == (4, 2)


# ====================================================================== bad input
def test_wrong_rank_names_the_layer_and_both_shapes():
    with pytest.raises(ShapeError) as info:
        MaxPooling2D(name="pool_a")(np.zeros((2, 8, 8), np.float32))
    message = str(info.value)
    assert "pool_a" in message and "MaxPooling2D" in message and "(2, 8, 8)" in message
    with pytest.raises(ShapeError, match=r"global_average_pooling1d.*\(None, 8, 8, 1\)"):
        gn.Sequential([layers.Input(shape=(8, 8, 1)), GlobalAveragePooling1D()])


def test_pool_larger_than_the_input_is_a_shape_error_naming_the_layer():
    with pytest.raises(ShapeError) as info:
        gn.Sequential([layers.Input(shape=(3, 8, 2)), MaxPooling2D(4, name="too_big")])
    message = str(info.value)
    assert "too_big" in message and "(None, 3, 8, 2)" in message and "(4, 4)" in message
    pool = AveragePooling2D(3, name="later")
    gn.Sequential([layers.Input(shape=(None, None, 1)), pool])
    with pytest.raises(ShapeError, match=r"later.*\(1, 2, 5, 1\)"):
        pool(np.zeros((1, 2, 5, 1), np.float32))
    assert MaxPooling2D(4, padding="same")(np.zeros((1, 3, 3, 1), np.float32)).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("make, words", [
    (lambda: MaxPooling2D(data_format="channels_first"), "channels-last"),
    (lambda: MaxPooling2D(padding="full"), "padding"),
    (lambda: AveragePooling2D(0), "pool_size"),
    (lambda: MaxPooling2D(2, strides=(1, 2, 3)), "strides"),
    (lambda: GlobalMaxPooling2D(data_format="channels_first"), "channels-last"),
])
def test_bad_arguments_are_refused(make, words):
    with pytest.raises(ValueError, match=words):
        make()


# ====================================================================== prefix-maximum backward, batch-parallel kernels
@pytest.mark.parametrize("pool, stride, padding", [(2, 2, "valid"), (3, 2, "same"), (3, 1, "valid"), (2, 3, "valid")])
def test_max_pool_ties_and_nan_windows(pool, stride, padding):
    """Rounded values make many ties: each window's gradient goes to its first maximum (row-major) —
    compared with a direct loop; a window holding NaN outputs NaN and routes no gradient."""
    x = np.round(rand(2, 7, 7, 3) * 0.7)
    x[0, 1, 1, 0] = np.nan
    t = Tensor(x, requires_grad=True)
    y = conv_ops.max_pool(t, pool, stride, padding)
    g = rand(*y.shape, seed=1)
    y.backward(g)
    (top, _), (left, _) = [conv_ops.padding_amounts(7, pool, stride, padding)] * 2
    expected = np.zeros_like(x)
    for n in range(2):
        for c in range(3):
            for i in range(y.shape[1]):
                for j in range(y.shape[2]):
                    r0, c0 = max(i * stride - top, 0), max(j * stride - left, 0)
                    window = x[n, r0:i * stride - top + pool, c0:j * stride - left + pool, c]
                    if np.isnan(window).any():
                        assert np.isnan(y.data[n, i, j, c])
                        continue
                    assert y.data[n, i, j, c] == window.max()
                    a, b = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first maximum
                    expected[n, r0 + a, c0 + b, c] += g[n, i, j, c]
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-15)  # overlapping windows: sums


@pytest.mark.parametrize("pool, stride, padding", [(2, 2, "valid"), (3, 2, "same"), (3, 1, "same"), (2, 2, "same")])
def test_batch_parallel_max_pool_is_bit_identical_to_one_thread(monkeypatch, pool, stride, padding):
    from glassnet import backend

    x = np.maximum(rand(4, 9, 8, 3, dtype=np.float32), 0)  # ReLU-like input: many tied zeros
    g = None
    results = []
    try:
        backend.set_num_threads(1)
        for threads in (1, 2):
            if threads == 2:
                used = spy_threads(monkeypatch)
            t = Tensor(x, requires_grad=True)
            y = conv_ops.max_pool(t, pool, stride, padding)
            g = rand(*y.shape, seed=1, dtype=np.float32) if g is None else g
            y.backward(g)
            results.append((y.data, t.grad))
    finally:
        backend.set_num_threads(None)
    assert len(used) == 2
    assert results[0][0].dtype == results[0][1].dtype == np.float32
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


# ---------------------------------------------------------------------- masked global average (Keras)
def test_global_average_pooling_1d_averages_the_unmasked_steps_only():
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0]])
    emb = layers.Embedding(4, 1, mask_zero=True)
    emb.build(ids.shape)
    emb.embeddings.assign(np.array([[0.], [1.], [3.], [5.]]))
    pooled = layers.GlobalAveragePooling1D()(emb(ids))
    # (1 + 3)/2, 5/1, and an all-padding sample: 0 (Keras: 0/0 = NaN)
    np.testing.assert_allclose(pooled.data.ravel(), [2.0, 5.0, 0.0])
    assert getattr(pooled, "_keras_mask", None) is None  # no steps left to mask
    assert layers.GlobalAveragePooling1D(keepdims=True)(emb(ids)).shape == (3, 1, 1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 2))
    mask = ids != 0
    layer = layers.GlobalAveragePooling1D(dtype="float64")
    assert gradcheck(lambda a: layer(a, mask=mask), x)
    with pytest.raises(ShapeError, match="mask of shape \\(3, 2\\)"):
        layer(x, mask=np.ones((3, 2), bool))


def test_padded_text_classifier_gives_the_same_prediction_for_any_amount_of_padding():
    gn.set_seed(0)
    model = gn.Sequential([gn.Input(shape=(None,), dtype="int32"), layers.Embedding(10, 4, mask_zero=True),
                           layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])
    short = np.array([[3, 5, 7]])
    padded = np.array([[3, 5, 7, 0, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(short, verbose=0), rtol=1e-6)
