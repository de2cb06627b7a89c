"""Normalisation: the fused op (against the composed formula), BatchNormalization (training vs
inference, moving statistics, any rank, PyTorch parity, parameter counts of SPEC §8),
LayerNormalization, GroupNormalization (PyTorch parity), config round trips, fit/save/load."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError
from glassnet.layers import Dense
from glassnet.layers.activation import ReLU
from glassnet.layers.normalization import BatchNormalization, GroupNormalization, LayerNormalization
from glassnet.ops import normalization as norm_ops
from glassnet.tensor import Tensor


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def composed(x, axes, gamma=None, beta=None, epsilon=1e-3, center=True):
    """The same normalisation built from ordinary ops (the reference for the fused kernel)."""
    if center:
        mu = ops.mean(x, axis=axes, keepdims=True)
        centered = x - mu
        var = ops.mean(centered * centered, axis=axes, keepdims=True)
    else:
        centered = x
        var = ops.mean(x * x, axis=axes, keepdims=True)
    y = centered / ops.sqrt(var + epsilon)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


def with_weights(layer, fn):
    """A function of (x, gamma, beta) that runs ``layer`` with those tensors as its γ and β."""
    def run(x, gamma, beta):
        saved = layer.gamma, layer.beta
        object.__setattr__(layer, "gamma", gamma)
        object.__setattr__(layer, "beta", beta)
        try:
            return fn(x)
        finally:
            object.__setattr__(layer, "gamma", saved[0])
            object.__setattr__(layer, "beta", saved[1])
    return run


# ====================================================================== the fused op
@pytest.mark.parametrize("shape, axes, param_shape, center", [
    ((7, 5), (0,), (5,), True),                    # batch norm, dense
    ((3, 4, 5, 6), (0, 1, 2), (6,), True),         # batch norm, channels last
    ((3, 4, 5, 6), (0, 2, 3), (1, 4, 1, 1), True),  # batch norm, channels first
    ((4, 6), (1,), (6,), True),                    # layer norm
    ((2, 3, 4), (1, 2), (3, 4), True),             # layer norm over two axes
    ((4, 6), (1,), (6,), False),                   # RMS norm
])
def test_fused_normalize_matches_composed_ops_in_values_and_gradients(shape, axes, param_shape, center):
    x, gamma, beta = rand(*shape, seed=1), rand(*param_shape, seed=2), rand(*param_shape, seed=3)
    seed = rand(*shape, seed=4)
    results = []
    for fn in (norm_ops.normalize, composed):
        leaves = [gn.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
        y = fn(leaves[0], axes, leaves[1], leaves[2], epsilon=1e-3, center=center)
        y.backward(seed)
        results.append([y.data] + [t.grad for t in leaves])
    for fused, reference in zip(*results):
        np.testing.assert_allclose(fused, reference, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda a, g, b: norm_ops.normalize(a, axes, g, b, center=center), x, gamma, beta)


def test_fused_normalize_without_gamma_beta_and_returned_moments():
    x = rand(6, 3)
    y, mu, var = norm_ops.normalize(gn.tensor(x), (0,), epsilon=1e-5, return_moments=True)
    assert y.dtype == np.float64
    np.testing.assert_allclose(mu, x.mean(0, keepdims=True))
    np.testing.assert_allclose(var, x.var(0, keepdims=True))  # biased
    np.testing.assert_allclose(y.data, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))
    assert gradcheck(lambda a: norm_ops.normalize(a, (0,)), x)


def test_fused_batch_norm_gradient_is_the_closed_form():
    """dx = γ/σ·(g − mean(g) − x̂·mean(g·x̂)) for batch norm (γ constant over the batch)."""
    x, gamma, beta, g = rand(8, 3, seed=5), rand(3, seed=6), rand(3, seed=7), rand(8, 3, seed=8)
    xt = gn.tensor(x, requires_grad=True)
    y, mean, var = norm_ops.batch_norm_train(xt, gamma, beta, epsilon=1e-3)
    y.backward(g)
    sigma = np.sqrt(x.var(0) + 1e-3)
    x_hat = (x - x.mean(0)) / sigma
    expected = gamma / sigma * (g - g.mean(0) - x_hat * (g * x_hat).mean(0))
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-10)
    np.testing.assert_allclose(mean, x.mean(0))
    np.testing.assert_allclose(var, x.var(0))


def test_batch_normalization_op_with_given_statistics():
    x, mean, var = rand(5, 4), rand(4, seed=1), np.abs(rand(4, seed=2)) + 0.5
    scale, offset = rand(4, seed=3), rand(4, seed=4)
    y = norm_ops.batch_normalization(gn.tensor(x), mean, var, axis=-1, offset=offset, scale=scale, epsilon=1e-3)
    np.testing.assert_allclose(y.data, (x - mean) / np.sqrt(var + 1e-3) * scale + offset, rtol=1e-12)
    assert gradcheck(lambda a, s, o: norm_ops.batch_normalization(a, mean, var, -1, o, s), x, scale, offset)
    m, v = norm_ops.moments(gn.tensor(x), axes=0)
    np.testing.assert_allclose(m.data, x.mean(0))
    np.testing.assert_allclose(v.data, x.var(0))


# ====================================================================== BatchNormalization
def test_batch_norm_has_gamma_beta_then_non_trainable_moving_statistics():
    bn = BatchNormalization()
    bn(np.zeros((2, 5), np.float32))
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    np.testing.assert_array_equal(bn.gamma.data, 1)
    np.testing.assert_array_equal(bn.beta.data, 0)
    np.testing.assert_array_equal(bn.moving_mean.data, 0)
    np.testing.assert_array_equal(bn.moving_variance.data, 1)
    assert bn.count_params() == 4 * 5
    assert (bn.momentum, bn.epsilon, bn.axis) == (0.99, 1e-3, -1)


def test_batch_norm_training_normalises_with_batch_statistics_and_updates_moving_ones():
    x = rand(16, 3, seed=1) * 3 + 2
    bn = BatchNormalization(momentum=0.9, dtype="float64")
    y = bn(x, training=True).data
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.data, 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.data, 0.9 + 0.1 * x.var(0), rtol=1e-12)  # biased variance
    x2 = rand(16, 3, seed=2)
    bn(x2, training=True)
    np.testing.assert_allclose(bn.moving_mean.data, 0.9 * 0.1 * x.mean(0) + 0.1 * x2.mean(0), rtol=1e-12)


def test_batch_norm_inference_uses_moving_statistics_and_leaves_them_alone():
    bn = BatchNormalization(dtype="float64", gamma_initializer=gn.initializers.Constant(2.0),
                            beta_initializer=gn.initializers.Constant(0.5))
    x = rand(10, 4, seed=3)
    bn(x)  # builds; inference mode by default
    bn.moving_mean.data[...] = [1.0, -1.0, 0.0, 2.0]
    bn.moving_variance.data[...] = [4.0, 1.0, 0.25, 9.0]
    before = bn.get_weights()
    y = bn(x, training=False).data
    expected = 2.0 * (x - bn.moving_mean.data) / np.sqrt(bn.moving_variance.data + 1e-3) + 0.5
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_batch_norm_runs_in_inference_mode_even_when_training():
    bn = BatchNormalization(dtype="float64")
    x = rand(8, 3) + 5
    bn(x)
    bn.trainable = False
    y = bn(x, training=True).data
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-12)  # moving mean 0, variance 1
    np.testing.assert_array_equal(bn.moving_mean.data, 0)


def test_batch_norm_on_rank_4_inputs_reduces_over_all_axes_but_the_feature_axis():
    x = rand(2, 3, 4, 5, seed=4)
    last = BatchNormalization(dtype="float64")
    y = last(x, training=True).data
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    first = BatchNormalization(axis=1, dtype="float64")  # channels-first
    y1 = first(x, training=True).data
    mean1, var1 = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y1, (x - mean1) / np.sqrt(var1 + 1e-3), rtol=1e-10)
    assert first.gamma.shape == (3,) and first.moving_mean.shape == (3,)
    np.testing.assert_allclose(first.moving_mean.data, 0.01 * mean1.reshape(-1), rtol=1e-12)
    y1_eval = first(x, training=False).data  # inference broadcasts the statistics along axis 1 too
    np.testing.assert_allclose(y1_eval, (x - first.moving_mean.data[:, None, None])
                               / np.sqrt(first.moving_variance.data[:, None, None] + 1e-3), rtol=1e-12)


@pytest.mark.parametrize("shape, axis", [((6, 3), -1), ((2, 3, 4, 3), -1), ((2, 3, 4, 5), 1)])
def test_batch_norm_layer_gradcheck_in_training_mode(shape, axis):
    bn = BatchNormalization(axis=axis, dtype="float64")
    x = rand(*shape, seed=9)
    bn(x)
    channels = shape[axis]
    fn = with_weights(bn, lambda a: bn(a, training=True))
    assert gradcheck(fn, x, rand(channels, seed=10), rand(channels, seed=11))


def test_batch_norm_layer_gradcheck_in_inference_mode():
    bn = BatchNormalization(dtype="float64")
    x = rand(5, 3, seed=12)
    bn(x, training=True)
    fn = with_weights(bn, lambda a: bn(a, training=False))
    assert gradcheck(fn, x, rand(3, seed=13), rand(3, seed=14))


def test_batch_norm_center_and_scale_off():
    bn = BatchNormalization(center=False, scale=False, dtype="float64")
    x = rand(6, 2)
    y = bn(x, training=True).data
    assert bn.gamma is None and bn.beta is None and len(bn.weights) == 2
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-10)
    assert gradcheck(lambda a: bn(a, training=True), x)


def test_batch_norm_errors():
    with pytest.raises(TypeError, match="one integer"):
        BatchNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    bn = BatchNormalization()
    bn(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match="batch_normalization"):
        bn(np.zeros((2, 5), np.float32))


# ---------------------------------------------------------------------- masks (Keras' masked moments)
MASK = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]], dtype=bool)


def test_masked_batch_norm_uses_the_statistics_of_the_unmasked_steps_only():
    x = rand(3, 4, 2, seed=50) * 3 + 1
    bn = BatchNormalization(momentum=0.0, dtype="float64")
    y = bn(x, training=True, mask=MASK).data
    kept = x[MASK]  # (6, 2): the unmasked steps
    np.testing.assert_allclose(bn.moving_mean.data, kept.mean(0), rtol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.data, kept.var(0), rtol=1e-6)
    np.testing.assert_allclose(y, (x - kept.mean(0)) / np.sqrt(kept.var(0) + 1e-3), rtol=1e-6)
    # what a padded step holds does not matter
    x2 = np.where(MASK[..., None], x, 1e3)
    np.testing.assert_allclose(bn(x2, training=True, mask=MASK).data[MASK], y[MASK], rtol=1e-9)
    # inference ignores the mask (moving statistics), as without one
    np.testing.assert_array_equal(bn(x, training=False, mask=MASK).data, bn(x, training=False).data)


def test_masked_batch_norm_gradcheck_and_torch_parity_on_the_unmasked_steps():
    torch = pytest.importorskip("torch")
    x = rand(3, 4, 2, seed=51)
    bn = BatchNormalization(dtype="float64")
    bn(x)
    fn = with_weights(bn, lambda a: bn(a, training=True, mask=MASK))
    assert gradcheck(fn, x, rand(2, seed=52) + 1, rand(2, seed=53))
    # PyTorch's BatchNorm1d on the unmasked steps alone: same outputs there, same gradients
    g = rand(3, 4, 2, seed=54) * MASK[..., None]  # a loss of the unmasked outputs only
    xt = gn.tensor(x, requires_grad=True)
    bn.zero_grad()
    bn(xt, training=True, mask=MASK).backward(g)
    theirs = torch.nn.BatchNorm1d(2, eps=1e-3).double()
    tx = torch.tensor(x[MASK], requires_grad=True)
    ty = theirs(tx)
    ty.backward(torch.tensor(g[MASK]))
    np.testing.assert_allclose(bn(x, training=True, mask=MASK).data[MASK], ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xt.grad[MASK], tx.grad.numpy(), rtol=1e-5, atol=1e-9)
    assert np.all(xt.grad[~MASK] == 0)
    np.testing.assert_allclose(bn.gamma.grad, theirs.weight.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(bn.beta.grad, theirs.bias.grad.numpy(), rtol=1e-9)


def test_batch_norm_behind_a_masking_embedding_and_bad_masks():
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    emb = gn.layers.Embedding(4, 1, mask_zero=True)
    emb.build(ids.shape)
    emb.embeddings.assign(np.array([[0.], [1.], [3.], [5.]]))
    bn = BatchNormalization(momentum=0.0)
    out = bn(emb(ids), training=True)
    np.testing.assert_allclose(bn.moving_mean.data, [3.0], rtol=1e-6)  # {1, 3, 5}: the padding is left out
    np.testing.assert_allclose(bn.moving_variance.data, [8 / 3], rtol=1e-6)
    np.testing.assert_array_equal(out._keras_mask, ids != 0)  # the mask passes on
    with pytest.raises(ShapeError, match="mask of shape \\(2, 3\\)"):
        bn(np.zeros((2, 4, 1), np.float32), training=True, mask=np.ones((2, 3), bool))
    channels_first = BatchNormalization(axis=1)
    with pytest.raises(ShapeError, match="must be the last"):
        channels_first(np.zeros((2, 3, 4), np.float32), training=True, mask=np.ones((2, 4), bool))


# ---------------------------------------------------------------------- PyTorch parity
def _torch_bn_parity(shape, torch_module, to_torch, from_torch):
    torch = pytest.importorskip("torch")
    momentum, eps = 0.9, 1e-3
    channels = shape[-1]
    ours = BatchNormalization(momentum=momentum, epsilon=eps, dtype="float64")
    theirs = torch_module(channels, eps=eps, momentum=1 - momentum).double()
    gamma, beta = rand(channels, seed=20) + 1, rand(channels, seed=21)
    ours(np.zeros(shape))
    ours.gamma.data[...], ours.beta.data[...] = gamma, beta
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(gamma))
        theirs.bias.copy_(torch.tensor(beta))
    n = int(np.prod(shape[:-1]))  # values per channel in a batch
    expected_unbiased = np.ones(channels)
    expected_biased = np.ones(channels)
    for step in range(4):
        x = rand(*shape, seed=30 + step) * (step + 1) + step
        g = rand(*shape, seed=40 + step)
        xt = gn.tensor(x, requires_grad=True)
        ours.zero_grad()
        y = ours(xt, training=True)
        y.backward(g)
        theirs.train()
        tx = torch.tensor(to_torch(x), requires_grad=True)
        theirs.weight.grad = theirs.bias.grad = None
        ty = theirs(tx)
        ty.backward(torch.tensor(to_torch(g)))
        np.testing.assert_allclose(y.data, from_torch(ty.detach().numpy()), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(xt.grad, from_torch(tx.grad.numpy()), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours.gamma.grad, theirs.weight.grad.numpy(), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours.beta.grad, theirs.bias.grad.numpy(), rtol=1e-8, atol=1e-10)
        # Same running mean; running variance: Keras (and glassnet) average the biased batch variance,
        # PyTorch the unbiased one (× n/(n−1)).
        np.testing.assert_allclose(ours.moving_mean.data, theirs.running_mean.numpy(), rtol=1e-10)
        batch_var = x.reshape(-1, channels).var(axis=0)
        expected_biased = momentum * expected_biased + (1 - momentum) * batch_var
        expected_unbiased = momentum * expected_unbiased + (1 - momentum) * batch_var * n / (n - 1)
        np.testing.assert_allclose(ours.moving_variance.data, expected_biased, rtol=1e-10)
        np.testing.assert_allclose(theirs.running_var.numpy(), expected_unbiased, rtol=1e-10)
    # Inference: with the same running statistics, both give the same outputs and gradients.
    ours.moving_variance.data[...] = theirs.running_var.numpy()
    theirs.eval()
    x, g = rand(*shape, seed=50), rand(*shape, seed=51)
    xt = gn.tensor(x, requires_grad=True)
    ours.zero_grad()
    y = ours(xt, training=False)
    y.backward(g)
    tx = torch.tensor(to_torch(x), requires_grad=True)
    theirs.weight.grad = theirs.bias.grad = None
    ty = theirs(tx)
    ty.backward(torch.tensor(to_torch(g)))
    np.testing.assert_allclose(y.data, from_torch(ty.detach().numpy()), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad, from_torch(tx.grad.numpy()), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.gamma.grad, theirs.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.beta.grad, theirs.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_batch_norm_1d_matches_torch_in_training_and_eval():
    torch = pytest.importorskip("torch")
    _torch_bn_parity((12, 5), torch.nn.BatchNorm1d, lambda a: a, lambda a: a)


def test_batch_norm_2d_matches_torch_with_channels_last_mapping():
    torch = pytest.importorskip("torch")
    _torch_bn_parity((3, 4, 5, 6), torch.nn.BatchNorm2d, lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2)),
                     lambda a: a.transpose(0, 2, 3, 1))


# ---------------------------------------------------------------------- SPEC §8 parameter counts
def _dense_bn_relu_net(input_dim):
    return gn.Sequential([Dense(64, input_shape=(input_dim,)), BatchNormalization(), ReLU(), Dense(32),
                          BatchNormalization(), ReLU(), Dense(1)])


def test_dense_bn_relu_net_parameter_counts():
    # 10 inputs: Dense 10·64+64 = 704, BN 4·64 = 256, Dense 64·32+32 = 2,080, BN 4·32 = 128, Dense 33.
    model = _dense_bn_relu_net(10)
    assert model.count_params() == 704 + 256 + 2080 + 128 + 33 == 3201
    assert sum(w.size for w in model.non_trainable_weights) == 2 * 64 + 2 * 32 == 192
    # SPEC's "Dense-BN-ReLU net 3,841 with 192 non-trainable" is the same net on 20 inputs (SPEC §12
    # exercise 12's make_classification(1000, 20) data): Dense 20·64+64 = 1,344.
    model = _dense_bn_relu_net(20)
    assert model.count_params() == 1344 + 256 + 2080 + 128 + 33 == 3841
    assert sum(w.size for w in model.trainable_weights) == 3841 - 192
    assert sum(w.size for w in model.non_trainable_weights) == 192
    text = []
    model.summary(print_fn=text.append)
    summary = "\n".join(text)
    assert "Total params: 3,841" in summary
    assert "Non-trainable params: 192" in summary
    assert "Trainable params: 3,649" in summary


def test_batch_norm_model_fits_and_saves_and_loads_with_identical_predictions(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 20)).astype(np.float32) * 4 + 3
    y = (x[:, :3].sum(axis=1) > 9).astype(np.float32)[:, None]
    model = gn.Sequential([Dense(16, input_shape=(20,)), BatchNormalization(), ReLU(),
                           Dense(1, activation="sigmoid")])
    model.compile(optimizer=gn.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    bn = model.layers[1]
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    # The moving statistics moved towards the statistics of the Dense outputs.
    assert not np.allclose(bn.moving_mean.data, 0) and not np.allclose(bn.moving_variance.data, 1)
    before = model.predict(x[:50], verbose=0)
    assert np.array_equal(before, model.predict(x[:50], verbose=0))  # inference is deterministic
    path = tmp_path / "bn.glassnet"
    model.save(path)
    loaded = gn.load_model(path)
    assert isinstance(loaded.layers[1], BatchNormalization)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x[:50], verbose=0), before)


def test_batch_norm_in_a_cnn_conv_bn_pool_flatten_dense():
    """SPEC §12 exercise 7: Conv2D → BN → MaxPooling2D → Flatten → Dense (BN over the channel axis)."""
    conv = pytest.importorskip("glassnet.layers.conv", reason="the conv layers live in another module")
    pooling = pytest.importorskip("glassnet.layers.pooling", reason="the pooling layers live in another module")
    x = rand(64, 8, 8, 1, dtype=np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(np.float32)[:, None]
    model = gn.Sequential([gn.Input((8, 8, 1)), conv.Conv2D(8, 3), BatchNormalization(), ReLU(),
                           pooling.MaxPooling2D(), gn.layers.Flatten(), Dense(1, activation="sigmoid")])
    bn = model.layers[1]
    assert bn.count_params() == 4 * 8 and sum(w.size for w in model.non_trainable_weights) == 16
    model.compile(optimizer=gn.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
    losses = model.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert bn.moving_mean.shape == (8,) and not np.allclose(bn.moving_mean.data, 0)


# ====================================================================== LayerNormalization
def test_layer_norm_normalises_each_example_over_features():
    x = rand(4, 6) * 3 + 1
    ln = LayerNormalization(dtype="float64")
    y = ln(x).data
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    assert [w.name for w in ln.weights] == ["gamma", "beta"] and ln.gamma.shape == (6,)
    np.testing.assert_allclose(ln(x, training=True).data, y)  # same in training


def test_layer_norm_over_several_axes_has_gamma_over_those_axes():
    x = rand(2, 3, 4, 5)
    ln = LayerNormalization(axis=[1, 2, 3], dtype="float64")
    y = ln(x).data
    assert ln.gamma.shape == (3, 4, 5)
    mean, var = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    swapped = LayerNormalization(axis=[2, 1], dtype="float64")  # γ stored in the order given
    swapped(x)
    assert swapped.gamma.shape == (4, 3)
    swapped.gamma.data[...] = rand(4, 3, seed=3)
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) * swapped.gamma.data.T[None, :, :, None]
    np.testing.assert_allclose(swapped(x).data, expected, rtol=1e-10)


@pytest.mark.parametrize("axis, shape", [(-1, (3, 5)), ([1, 2], (2, 3, 4)), (1, (2, 3, 4))])
def test_layer_norm_gradcheck(axis, shape):
    ln = LayerNormalization(axis=axis, dtype="float64")
    x = rand(*shape, seed=5)
    ln(x)
    fn = with_weights(ln, ln)
    assert gradcheck(fn, x, rand(*ln.gamma.shape, seed=6), rand(*ln.beta.shape, seed=7))


def test_layer_norm_rms_scaling_divides_by_root_mean_square():
    x = rand(4, 6) + 2
    ln = LayerNormalization(rms_scaling=True, dtype="float64")
    y = ln(x).data
    assert ln.beta is None and ln.gamma.shape == (6,)
    np.testing.assert_allclose(y, x / np.sqrt((x ** 2).mean(1, keepdims=True) + 1e-3), rtol=1e-10)
    fn = with_weights(ln, ln)
    assert gradcheck(lambda a, g: fn(a, g, None), x, rand(6, seed=2))


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    x, g = rand(3, 4, 5, seed=1), rand(3, 4, 5, seed=2)
    ln = LayerNormalization(axis=[-2, -1], epsilon=1e-5, dtype="float64")
    ln(x)
    ln.gamma.data[...], ln.beta.data[...] = rand(4, 5, seed=3), rand(4, 5, seed=4)
    xt = gn.tensor(x, requires_grad=True)
    y = ln(xt)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(ln.gamma.data.copy(), requires_grad=True)
    tb = torch.tensor(ln.beta.data.copy(), requires_grad=True)
    ty = torch.nn.functional.layer_norm(tx, (4, 5), tw, tb, eps=1e-5)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ln.gamma.grad, tw.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ln.beta.grad, tb.grad.numpy(), rtol=1e-9, atol=1e-11)
    if hasattr(torch.nn.functional, "rms_norm"):
        rms = LayerNormalization(rms_scaling=True, epsilon=1e-5, dtype="float64")
        out = rms(x).data
        ref = torch.nn.functional.rms_norm(torch.tensor(x), (5,), torch.ones(5, dtype=torch.float64), eps=1e-5)
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-10)


# ====================================================================== GroupNormalization
def test_group_norm_normalises_each_group_of_channels_per_example():
    x = rand(2, 3, 4, 6) * 2 + 1
    gn_layer = GroupNormalization(groups=3, dtype="float64")
    y = gn_layer(x).data
    grouped = x.reshape(2, 3, 4, 3, 2)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    var = grouped.var(axis=(1, 2, 4), keepdims=True)
    np.testing.assert_allclose(y, ((grouped - mean) / np.sqrt(var + 1e-3)).reshape(x.shape), rtol=1e-10)
    assert gn_layer.gamma.shape == (6,) and gn_layer.count_params() == 12


def test_group_norm_special_cases_instance_and_layer_norm():
    x = rand(2, 5, 4)
    instance = GroupNormalization(groups=-1, dtype="float64")(x).data
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(instance, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)
    whole = GroupNormalization(groups=1, dtype="float64")(x).data
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(whole, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)


@pytest.mark.parametrize("shape, groups, axis", [((2, 3, 4), 2, -1), ((2, 4, 3, 3), 2, 1)])
def test_group_norm_gradcheck(shape, groups, axis):
    layer = GroupNormalization(groups=groups, axis=axis, dtype="float64")
    x = rand(*shape, seed=3)
    layer(x)
    channels = shape[axis]
    assert gradcheck(with_weights(layer, layer), x, rand(channels, seed=4), rand(channels, seed=5))


def test_group_norm_matches_torch_with_channels_first_mapping():
    torch = pytest.importorskip("torch")
    x, g = rand(2, 3, 5, 8, seed=6), rand(2, 3, 5, 8, seed=7)  # channels last
    layer = GroupNormalization(groups=4, epsilon=1e-5, dtype="float64")
    layer(x)
    layer.gamma.data[...], layer.beta.data[...] = rand(8, seed=8), rand(8, seed=9)
    xt = gn.tensor(x, requires_grad=True)
    y = layer(xt)
    y.backward(g)
    ref = torch.nn.GroupNorm(4, 8, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.gamma.data))
        ref.bias.copy_(torch.tensor(layer.beta.data))
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    ty = ref(tx)
    ty.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y.data, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(layer.gamma.grad, ref.weight.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(layer.beta.grad, ref.bias.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_group_norm_errors():
    with pytest.raises(ValueError, match="equal groups"):
        GroupNormalization(groups=4)(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match="cannot be more"):
        GroupNormalization(groups=8)(np.zeros((2, 6), np.float32))
    with pytest.raises(ValueError, match="positive integer or -1"):
        GroupNormalization(groups=0)


# ====================================================================== configs
@pytest.mark.parametrize("layer", [
    BatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, center=False, gamma_regularizer="l2"),
    LayerNormalization(axis=[1, 2], epsilon=1e-5, rms_scaling=True),
    GroupNormalization(groups=2, axis=-1, epsilon=1e-4, scale=False),
], ids=["batch", "layer", "group"])
def test_normalization_config_round_trip(layer):
    x = rand(2, 4, 6, dtype=np.float32)
    layer(x)
    config = layer.get_config()
    import json
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x)
    assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).data, layer(x).data)
    again = gn.layers.deserialize(gn.layers.serialize(layer))
    assert type(again) is type(layer) and again.get_config()["epsilon"] == config["epsilon"]


def test_batch_norm_float32_layer_keeps_float32():
    bn = BatchNormalization()
    y = bn(rand(4, 3, dtype=np.float32), training=True)
    assert y.dtype == np.float32 and bn.moving_mean.dtype == np.float32
    assert isinstance(y, Tensor)
