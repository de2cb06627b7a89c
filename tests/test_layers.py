"""Layers: Dense, Dropout, Flatten, Reshape, activation layers, Normalization, the Layer base class
(build on first call, weight tracking, naming, shape errors, nested layers, the training flag)."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import initializers, layers, ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import NotBuiltError, ShapeError
from glassnet.tensor import Parameter, Tensor


@pytest.fixture(autouse=True)
def _fresh_names():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ====================================================================== Dense
def test_dense_forward_is_x_at_w_plus_b_then_activation():
    x = rand(6, 5, dtype=np.float32)
    dense = layers.Dense(3, activation="tanh")
    out = dense(x)
    assert isinstance(out, Tensor) and out.shape == (6, 3) and out.dtype == np.float32
    expected = np.tanh(x @ dense.kernel.data + dense.bias.data)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-6)


def test_dense_without_activation_is_linear_and_use_bias_false_has_no_bias():
    x = rand(4, 3)
    dense = layers.Dense(2, use_bias=False, dtype="float64")
    out = dense(x)
    assert dense.bias is None and len(dense.weights) == 1
    np.testing.assert_allclose(out.data, x @ dense.kernel.data)


def test_dense_maps_over_leading_axes_of_rank3_inputs():
    x = rand(2, 7, 5)
    dense = layers.Dense(4, activation="relu", dtype="float64")
    out = dense(x)
    assert out.shape == (2, 7, 4)
    np.testing.assert_allclose(out.data, np.maximum(x @ dense.kernel.data + dense.bias.data, 0))


def test_dense_builds_on_first_call_with_the_input_feature_count():
    dense = layers.Dense(3)
    assert not dense.built and dense.weights == []
    with pytest.raises(NotBuiltError):
        dense.count_params()
    dense(np.zeros((2, 7), np.float32))
    assert dense.built
    assert dense.kernel.shape == (7, 3) and dense.bias.shape == (3,)
    assert dense.count_params() == 7 * 3 + 3
    np.testing.assert_array_equal(dense.bias.data, 0.0)  # bias_initializer='zeros'
    # glorot_uniform limit sqrt(6 / (fan_in + fan_out))
    assert np.abs(dense.kernel.data).max() <= np.sqrt(6 / (7 + 3))


def test_dense_weights_are_tracked_in_creation_order_with_paths():
    dense = layers.Dense(3, name="hidden")
    dense(np.zeros((1, 2), np.float32))
    assert [w.name for w in dense.weights] == ["kernel", "bias"]
    assert [w.path for w in dense.weights] == ["hidden/kernel", "hidden/bias"]
    assert dense.trainable_weights == dense.weights and dense.non_trainable_weights == []
    assert all(isinstance(w, Parameter) and w.requires_grad for w in dense.weights)
    assert dense.parameters() == dense.weights


def test_dense_trainable_false_gives_non_trainable_weights_without_gradients():
    dense = layers.Dense(2, trainable=False)
    out = dense(rand(3, 4, dtype=np.float32))
    assert dense.trainable_weights == [] and len(dense.non_trainable_weights) == 2
    assert not out.requires_grad
    # turning it back on restores gradients
    dense.trainable = True
    assert len(dense.trainable_weights) == 2
    x = gn.tensor(rand(3, 4, dtype=np.float32), requires_grad=True)
    dense(x).sum().backward()
    assert dense.kernel.grad is not None


def test_dense_input_shape_and_input_dim_are_recorded_for_the_model():
    assert layers.Dense(2, input_dim=4)._input_shape_arg == (None, 4)
    assert layers.Dense(2, input_shape=(4,))._input_shape_arg == (None, 4)
    model = gn.Sequential([layers.Dense(2, input_dim=4)])
    assert model.built and model.layers[0].kernel.shape == (4, 2)
    assert layers.Dense(2, input_shape=(4,)).get_config()["batch_input_shape"] == [None, 4]


def test_dense_rejects_bad_units():
    for units in (0, -3):
        with pytest.raises(ValueError, match="units"):
            layers.Dense(units)


def test_wrong_feature_count_raises_shape_error_naming_layer_and_both_shapes():
    dense = layers.Dense(3, name="my_dense")
    dense(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError) as info:
        dense(np.zeros((2, 5), np.float32))
    message = str(info.value)
    assert "my_dense" in message and "(None, 4)" in message and "(2, 5)" in message


def test_dense_on_rank1_input_raises_shape_error_about_rank():
    dense = layers.Dense(3, name="flat_in")
    with pytest.raises(ShapeError) as info:
        dense(np.zeros(5, np.float32))
    assert "flat_in" in str(info.value) and "(5,)" in str(info.value)


def test_dense_gradcheck_wrt_input():
    dense = layers.Dense(3, activation="tanh", dtype="float64")
    x = rand(4, 5)
    dense(x)
    assert gradcheck(lambda t: dense(t), x)


def test_dense_gradcheck_wrt_kernel_and_bias_through_the_layer():
    dense = layers.Dense(3, activation="sigmoid", dtype="float64")
    x = rand(4, 5)
    dense(x)
    kernel, bias = dense.kernel.data.copy(), rand(3, seed=1)

    def through_layer(k, b):
        # swap the checked leaves in as the layer's weights, then call the layer itself
        object.__setattr__(dense, "kernel", k)
        object.__setattr__(dense, "bias", b)
        return dense(x)

    assert gradcheck(through_layer, kernel, bias)


def test_dense_backward_matches_closed_form():
    x = rand(6, 4)
    dense = layers.Dense(2, dtype="float64")
    out = dense(x)
    upstream = rand(6, 2, seed=3)
    out.backward(upstream)
    np.testing.assert_allclose(dense.kernel.grad, x.T @ upstream)
    np.testing.assert_allclose(dense.bias.grad, upstream.sum(axis=0))


def test_float32_layer_casts_float64_input_and_float64_layer_keeps_it():
    assert layers.Dense(2)(rand(3, 4)).dtype == np.float32
    assert layers.Dense(2, dtype="float64")(rand(3, 4, dtype=np.float32)).dtype == np.float64


# ====================================================================== naming
def test_automatic_names_follow_keras():
    assert [layers.Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert layers.Dropout(0.1).name == "dropout"
    assert layers.LeakyReLU().name == "leaky_re_lu"
    assert layers.Dense(1, name="custom").name == "custom"
    gn.clear_session()
    assert layers.Dense(1).name == "dense"


# ====================================================================== Dropout
def test_dropout_is_identity_at_inference_and_by_default():
    x = rand(50, 20, dtype=np.float32)
    drop = layers.Dropout(0.5)
    np.testing.assert_array_equal(drop(x).data, x)
    np.testing.assert_array_equal(drop(x, training=False).data, x)


def test_dropout_is_inverted_in_training():
    x = np.ones((400, 250), np.float32)
    rate = 0.3
    out = layers.Dropout(rate, seed=1)(x, training=True).data
    kept = out != 0
    # kept units are scaled by 1/(1-rate); the others are exactly zero
    np.testing.assert_allclose(out[kept], 1 / (1 - rate), rtol=1e-6)
    assert abs(kept.mean() - (1 - rate)) < 0.01
    assert abs(out.mean() - 1.0) < 0.02  # expectation preserved


def test_dropout_gradient_is_the_same_mask():
    x = gn.tensor(np.ones((20, 30), np.float32), requires_grad=True)
    out = layers.Dropout(0.5, seed=3)(x, training=True)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, out.data)  # d(mask·x/(1-p))/dx = mask/(1-p) = out when x = 1


def test_dropout_rate_checks():
    for rate in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="rate"):
            layers.Dropout(rate)
    x = rand(5, 5, dtype=np.float32)
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).data, x)


def test_dropout_seed_reproducibility_and_global_seed():
    x = np.ones((10, 10), np.float32)
    a = layers.Dropout(0.5, seed=7)(x, training=True).data
    b = layers.Dropout(0.5, seed=7)(x, training=True).data
    c = layers.Dropout(0.5, seed=8)(x, training=True).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    gn.set_seed(5)
    d = layers.Dropout(0.5)(x, training=True).data
    gn.set_seed(5)
    e = layers.Dropout(0.5)(x, training=True).data
    np.testing.assert_array_equal(d, e)


def test_dropout_noise_shape_shares_the_mask():
    x = np.ones((4, 6, 3), np.float32)
    out = layers.Dropout(0.5, noise_shape=(None, 1, None), seed=0)(x, training=True).data
    assert np.all(out == out[:, :1, :])


# ====================================================================== Flatten / Reshape
def test_flatten_and_its_gradient():
    x = rand(3, 2, 4, 5)
    flat = layers.Flatten(dtype="float64")
    out = flat(x)
    assert out.shape == (3, 40)
    np.testing.assert_array_equal(out.data, x.reshape(3, -1))
    assert flat.compute_output_shape((None, 2, 4, 5)) == (None, 40)
    assert gradcheck(lambda t: flat(t), x[:2, :, :2, :2])


def test_reshape_with_minus_one():
    x = rand(2, 12)
    reshape = layers.Reshape((-1, 3), dtype="float64")
    out = reshape(x)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out.data, x.reshape(2, 4, 3))
    assert reshape.compute_output_shape((None, 12)) == (None, 4, 3)
    assert gradcheck(lambda t: reshape(t), x)


def test_reshape_incompatible_raises_shape_error():
    with pytest.raises(ShapeError, match="reshape"):
        layers.Reshape((5, -1), name="reshape")(np.zeros((2, 12), np.float32))
    with pytest.raises(ShapeError, match="reshape"):
        layers.Reshape((5,), name="reshape")(np.zeros((2, 12), np.float32))


# ====================================================================== activation layers
@pytest.mark.parametrize("layer, reference", [
    (lambda: layers.Activation("relu"), lambda x: np.maximum(x, 0)),
    (lambda: layers.ReLU(), lambda x: np.maximum(x, 0)),
    (lambda: layers.ReLU(max_value=0.5), lambda x: np.clip(x, 0, 0.5)),
    (lambda: layers.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (lambda: layers.LeakyReLU(negative_slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (lambda: layers.ELU(), lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    (lambda: layers.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    (lambda: layers.Swish(), lambda x: x / (1 + np.exp(-x))),
    (lambda: layers.Activation(lambda t: ops.tanh(t) * 2.0), lambda x: 2 * np.tanh(x)),
])
def test_activation_layers_forward_and_gradcheck(layer, reference):
    x = rand(4, 5) * 2
    x[np.abs(x) < 0.05] = 0.3  # keep away from kinks for the finite differences
    lay = layer()
    lay.dtype = "float64"
    np.testing.assert_allclose(lay(x).data, reference(x), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda t: lay(t), x)


def test_leaky_relu_default_slope_is_001():
    assert layers.LeakyReLU().negative_slope == 0.01
    assert layers.LeakyReLU(alpha=0.3).negative_slope == 0.3  # Keras 2 spelling
    out = layers.LeakyReLU()(np.array([[-100.0, 2.0]], np.float32))
    np.testing.assert_allclose(out.data, [[-1.0, 2.0]])


def test_prelu_forward_and_gradient_wrt_alpha():
    x = rand(5, 3, 2)
    x[np.abs(x) < 0.05] = 0.5
    prelu = layers.PReLU(alpha_initializer=initializers.Constant(0.25), dtype="float64")
    out = prelu(x)
    assert prelu.alpha.shape == (3, 2)
    np.testing.assert_allclose(out.data, np.where(x > 0, x, 0.25 * x))
    # d out / d alpha = x for x <= 0 (summed over the batch)
    out.backward(np.ones_like(x))
    np.testing.assert_allclose(prelu.alpha.grad, np.where(x <= 0, x, 0).sum(axis=0))

    alpha = rand(3, 2, seed=2) * 0.3

    def with_alpha(t, a):
        object.__setattr__(prelu, "alpha", a)
        return prelu(t)

    assert gradcheck(with_alpha, x, alpha)


def test_prelu_shared_axes():
    x = rand(4, 3, 3, 2)
    x[np.abs(x) < 0.05] = 0.5
    prelu = layers.PReLU(shared_axes=[1, 2], alpha_initializer=initializers.Constant(0.1), dtype="float64")
    out = prelu(x)
    assert prelu.alpha.shape == (1, 1, 2) and prelu.count_params() == 2
    np.testing.assert_allclose(out.data, np.where(x > 0, x, 0.1 * x))
    out.backward(np.ones_like(x))
    np.testing.assert_allclose(prelu.alpha.grad.ravel(), np.where(x <= 0, x, 0).sum(axis=(0, 1, 2)))
    assert layers.PReLU(shared_axes=1)(x).shape == x.shape


def test_swish_trainable_beta_gradient():
    x = rand(4, 3)
    swish = layers.Swish(beta=1.5, trainable_beta=True, dtype="float64")
    out = swish(x)
    assert [w.name for w in swish.trainable_weights] == ["beta"]
    sig = 1 / (1 + np.exp(-1.5 * x))
    np.testing.assert_allclose(out.data, x * sig)
    out.backward(np.ones_like(x))
    # d/dβ x·σ(βx) = x²·σ(βx)(1 − σ(βx))
    np.testing.assert_allclose(swish.beta.grad, np.sum(x * x * sig * (1 - sig)), rtol=1e-10)

    def with_beta(t, b):
        object.__setattr__(swish, "beta", b)
        return swish(t)

    assert gradcheck(with_beta, x, np.array(0.7))
    fixed = layers.Swish(beta=2.0)
    fixed(x)
    assert fixed.weights == []


def test_softmax_axis():
    x = rand(2, 3, 4)
    out = layers.Softmax(axis=1, dtype="float64")(x).data
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


# ====================================================================== Normalization
def test_normalization_adapt_standardises_features():
    data = rand(500, 3) * np.array([1.0, 10.0, 0.1]) + np.array([5.0, -2.0, 0.0])
    norm = layers.Normalization()
    norm.adapt(data)
    np.testing.assert_allclose(norm.mean.data, data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.variance.data, data.var(axis=0), rtol=1e-5)
    out = norm(data).data
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)
    assert norm.trainable_weights == [] and len(norm.non_trainable_weights) == 2


def test_normalization_on_images_keeps_channel_axis_and_invert():
    data = rand(10, 4, 4, 3) * 3 + 1
    norm = layers.Normalization(axis=-1, dtype="float64")
    norm.adapt(data)
    assert norm.mean.shape == (1, 1, 3)
    np.testing.assert_allclose(norm(data).data.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    inverse = layers.Normalization(mean=norm.mean.data, variance=norm.variance.data, invert=True, dtype="float64")
    np.testing.assert_allclose(inverse(norm(data)).data, data, rtol=1e-10)


def test_normalization_constant_feature_and_given_statistics():
    norm = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    out = norm(np.array([[3.0, 5.0]], np.float32)).data
    np.testing.assert_allclose(out, [[1.0, 3.0]])  # zero variance: centred, not scaled
    config = norm.get_config()
    rebuilt = layers.Normalization.from_config(config)
    np.testing.assert_allclose(rebuilt(np.array([[3.0, 5.0]], np.float32)).data, [[1.0, 3.0]])


def test_normalization_gradient_wrt_input():
    norm = layers.Normalization(dtype="float64")
    norm.adapt(rand(30, 3) * 2 + 1)
    assert gradcheck(lambda t: norm(t), rand(4, 3, seed=5))


# ====================================================================== Rescaling
def test_rescaling_is_x_times_scale_plus_offset():
    x = rand(4, 3, 2, 3)
    np.testing.assert_allclose(layers.Rescaling(0.5, offset=-1.0, dtype="float64")(x).data, x * 0.5 - 1.0)
    per_channel = layers.Rescaling([1.0, 2.0, 3.0], offset=[0.0, -1.0, 10.0], dtype="float64")
    np.testing.assert_allclose(per_channel(x).data, x * np.array([1.0, 2.0, 3.0]) + np.array([0.0, -1.0, 10.0]))
    images = np.array([[0, 128, 255]], dtype=np.uint8)  # Keras' two recipes: to [0, 1] and to [-1, 1]
    unit = layers.Rescaling(1.0 / 255)(images)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit.data, [[0.0, 128 / 255, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(layers.Rescaling(1.0 / 127.5, offset=-1)(images).data, [[-1.0, 128 / 127.5 - 1, 1.0]],
                               atol=1e-6)  # float32 arithmetic, as Keras
    assert layers.Rescaling(2.0).compute_output_shape((None, None, 5)) == (None, None, 5)
    assert gradcheck(lambda t: layers.Rescaling([2.0, -3.0], offset=1.0, dtype="float64")(t), rand(3, 2))


def test_rescaling_rejects_non_numeric_factors():
    with pytest.raises(ValueError, match="Rescaling: scale must be a finite number"):
        layers.Rescaling("1/255")
    with pytest.raises(ValueError, match="offset"):
        layers.Rescaling(1.0, offset=float("nan"))


@pytest.mark.parametrize("functional", [False, True])
def test_rescaling_in_a_model_trains_saves_and_loads(tmp_path, functional):
    if functional:
        inputs = gn.Input(shape=(6, 6, 3), dtype="uint8")
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
        model = gn.Model(inputs, layers.Dense(1)(layers.Flatten()(x)))
    else:
        model = gn.Sequential([gn.Input(shape=(6, 6, 3), dtype="uint8"), layers.Rescaling(1.0 / 127.5, offset=-1.0),
                               layers.Flatten(), layers.Dense(1)])
    images = np.random.default_rng(0).integers(0, 256, (8, 6, 6, 3)).astype(np.uint8)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(images, np.ones((8, 1), np.float32), epochs=1, verbose=0)
    dense = model.layers[-1]
    expected = (images.reshape(8, -1) / 127.5 - 1.0) @ dense.kernel.data + dense.bias.data
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "m.glassnet")
    loaded = gn.load_model(tmp_path / "m.glassnet")
    rescaling = [layer for layer in loaded.layers if isinstance(layer, layers.Rescaling)][0]
    assert (rescaling.scale, rescaling.offset) == (1.0 / 127.5, -1.0)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


# ====================================================================== config round trips
LAYER_FACTORIES = [
    lambda: layers.Dense(3, activation="relu", use_bias=False, kernel_initializer="he_normal",
                         kernel_regularizer=gn.regularizers.L2(0.1), bias_regularizer="l1",
                         kernel_constraint="max_norm", activity_regularizer=gn.regularizers.L1(0.01)),
    lambda: layers.Dense(2, input_shape=(4,), dtype="float64"),
    lambda: layers.Dropout(0.3, noise_shape=(None, 1), seed=4),
    lambda: layers.Flatten(),
    lambda: layers.Reshape((-1, 2)),
    lambda: layers.Identity(),
    lambda: layers.Activation("tanh"),
    lambda: layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    lambda: layers.LeakyReLU(negative_slope=0.2),
    lambda: layers.PReLU(alpha_initializer=initializers.Constant(0.2), shared_axes=[1]),
    lambda: layers.ELU(alpha=0.5),
    lambda: layers.Softmax(axis=1),
    lambda: layers.Swish(beta=2.0, trainable_beta=True),
    lambda: layers.Normalization(axis=-1, mean=[1.0, 2.0], variance=[1.0, 4.0]),
    lambda: layers.Dense(2, trainable=False, name="frozen"),
    lambda: layers.Rescaling(1 / 255.0),
    lambda: layers.Rescaling([0.5, 1.0, 2.0, -1.0], offset=[0.0, 1.0, 2.0, 3.0]),
]


@pytest.mark.parametrize("factory", LAYER_FACTORIES)
def test_get_config_from_config_round_trip(factory):
    import json

    layer = factory()
    config = layer.get_config()
    json.dumps(config)  # JSON-able
    rebuilt = type(layer).from_config(config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    # through the registry as well
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert again.get_config() == config
    # same function: same outputs with the same weights
    x = rand(3, 2, 4, dtype=np.float32) if not isinstance(layer, (layers.Normalization, layers.Dense)) else None
    if isinstance(layer, layers.Normalization):
        x = rand(3, 2, dtype=np.float32)
    if isinstance(layer, layers.Dense):
        x = rand(3, 4, dtype=np.float32)
    out = layer(x)
    out2 = rebuilt(x)
    rebuilt.set_weights(layer.get_weights())
    np.testing.assert_allclose(rebuilt(x).data, out.data, rtol=1e-6)
    assert out2.shape == out.shape


def test_layers_get_accepts_names_configs_and_instances():
    dense = layers.Dense(2)
    assert layers.get(dense) is dense
    made = layers.get({"class_name": "Dense", "config": {"units": 5}})
    assert isinstance(made, layers.Dense) and made.units == 5


# ====================================================================== Layer subclasses
class Scale(layers.Layer):
    """y = x·w + c with one weight per feature."""

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1],), initializer="ones", name="w")
        self.c = self.add_weight((), initializer="zeros", name="c", trainable=False)

    def call(self, inputs):
        return inputs * self.w + self.c


def test_layer_subclass_with_add_weight():
    scale = Scale(dtype="float64")
    x = rand(3, 4)
    out = scale(x)
    np.testing.assert_allclose(out.data, x)
    assert [w.name for w in scale.weights] == ["w", "c"]
    assert [w.name for w in scale.trainable_weights] == ["w"]
    assert scale.count_params() == 5
    assert gradcheck(lambda t: scale(t), x)
    scale.zero_grad()
    scale(x).sum().backward()
    np.testing.assert_allclose(scale.w.grad, x.sum(axis=0))


class Block(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = layers.Dense(4, activation="relu")
        self.rest = [layers.Dense(3), layers.Dense(2)]
        self.drop = layers.Dropout(0.5, seed=0)
        self.extra = Parameter(np.ones(2, np.float32), name="extra")

    def call(self, inputs):  # no `training` argument: nested layers inherit the flag
        x = self.first(inputs)
        for layer in self.rest:
            x = layer(x)
        return self.drop(x) * self.extra


def test_nested_layers_and_weights_are_tracked():
    block = Block()
    block(np.ones((2, 5), np.float32))
    assert [layer.name for layer in block.layers] == ["dense", "dense_1", "dense_2", "dropout"]
    assert len(block.weights) == 1 + 6  # extra + 3 x (kernel, bias)
    assert sum(w.size for w in block.weights) == 2 + (5 * 4 + 4) + (4 * 3 + 3) + (3 * 2 + 2)
    block.trainable = False
    assert block.trainable_weights == [] and all(not layer.trainable for layer in block.layers)
    block.trainable = True
    assert len(block.trainable_weights) == 7


def test_layers_appended_to_a_list_attribute_are_tracked():
    class Stack(layers.Layer):
        def __init__(self):
            super().__init__()
            self.blocks = []
            for units in (3, 2):
                self.blocks.append(layers.Dense(units))

        def call(self, inputs):
            for block in self.blocks:
                inputs = block(inputs)
            return inputs

    stack = Stack()
    stack(np.ones((1, 4), np.float32))
    assert len(stack.weights) == 4
    assert sum(w.size for w in stack.weights) == (4 * 3 + 3) + (3 * 2 + 2)


def test_training_flag_propagates_into_nested_layers():
    block = Block()
    x = np.ones((200, 5), np.float32)
    inference = block(x).data
    np.testing.assert_array_equal(block(x).data, inference)  # deterministic at inference
    training = block(x, training=True).data
    assert np.mean(training == 0) > 0.3  # the nested Dropout was active
    # explicitly passing training=False to the inner layer wins over the outer flag
    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.9)

        def call(self, inputs, training=None):
            self.seen = training
            return self.drop(inputs, training=False)

    outer = Outer()
    np.testing.assert_array_equal(outer(x, training=True).data, x)
    assert outer.seen is True
    outer(x)
    assert outer.seen is False


def test_activity_regularizer_adds_a_loss():
    dense = layers.Dense(2, activity_regularizer=gn.regularizers.L2(0.5), kernel_initializer="ones",
                         dtype="float64")
    x = np.array([[1.0, 2.0]])
    out = dense(x)
    assert len(dense.losses) == 1
    np.testing.assert_allclose(dense.losses[0].data, 0.5 * np.sum(out.data ** 2))


def test_set_weights_checks_count_and_shapes():
    dense = layers.Dense(2, name="d")
    dense(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="2 weights"):
        dense.set_weights([np.zeros((3, 2))])
    with pytest.raises(ShapeError, match="kernel"):
        dense.set_weights([np.zeros((2, 3)), np.zeros(2)])
    dense.set_weights([np.ones((3, 2)), np.full(2, 5.0)])
    np.testing.assert_array_equal(dense.get_weights()[1], [5.0, 5.0])


def test_unknown_layer_keyword_is_a_type_error_with_suggestion():
    with pytest.raises(TypeError, match="activation"):
        layers.Dense(2, activaton="relu")


def test_compute_output_shape_default_and_dense():
    assert layers.Dense(5).compute_output_shape((None, 3)) == (None, 5)
    assert layers.Activation("relu").compute_output_shape((None, 3, 2)) == (None, 3, 2)
    assert Scale().compute_output_shape((None, 4)) == (None, 4)


def test_normalization_and_prelu_check_feature_sizes():
    norm = layers.Normalization(name="norm")
    norm.adapt(rand(10, 4))
    with pytest.raises(ShapeError, match=r"'norm'.*\(None, 4\).*\(2, 5\)"):
        norm(np.zeros((2, 5), np.float32))
    images = layers.Normalization()
    images.adapt(rand(6, 3, 3, 2))
    assert images(np.zeros((2, 5, 5, 2), np.float32)).shape == (2, 5, 5, 2)  # spatial size is free
    with pytest.raises(ShapeError):
        images(np.zeros((2, 2), np.float32))  # would silently broadcast to (1, 2, 2)
    prelu = layers.PReLU(name="prelu")
    prelu(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match="prelu"):
        prelu(np.zeros((2, 5), np.float32))
    shared = layers.PReLU(shared_axes=[1, 2])
    shared(np.zeros((2, 4, 4, 3), np.float32))
    assert shared(np.zeros((1, 6, 6, 3), np.float32)).shape == (1, 6, 6, 3)


def test_private_base_classes_are_not_registered():
    assert "_Elementwise" not in layers.REGISTRY.names()
    assert "Dense" in layers.REGISTRY.names()
