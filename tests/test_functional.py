"""The functional API: Model(inputs, outputs), multi-input/output, shared layers, nested models,
skip connections, merge layers, summary, JSON and file round trips, and its errors."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers
from glassnet.diagnostics import gradcheck
from glassnet.errors import GlassnetError, ShapeError, UnknownNameError
from glassnet.models.functional import Functional

RNG = np.random.default_rng(0)


def two_in_two_out():
    gn.set_seed(0)
    a = gn.Input(shape=(6,), name="a")
    b = gn.Input(shape=(3,), name="b")
    h = layers.concatenate([layers.Dense(8, activation="relu")(a), layers.Dense(8, activation="relu")(b)])
    cls = layers.Dense(1, activation="sigmoid", name="cls")(h)
    reg = layers.Dense(2, name="reg")(h)
    return gn.Model(inputs=[a, b], outputs=[cls, reg], name="two_heads")


def data(n=80):
    xa = RNG.standard_normal((n, 6)).astype("float32")
    xb = RNG.standard_normal((n, 3)).astype("float32")
    y_cls = (xa[:, :1] + xb[:, :1] > 0).astype("float32")
    y_reg = np.concatenate([xa[:, :1] - xb[:, 1:2], xa[:, 2:3]], axis=1).astype("float32")
    return [xa, xb], [y_cls, y_reg]


def test_model_with_inputs_and_outputs_is_functional():
    model = two_in_two_out()
    assert isinstance(model, Functional) and isinstance(model, gn.Model)
    assert model.input_names == ["a", "b"] and model.output_names == ["cls", "reg"]
    assert [l.name for l in model.layers][:2] == ["a", "b"]


def test_forward_equals_manual_composition():
    model = two_in_two_out()
    (xa, xb), _ = data(5)
    cls, reg = model([xa, xb])
    d_a, d_b, _, d_cls, d_reg = [l for l in model.layers if isinstance(l, (layers.Dense, layers.Concatenate))]
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    h = np.concatenate([relu(xa @ d_a.kernel.data + d_a.bias.data), relu(xb @ d_b.kernel.data + d_b.bias.data)], 1)
    np.testing.assert_allclose(reg.numpy(), h @ d_reg.kernel.data + d_reg.bias.data, rtol=1e-5)
    expected_cls = 1 / (1 + np.exp(-(h @ d_cls.kernel.data + d_cls.bias.data)))
    np.testing.assert_allclose(cls.numpy(), expected_cls, rtol=1e-5)


def test_multi_output_training_logs_and_weighted_total():
    model = two_in_two_out()
    model.compile("adam", loss=["binary_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics=[["accuracy"], ["mae"]])
    x, y = data()
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0, validation_split=0.25)
    keys = set(history.history)
    assert {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae", "val_loss", "val_cls_loss",
            "val_reg_loss", "val_cls_accuracy", "val_reg_mae", "learning_rate"} <= keys
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=len(x[0]))
    np.testing.assert_allclose(result["loss"], result["cls_loss"] + 0.5 * result["reg_loss"], rtol=1e-5)
    predictions = model.predict(x, verbose=0)
    assert [p.shape for p in predictions] == [(80, 1), (80, 2)]


def test_losses_and_targets_by_output_name():
    model = two_in_two_out()
    model.compile("adam", loss={"cls": "binary_crossentropy", "reg": "mse"}, metrics={"cls": ["accuracy"]})
    x, (y_cls, y_reg) = data()
    logs = model.evaluate({"a": x[0], "b": x[1]}, {"reg": y_reg, "cls": y_cls}, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    with pytest.raises(UnknownNameError, match="cls"):
        model.compile("adam", loss={"klass": "mse", "reg": "mse"})


def test_one_loss_for_every_output():
    model = two_in_two_out()
    model.compile("sgd", loss="mse")
    x, y = data(16)
    logs = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=16)
    np.testing.assert_allclose(logs["loss"], logs["cls_loss"] + logs["reg_loss"], rtol=1e-5)


def test_wrong_number_of_inputs_or_targets_is_a_clear_error():
    model = two_in_two_out()
    model.compile("sgd", loss=["binary_crossentropy", "mse"])
    x, y = data(8)
    with pytest.raises(ShapeError, match="expects 2 inputs"):
        model.predict(x[0], verbose=0)
    with pytest.raises(gn.errors.InputError, match="2 outputs"):
        model.fit(x, y[0], verbose=0)
    with pytest.raises(ShapeError, match="Input 'b'"):
        model.predict([x[0], np.zeros((8, 5), "float32")], verbose=0)


def test_shared_layer_has_one_set_of_weights_and_sums_gradients():
    gn.set_seed(1)
    shared = layers.Dense(3, name="shared")
    left, right = gn.Input(shape=(4,)), gn.Input(shape=(4,))
    model = gn.Model([left, right], layers.add([shared(left), shared(right)]))
    assert model.count_params() == 15 and len(model.trainable_weights) == 2
    xl, xr = RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4))
    out = model([xl, xr])
    out.sum().backward()
    np.testing.assert_allclose(shared.kernel.grad, (xl + xr).sum(0)[:, None] * np.ones((1, 3)), rtol=1e-5)
    from glassnet.summary import summary_text

    assert "shared[0][0], shared[1][0]" in summary_text(model)


def test_residual_block_and_nested_models():
    gn.set_seed(2)
    inner_in = gn.Input(shape=(8,))
    hidden = layers.Dense(8, activation="relu")(inner_in)
    block = gn.Model(inner_in, layers.add([inner_in, layers.Dense(8)(hidden)]), name="residual_block")
    x = gn.Input(shape=(8,))
    head = gn.Sequential([layers.Dense(4, activation="relu"), layers.Dense(1)], name="head")
    model = gn.Model(x, head(block(block(x))))  # the same block twice, then a nested Sequential
    assert model.count_params() == block.count_params() + 8 * 4 + 4 + 4 + 1
    data_x = RNG.standard_normal((6, 8)).astype("float32")
    expected = head(block(block(data_x))).numpy()
    np.testing.assert_allclose(model.predict(data_x, verbose=0), expected, rtol=1e-6)


def test_gradient_through_a_functional_model():
    gn.set_seed(3)
    x = gn.Input(shape=(3,), dtype="float64")
    h = layers.Dense(4, activation="tanh", dtype="float64")(x)
    out = layers.Multiply(dtype="float64")([h, layers.Dense(4, activation="sigmoid", dtype="float64")(x)])
    model = gn.Model(x, layers.Dense(2, dtype="float64")(out))
    assert gradcheck(lambda inputs: model(inputs), RNG.standard_normal((3, 3)))


def test_json_round_trip_rebuilds_the_same_graph():
    model = two_in_two_out()
    config = json.loads(model.to_json())
    rebuilt = gn.models.model_from_json(json.dumps(config))
    assert isinstance(rebuilt, Functional)
    assert [type(l).__name__ for l in rebuilt.layers] == [type(l).__name__ for l in model.layers]
    rebuilt.set_weights(model.get_weights())
    x, _ = data(7)
    for a, b in zip(model.predict(x, verbose=0), rebuilt.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_resumes_training_exactly(tmp_path):
    x, y = data()

    def run(split):
        model = two_in_two_out()
        model.compile("adam", loss=["binary_crossentropy", "mse"], metrics=[["accuracy"], []])
        model.fit(x, y, epochs=split, batch_size=16, verbose=0, shuffle=False)
        if split < 4:
            model.save(tmp_path / "model.glassnet")
            model = gn.load_model(tmp_path / "model.glassnet")
            model.fit(x, y, epochs=4 - split, batch_size=16, verbose=0, shuffle=False)
        return model.get_weights()

    for a, b in zip(run(4), run(2)):
        np.testing.assert_array_equal(a, b)


def test_graph_disconnected_names_the_missing_input():
    a, b = gn.Input(shape=(2,), name="a"), gn.Input(shape=(2,), name="b")
    out = layers.add([a, b])
    with pytest.raises(GlassnetError, match="Graph disconnected"):
        gn.Model(a, out)


def test_inputs_must_be_input_tensors():
    a = gn.Input(shape=(2,))
    h = layers.Dense(2)(a)
    with pytest.raises(GlassnetError, match="Input"):
        gn.Model(h, layers.Dense(1)(h))


def test_unknown_time_axis_is_kept_symbolic():
    seq = gn.Input(shape=(None, 5))
    out = layers.Dense(3)(seq)
    assert out.shape == (None, None, 3)
    model = gn.Model(seq, out)
    assert model.predict(np.zeros((2, 7, 5), "float32"), verbose=0).shape == (2, 7, 3)


# ---------------------------------------------------------------- merge layers
A = RNG.standard_normal((4, 3))
B = RNG.standard_normal((4, 3))
C = RNG.standard_normal((4, 3))


@pytest.mark.parametrize("layer, expected", [
    (layers.Add(), A + B + C), (layers.Multiply(), A * B * C), (layers.Average(), (A + B + C) / 3),
    (layers.Maximum(), np.maximum(np.maximum(A, B), C)), (layers.Minimum(), np.minimum(np.minimum(A, B), C)),
    (layers.Concatenate(), np.concatenate([A, B, C], axis=-1)),
    (layers.Concatenate(axis=0), np.concatenate([A, B, C], axis=0)),
])
def test_merge_values(layer, expected):
    np.testing.assert_allclose(layer([A, B, C]).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_subtract_takes_two_inputs():
    np.testing.assert_allclose(layers.Subtract()([A, B]).numpy(), A - B, rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError, match="exactly 2"):
        layers.Subtract()([A, B, C])


@pytest.mark.parametrize("make", [layers.Add, layers.Multiply, layers.Average, layers.Maximum, layers.Concatenate])
def test_merge_gradients(make):
    assert gradcheck(lambda a, b: make(dtype="float64")([a, b]), A, B)


def test_merge_shape_errors_name_the_layer_and_shapes():
    with pytest.raises(ShapeError, match=r"'add'.*\(None, 3\).*\(None, 5\)"):
        layers.Add(name="add")([A, RNG.standard_normal((4, 5))])
    x, y = gn.Input(shape=(3,)), gn.Input(shape=(5,))
    with pytest.raises(ShapeError, match="cannot merge"):
        layers.Add()([x, y])
    with pytest.raises(ShapeError, match="match except along axis"):
        layers.Concatenate(axis=-1)([gn.Input(shape=(3, 2)), gn.Input(shape=(4, 2))])
    assert layers.Concatenate(axis=1)([gn.Input(shape=(3, 2)), gn.Input(shape=(4, 2))]).shape == (None, 7, 2)


def test_merge_broadcasts_size_one_axes_and_keeps_unknown_axes():
    x, y = gn.Input(shape=(1, 4)), gn.Input(shape=(5, 4))
    assert layers.Add()([x, y]).shape == (None, 5, 4)
    assert layers.Concatenate(axis=1)([gn.Input(shape=(None, 2)), gn.Input(shape=(3, 2))]).shape == (None, None, 2)


def test_predict_returns_the_structure_of_dict_and_list_outputs():
    inputs = gn.Input(shape=(4,))
    hidden = layers.Dense(3, activation="tanh")(inputs)
    model = gn.Model(inputs, {"a": layers.Dense(1)(hidden), "b": [layers.Dense(2)(hidden), layers.Dense(5)(hidden)]})
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    out = model.predict(x, batch_size=3, verbose=0)
    assert set(out) == {"a", "b"} and isinstance(out["b"], list)
    assert out["a"].shape == (7, 1) and [o.shape for o in out["b"]] == [(7, 2), (7, 5)]
    whole = model(x)  # the batch-by-batch result equals one call on everything
    np.testing.assert_allclose(out["a"], whole["a"].data, rtol=1e-6)
    for got, want in zip(out["b"], whole["b"]):
        np.testing.assert_allclose(got, want.data, rtol=1e-6)


def test_model_from_config_rebuilds_a_functional_config():
    inputs = gn.Input(shape=(4,))
    model = gn.Model(inputs, layers.Dense(2, activation="relu")(layers.Dense(3)(inputs)), name="f")
    rebuilt = gn.Model.from_config(model.get_config())  # the Keras serialization guide's call
    assert isinstance(rebuilt, Functional) and rebuilt.name == "f"
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(GlassnetError, match="bare 'Model'"):
        gn.Model.from_config({"name": "not functional"})


def test_per_output_sample_weights_as_a_dict_or_a_list():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    ya, yb = x[:, :1] * 2, x[:, 1:2] - 1
    inputs = gn.Input(shape=(4,))
    model = gn.Model(inputs, [layers.Dense(1, name="a")(inputs), layers.Dense(1, name="b")(inputs)])
    model.compile("sgd", loss={"a": "mse", "b": "mae"}, weighted_metrics={"a": ["mse"]})
    wa, wb = rng.uniform(0, 2, 40), rng.uniform(0, 2, 40)
    pa, pb = model.predict(x, verbose=0)
    expected_a = np.mean(wa * (pa[:, 0] - ya[:, 0]) ** 2)  # Keras: Σ w·loss / number of samples
    expected_b = np.mean(wb * np.abs(pb[:, 0] - yb[:, 0]))
    by_name = model.evaluate(x, {"a": ya, "b": yb}, sample_weight={"a": wa, "b": wb}, verbose=0, return_dict=True)
    assert by_name["a_loss"] == pytest.approx(expected_a, rel=1e-5)
    assert by_name["b_loss"] == pytest.approx(expected_b, rel=1e-5)
    assert by_name["loss"] == pytest.approx(expected_a + expected_b, rel=1e-5)
    assert by_name["a_mse"] == pytest.approx(np.sum(wa * (pa[:, 0] - ya[:, 0]) ** 2) / wa.sum(), rel=1e-5)
    as_list = model.evaluate(x, [ya, yb], sample_weight=[wa, wb], verbose=0, return_dict=True)
    assert as_list == pytest.approx(by_name)
    only_a = model.evaluate(x, [ya, yb], sample_weight={"a": wa}, verbose=0, return_dict=True)
    assert only_a["b_loss"] == pytest.approx(np.mean(np.abs(pb[:, 0] - yb[:, 0])), rel=1e-5)  # b unweighted
    history = model.fit(x, {"a": ya, "b": yb}, sample_weight={"a": wa, "b": wb}, validation_split=0.25,
                        epochs=2, batch_size=8, verbose=0).history  # shuffled, split: weights follow their samples
    assert np.all(np.isfinite(history["val_loss"]))
    with pytest.raises(gn.errors.InputError, match=r"sample_weight\[1\]"):
        model.fit(x, [ya, yb], sample_weight=[wa, wb[:30]], epochs=1, verbose=0)
    with pytest.raises(UnknownNameError):
        model.fit(x, [ya, yb], sample_weight={"c": wa}, epochs=1, verbose=0)


def test_an_output_without_a_loss_logs_no_loss():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    inputs = gn.Input(shape=(4,))
    model = gn.Model(inputs, {"a": layers.Dense(1)(inputs), "b": layers.Dense(2)(inputs)})
    model.compile("sgd", loss={"a": "mse", "b": None}, metrics={"b": ["mae"]})
    history = model.fit(x, {"a": x[:, :1], "b": x[:, :2]}, epochs=1, verbose=0).history
    assert "a_loss" in history and "b_loss" not in history and "b_mae" in history
    result = model.evaluate(x, {"a": x[:, :1], "b": x[:, :2]}, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(result["a_loss"]) and "b_loss" not in result


# ---------------------------------------------------------------- unknown (None) spatial axes
WINDOWED_1D = [lambda: layers.Conv1D(4, 7, strides=3), lambda: layers.Conv1D(4, 3, dilation_rate=2),
               lambda: layers.Conv1DTranspose(4, 5, strides=2), lambda: layers.DepthwiseConv1D(5, depth_multiplier=2),
               lambda: layers.SeparableConv1D(4, 5), lambda: layers.MaxPooling1D(4), lambda: layers.AveragePooling1D(5),
               lambda: layers.UpSampling1D(3), lambda: layers.ZeroPadding1D((1, 4)), lambda: layers.Cropping1D((2, 1))]
WINDOWED_2D = [lambda: layers.Conv2D(4, 3), lambda: layers.Conv2D(4, 5, strides=2, padding="same"),
               lambda: layers.Conv2DTranspose(4, 3, strides=2), lambda: layers.DepthwiseConv2D(5),
               lambda: layers.SeparableConv2D(4, 5), lambda: layers.MaxPooling2D(3), lambda: layers.AveragePooling2D(),
               lambda: layers.UpSampling2D(), lambda: layers.ZeroPadding2D(2), lambda: layers.Cropping2D(1),
               lambda: layers.Conv2D(4, (5, 1))]


@pytest.mark.parametrize("rank, make", [(1, m) for m in WINDOWED_1D] + [(2, m) for m in WINDOWED_2D])
def test_windowed_layers_keep_unknown_axes_and_run_at_any_size(rank, make):
    layer = make()
    inputs = gn.Input(shape=(None,) * rank + (3,))
    out = layer(inputs)  # the dry run at sizes 2 and 3 used to fail: windows of 5 or 7 do not fit
    assert out.shape[1:-1] == (None,) * rank
    model = gn.Model(inputs, out)
    for size in (19, 26):  # the symbolic shape is a contract: real sizes follow compute_output_shape
        x = RNG.standard_normal((2,) + (size,) * rank + (3,)).astype("float32")
        expected = layer.compute_output_shape((2,) + (size,) * rank + (3,))
        assert model.predict(x, verbose=0).shape == expected


def test_conv3d_keeps_unknown_axes():
    out = layers.Conv3D(2, 3)(gn.Input(shape=(None, 6, None, 1)))
    assert out.shape == (None, None, 4, None, 2)


def test_layers_without_a_shape_formula_still_dry_run_with_unknown_axes():
    x = gn.Input(shape=(None, 4))
    assert layers.Lambda(lambda t: t[:, ::2])(x).shape == (None, None, 4)  # length changes with the input
    assert layers.Lambda(lambda t: t[:, :3])(x).shape == (None, None, 4)   # 2 and 3 steps both give ≤ 3
    assert layers.Lambda(lambda t: gn.ops.sum(t, axis=1))(x).shape == (None, 4)
    assert layers.Reshape((-1, 2))(x).shape == (None, None, 2)  # Keras: an unresolvable -1 is None


def _text_classifier(max_features=60, embedding_dim=16, filters=24):
    """keras.io "Text classification from scratch", scaled down (same layers and arguments)."""
    inputs = gn.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(max_features, embedding_dim)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(filters, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(filters, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(filters, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return gn.Model(inputs, predictions)


def test_text_classification_from_scratch_trains_on_variable_length_padded_input():
    gn.set_seed(0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(25, 90, size=400)
    y = rng.integers(0, 2, size=400)
    # positive reviews contain token 1 ("good"), negative ones token 2 ("bad"); the rest is noise, 0 pads
    sequences = [np.where(rng.random(n) < 0.1, 2 - label, rng.integers(3, 60, n)) for n, label in zip(lengths, y)]
    x = gn.utils.pad_sequences(sequences, padding="post")
    assert x.shape == (400, lengths.max())
    model = _text_classifier()
    assert model.output_shapes()[1:6] == [(None, None, 16), (None, None, 16), (None, None, 24), (None, None, 24),
                                          (None, 24)]
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = model.fit(x[:320], y[:320], epochs=10, batch_size=32, validation_data=(x[320:], y[320:]), verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    for length in (25, 150):  # other lengths than the training data's (25: the shortest both convolutions fit)
        assert model.predict(gn.utils.pad_sequences(sequences[:5], maxlen=length), verbose=0).shape == (5, 1)
    with pytest.raises(ShapeError, match=r"'conv1d.*\(Conv1D\).*window \(7,\)"):
        model.predict(np.ones((2, 5), "int64"), verbose=0)  # too short for a window of 7: a clear error


def test_functional_cnn_with_unknown_image_size_trains_at_32_and_predicts_at_40():
    gn.set_seed(0)
    rng = np.random.default_rng(1)

    def build(shape):
        inputs = gn.Input(shape=shape)
        x = layers.Conv2D(8, 3, activation="relu")(inputs)
        x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(16, 3, activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        return gn.Model(inputs, layers.Dense(2, activation="softmax")(x))

    def images(n, size):  # class 1: a bright square somewhere; class 0: noise only
        x = rng.standard_normal((n, size, size, 3)).astype("float32") * 0.3
        y = rng.integers(0, 2, n)
        for i in np.flatnonzero(y):
            r, c = rng.integers(0, size - 8, 2)
            x[i, r:r + 8, c:c + 8] += 2.0
        return x, y

    model = build((None, None, 3))
    assert model.output_shapes()[1:4] == [(None, None, None, 8), (None, None, None, 8), (None, None, None, 16)]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x32, y32 = images(256, 32)
    history = model.fit(x32, y32, epochs=6, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    x40, y40 = images(64, 40)
    p40 = model.predict(x40, verbose=0)
    assert p40.shape == (64, 2) and (p40.argmax(1) == y40).mean() > 0.85
    fixed = build((40, 40, 3))  # the same weights in a model built for 40×40 give the same predictions
    fixed.set_weights(model.get_weights())
    np.testing.assert_allclose(fixed.predict(x40, verbose=0), p40, rtol=1e-5, atol=1e-6)


def test_sequential_with_unknown_axes_keeps_working():
    model = gn.Sequential([gn.Input(shape=(None, 3)), layers.Conv1D(8, 7, strides=3, activation="relu"),
                           layers.Lambda(lambda t: t * 2.0), layers.GlobalMaxPooling1D(), layers.Dense(1)])
    assert model.output_shapes() == [(None, None, 8), (None, None, 8), (None, 8), (None, 1)]
    model.compile(optimizer="adam", loss="mse")
    model.fit(RNG.standard_normal((16, 30, 3)).astype("float32"), np.zeros((16, 1), "float32"), epochs=1, verbose=0)
    assert model.predict(np.zeros((2, 50, 3), "float32"), verbose=0).shape == (2, 1)


# ---------------------------------------------------------------------- models built from parts (Keras idioms)
def test_feature_extraction_from_a_sequential_model():
    seq = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(5, activation="relu", name="h"), layers.Dense(1)])
    features = gn.Model(inputs=seq.inputs, outputs=[layer.output for layer in seq.layers])
    x = np.random.default_rng(6).standard_normal((7, 4)).astype(np.float32)
    hidden, out = features.predict(x, verbose=0)
    kernel, bias = seq.get_layer("h").get_weights()
    np.testing.assert_allclose(hidden, np.maximum(x @ kernel + bias, 0), rtol=1e-6)
    np.testing.assert_array_equal(out, seq.predict(x, verbose=0))
    assert seq.input_shape == (None, 4) and seq.output_shape == (None, 1)
    assert seq.get_layer("h").output.shape == (None, 5) and seq.get_layer("h").input is seq.input
    seq.get_layer("h").set_weights([kernel * 2, bias])  # the same layers: a change shows in both models
    np.testing.assert_allclose(features.predict(x, verbose=0)[0], np.maximum(x @ (kernel * 2) + bias, 0), rtol=1e-6)
    seq.add(layers.Dense(3))  # the symbolic view follows the layer stack
    assert seq.output_shape == (None, 3) and seq.get_layer("h").output.shape == (None, 5)


def test_transfer_learning_on_a_functional_base_and_layer_output_errors():
    inputs = gn.Input(shape=(4,))
    base = gn.Model(inputs, layers.Dense(3, activation="tanh", name="body")(inputs))
    base.trainable = False
    head = gn.Model(base.input, layers.Dense(1, activation="sigmoid")(base.output))
    assert base.input is inputs and base.input_shape == (None, 4) and base.output_shape == (None, 3)
    x = np.random.default_rng(7).standard_normal((16, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    frozen = base.get_weights()
    head.compile("adam", "binary_crossentropy")
    head.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(AttributeError, match="not been called on a symbolic input"):
        layers.Dense(2).output
    shared = layers.Dense(2)
    shared(gn.Input(shape=(4,)))
    shared(gn.Input(shape=(4,)))
    with pytest.raises(AttributeError, match="called 2 times"):
        shared.output


def test_a_subclassed_model_may_name_a_sublayer_output():
    class Net(gn.Model):
        def __init__(self):
            super().__init__()
            self.output = layers.Dense(2)

        def call(self, x):
            return self.output(x)

    model = Net()
    assert model(np.zeros((3, 4), np.float32)).shape == (3, 2) and len(model.weights) == 2
