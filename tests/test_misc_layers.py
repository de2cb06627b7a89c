"""Maxout, RBF, RepeatVector, Permute, Lambda (glassnet/layers/misc.py) and the noise / dropout
variants of glassnet/layers/regularization.py: values, gradient checks, training vs inference,
config round trips."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError, UnknownNameError
from glassnet.layers import Dense
from glassnet.layers.misc import RBF, Lambda, Maxout, Permute, RepeatVector
from glassnet.layers.regularization import (
    ActivityRegularization, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
)


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def substituted(layer, names, fn):
    """A function of (x, *weights) that runs ``fn(x)`` with ``layer``'s weights ``names`` replaced."""
    def run(x, *weights):
        saved = [getattr(layer, n) for n in names]
        for n, w in zip(names, weights):
            object.__setattr__(layer, n, w)
        try:
            return fn(x)
        finally:
            for n, w in zip(names, saved):
                object.__setattr__(layer, n, w)
    return run


# ====================================================================== Maxout
def test_maxout_is_the_max_over_pieces_of_affine_maps():
    x = rand(5, 4)
    layer = Maxout(units=3, pieces=2, bias_initializer="random_normal", dtype="float64")
    y = layer(x).data
    assert y.shape == (5, 3)
    assert layer.kernel.shape == (4, 6) and layer.bias.shape == (6,)
    assert layer.count_params() == (4 + 1) * 3 * 2
    w = layer.kernel.data.reshape(4, 2, 3)  # (input, piece, unit)
    b = layer.bias.data.reshape(2, 3)
    pieces = np.einsum("ni,iku->nku", x, w) + b
    np.testing.assert_allclose(y, pieces.max(axis=1), rtol=1e-12)


def test_maxout_generalises_relu():
    x = rand(6, 3)
    layer = Maxout(units=2, pieces=2, dtype="float64")
    layer(x)
    layer.kernel.data[:, :2] = 0.0  # piece 0 is the constant 0
    layer.bias.data[:] = 0.0
    expected = np.maximum(x @ layer.kernel.data[:, 2:], 0.0)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)


def test_maxout_gradient_reaches_only_the_winning_piece():
    layer = Maxout(units=2, pieces=3, dtype="float64")
    x = rand(1, 4, seed=3)
    layer(x).sum().backward()
    z = (x @ layer.kernel.data + layer.bias.data).reshape(3, 2)  # (piece, unit)
    winners = z.argmax(axis=0)
    grad = layer.kernel.grad.reshape(4, 3, 2)
    for unit in range(2):
        for piece in range(3):
            column = grad[:, piece, unit]
            if piece == winners[unit]:
                np.testing.assert_allclose(column, x[0])
            else:
                np.testing.assert_array_equal(column, 0.0)


def test_maxout_gradcheck_and_higher_rank_inputs():
    layer = Maxout(units=3, pieces=2, bias_initializer="random_normal", dtype="float64")
    x = rand(2, 3, 4, seed=1)
    assert layer(x).shape == (2, 3, 3)
    fn = substituted(layer, ["kernel", "bias"], layer)
    assert gradcheck(fn, x, layer.kernel.data.copy(), layer.bias.data.copy())
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 3)
    with pytest.raises(ValueError, match="positive"):
        Maxout(units=0, pieces=2)


# ====================================================================== RBF
def test_rbf_computes_gaussian_units():
    x = rand(5, 3)
    layer = RBF(4, initial_width=0.7, dtype="float64")
    y = layer(x).data
    assert y.shape == (5, 4)
    assert layer.centers.shape == (4, 3) and layer.log_width.shape == (4,)
    assert layer.count_params() == 4 * (3 + 1)
    np.testing.assert_allclose(layer.widths, 0.7)
    np.testing.assert_allclose(layer.log_width.data, np.log(0.7))
    distance = ((x[:, None, :] - layer.centers.data[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(y, np.exp(-distance / (2 * 0.7 ** 2)), rtol=1e-10)
    at_centre = layer(layer.centers.data[:1]).data
    assert at_centre[0, 0] == pytest.approx(1.0)


def test_rbf_gradcheck_wrt_inputs_centres_and_widths():
    layer = RBF(3, initial_width=1.5, dtype="float64")
    x = rand(4, 2, seed=2)
    layer(x)
    fn = substituted(layer, ["centers", "log_width"], layer)
    log_width = np.log(np.array([0.8, 1.2, 2.0]))
    assert gradcheck(fn, x, layer.centers.data.copy(), log_width)


def test_rbf_widths_stay_positive_and_a_small_rbf_net_learns_a_bump():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(200, 1)).astype(np.float32)
    y = np.sin(x)
    rbf = RBF(10, initial_width=0.8, centers_initializer=gn.initializers.RandomUniform(-3.0, 3.0))
    model = gn.Sequential([rbf, Dense(1)])
    model.compile(optimizer=gn.optimizers.Adam(learning_rate=0.05), loss="mse")
    history = model.fit(x, y, epochs=30, batch_size=50, verbose=0)
    assert history.history["loss"][-1] < 0.05 < history.history["loss"][0]
    assert np.all(rbf.widths > 0)
    assert len(rbf.trainable_weights) == 2


def test_rbf_adapt_picks_centres_from_data_and_config_round_trip():
    data = rand(50, 3, seed=4, dtype=np.float32)
    layer = RBF(5)
    layer.adapt(data, seed=1)
    assert all(any(np.array_equal(c, row) for row in data) for c in layer.centers.data)
    config = layer.get_config()
    json.dumps(config)
    clone = RBF.from_config(config)
    clone(data)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(data).data, layer(data).data)
    fixed = RBF(2, trainable_widths=False)
    fixed(data)
    assert [w.name for w in fixed.trainable_weights] == ["centers"]


# ====================================================================== RepeatVector, Permute
def test_repeat_vector():
    x = rand(3, 4)
    layer = RepeatVector(5)
    y = layer(x)
    assert y.shape == (3, 5, 4)
    np.testing.assert_array_equal(y.data, np.repeat(x[:, None, :], 5, axis=1).astype(np.float32))
    assert layer.compute_output_shape((None, 4)) == (None, 5, 4)
    assert gradcheck(RepeatVector(3, dtype="float64"), x)
    with pytest.raises(ShapeError):
        layer(rand(2, 3, 4))
    assert RepeatVector.from_config(layer.get_config()).n == 5


def test_permute_uses_one_based_dims_excluding_the_batch_axis():
    x = rand(2, 3, 4, 5)
    layer = Permute((3, 1, 2))
    y = layer(x)
    np.testing.assert_array_equal(y.data, x.transpose(0, 3, 1, 2).astype(np.float32))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    assert gradcheck(Permute((2, 1), dtype="float64"), rand(2, 3, 4))
    with pytest.raises(ValueError, match="permutation"):
        Permute((0, 1))
    with pytest.raises(ValueError, match="permutation"):
        Permute((1, 1, 2))
    clone = Permute.from_config(layer.get_config())
    assert clone.dims == (3, 1, 2)


# ====================================================================== Lambda
@gn.saving.register_serializable(package="Tests")
def scaled_square(x, factor=1.0):
    return ops.square(x) * factor


def test_lambda_applies_the_function_and_gradients_flow():
    layer = Lambda(scaled_square, arguments={"factor": 3.0}, dtype="float64")
    x = rand(4, 2)
    np.testing.assert_allclose(layer(x).data, 3 * x ** 2)
    assert gradcheck(layer, x)
    model = gn.Sequential([Dense(3, input_shape=(2,), dtype="float64"), Lambda(ops.tanh, dtype="float64")])
    xt = gn.tensor(x, requires_grad=True)
    model(xt).sum().backward()
    assert model.layers[0].kernel.grad is not None and xt.grad is not None


def test_lambda_output_shape_inferred_or_given():
    layer = Lambda(lambda t: ops.concatenate([t, t], axis=-1))
    assert layer.compute_output_shape((None, 3)) == (None, 6)
    given = Lambda(lambda t: ops.sum(t, axis=-1, keepdims=True), output_shape=(1,))
    assert given.compute_output_shape((None, 7)) == (None, 1)
    model = gn.Sequential([Dense(4, input_shape=(3,)), Lambda(lambda t: t * 2.0)])
    assert model.output_shapes()[-1] == (None, 4)


def test_lambda_passes_the_training_flag_when_the_function_takes_it():
    def noisy(x, training=None):
        return x + 1.0 if training else x

    layer = Lambda(noisy)
    x = np.zeros((2, 2), np.float32)
    np.testing.assert_array_equal(layer(x).data, 0.0)
    np.testing.assert_array_equal(layer(x, training=True).data, 1.0)


def test_lambda_with_registered_function_round_trips_through_config_and_files(tmp_path):
    layer = Lambda(scaled_square, arguments={"factor": 2.0})
    config = layer.get_config()
    assert config["function"] == "Tests>scaled_square"
    json.dumps(config)
    clone = gn.layers.deserialize(gn.layers.serialize(layer))
    assert clone.function is scaled_square and clone.arguments == {"factor": 2.0}
    activation = Lambda(ops.relu)
    assert activation.get_config()["function"] == "relu"
    assert Lambda.from_config(activation.get_config()).function is ops.relu
    model = gn.Sequential([Dense(3, input_shape=(2,)), Lambda(scaled_square, arguments={"factor": 0.5})])
    x = rand(5, 2, dtype=np.float32)
    path = tmp_path / "lambda.glassnet"
    model.save(path)
    loaded = gn.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_lambda_with_unregistered_function_refuses_to_serialise_clearly():
    layer = Lambda(lambda t: t * 2.0)
    with pytest.raises(ValueError, match="not registered.*never pickles"):
        layer.get_config()
    model = gn.Sequential([Dense(2, input_shape=(2,)), layer])
    with pytest.raises(ValueError, match="register_serializable"):
        model.to_json()
    with pytest.raises(UnknownNameError, match="Lambda function"):
        Lambda.from_config({"function": "no_such_function_anywhere"})
    with pytest.raises(ValueError, match="JSON"):
        Lambda(scaled_square, arguments={"factor": np.float32}).get_config()
    with pytest.raises(TypeError, match="callable"):
        Lambda(3)


# ====================================================================== dropout / noise variants
@pytest.mark.parametrize("layer", [SpatialDropout1D(0.5), SpatialDropout2D(0.5), SpatialDropout3D(0.5),
                                   GaussianNoise(1.0), GaussianDropout(0.5), ActivityRegularization(0.1, 0.1)],
                         ids=lambda l: type(l).__name__)
def test_stochastic_layers_are_the_identity_at_inference(layer):
    rank = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}.get(type(layer).__name__, 3)
    x = rand(*([2] + [3] * (rank - 1)), dtype=np.float32)
    y = layer(x)
    np.testing.assert_array_equal(y.data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_spatial_dropout_2d_drops_whole_channels_with_inverted_scaling():
    layer = SpatialDropout2D(0.4, seed=3)
    x = np.ones((50, 6, 7, 20), np.float32)
    y = layer(x, training=True).data
    per_channel = y.reshape(50, 42, 20)
    # each (example, channel) map is either all zero or all 1/(1 − rate)
    assert np.all(per_channel.min(axis=1) == per_channel.max(axis=1))
    values = np.unique(per_channel)
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.6)
    dropped = (per_channel[:, 0, :] == 0).mean()
    assert 0.3 < dropped < 0.5
    first = SpatialDropout2D(0.5, data_format="channels_first", seed=1)(np.ones((8, 5, 4, 4), np.float32),
                                                                        training=True).data
    maps = first.reshape(8, 5, 16)
    assert np.all(maps.min(axis=2) == maps.max(axis=2)) and 0 < (maps == 0).mean() < 1


def test_spatial_dropout_1d_drops_channels_across_all_steps():
    y = SpatialDropout1D(0.5, seed=0)(np.ones((30, 9, 8), np.float32), training=True).data
    assert np.all(y.min(axis=1) == y.max(axis=1))
    assert 0.3 < (y[:, 0, :] == 0).mean() < 0.7
    with pytest.raises(ShapeError):
        SpatialDropout1D(0.5)(np.ones((2, 3), np.float32))


def test_gaussian_noise_adds_zero_mean_noise_of_the_given_std_in_training():
    layer = GaussianNoise(0.3)
    x = np.full((400, 250), 2.0, np.float32)
    noise = layer(x, training=True).data - x
    assert abs(noise.mean()) < 0.005
    assert noise.std() == pytest.approx(0.3, rel=0.02)
    assert layer(x, training=True).dtype == np.float32


def test_gaussian_dropout_multiplies_by_mean_one_noise_with_dropout_variance():
    rate = 0.2
    layer = GaussianDropout(rate)
    x = np.ones((400, 250), np.float32)
    mask = layer(x, training=True).data
    assert mask.mean() == pytest.approx(1.0, abs=0.005)
    assert mask.var() == pytest.approx(rate / (1 - rate), rel=0.03)
    assert gradcheck(lambda a: GaussianDropout(0.3, seed=5, dtype="float64")(a, training=True), rand(3, 4))


def test_noise_layers_with_a_seed_are_reproducible():
    x = np.ones((4, 5), np.float32)
    for make in (lambda: GaussianNoise(1.0, seed=7), lambda: GaussianDropout(0.5, seed=7),
                 lambda: SpatialDropout1D(0.5, seed=7)):
        a, b = make(), make()
        xx = x if not isinstance(a, SpatialDropout1D) else np.ones((4, 5, 6), np.float32)
        np.testing.assert_array_equal(a(xx, training=True).data, b(xx, training=True).data)
    gn.set_seed(11)
    first = GaussianNoise(1.0)(x, training=True).data
    gn.set_seed(11)
    np.testing.assert_array_equal(GaussianNoise(1.0)(x, training=True).data, first)


def test_activity_regularization_adds_the_penalty_to_the_losses():
    layer = ActivityRegularization(l1=0.1, l2=0.01)
    x = rand(3, 4, dtype=np.float32)
    layer(x, training=True)
    assert len(layer.losses) == 1
    expected = 0.1 * np.abs(x).sum() + 0.01 * (x ** 2).sum()
    assert float(layer.losses[0].data) == pytest.approx(expected, rel=1e-5)
    config = layer.get_config()
    assert config["l1"] == 0.1 and "activity_regularizer" not in config


def test_rate_validation():
    with pytest.raises(ValueError, match="rate"):
        GaussianDropout(1.0)
    with pytest.raises(ValueError, match="stddev"):
        GaussianNoise(-1)
    with pytest.raises(ValueError, match="data_format"):
        SpatialDropout2D(0.5, data_format="nchw")
