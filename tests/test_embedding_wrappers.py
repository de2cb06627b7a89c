"""Embedding (indices → vectors, scatter-add gradient, mask_zero) and the wrappers Bidirectional and
TimeDistributed (Keras semantics)."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.diagnostics import gradcheck
from glassnet.errors import InputError, ShapeError
from glassnet.layers.embedding import Embedding
from glassnet.layers.recurrent import GRU, LSTM, SimpleRNN
from glassnet.layers.wrappers import Bidirectional, TimeDistributed


@pytest.fixture(autouse=True)
def _fresh_session():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


IDS = np.array([[3, 1, 4, 1], [5, 9, 2, 6]])


# ====================================================================== Embedding
def test_embedding_looks_up_rows_and_counts_parameters():
    layer = Embedding(10, 3)
    out = layer(IDS)
    assert out.shape == (2, 4, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.data, layer.embeddings.data[IDS])
    assert layer.count_params() == 30
    assert np.all(np.abs(layer.embeddings.data) <= 0.05)  # Keras 'uniform': U(−0.05, 0.05)
    assert layer.compute_output_shape((None, 4)) == (None, 4, 3)


def test_embedding_gradient_scatter_adds_repeated_indices():
    layer = Embedding(10, 3)
    out = layer(IDS)
    g = rand(2, 4, 3, seed=1)
    out.backward(g)
    expected = np.zeros((10, 3), np.float32)
    np.add.at(expected, IDS, g)
    np.testing.assert_allclose(layer.embeddings.grad, expected, rtol=1e-6)
    np.testing.assert_allclose(layer.embeddings.grad[1], g[0, 1] + g[0, 3], rtol=1e-6)  # index 1 used twice
    assert np.all(layer.embeddings.grad[[0, 7, 8]] == 0)


def test_embedding_gradcheck_float64():
    layer = Embedding(6, 2, dtype="float64")
    layer.build()

    def fn(matrix):
        saved = layer.embeddings
        object.__setattr__(layer, "embeddings", matrix)
        try:
            return layer(np.array([[0, 5, 5], [2, 0, 1]]))
        finally:
            object.__setattr__(layer, "embeddings", saved)

    assert gradcheck(fn, layer.embeddings.data.copy())


def test_embedding_accepts_integer_valued_floats_and_rejects_bad_indices():
    layer = Embedding(10, 2, name="words")
    np.testing.assert_array_equal(layer(IDS.astype(np.float32)).data, layer(IDS).data)
    with pytest.raises(InputError, match=r"'words'.*index 12 at position \(1, 0\).*input_dim=10.*0 to 9"):
        layer(np.array([[1, 2], [12, 3]]))
    with pytest.raises(InputError, match=r"index -1 .*input_dim=10"):
        layer(np.array([[1, -1]]))
    with pytest.raises(InputError, match=r"'words'.*integer indices.*1\.5"):
        layer(np.array([[1.0, 1.5]]))
    with pytest.raises(InputError, match="integer indices"):
        layer(np.array([[np.nan, 1.0]]))


def test_embedding_mask_zero_marks_padding():
    out = Embedding(10, 2, mask_zero=True)(np.array([[4, 2, 0, 0], [1, 0, 3, 0]]))
    np.testing.assert_array_equal(out._keras_mask, [[True, True, False, False], [True, False, True, False]])
    assert getattr(Embedding(10, 2)(IDS), "_keras_mask", None) is None


@pytest.mark.parametrize("rnn", [LSTM, GRU, SimpleRNN])
def test_embedding_mask_zero_makes_the_rnn_ignore_padding(rnn):
    model = gn.Sequential([Embedding(20, 4, mask_zero=True), rnn(5)])
    padded = np.array([[7, 3, 9, 0, 0, 0], [0, 0, 7, 3, 9, 0]])  # right and left padding
    unpadded = np.array([[7, 3, 9]])
    expected = model(unpadded).data[0]
    out = model(padded).data
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
    np.testing.assert_allclose(out[1], expected, atol=1e-6)
    assert not np.allclose(Embedding(20, 4)(padded).data[0, 3], 0)  # the padding vectors are not zero


def test_embedding_weights_argument_config_and_input_length():
    matrix = rand(5, 3)
    layer = Embedding(5, 3, weights=[matrix], input_length=7, mask_zero=True)
    np.testing.assert_array_equal(layer(np.array([[4, 0]])).data[0], matrix[[4, 0]])
    config = layer.get_config()
    assert config["mask_zero"] is True and "input_length" not in config
    assert Embedding.from_config(config).get_config() == config
    with pytest.raises(ShapeError, match=r"\(5, 3\), got \(2, 2\)"):
        Embedding(5, 3, weights=[np.zeros((2, 2))]).build()
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 3)


def test_embedding_sequence_classifier_trains_with_fit():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 8, (256, 6))
    x[:128, 3:] = 0  # padded half
    y = (x[:, 0] > 4).astype(np.float32)
    model = gn.Sequential([layers.Input((6,)), Embedding(8, 8, mask_zero=True), GRU(8),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=gn.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert model.layers[0].count_params() == 64


# ====================================================================== Bidirectional
def _directions(bi, x, **kwargs):
    return bi.forward_layer(x, **kwargs), bi.backward_layer(x, **kwargs)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(merge_mode):
    x = rand(2, 5, 3)
    bi = Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode)
    out = bi(x)
    forward, backward = (o.data for o in _directions(bi, x))
    backward = backward[:, ::-1]  # re-reversed so step t of both directions lines up
    expected = {"concat": np.concatenate([forward, backward], axis=-1), "sum": forward + backward,
                "mul": forward * backward, "ave": (forward + backward) / 2}
    if merge_mode is None:
        np.testing.assert_allclose(out[0].data, forward, atol=1e-6)
        np.testing.assert_allclose(out[1].data, backward, atol=1e-6)
        assert bi.compute_output_shape((None, 5, 3)) == [(None, 5, 4), (None, 5, 4)]
    else:
        np.testing.assert_allclose(out.data, expected[merge_mode], atol=1e-6)
        width = 8 if merge_mode == "concat" else 4
        assert out.shape == (2, 5, width) and bi.compute_output_shape((None, 5, 3)) == (None, 5, width)


def test_bidirectional_backward_direction_reads_the_sequence_from_the_end():
    x = rand(2, 5, 3)
    bi = Bidirectional(GRU(4))
    out = bi(x).data
    reference = GRU(4)
    reference.build((None, 5, 3))
    reference.set_weights(bi.backward_layer.get_weights())
    np.testing.assert_allclose(out[:, 4:], reference(x[:, ::-1]).data, atol=1e-6)  # last outputs: no flip
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards


def test_bidirectional_parameters_names_and_fresh_weights():
    lstm = LSTM(8, name="enc")
    bi = Bidirectional(lstm)
    model = gn.Sequential([layers.Input((10, 3)), bi])
    single = LSTM(8)
    single.build((None, 10, 3))
    assert bi.count_params() == 2 * single.count_params() == model.count_params()
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_enc", "backward_enc")
    assert not np.allclose(bi.forward_layer.kernel.data, bi.backward_layer.kernel.data)
    assert not lstm.built  # the wrapped instance is only a template


def test_bidirectional_return_state_and_initial_state():
    x = rand(2, 4, 3)
    bi = Bidirectional(LSTM(3, return_state=True))
    out, h_f, c_f, h_b, c_b = bi(x)
    np.testing.assert_allclose(out.data, np.concatenate([h_f.data, h_b.data], axis=-1), atol=1e-7)
    assert c_f.shape == c_b.shape == (2, 3) and not np.allclose(c_f.data, c_b.data)
    assert bi.compute_output_shape((None, 4, 3)) == [(None, 6)] + [(None, 3)] * 4
    states = [rand(2, 3, seed=s) for s in range(4)]
    out2 = bi(x, initial_state=states)[0].data
    forward = bi.forward_layer(x, initial_state=states[:2])[0].data
    backward = bi.backward_layer(x, initial_state=states[2:])[0].data
    np.testing.assert_allclose(out2, np.concatenate([forward, backward], axis=-1), atol=1e-6)


def test_bidirectional_with_mask_equals_the_unpadded_sequence_and_zeroes_padding():
    model = gn.Sequential([Embedding(20, 4, mask_zero=True), Bidirectional(LSTM(3, return_sequences=True))])
    out = model(np.array([[5, 8, 2, 0, 0]])).data[0]
    expected = model(np.array([[5, 8, 2]])).data[0]
    np.testing.assert_allclose(out[:3], expected, atol=1e-6)
    assert np.all(out[3:] == 0)  # Keras: padded steps output zeros in both directions


def test_bidirectional_gradcheck_float64():
    bi = Bidirectional(GRU(2, dtype="float64", return_sequences=True), merge_mode="ave", dtype="float64")
    x = rand(2, 3, 2, dtype=np.float64)
    bi(x)
    assert gradcheck(lambda inputs: bi(inputs), x)


def test_bidirectional_config_round_trip_and_validation():
    bi = Bidirectional(SimpleRNN(3, return_sequences=True), merge_mode="sum")
    config = bi.get_config()
    clone = Bidirectional.from_config(config)
    assert clone.get_config() == config
    assert layers.deserialize(layers.serialize(bi)).merge_mode == "sum"
    x = rand(2, 4, 3)
    model = gn.Sequential([layers.Input((4, 3)), bi, layers.Dense(1)])
    restored = gn.models.model_from_json(model.to_json())
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(restored(x).data, model(x).data, atol=1e-6)
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="return_sequences"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))
    custom = Bidirectional(LSTM(2), backward_layer=GRU(2, go_backwards=True))
    assert isinstance(custom.backward_layer, GRU)


# ====================================================================== TimeDistributed
def test_time_distributed_dense_equals_dense_on_the_folded_batch():
    x = rand(4, 6, 5)
    dense = layers.Dense(3, activation="relu")
    td = TimeDistributed(dense)
    out = td(x)
    assert out.shape == (4, 6, 3) and td.count_params() == 5 * 3 + 3
    folded = dense(x.reshape(24, 5)).data.reshape(4, 6, 3)
    np.testing.assert_allclose(out.data, folded, atol=1e-6)
    assert td.compute_output_shape((None, 6, 5)) == (None, 6, 3)


def test_time_distributed_gradcheck_and_mask_pass_through():
    td = TimeDistributed(layers.Dense(2, dtype="float64"), dtype="float64")
    x = rand(2, 3, 4, dtype=np.float64)
    td(x)
    assert gradcheck(lambda inputs: td(inputs), x)
    masked = gn.tensor(x)
    masked._keras_mask = np.array([[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(td(masked)._keras_mask, masked._keras_mask)


def test_time_distributed_in_a_model_config_and_errors():
    model = gn.Sequential([layers.Input((5, 3)), LSTM(4, return_sequences=True),
                           TimeDistributed(layers.Dense(2, name="per_step"))])
    assert model(rand(2, 5, 3)).shape == (2, 5, 2)
    config = model.layers[1].get_config()
    assert TimeDistributed.from_config(config).get_config() == config
    with pytest.raises(ShapeError, match=r"TimeDistributed.*\(4, 3\)"):
        TimeDistributed(layers.Dense(2))(np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match="Layer instance"):
        TimeDistributed("dense")
