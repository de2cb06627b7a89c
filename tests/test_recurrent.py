"""Recurrent layers and their fused ops: SimpleRNN, LSTM, GRU (Keras 3 semantics).

The fused sequence ops (one graph node, hand-written backpropagation through time) are gradient-checked
and compared with the same cells composed from glassnet ops; the layers are compared with PyTorch
(weights mapped), and their Keras behaviours are pinned: parameter counts, return_state/initial_state,
go_backwards, masking, dropout, stateful, config round trips, shape errors, and a classifier that learns.
"""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import ShapeError
from glassnet.layers.recurrent import GRU, LSTM, SimpleRNN
from glassnet.ops import recurrent as rnn_ops
from glassnet.tensor import Tensor


@pytest.fixture(autouse=True)
def _fresh_session():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, scale=1.0, dtype=np.float64):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# ====================================================================== fused ops
N, T, F, U = 2, 4, 3, 2
CELLS = {  # name: (fused op, composed op, gate blocks, number of states, extra kwargs, bias shape)
    "simple_rnn": (rnn_ops.simple_rnn, rnn_ops.simple_rnn_composed, 1, 1, {}, (U,)),
    "lstm": (rnn_ops.lstm, rnn_ops.lstm_composed, 4, 2, {}, (4 * U,)),
    "gru": (rnn_ops.gru, rnn_ops.gru_composed, 3, 1, {"reset_after": True}, (2, 3 * U)),
    "gru_reset_before": (rnn_ops.gru, rnn_ops.gru_composed, 3, 1, {"reset_after": False}, (3 * U,)),
}
MASK = np.array([[True, False, True, True], [True, True, True, False]])
DROP_X = np.array([[2.0, 0.0, 2.0], [0.0, 2.0, 2.0]])  # already-scaled keep masks (rate 0.5)
DROP_H = np.array([[0.0, 2.0], [2.0, 2.0]])
CONFIGS = {
    "plain": {},
    "last_only": {"return_sequences": False},
    "mask_backwards": {"mask": MASK, "go_backwards": True},
    "dropout_mask_last": {"mask": MASK, "input_dropout": DROP_X, "recurrent_dropout": DROP_H,
                          "return_sequences": False},
    "other_activations": {"activation": "linear", "recurrent_activation": "hard_sigmoid"},
}


def _cell_inputs(cell, seed=0):
    _, _, gates, n_states, _, bias_shape = CELLS[cell]
    return [rand(N, T, F, seed=seed), rand(F, gates * U, seed=seed + 1, scale=0.5),
            rand(U, gates * U, seed=seed + 2, scale=0.5), rand(*bias_shape, seed=seed + 3, scale=0.5)] + \
           [rand(N, U, seed=seed + 4 + i, scale=0.5) for i in range(n_states)]


def _run(cell, op, config, *args):
    """The op's outputs flattened into one tensor (for LSTM: h and the final carry c side by side)."""
    kwargs = dict(CELLS[cell][4], **config)
    if cell == "simple_rnn":
        kwargs.pop("recurrent_activation", None)
    out = op(*args, **kwargs)
    if cell == "lstm":
        h, c = out
        return ops.concatenate([ops.reshape(h, (N, -1)), c], axis=1)
    return out


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_fused_cell_gradcheck_through_time(cell, config):
    """∂ w.r.t. inputs, kernel, recurrent kernel, bias and initial states, by central differences."""
    fused = CELLS[cell][0]
    assert gradcheck(lambda *a: _run(cell, fused, CONFIGS[config], *a), *_cell_inputs(cell))


def assert_fused_matches_composed(values, grads):
    """[fused, composed] outputs and their leaves' gradients agree to float64 rounding."""
    np.testing.assert_allclose(values[0], values[1], rtol=1e-12, atol=1e-12)
    for g_fused, g_composed in zip(*grads):
        np.testing.assert_allclose(g_fused, g_composed, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_fused_cell_equals_composed_ops_values_and_gradients(cell, config):
    fused, composed = CELLS[cell][:2]
    grads, values = [], []
    for op in (fused, composed):
        leaves = [Tensor(a, requires_grad=True) for a in _cell_inputs(cell, seed=3)]
        out = _run(cell, op, CONFIGS[config], *leaves)
        out.backward(rand(*out.shape, seed=9))
        values.append(out.data)
        grads.append([leaf.grad for leaf in leaves])
    assert_fused_matches_composed(values, grads)


def test_fused_op_is_one_graph_node_for_the_whole_sequence():
    x, W, Uk, b, h0 = (Tensor(a, requires_grad=True) for a in _cell_inputs("simple_rnn"))
    out = rnn_ops.simple_rnn(x, W, Uk, b, h0)
    assert out._op == "simple_rnn" and set(map(id, out._parents)) == {id(x), id(W), id(Uk), id(b), id(h0)}


def test_fused_op_rejects_a_mask_of_the_wrong_shape():
    x, W, Uk, b, _ = _cell_inputs("simple_rnn")
    with pytest.raises(ValueError, match="mask should have shape"):
        rnn_ops.simple_rnn(Tensor(x), Tensor(W), Tensor(Uk), Tensor(b), mask=np.ones((N, T + 1), bool))


# ====================================================================== PyTorch parity
def _torch_parity(layer, torch_module, to_torch, from_torch_grads, n_states, go_backwards=False):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    states0 = [rng.standard_normal((3, 5)).astype(np.float32) for _ in range(n_states)]
    layer(x)  # build
    with torch.no_grad():
        for name, value in to_torch(layer).items():
            getattr(torch_module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    xg = gn.tensor(x, requires_grad=True)
    s_g = [gn.tensor(s, requires_grad=True) for s in states0]
    outputs = layer(xg, initial_state=s_g)
    xt = torch.tensor(x[:, ::-1].copy() if go_backwards else x, requires_grad=True)
    s_t = [torch.tensor(s[None], requires_grad=True) for s in states0]
    seq_t, final_t = torch_module(xt, s_t[0] if n_states == 1 else tuple(s_t))
    final_t = [final_t] if n_states == 1 else list(final_t)
    np.testing.assert_allclose(outputs[0].data, seq_t.detach().numpy(), atol=2e-6)
    for mine, theirs in zip(outputs[1:], final_t):
        np.testing.assert_allclose(mine.data, theirs.detach().numpy()[0], atol=2e-6)
    projections = [rng.standard_normal(o.shape).astype(np.float32) for o in outputs]
    loss = sum((o * p).sum() for o, p in zip(outputs, projections))
    loss.backward()
    loss_t = (seq_t * torch.from_numpy(projections[0])).sum() + sum(
        (f[0] * torch.from_numpy(p)).sum() for f, p in zip(final_t, projections[1:]))
    loss_t.backward()
    gx_t = xt.grad.numpy()[:, ::-1] if go_backwards else xt.grad.numpy()
    np.testing.assert_allclose(xg.grad, gx_t, atol=1e-5)
    for mine, theirs in zip(s_g, s_t):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy()[0], atol=1e-5)
    expected = from_torch_grads(torch_module)
    for weight in layer.weights:
        np.testing.assert_allclose(weight.grad, expected[weight.name], atol=2e-5, err_msg=weight.name)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_matches_torch_outputs_states_and_gradients(go_backwards):
    torch = pytest.importorskip("torch")
    units = 5
    layer = LSTM(units, return_sequences=True, return_state=True, go_backwards=go_backwards,
                 bias_initializer="random_normal")
    module = torch.nn.LSTM(4, units, batch_first=True)
    # torch gates (i, f, g, o) = Keras (i, f, c, o); torch's two biases: b_ih = Keras bias, b_hh = 0
    _torch_parity(layer, module,
                  lambda l: {"weight_ih_l0": l.kernel.data.T, "weight_hh_l0": l.recurrent_kernel.data.T,
                             "bias_ih_l0": l.bias.data, "bias_hh_l0": np.zeros(4 * units, np.float32)},
                  lambda m: {"kernel": m.weight_ih_l0.grad.numpy().T, "recurrent_kernel": m.weight_hh_l0.grad.numpy().T,
                             "bias": m.bias_ih_l0.grad.numpy()}, 2, go_backwards)


def test_gru_matches_torch_outputs_states_and_gradients():
    torch = pytest.importorskip("torch")
    units = 5

    def swap(a):  # Keras blocks (z, r, h) ↔ torch (r, z, n) along axis 0
        return np.concatenate([a[units:2 * units], a[:units], a[2 * units:]])

    layer = GRU(units, return_sequences=True, return_state=True, bias_initializer="random_normal")
    module = torch.nn.GRU(4, units, batch_first=True)
    # reset_after=True is torch's GRU; the two bias rows are torch's b_ih and b_hh
    _torch_parity(layer, module,
                  lambda l: {"weight_ih_l0": swap(l.kernel.data.T), "weight_hh_l0": swap(l.recurrent_kernel.data.T),
                             "bias_ih_l0": swap(l.bias.data[0]), "bias_hh_l0": swap(l.bias.data[1])},
                  lambda m: {"kernel": swap(m.weight_ih_l0.grad.numpy()).T,
                             "recurrent_kernel": swap(m.weight_hh_l0.grad.numpy()).T,
                             "bias": np.stack([swap(m.bias_ih_l0.grad.numpy()), swap(m.bias_hh_l0.grad.numpy())])}, 1)


def test_simple_rnn_matches_torch_rnn_outputs_states_and_gradients():
    torch = pytest.importorskip("torch")
    units = 5
    layer = SimpleRNN(units, return_sequences=True, return_state=True, bias_initializer="random_normal")
    module = torch.nn.RNN(4, units, batch_first=True, nonlinearity="tanh")
    _torch_parity(layer, module,
                  lambda l: {"weight_ih_l0": l.kernel.data.T, "weight_hh_l0": l.recurrent_kernel.data.T,
                             "bias_ih_l0": l.bias.data, "bias_hh_l0": np.zeros(units, np.float32)},
                  lambda m: {"kernel": m.weight_ih_l0.grad.numpy().T, "recurrent_kernel": m.weight_hh_l0.grad.numpy().T,
                             "bias": m.bias_ih_l0.grad.numpy()}, 1)


# ====================================================================== layer behaviour
def test_parameter_counts_follow_keras():
    model = gn.Sequential([LSTM(50, return_sequences=True, input_shape=(10, 1)), LSTM(50), layers.Dense(1)])
    assert [layer.count_params() for layer in model.layers] == [10_400, 20_200, 51]
    assert model.count_params() == 30_651
    counts = {}
    for name, layer in {"simple": SimpleRNN(4), "gru": GRU(4), "gru_v1": GRU(4, reset_after=False),
                        "lstm_no_bias": LSTM(4, use_bias=False)}.items():
        layer.build((None, 7, 3))
        counts[name] = layer.count_params()
    assert counts == {"simple": 4 * 7 + 4, "gru": 3 * 4 * 7 + 6 * 4, "gru_v1": 3 * (4 * 7 + 4),
                      "lstm_no_bias": 4 * 4 * 7}


def test_lstm_weights_shapes_gate_order_and_unit_forget_bias():
    layer = LSTM(3)
    layer.build((None, 5, 2))
    assert [(w.name, w.shape) for w in layer.weights] == [("kernel", (2, 12)), ("recurrent_kernel", (3, 12)),
                                                          ("bias", (12,))]
    np.testing.assert_array_equal(layer.bias.data, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # (i, f, c, o)
    gru = GRU(3)
    gru.build((None, 5, 2))
    assert gru.bias.shape == (2, 9)
    recurrent = gru.recurrent_kernel.data  # orthogonal rows: Ū Ūᵀ = I
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-5)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_output_shapes_return_sequences_and_return_state(cls):
    x = rand(3, 6, 4, dtype=np.float32)
    n_states = 2 if cls is LSTM else 1
    assert cls(5)(x).shape == (3, 5)
    assert cls(5, return_sequences=True)(x).shape == (3, 6, 5)
    layer = cls(5, return_sequences=True, return_state=True)
    out = layer(x)
    assert isinstance(out, list) and len(out) == 1 + n_states
    assert [o.shape for o in out] == [(3, 6, 5)] + [(3, 5)] * n_states
    np.testing.assert_array_equal(out[0].data[:, -1], out[1].data)  # the last output is the final h
    assert layer.compute_output_shape((None, 6, 4)) == [(None, 6, 5)] + [(None, 5)] * n_states
    only_state = cls(5, return_state=True)
    out = only_state(x)
    np.testing.assert_array_equal(out[0].data, out[1].data)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_initial_state_continues_a_sequence(cls):
    """Running the first half with return_state, then the second half from those states, equals one run."""
    x = rand(2, 8, 3, dtype=np.float32)
    whole = cls(4, return_sequences=True)
    expected = whole(x).data
    half = cls.from_config({**whole.get_config(), "return_state": True, "name": "half"})
    half.build((None, 8, 3))
    half.set_weights(whole.get_weights())
    first, *states = half(x[:, :4])
    second, *_ = half(x[:, 4:], initial_state=states)
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), expected, atol=1e-6)


def test_initial_state_errors_name_the_layer():
    layer = LSTM(4, name="encoder")
    x = rand(2, 5, 3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"'encoder'.*2 state\(s\).*1 element"):
        layer(x, initial_state=[np.zeros((2, 4))])
    with pytest.raises(ShapeError, match=r"'encoder'.*initial state 'c' should have shape \(2, 4\), got \(2, 3\)"):
        layer(x, initial_state=[np.zeros((2, 4)), np.zeros((2, 3))])


def test_initial_state_receives_gradients_and_is_cast_to_the_layer_dtype():
    layer = GRU(3, dtype="float64")
    h0 = gn.tensor(rand(2, 3, dtype=np.float32), requires_grad=True)
    out = layer(rand(2, 4, 5), initial_state=h0)
    assert out.dtype == np.float64
    out.sum().backward()
    assert h0.grad is not None and h0.grad.dtype == np.float32 and np.abs(h0.grad).sum() > 0


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_go_backwards_processes_the_reversed_sequence(cls):
    x = rand(2, 5, 3, dtype=np.float32)
    forward = cls(4, return_sequences=True)
    expected = forward(x[:, ::-1]).data
    backward = cls(4, return_sequences=True, go_backwards=True)
    backward.build((None, 5, 3))
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x).data, expected, atol=1e-6)  # outputs in processing order (Keras)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_masked_steps_are_skipped(cls):
    """A masked step keeps the state and repeats the previous output; right padding changes nothing."""
    x = rand(2, 6, 3, dtype=np.float32)
    mask = np.ones((2, 6), bool)
    mask[0, 2] = mask[0, 4:] = False
    layer = cls(4, return_sequences=True, return_state=True)
    seq, *states = layer(gn.tensor(x), mask=mask)
    # sample 0 equals the run over its 3 real steps
    kept = x[0:1, mask[0]]
    ref_seq, *ref_states = layer(kept)
    np.testing.assert_allclose(seq.data[0, [0, 1, 3]], ref_seq.data[0], atol=1e-6)
    np.testing.assert_array_equal(seq.data[0, 2], seq.data[0, 1])  # masked: previous output repeated
    np.testing.assert_array_equal(seq.data[0, 5], seq.data[0, 3])
    for state, ref in zip(states, ref_states):
        np.testing.assert_allclose(state.data[0], ref.data[0], atol=1e-6)
    # sample 1 is unmasked: same as without any mask
    np.testing.assert_allclose(seq.data[1], layer(x[1:2])[0].data[0], atol=1e-6)


def test_mask_travels_through_return_sequences_and_stops_at_the_last_rnn():
    x = gn.tensor(rand(2, 5, 3, dtype=np.float32))
    x._keras_mask = np.array([[True, True, True, False, False]] * 2)
    hidden = LSTM(4, return_sequences=True)(x)
    np.testing.assert_array_equal(hidden._keras_mask, x._keras_mask)
    reversed_hidden = LSTM(4, return_sequences=True, go_backwards=True)(x)
    np.testing.assert_array_equal(reversed_hidden._keras_mask, x._keras_mask[:, ::-1])  # follows the outputs
    assert getattr(LSTM(4)(hidden), "_keras_mask", None) is None


def test_zero_output_for_mask_zeroes_padded_outputs_only():
    x = rand(1, 4, 3, dtype=np.float32)
    mask = np.array([[True, True, False, False]])
    layer = GRU(3, return_sequences=True, zero_output_for_mask=True)
    out = layer(gn.tensor(x), mask=mask).data
    assert np.all(out[0, 2:] == 0) and np.all(out[0, :2] != 0)


def _identity_rnn(rate_in=0.0, rate_rec=0.0, **kwargs):
    """SimpleRNN with h = x·I + h·I (linear), so the outputs expose the dropout masks."""
    return SimpleRNN(6, activation="linear", use_bias=False, kernel_initializer="identity",
                     recurrent_initializer="identity", dropout=rate_in, recurrent_dropout=rate_rec, **kwargs)


def test_input_dropout_mask_is_shared_across_time_and_off_at_inference():
    layer = _identity_rnn(rate_in=0.5, return_sequences=True)
    x = np.zeros((50, 4, 6), np.float32)
    x[:, 0] = 1.0  # h_t = Σ_{s≤t} x_s⊙m: with x only at step 0, every step shows the step-0 mask
    x[:, 2] = 1.0  # ... and at step 2 the mask is applied again: h = 2m (the same m) from then on
    out = layer(x, training=True).data
    mask = out[:, 0]
    assert set(np.unique(mask)) == {0.0, 2.0}  # kept units scaled by 1/(1 − 0.5)
    np.testing.assert_array_equal(out[:, 1], mask)
    np.testing.assert_array_equal(out[:, 2], 2 * mask)
    np.testing.assert_array_equal(out[:, 3], 2 * mask)
    inference = layer(x).data  # training defaults to off
    np.testing.assert_array_equal(inference[:, 3], np.full((50, 6), 2.0))
    other = layer(x, training=True).data[:, 0]
    assert not np.array_equal(other, mask)  # a new mask for every sequence batch


def test_recurrent_dropout_mask_is_shared_across_time_and_off_at_inference():
    layer = _identity_rnn(rate_rec=0.5, return_sequences=True)
    x = np.zeros((50, 4, 6), np.float32)
    x[:, 0] = 1.0  # h_1 = 1, h_t = h_{t-1}⊙m  →  h_t = m^(t-1) only if the mask is the same at every step
    out = layer(x, training=True).data
    m = out[:, 1]
    assert set(np.unique(m)) == {0.0, 2.0}
    np.testing.assert_array_equal(out[:, 2], m * m)
    np.testing.assert_array_equal(out[:, 3], m * m * m)
    np.testing.assert_array_equal(layer(x).data, np.ones((50, 4, 6)))


def test_lstm_dropout_changes_training_outputs_only():
    x = rand(8, 5, 3, dtype=np.float32)
    layer = LSTM(4, dropout=0.3, recurrent_dropout=0.3, seed=1)
    a, b = layer(x).data, layer(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(layer(x, training=True).data, a)


def test_stateful_layer_carries_states_between_calls():
    x = rand(2, 6, 3, dtype=np.float32)
    reference = LSTM(4)
    expected = reference(x).data
    layer = LSTM(4, stateful=True)
    layer.build((2, 6, 3))
    layer.set_weights(reference.get_weights())
    layer(x[:, :3])
    np.testing.assert_allclose(layer(x[:, 3:]).data, expected, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(layer(x[:, :3]).data, reference(x[:, :3]).data, atol=1e-6)
    with pytest.raises(ShapeError, match="stateful with batch size 2"):
        layer(x[:1])


def test_activation_without_fused_kernel_uses_the_composed_cell():
    x = rand(2, 3, 4, dtype=np.float32)
    layer = SimpleRNN(3, activation="softsign", bias_initializer="random_normal")
    out = layer(x).data
    W, Uk, b = (w.data for w in layer.weights)
    h = np.zeros((2, 3), np.float32)
    for t in range(3):
        a = x[:, t] @ W + h @ Uk + b
        h = a / (1 + np.abs(a))
    np.testing.assert_allclose(out, h, atol=1e-6)


def test_layer_gradcheck_float64_with_mask_and_go_backwards():
    layer = LSTM(3, return_sequences=True, go_backwards=True, dtype="float64", bias_initializer="random_normal")
    x = rand(2, 4, 2)
    layer(x)
    mask = np.array([[True, True, False, True], [False, True, True, True]])
    names = ("kernel", "recurrent_kernel", "bias")

    def fn(inputs, *weights):
        saved = [getattr(layer, n) for n in names]
        for n, w in zip(names, weights):
            object.__setattr__(layer, n, w)
        try:
            return layer(inputs, mask=mask)
        finally:
            for n, w in zip(names, saved):
                object.__setattr__(layer, n, w)

    assert gradcheck(fn, x, *(getattr(layer, n).data.copy() for n in names))


# ====================================================================== errors, config, training
def test_a_2d_array_into_an_lstm_is_a_shape_error_naming_layer_and_shapes():
    with pytest.raises(ShapeError, match=r"'encoder' \(LSTM\).*\(None, None, None\).*\(5, 3\)"):
        LSTM(4, name="encoder")(np.zeros((5, 3), np.float32))
    model = gn.Sequential([LSTM(4, name="decoder"), layers.Dense(1)])
    with pytest.raises(ShapeError, match=r"'decoder' \(LSTM\).*\(batch, timesteps, features\).*\(None, 3\)"):
        model(np.zeros((5, 3), np.float32))


def test_sequences_into_a_dense_only_model_are_a_shape_error():
    model = gn.Sequential([layers.Dense(4, input_shape=(10,), name="hidden"), layers.Dense(1)])
    with pytest.raises(ShapeError, match=r"'hidden' \(Dense\).*\(None, 10\).*\(16, 10, 8\)"):
        model(np.zeros((16, 10, 8), np.float32))
    model.compile("adam", "mse")
    with pytest.raises(ShapeError, match=r"'hidden' \(Dense\).*\(None, 10\).*rank should be 2 but is 3"):
        model.fit(np.zeros((16, 10, 10), np.float32), np.zeros((16, 1)), epochs=1, verbose=0)


def test_bad_constructor_arguments_are_rejected():
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.0)
    with pytest.raises(TypeError, match="return_sequence"):
        SimpleRNN(3, return_sequence=True)


@pytest.mark.parametrize("layer", [
    SimpleRNN(3, activation="relu", dropout=0.1, go_backwards=True, return_sequences=True),
    LSTM(4, recurrent_activation="hard_sigmoid", unit_forget_bias=False, recurrent_dropout=0.2, return_state=True,
         kernel_regularizer="l2", stateful=True, seed=3),
    GRU(5, reset_after=False, use_bias=False, unroll=True, zero_output_for_mask=True),
], ids=["simple_rnn", "lstm", "gru"])
def test_get_config_round_trips(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = layers.deserialize(layers.serialize(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_model_json_round_trip_keeps_outputs():
    x = rand(3, 5, 2, dtype=np.float32)
    model = gn.Sequential([layers.Input((5, 2)), GRU(4, return_sequences=True), LSTM(3), layers.Dense(1)])
    clone = gn.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).data, model(x).data, atol=1e-6)


def test_small_lstm_sequence_classifier_learns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 12, 1)).astype(np.float32)
    y = (x[:, :4, 0].sum(axis=1) > 0).astype(np.float32)  # depends on early steps: needs memory
    model = gn.Sequential([layers.Input((12, 1)), LSTM(16), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=gn.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.85


# ====================================================================== the fast paths of the fused ops
LONG_T = 11  # more steps than a piece of off-critical-path work (rnn_ops._CHUNK), with a partial last piece
assert LONG_T > rnn_ops._CHUNK and LONG_T % rnn_ops._CHUNK


def _long_lstm_inputs(seed=0, dtype=np.float64):
    return [rand(N, LONG_T, F, seed=seed, dtype=dtype), rand(F, 4 * U, seed=seed + 1, scale=0.5, dtype=dtype),
            rand(U, 4 * U, seed=seed + 2, scale=0.5, dtype=dtype), rand(4 * U, seed=seed + 3, scale=0.5, dtype=dtype),
            rand(N, U, seed=seed + 4, scale=0.5, dtype=dtype), rand(N, U, seed=seed + 5, scale=0.5, dtype=dtype)]


LONG_MASK = np.ones((N, LONG_T), bool)
LONG_MASK[0, [2, 8, 9]] = LONG_MASK[1, [0, 10]] = False
LONG_CONFIGS = {
    "sequences": {},
    "mask_dropout_backwards": {"mask": LONG_MASK, "input_dropout": DROP_X, "recurrent_dropout": DROP_H,
                               "go_backwards": True},
    "other_activations_mask_last": {"activation": "relu", "recurrent_activation": "hard_sigmoid",
                                    "mask": LONG_MASK, "return_sequences": False},
}


def _run_long_lstm(config, *args):
    h, c = rnn_ops.lstm(*args, **config)
    return ops.concatenate([ops.reshape(h, (N, -1)), c], axis=1)


@pytest.mark.parametrize("config", list(LONG_CONFIGS))
def test_lstm_gradcheck_across_pieces_of_work(config):
    """Sequences longer than one piece of background work: E and the weight gradients come in pieces."""
    assert gradcheck(lambda *a: _run_long_lstm(LONG_CONFIGS[config], *a), *_long_lstm_inputs())


@pytest.mark.parametrize("config", list(LONG_CONFIGS))
def test_lstm_matches_composed_ops_across_pieces_of_work(config):
    grads, values = [], []
    for op in (rnn_ops.lstm, rnn_ops.lstm_composed):
        leaves = [Tensor(a, requires_grad=True) for a in _long_lstm_inputs(seed=5)]
        h, c = op(*leaves, **LONG_CONFIGS[config])
        out = ops.concatenate([ops.reshape(h, (N, -1)), c], axis=1)
        out.backward(rand(*out.shape, seed=9))
        values.append(out.data)
        grads.append([leaf.grad for leaf in leaves])
    assert_fused_matches_composed(values, grads)


def _lstm_values_and_grads(config, dtype=np.float64, retain=False):
    leaves = [Tensor(a, requires_grad=True) for a in _long_lstm_inputs(seed=2, dtype=dtype)]
    out = _run_long_lstm(config, *leaves)
    seed = rand(*out.shape, seed=4, dtype=dtype)
    out.backward(seed, retain_graph=retain)
    first = [leaf.grad.copy() for leaf in leaves]
    if retain:
        for leaf in leaves:
            leaf.grad = None
        out.backward(seed)
        assert all(np.array_equal(a, leaf.grad) for a, leaf in zip(first, leaves)), "second backward differs"
    return out.data, first


@pytest.mark.parametrize("config", list(LONG_CONFIGS))
def test_lstm_helper_thread_gives_bit_identical_results(config, monkeypatch):
    """The same pieces, summed in the same order, whether a helper thread computes them or not."""
    monkeypatch.setattr(rnn_ops.BACKGROUND, "enabled", True)
    monkeypatch.setattr(gn.backend, "num_threads", lambda: 2)
    threaded = _lstm_values_and_grads(LONG_CONFIGS[config], np.float32)
    monkeypatch.setattr(rnn_ops.BACKGROUND, "enabled", False)
    inline = _lstm_values_and_grads(LONG_CONFIGS[config], np.float32)
    assert np.array_equal(threaded[0], inline[0])
    assert all(np.array_equal(a, b) for a, b in zip(threaded[1], inline[1]))


def test_lstm_backward_twice_with_retain_graph_gives_the_same_gradients():
    _lstm_values_and_grads(LONG_CONFIGS["mask_dropout_backwards"], retain=True)


def test_lstm_float32_fast_path_agrees_with_float64():
    v32, g32 = _lstm_values_and_grads(LONG_CONFIGS["mask_dropout_backwards"], np.float32)
    v64, g64 = _lstm_values_and_grads(LONG_CONFIGS["mask_dropout_backwards"], np.float64)
    assert v32.dtype == np.float32 and all(g.dtype == np.float32 for g in g32)
    np.testing.assert_allclose(v32, v64, atol=2e-6)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, atol=2e-5)


@pytest.mark.parametrize("cell", list(CELLS))
def test_inference_forward_equals_training_forward(cell):
    """Without a gradient to compute the ops skip the backward's bookkeeping; the values are the same."""
    args = _cell_inputs(cell, seed=6)
    config = {"mask": MASK, "go_backwards": True}
    training = _run(cell, CELLS[cell][0], config, *[Tensor(a, requires_grad=True) for a in args])
    with gn.no_grad():
        inference = _run(cell, CELLS[cell][0], config, *[Tensor(a) for a in args])
    assert training.requires_grad and not inference.requires_grad
    np.testing.assert_array_equal(training.data, inference.data)


def test_single_threaded_blas_limits_and_restores_the_thread_count():
    blas = rnn_ops.SINGLE_THREADED_BLAS
    before = blas.threads()
    if before is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS this module can find")
    import threading
    seen = []
    with blas:
        seen.append(blas.threads())
        with blas:                                   # re-entrant
            seen.append(blas.threads())
        seen.append(blas.threads())
        def in_another_thread():
            with blas:
                seen.append(blas.threads())

        worker = threading.Thread(target=in_another_thread)
        worker.start()
        worker.join()
        seen.append(blas.threads())
    assert seen == [1, 1, 1, 1, 1] and blas.threads() == before
    blas.enabled = False
    try:
        with blas:
            assert blas.threads() == before
    finally:
        blas.enabled = True
