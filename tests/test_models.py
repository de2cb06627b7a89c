"""Models: Sequential construction, summary(), compile/fit/evaluate/predict, History, validation,
determinism, weights, callbacks, the low-level loop, subclassed models, regularization, and the
SPEC facts (forward-pass numbers, parameter counts, XOR, the make_classification exercise)."""

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import glassnet as gn
from glassnet import callbacks, layers, losses, ops, optimizers, regularizers
from glassnet.errors import GlassnetError, NotBuiltError


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def blobs(n=200, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def small_model(features=4, seed_units=8):
    return gn.Sequential([layers.Dense(seed_units, activation="relu", input_shape=(features,)),
                          layers.Dense(1, activation="sigmoid")])


# ====================================================================== construction
def test_sequential_from_list_add_input_and_input_dim_are_equivalent():
    a = gn.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    b = gn.Sequential()
    b.add(layers.Dense(4, input_dim=3))
    b.add(layers.Dense(2))
    c = gn.Sequential([gn.Input(shape=(3,)), layers.Dense(4), layers.Dense(2)])
    d = gn.Sequential([layers.InputLayer(shape=(3,)), layers.Dense(4), layers.Dense(2)])
    for model in (a, b, c, d):
        assert model.built
        assert [w.shape for w in model.weights] == [(3, 4), (4,), (4, 2), (2,)]
        assert len(model.layers) == 2  # the Input is not a layer of the stack
    e = gn.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not e.built
    out = e(np.zeros((5, 3), np.float32))
    assert e.built and out.shape == (5, 2)


def test_sequential_rejects_non_layers_duplicates_and_late_inputs():
    model = gn.Sequential([layers.Dense(2)])
    with pytest.raises(TypeError):
        model.add("dense")
    with pytest.raises(ValueError, match="already"):
        model.add(model.layers[0])
    with pytest.raises(ValueError, match="first"):
        model.add(gn.Input(shape=(3,)))


def test_sequential_input_shape_mismatch_names_the_layer():
    model = gn.Sequential([layers.Dense(4, input_shape=(3,), name="first"), layers.Dense(1)])
    with pytest.raises(gn.errors.ShapeError, match="first"):
        model.predict(np.zeros((2, 5), np.float32), verbose=0)


def test_get_layer_by_name_and_index():
    model = gn.Sequential([layers.Dense(4, input_shape=(3,), name="a"), layers.Dense(1, name="b")])
    assert model.get_layer("b") is model.layers[1]
    assert model.get_layer(index=0).name == "a"
    with pytest.raises(gn.errors.UnknownNameError, match="'a'"):
        model.get_layer("aa")


# ====================================================================== summary
def summary_of(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def test_summary_spec_fact_64_32_1_on_9_inputs():
    model = gn.Sequential([layers.Dense(64, activation="relu", input_shape=(9,)),
                           layers.Dense(32, activation="relu"), layers.Dense(1, activation="sigmoid")])
    assert [layer.count_params() for layer in model.layers] == [640, 2080, 33]
    assert model.count_params() == 2753
    text = summary_of(model)
    assert "Total params: 2,753" in text
    assert "Trainable params: 2,753" in text and "Non-trainable params: 0" in text
    # Keras layout: header row then one row per layer with name (type), output shape, params
    assert 'Model: "sequential"' in text
    for header in ("Layer (type)", "Output Shape", "Param #"):
        assert header in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == 3
    for row, (name, shape, params) in zip(rows, [("dense (Dense)", "(None, 64)", "640"),
                                                  ("dense_1 (Dense)", "(None, 32)", "2,080"),
                                                  ("dense_2 (Dense)", "(None, 1)", "33")]):
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells == [name, shape, params]
    # 2,753 float32 weights = 11,012 bytes = 10.75 KB
    assert "10.75 KB" in text


def test_summary_spec_fact_100_64_10_has_7114_params():
    model = gn.Sequential([gn.Input(shape=(100,)), layers.Dense(64, activation="relu",
                                                                kernel_initializer="he_normal"),
                           layers.Dense(10, activation="softmax")])
    assert model.count_params() == 7114
    assert "Total params: 7,114" in summary_of(model)


def test_summary_counts_non_trainable_and_prints_by_default():
    norm = layers.Normalization()
    norm.adapt(np.random.default_rng(0).standard_normal((20, 5)))
    model = gn.Sequential([gn.Input(shape=(5,)), norm, layers.Dense(2)])
    text = summary_of(model)
    assert "Total params: 22" in text and "Trainable params: 12" in text and "Non-trainable params: 10" in text
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        model.summary()
    assert "Total params: 22" in buffer.getvalue()


def test_summary_of_unbuilt_model_raises_a_clear_error():
    model = gn.Sequential([layers.Dense(3), layers.Dense(1)])
    with pytest.raises(NotBuiltError, match="not been built"):
        model.summary()
    model.build((None, 4))
    assert "Total params: 19" in summary_of(model)


# ====================================================================== compile / fit / evaluate / predict
def test_fit_evaluate_predict_and_history_keys():
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert isinstance(history, callbacks.History) and model.history is history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.history["learning_rate"] == pytest.approx([0.001] * 3)
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(as_dict) == {"loss", "accuracy"} and as_dict["loss"] == pytest.approx(result[0])
    predictions = model.predict(x, verbose=0)
    assert predictions.shape == (200, 1) and predictions.dtype == np.float32
    # predict batches give the same answer as a single call
    np.testing.assert_allclose(model.predict(x, batch_size=7, verbose=0), predictions, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), predictions, rtol=1e-6)
    # evaluate's loss is the mean per-sample loss of predict's outputs
    p = np.clip(predictions[:, 0], 1e-7, 1 - 1e-7)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert as_dict["loss"] == pytest.approx(bce, rel=1e-4)
    assert as_dict["accuracy"] == pytest.approx(np.mean((predictions[:, 0] > 0.5) == y))


def test_fit_reduces_the_loss():
    x, y = blobs(300)
    model = small_model()
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9


def test_fit_verbose_prints_progress():
    x, y = blobs(64)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        model.fit(x, y, epochs=2, batch_size=16, verbose=1)
    text = buffer.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "4/4" in text and "loss:" in text
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        model.fit(x, y, epochs=1, verbose=0)
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
    assert buffer.getvalue() == ""


def test_validation_split_takes_the_last_fraction():
    x, y = blobs(100)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, validation_split=0.2, shuffle=False, verbose=0,
                        batch_size=100)
    # the validation numbers must be those of the last 20 samples with the weights after the epoch
    expected = model.evaluate(x[80:], y[80:], verbose=0, return_dict=True)
    assert history.history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(expected["accuracy"])
    # and training used exactly the first 80 samples: one step of SGD from the same start
    gn.clear_session()
    gn.set_seed(0)
    twin = small_model()
    twin.compile("sgd", "binary_crossentropy")
    gn.set_seed(0)
    twin2 = small_model()
    twin2.compile("sgd", "binary_crossentropy")
    twin2.fit(x[:80], y[:80], epochs=1, batch_size=100, shuffle=False, verbose=0)
    twin.fit(x, y, epochs=1, batch_size=100, shuffle=False, validation_split=0.2, verbose=0)
    for a, b in zip(twin.get_weights(), twin2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validation_data_and_sample_weighted_validation():
    x, y = blobs(120)
    model = small_model()
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:100], y[:100], validation_data=(x[100:], y[100:]), epochs=2, verbose=0)
    expected = model.evaluate(x[100:], y[100:], verbose=0, return_dict=True)
    assert history.history["val_loss"][-1] == pytest.approx(expected["loss"], rel=1e-6)
    history = model.fit(x[:100], y[:100], validation_data=(x[100:], y[100:], np.full(20, 2.0)), epochs=1,
                        verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(2 * model.evaluate(x[100:], y[100:], verbose=0)[0],
                                                             rel=1e-5)
    with pytest.raises(gn.errors.InputError, match="validation_data"):
        model.fit(x, y, validation_data=x, verbose=0)


def test_shuffle_false_is_deterministic_and_order_matters():
    x, y = blobs(64)

    def train(shuffle, seed):
        gn.set_seed(0)
        model = small_model()
        model.compile("sgd", "binary_crossentropy")
        gn.set_seed(seed)
        model.fit(x, y, epochs=2, batch_size=8, shuffle=shuffle, verbose=0)
        return model.get_weights()

    for a, b in zip(train(False, 1), train(False, 2)):
        np.testing.assert_array_equal(a, b)  # no randomness used without shuffling
    assert any(not np.array_equal(a, b) for a, b in zip(train(True, 1), train(True, 2)))


@pytest.mark.parametrize("whole_copy_limit", [None, 1 << 30])
def test_shuffled_fit_trains_on_each_sample_once_per_epoch_without_copying_the_data(whole_copy_limit, monkeypatch):
    """A large data set is gathered batch by batch; a small one (here: the limit raised) copied per epoch."""
    import tracemalloc

    from glassnet.models import model as model_module

    if whole_copy_limit is not None:
        monkeypatch.setattr(model_module, "WHOLE_EPOCH_SHUFFLE_MAX_BYTES", whole_copy_limit)

    class Recorder(layers.Layer):
        def call(self, inputs, training=None):
            if training:  # each row's identity and checksum
                seen.append(np.stack([inputs.data[:, 0], inputs.data.sum(axis=1)], axis=1))
            return inputs

    seen = []
    x = np.random.default_rng(0).standard_normal((6000, 300)).astype(np.float32)
    x[:, 0] = np.arange(len(x))  # each row's identity
    y = np.zeros((len(x), 1), np.float32)
    model = gn.Sequential([layers.Input(shape=(300,)), Recorder(), layers.Dense(1)])
    model.compile("sgd", "mse")
    tracemalloc.start()
    try:
        model.fit(x, y, epochs=2, batch_size=500, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if whole_copy_limit is None:
        assert peak < x.nbytes / 2  # batches are gathered one at a time, not the whole shuffled epoch
    else:
        assert peak > x.nbytes  # the whole shuffled copy
    epochs = [np.concatenate(seen[:12]), np.concatenate(seen[12:])]
    for rows in epochs:
        np.testing.assert_array_equal(np.sort(rows[:, 0]), np.arange(len(x)))
        np.testing.assert_array_equal(rows[:, 1], x.sum(axis=1)[rows[:, 0].astype(int)])  # whole samples
    assert not np.array_equal(epochs[0][:, 0], epochs[1][:, 0])  # a new order every epoch
    assert not np.array_equal(epochs[0][:, 0], np.arange(len(x)))


def test_gathered_and_copied_shuffles_train_identically(monkeypatch):
    x, y = blobs(100)
    weights = np.linspace(0.5, 2.0, len(x)).astype(np.float32)

    def train():
        gn.set_seed(0)
        model = small_model()
        model.compile("adam", "binary_crossentropy")
        model.fit(x, y, sample_weight=weights, epochs=3, batch_size=8, verbose=0)
        return model.get_weights()

    copied = train()
    monkeypatch.setattr("glassnet.models.model.WHOLE_EPOCH_SHUFFLE_MAX_BYTES", 0)
    for a, b in zip(copied, train()):
        np.testing.assert_array_equal(a, b)


def test_set_seed_reproduces_a_whole_fit_bit_for_bit():
    x, y = blobs(100)

    def run():
        gn.clear_session()
        gn.set_seed(123)
        model = gn.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)), layers.Dropout(0.3),
                               layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.2, verbose=0)
        return model.get_weights(), history.history

    (w1, h1), (w2, h2) = run(), run()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2


def test_initial_epoch_and_steps_per_epoch():
    x, y = blobs(64)
    model = small_model()
    model.compile("sgd", "binary_crossentropy")
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4]
    model.fit(x, y, epochs=1, batch_size=8, steps_per_epoch=2, verbose=0)
    assert model.optimizer.iterations == 2 * 2 + 2


# ====================================================================== weights of samples and classes
def per_sample_bce(model, x, y):
    p = np.clip(model.predict(x, verbose=0)[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_sample_weight_changes_the_loss_as_computed_by_hand():
    x, y = blobs(40)
    model = small_model()
    model.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy")
    weights = np.linspace(0.0, 3.0, 40)
    per_sample = per_sample_bce(model, x, y)
    expected = np.sum(weights * per_sample) / 40  # Keras: sum over batch size
    assert model.test_on_batch(x, y, sample_weight=weights) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, sample_weight=weights, batch_size=40, verbose=0) == pytest.approx(expected,
                                                                                                 rel=1e-5)
    assert model.train_on_batch(x, y, sample_weight=weights) == pytest.approx(expected, rel=1e-5)
    assert model.test_on_batch(x, y) == pytest.approx(per_sample.mean(), rel=1e-5)


def test_class_weight_changes_the_loss_as_computed_by_hand():
    x, y = blobs(40)
    model = small_model()
    model.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy")
    per_sample = per_sample_bce(model, x, y)
    class_weight = {0: 0.5, 1: 4.0}
    expected = np.sum(np.where(y == 1, 4.0, 0.5) * per_sample) / 40
    assert model.train_on_batch(x, y, class_weight=class_weight) == pytest.approx(expected, rel=1e-5)
    both = model.train_on_batch(x, y, class_weight=class_weight, sample_weight=np.full(40, 2.0))
    assert both == pytest.approx(2 * expected, rel=1e-5)
    history = model.fit(x, y, class_weight=class_weight, batch_size=40, epochs=1, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_class_weight_applies_to_training_not_validation():
    x, y = blobs(50)
    model = small_model()
    model.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy")
    history = model.fit(x, y, class_weight={0: 10.0, 1: 10.0}, validation_split=0.2, batch_size=50,
                        epochs=1, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(per_sample_bce(model, x[40:], y[40:]).mean(),
                                                           rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(10 * per_sample_bce(model, x[:40], y[:40]).mean(),
                                                       rel=1e-5)


def test_class_weight_with_sparse_labels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    model = gn.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    p = model.predict(x, verbose=0).astype(np.float64)
    per_sample = -np.log(np.clip(p[np.arange(30), y], 1e-7, 1))
    weights = np.array([1.0, 2.0, 0.0])[y]
    loss = model.train_on_batch(x, y, class_weight={1: 2.0, 2: 0.0})
    assert loss == pytest.approx(np.mean(weights * per_sample), rel=1e-5)


# ====================================================================== train_on_batch / test_on_batch
def test_train_on_batch_and_test_on_batch():
    x, y = blobs(32)
    model = small_model()
    model.compile(optimizers.SGD(learning_rate=0.5), "binary_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    loss_before = model.test_on_batch(x, y)
    assert isinstance(loss_before, list) and len(loss_before) == 2
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # test does not train
    result = model.train_on_batch(x, y, return_dict=True)
    assert set(result) == {"loss", "accuracy"}
    assert result["loss"] == pytest.approx(loss_before[0], rel=1e-6)  # loss of the batch before the step
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    for _ in range(20):
        model.train_on_batch(x, y)
    assert model.test_on_batch(x, y)[0] < loss_before[0]
    assert model.optimizer.iterations == 21


def test_train_on_batch_matches_a_hand_sgd_step():
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    y = np.array([[1.0], [0.0]], np.float32)
    model = gn.Sequential([layers.Dense(1, input_shape=(2,), kernel_initializer="ones")])
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    w, b = np.ones((2, 1)), np.zeros(1)
    error = x @ w + b - y  # d mse / d pred = 2 e / N
    grad_w, grad_b = x.T @ (2 * error / 2), (2 * error / 2).sum(axis=0)
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(np.mean(error ** 2))
    np.testing.assert_allclose(model.layers[0].kernel.data, w - 0.1 * grad_w, rtol=1e-6)
    np.testing.assert_allclose(model.layers[0].bias.data, b - 0.1 * grad_b, rtol=1e-6)


# ====================================================================== callbacks
class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_train_end(self, logs=None):
        self.events.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin{epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end{epoch}")
        self.last_logs = dict(logs)

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(f"batch_begin{batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(f"batch_end{batch}")
        assert "loss" in logs

    def on_test_begin(self, logs=None):
        self.events.append("test_begin")

    def on_test_end(self, logs=None):
        self.events.append("test_end")


def test_callback_hooks_order_model_and_params():
    x, y = blobs(20)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    recorder = Recorder()
    model.fit(x, y, epochs=2, batch_size=10, callbacks=[recorder], verbose=0)
    assert recorder.events == ["train_begin",
                               "epoch_begin0", "batch_begin0", "batch_end0", "batch_begin1", "batch_end1",
                               "epoch_end0",
                               "epoch_begin1", "batch_begin0", "batch_end0", "batch_begin1", "batch_end1",
                               "epoch_end1", "train_end"]
    assert recorder.model is model
    assert recorder.params["epochs"] == 2 and recorder.params["steps"] == 2
    assert set(recorder.last_logs) == {"loss", "accuracy", "learning_rate"}
    recorder.events.clear()
    model.evaluate(x, y, callbacks=[recorder], verbose=0)
    assert recorder.events == ["test_begin", "test_end"]


def test_validation_during_fit_calls_test_hooks():
    x, y = blobs(20)
    model = small_model()
    model.compile("sgd", "binary_crossentropy")
    recorder = Recorder()
    model.fit(x, y, epochs=1, batch_size=20, validation_split=0.5, callbacks=[recorder], verbose=0)
    assert recorder.events == ["train_begin", "epoch_begin0", "batch_begin0", "batch_end0", "test_begin",
                               "test_end", "epoch_end0", "train_end"]


def test_stop_training_from_a_callback():
    x, y = blobs(40)

    class StopAfter(callbacks.Callback):
        def __init__(self, batches):
            super().__init__()
            self.batches, self.seen = batches, 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == self.batches:
                self.model.stop_training = True

    model = small_model()
    model.compile("sgd", "binary_crossentropy")
    history = model.fit(x, y, epochs=10, batch_size=10, callbacks=[StopAfter(6)], verbose=0)
    assert history.epoch == [0, 1]  # stopped during the second epoch, after its 2nd batch
    assert model.optimizer.iterations == 6

    class StopAtEpochEnd(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True

    history = model.fit(x, y, epochs=10, callbacks=[StopAtEpochEnd()], verbose=0)
    assert len(history.history["loss"]) == 3


def test_history_is_fresh_for_each_fit():
    x, y = blobs(20)
    model = small_model()
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, y, epochs=3, verbose=0)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_progbar_and_progbar_logger_output():
    from glassnet.progbar import Progbar

    stream = io.StringIO()
    bar = Progbar(10, stream=stream)
    bar.update(5, {"loss": 0.5})
    assert stream.getvalue() == ""  # not a terminal: written once, at the end
    bar.update(10, {"loss": 0.25, "accuracy": 0.875})
    line = stream.getvalue()
    assert line.startswith("10/10") and "loss: 0.2500" in line and "accuracy: 0.8750" in line
    assert line.endswith("\n")
    x, y = blobs(30)
    model = small_model()
    model.compile("sgd", "binary_crossentropy")
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        model.fit(x, y, epochs=1, batch_size=10, verbose=2)
    assert "3/3" in buffer.getvalue() and "Epoch 1/1" in buffer.getvalue()


# ====================================================================== the low-level loop
def test_low_level_loop_decreases_the_loss():
    x, y = blobs(64)
    y = y.reshape(-1, 1)
    model = small_model()
    loss_fn = losses.BinaryCrossentropy()
    optimizer = optimizers.SGD(learning_rate=0.5)
    model(x[:1])  # build
    first = None
    for _ in range(30):
        loss = loss_fn(y, model(x))
        model.zero_grad()
        loss.backward()
        optimizer.step(model.parameters())
        first = float(loss.data) if first is None else first
    final = float(loss_fn(y, model(x)).data)
    assert final < 0.7 * first
    assert all(w.grad is not None for w in model.parameters())
    model.zero_grad()
    assert all(w.grad is None for w in model.weights)


def test_pytorch_style_optimizer_construction_in_the_loop():
    x, y = blobs(64)
    model = small_model()
    optimizer = optimizers.Adam(model.parameters(), lr=0.05)
    loss_fn = losses.get("binary_crossentropy")
    start = float(loss_fn(y, model(x)).data)
    for _ in range(20):
        optimizer.zero_grad()
        loss = loss_fn(y, model(x, training=True))
        loss.backward()
        optimizer.step()
    assert float(loss_fn(y, model(x)).data) < 0.7 * start


# ====================================================================== subclassed models
class TwoLayer(gn.Model):
    def __init__(self, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(hidden, activation="tanh")
        self.drop = layers.Dropout(0.2)
        self.out = layers.Dense(1, activation="sigmoid")

    def call(self, inputs, training=False):
        return self.out(self.drop(self.hidden(inputs), training=training))


def test_subclassed_model_trains_and_summarises():
    x, y = blobs(100)
    model = TwoLayer()
    model.compile(optimizers.Adam(0.02), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(model.trainable_weights) == 4 and model.count_params() == 4 * 8 + 8 + 8 + 1
    assert [layer.name for layer in model.layers] == ["dense", "dropout", "dense_1"]
    text = summary_of(model)
    assert "Total params: 49" in text and "dense (Dense)" in text and "(None, 8)" in text
    predictions = model.predict(x, verbose=0)
    np.testing.assert_array_equal(predictions, model.predict(x, verbose=0))  # dropout off at inference


# ====================================================================== regularization
def test_regularizer_penalties_are_added_to_the_loss_exactly():
    x, y = blobs(16)
    model = gn.Sequential([
        layers.Dense(5, activation="relu", input_shape=(4,), kernel_regularizer=regularizers.L1(0.01),
                     bias_initializer="ones", bias_regularizer=regularizers.L2(0.1)),
        layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizers.L1L2(l1=0.02, l2=0.03))])
    model.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy")
    k1, b1, k2, _ = [w.astype(np.float64) for w in model.get_weights()]
    penalty = (0.01 * np.abs(k1).sum() + 0.1 * np.square(b1).sum()
               + 0.02 * np.abs(k2).sum() + 0.03 * np.square(k2).sum())
    data_loss = per_sample_bce(model, x, y).mean()
    assert model.test_on_batch(x, y) == pytest.approx(data_loss + penalty, rel=1e-5)
    assert sum(float(l.data) for l in model.losses) == pytest.approx(penalty, rel=1e-6)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data_loss + penalty, rel=1e-5)


def test_l2_gradient_step_matches_by_hand():
    model = gn.Sequential([layers.Dense(1, input_shape=(1,), use_bias=False, kernel_initializer="ones",
                                        kernel_regularizer=regularizers.L2(0.5))])
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    x, y = np.array([[0.0]], np.float32), np.array([[0.0]], np.float32)  # data loss has zero gradient
    loss = model.train_on_batch(x, y)
    assert loss == pytest.approx(0.5)  # λ·w² = 0.5
    np.testing.assert_allclose(model.get_weights()[0], [[1.0 - 0.1 * 2 * 0.5 * 1.0]])


# ====================================================================== SPEC facts
def test_spec_forward_propagation_example():
    np.random.seed(42)
    w1 = np.random.randn(4, 3)
    b1 = np.random.randn(4, 1)
    w2 = np.random.randn(1, 4)
    b2 = np.random.randn(1, 1)
    x = np.array([[1.0, 0.5, -1.5]])
    model = gn.Sequential([gn.Input(shape=(3,)), layers.Dense(4, activation="relu"),
                           layers.Dense(1, activation="sigmoid")])
    model.set_weights([w1.T, b1.ravel(), w2.T, b2.ravel()])
    hidden = model.layers[0]
    z1 = ops.dense(gn.tensor(x, dtype="float32"), hidden.kernel, hidden.bias).data
    np.testing.assert_allclose(z1[0], [-0.301989, -0.156122, 0.942224, 0.447158], atol=1e-6)
    linear_twin = layers.Dense(4)
    linear_twin(x)
    linear_twin.set_weights(hidden.get_weights())
    np.testing.assert_allclose(linear_twin(x).data[0], [-0.301989, -0.156122, 0.942224, 0.447158], atol=1e-6)
    a2 = model.predict(x, verbose=0)
    assert a2.shape == (1, 1)
    assert a2[0, 0] == pytest.approx(0.494641, abs=1e-6)


def test_mlp_learns_xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0], np.float32)
    model = gn.Sequential([layers.Dense(8, activation="tanh", input_shape=(2,)),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=300, batch_size=4, verbose=0)
    assert model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] == 1.0
    np.testing.assert_array_equal((model.predict(x, verbose=0)[:, 0] > 0.5).astype(np.float32), y)


def test_python_lists_are_accepted_as_data():
    model = gn.Sequential([layers.Dense(4, activation="tanh", input_shape=(2,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0], epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict([[0, 0], [1, 1]], verbose=0).shape == (2, 1)
    assert len(model.evaluate([[0.0, 1.0]], [1], verbose=0)) == 2


def test_spec_exercise_12_make_classification():
    pytest.importorskip("sklearn")
    from glassnet import datasets, metrics

    x, y = datasets.make_classification(1000, 20, random_state=42)
    x_train, x_test, y_train, y_test = datasets.train_test_split(x, y, test_size=0.2, seed=42)
    assert len(x_train) == 800 and len(x_test) == 200
    # Test accuracy over initialisation seeds spreads over ~0.84-0.90 (PyTorch with the same recipe:
    # mean 0.863, min 0.84; a Keras run of the exercise reached 0.865); seed 42 is one fixed draw.
    gn.set_seed(42)
    model = gn.Sequential([layers.Dense(64, activation="relu", input_shape=(20,)),
                           layers.Dense(32, activation="relu"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.85
    predicted = (model.predict(x_test, verbose=0)[:, 0] > 0.5).astype(int)
    assert np.mean(predicted == y_test) == pytest.approx(accuracy)
    report = metrics.classification_report(y_test, predicted)
    print(report)
    assert "precision" in report and "recall" in report


# ====================================================================== PyTorch parity
def test_mlp_forward_and_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    model = gn.Sequential([layers.Dense(7, activation="tanh", input_shape=(5,), dtype="float64"),
                           layers.Dense(4, activation="relu", dtype="float64"),
                           layers.Dense(3, dtype="float64")], dtype="float64")
    model.set_weights([rng.standard_normal(w.shape) for w in model.weights])
    logits = model(x)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    model.zero_grad()
    loss.backward()

    k1, b1, k2, b2, k3, b3 = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    tx = torch.tensor(x)
    t_logits = torch.relu(torch.tanh(tx @ k1 + b1) @ k2 + b2) @ k3 + b3
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.tensor(y))
    t_loss.backward()
    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert float(loss.data) == pytest.approx(t_loss.item(), rel=1e-12)
    for w, tw in zip(model.weights, (k1, b1, k2, b2, k3, b3)):
        np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_fit_before_compile_is_a_clear_error():
    model = small_model()
    with pytest.raises(GlassnetError, match="compile"):
        model.fit(*blobs(10), verbose=0)
    with pytest.raises(GlassnetError, match="compile"):
        model.evaluate(*blobs(10), verbose=0)
    assert model.predict(blobs(10)[0], verbose=0).shape == (10, 1)  # predict needs no compile


# ====================================================================== more training details
def test_custom_metric_function_in_fit_with_validation_and_evaluate():
    def abs_error(y_true, y_pred):
        return np.abs(np.asarray(y_true).reshape(-1) - np.asarray(y_pred).reshape(-1))

    x, y = blobs(50)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=[abs_error, "accuracy"])
    model.evaluate(x, y, verbose=0)  # evaluate before any fit must not break later training
    history = model.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    assert {"abs_error", "val_abs_error"} <= set(history.history)
    expected = np.mean(np.abs(y[40:] - model.predict(x[40:], verbose=0)[:, 0]))
    assert history.history["val_abs_error"][-1] == pytest.approx(expected, rel=1e-5)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["abs_error"] == pytest.approx(np.mean(np.abs(y - model.predict(x, verbose=0)[:, 0])), rel=1e-5)


def test_evaluate_does_not_depend_on_the_batch_size():
    x, y = blobs(103)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    weights = np.random.default_rng(2).uniform(0, 2, 103)
    full = model.evaluate(x, y, batch_size=103, sample_weight=weights, verbose=0)
    for batch_size in (1, 7, 32, 200):
        np.testing.assert_allclose(model.evaluate(x, y, batch_size=batch_size, sample_weight=weights, verbose=0),
                                   full, rtol=1e-5)


def test_frozen_layer_is_not_updated_by_fit():
    x, y = blobs(40)
    model = small_model()
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    head = model.layers[1].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(head, model.layers[1].get_weights()))
    assert "Non-trainable params: 40" in summary_of(model)


def test_fit_with_every_layer_frozen_warns_and_still_reports_loss_and_metrics():
    x, y = blobs(40)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    for layer in model.layers:
        layer.trainable = False
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        history = model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert history.history["loss"][-1] == pytest.approx(expected["loss"], rel=1e-5)
    assert history.history["accuracy"][-1] == pytest.approx(expected["accuracy"])


def test_activity_regularizer_is_part_of_the_training_loss():
    x, y = blobs(16)
    model = gn.Sequential([layers.Dense(3, activation="relu", input_shape=(4,),
                                        activity_regularizer=regularizers.L2(0.05)),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy")
    hidden = np.maximum(x @ model.layers[0].kernel.data + model.layers[0].bias.data, 0).astype(np.float64)
    expected = per_sample_bce(model, x, y).mean() + 0.05 * np.sum(hidden ** 2)
    assert model.test_on_batch(x, y) == pytest.approx(expected, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-5)


def test_nested_sequential_trains_and_summarises():
    x, y = blobs(40)
    inner = gn.Sequential([layers.Dense(5, activation="relu"), layers.Dense(3, activation="relu")], name="inner")
    model = gn.Sequential([gn.Input(shape=(4,)), inner, layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    assert len(model.trainable_weights) == 6
    text = summary_of(model)
    assert "inner (Sequential)" in text and "(None, 3)" in text and "Total params: 47" in text


def test_subclassed_model_build_creates_weights_and_first_call_runs_once():
    class Counting(gn.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = 0
            self.dense = layers.Dense(3)

        def call(self, inputs):
            self.calls += 1
            return self.dense(inputs)

    built = Counting()
    built.build((None, 5))
    assert built.built and built.count_params() == 18
    called = Counting()
    called(np.ones((2, 5), np.float32))
    assert called.calls == 1 and called.count_params() == 18


def test_sequential_adopts_its_input_dtype():
    """Sequential([Input(dtype='float64'), Dense(dtype='float64')]) computes in float64 end to end."""
    model = gn.Sequential([gn.Input(shape=(3,), dtype="float64"), layers.Dense(2, dtype="float64")])
    assert model.dtype == "float64"
    x = np.full((1, 3), 1 / 3)  # not exactly representable in float32
    out = model.predict(x, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-15)
    assert gn.Sequential([gn.Input(shape=(3,)), layers.Dense(2)]).dtype == "float32"


# ====================================================================== metrics, weights and masks (Keras)
def _accuracies(model, x, y):
    """Per-sample correctness of a one-unit sigmoid model's predictions."""
    return (model.predict(x, verbose=0)[:, 0] > 0.5) == y


def test_metrics_ignore_sample_and_class_weights_and_weighted_metrics_use_them():
    x, y = blobs(100)
    weights = np.where(y == 1, 10.0, 1.0)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy", "accuracy"], weighted_metrics=["accuracy"])
    result = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    correct = _accuracies(model, x, y)
    assert result["accuracy"] == pytest.approx(correct.mean())
    assert result["accuracy_1"] == pytest.approx(correct.mean())  # a second copy gets a suffix
    assert result["weighted_accuracy"] == pytest.approx(np.sum(correct * weights) / weights.sum())
    assert model.metrics_names == ["loss", "accuracy", "accuracy_1", "weighted_accuracy"]
    # class_weight is a sample weight: it reaches the weighted metric only
    history = model.fit(x, y, class_weight={0: 1.0, 1: 10.0}, epochs=1, batch_size=100, verbose=0,
                        shuffle=False)
    assert history.history["accuracy"][0] == pytest.approx(correct.mean())
    assert history.history["weighted_accuracy"][0] == pytest.approx(np.sum(correct * weights) / weights.sum())


def test_weighted_metrics_round_trip_through_a_saved_model(tmp_path):
    x, y = blobs(40)
    model = small_model()
    model.compile("sgd", "binary_crossentropy", weighted_metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.glassnet")
    loaded = gn.load_model(tmp_path / "m.glassnet")
    weights = np.linspace(0.1, 2.0, len(y))
    assert loaded.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True))
    assert loaded.get_compile_config()["weighted_metrics"] == ["accuracy"]


def test_metrics_of_a_masked_sequence_output_count_the_unmasked_steps_only():
    gn.set_seed(3)
    x = np.array([[1, 2, 0, 0], [3, 4, 5, 0], [2, 0, 0, 0]])
    y = np.array([[1, 2, 0, 0], [1, 2, 1, 0], [2, 0, 0, 0]])
    inputs = gn.Input(shape=(4,))
    hidden = layers.LSTM(5, return_sequences=True)(layers.Embedding(6, 4, mask_zero=True)(inputs))
    model = gn.Model(inputs, layers.Dense(3, activation="softmax")(hidden))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
    steps = x != 0
    correct = model.predict(x, verbose=0).argmax(-1) == y
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["accuracy"] == pytest.approx(correct[steps].mean())
    weights = np.array([1.0, 3.0, 0.5])  # per sample, times the mask
    result = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    per_step = weights[:, None] * steps
    assert result["weighted_accuracy"] == pytest.approx(np.sum(correct * per_step) / per_step.sum())
    assert result["accuracy"] == pytest.approx(correct[steps].mean())


def test_weighted_metric_names_of_a_multi_output_model():
    inputs = gn.Input(shape=(4,))
    model = gn.Model(inputs, {"a": layers.Dense(1, activation="sigmoid")(inputs),
                              "b": layers.Dense(1, activation="sigmoid")(inputs)})
    model.compile("sgd", {"a": "binary_crossentropy", "b": "binary_crossentropy"},
                  metrics={"a": ["accuracy"]}, weighted_metrics=["accuracy"])
    x, y = blobs(30)
    result = model.evaluate(x, {"a": y, "b": y}, sample_weight=np.linspace(0, 1, 30), verbose=0, return_dict=True)
    assert {"a_accuracy", "a_weighted_accuracy", "b_accuracy"} <= set(result)


# ---------------------------------------------------------------- clone_model
def _assert_fresh_clone(model, clone, x):
    """Same architecture, new weights (no shared arrays, other values); equal outputs once weights are copied."""
    assert clone is not model and type(clone) is type(model)
    assert clone.get_config() == model.get_config()
    old, new = model.weights, clone.weights
    assert [w.shape for w in new] == [w.shape for w in old] and len(new) > 0
    assert not {id(w) for w in new} & {id(w) for w in old}
    assert not {id(w.data) for w in new} & {id(w.data) for w in old}
    random_weights = [(a, b) for a, b in zip(old, new) if a.data.std() > 0]  # kernels, not zero biases
    assert random_weights and all(not np.array_equal(a.data, b.data) for a, b in random_weights)
    clone.set_weights(model.get_weights())
    expected = model.predict(x, verbose=0)
    for got, want in zip(gn.training.flatten_structure(clone.predict(x, verbose=0)),
                         gn.training.flatten_structure(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_clone_sequential_model_has_fresh_weights_and_trains_independently():
    model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                           layers.Dense(1, activation="sigmoid")], name="seq")
    x, y = blobs()
    clone = gn.models.clone_model(model)
    assert clone.name == "seq" and clone.output_shapes() == model.output_shapes()
    _assert_fresh_clone(model, clone, x)
    before = model.get_weights()
    clone.compile(optimizer="adam", loss="binary_crossentropy")
    clone.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights()):  # training the clone leaves the original alone
        np.testing.assert_array_equal(a, b)
    assert not model.compiled


def test_clone_sequential_without_an_input_shape_builds_on_first_call():
    model = gn.Sequential([layers.Dense(3), layers.Dense(2)])
    x = np.ones((2, 5), np.float32)
    model(x)
    clone = gn.models.clone_model(model)
    assert not clone.built
    assert clone(x).shape == (2, 2) and [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_clone_functional_model_keeps_shared_layers_nesting_and_structure():
    a, b = gn.Input(shape=(5,), name="a"), gn.Input(shape=(5,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    inner = gn.Sequential([gn.Input(shape=(8,)), layers.Dense(3)], name="inner")
    merged = layers.Concatenate()([shared(a), shared(b)])
    model = gn.Model([a, b], {"score": layers.Dense(1, name="score")(inner(merged)), "code": merged}, name="f")
    clone = gn.models.clone_model(model)
    x = [np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32) for _ in range(2)]
    _assert_fresh_clone(model, clone, x)
    assert len(clone.weights) == len(model.weights) == 6  # the shared Dense is cloned once, still shared
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert all(new is not old for new, old in zip(clone.layers, model.layers))
    assert set(clone.predict(x, verbose=0)) == {"score", "code"}


def test_clone_functional_with_unknown_axes_input_tensors_and_clone_function():
    inputs = gn.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(50, 8)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(6, 3, activation="relu")(x)
    model = gn.Model(inputs, layers.Dense(1)(layers.GlobalMaxPooling1D()(x)))
    tokens = np.random.default_rng(1).integers(0, 50, (4, 11))
    _assert_fresh_clone(model, gn.models.clone_model(model), tokens)
    new_input = gn.Input(shape=(None,), dtype="int64", name="tokens")
    without_dropout = gn.models.clone_model(
        model, input_tensors=new_input,
        clone_function=lambda layer: layers.Identity() if isinstance(layer, layers.Dropout) else
        type(layer).from_config(layer.get_config()))
    assert without_dropout.inputs == [new_input]
    assert not any(isinstance(layer, layers.Dropout) for layer in without_dropout.layers)
    with pytest.raises(ValueError, match="1 inputs"):
        gn.models.clone_model(model, input_tensors=[new_input, gn.Input(shape=(3,))])


def test_clone_subclassed_model_from_its_config_and_refuses_graph_arguments():
    class Tiny(gn.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {"units": self.units, "name": self.name}

    model = Tiny(3, name="tiny")
    model(np.ones((1, 4), np.float32))
    clone = gn.models.clone_model(model)
    assert type(clone) is Tiny and clone.units == 3 and clone is not model
    with pytest.raises(ValueError, match="subclassed"):
        gn.models.clone_model(model, clone_function=lambda layer: layer)
    with pytest.raises(TypeError, match="glassnet model"):
        gn.models.clone_model("model")
