"""Callbacks: EarlyStopping, ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger,
TerminateOnNaN, LambdaCallback, TensorBoard, and how CallbackList dispatches hooks (Keras 3 rules)."""

import csv
import os
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import glassnet as gn
from glassnet import callbacks as C
from glassnet import layers, ops, schedules
from glassnet.errors import FileFormatError, UnknownNameError


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


# ====================================================================== helpers
def regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ np.array([[2.0], [-1.0], [0.5]])).astype(np.float32)
    return x, y


def overfitting_run():
    """A linear model trained on y = f(x) and validated on y = f(x)/2, from zero weights: the
    validation loss falls until the weights pass half way (epoch 5), then rises."""
    x, y = regression()
    model = gn.Sequential([layers.Dense(1, input_shape=(3,), kernel_initializer="zeros")])
    model.compile(gn.optimizers.SGD(0.05), "mse")
    return model, x, y, (x, 0.5 * y)


class WeightRecorder(C.LambdaCallback):
    """Keeps the weights as they are at the end of every epoch."""

    def __init__(self):
        self.weights = {}
        super().__init__(on_epoch_end=lambda epoch, logs: self.weights.__setitem__(epoch, self.model.get_weights()))


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


class FakeModel:
    """What a monitoring callback touches: stop_training, get/set_weights (the epoch number), an optimizer."""

    def __init__(self, lr=0.01):
        self.stop_training = False
        self.weights = -1
        self.optimizer = SimpleNamespace(learning_rate=lr)

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def run_monitor(callback, values, key="loss", stop_at=None):
    """Feed ``values`` as epoch logs to ``callback`` (weights = epoch number); returns epochs run."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin({})
    epochs = 0
    for epoch, value in enumerate(values):
        epochs += 1
        model.weights = epoch
        callback.on_epoch_end(epoch, {key: value})
        if stop_at == epoch:
            model.stop_training = True
        if model.stop_training:
            break
    callback.on_train_end({})
    return epochs


# ====================================================================== CallbackList and LambdaCallback
def test_lambda_callback_hook_order_and_keras_call_conventions():
    x, y = regression(20)
    events = []
    record = C.LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin", dict(logs))),
        on_epoch_begin=lambda epoch, logs: events.append((f"epoch_begin{epoch}", dict(logs))),
        on_train_batch_begin=lambda batch, logs: events.append((f"batch_begin{batch}", dict(logs))),
        on_train_batch_end=lambda batch, logs: events.append((f"batch_end{batch}", sorted(logs))),
        on_test_begin=lambda logs: events.append(("test_begin", dict(logs))),
        on_test_end=lambda logs: events.append(("test_end", sorted(logs))),
        on_epoch_end=lambda epoch, logs: events.append((f"epoch_end{epoch}", sorted(logs))),
        on_train_end=lambda logs: events.append(("train_end", sorted(logs))))
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, batch_size=10, validation_data=(x, y), callbacks=[record], verbose=0)
    names = [name for name, _ in events]
    epoch = ["batch_begin0", "batch_end0", "batch_begin1", "batch_end1", "test_begin", "test_end"]
    assert names == (["train_begin", "epoch_begin0"] + epoch + ["epoch_end0", "epoch_begin1"] + epoch
                     + ["epoch_end1", "train_end"])
    logs = dict(events)
    assert logs["train_begin"] == {} and logs["epoch_begin0"] == {} and logs["batch_begin0"] == {}
    assert logs["batch_end1"] == ["loss"]
    assert logs["epoch_end1"] == ["learning_rate", "loss", "val_loss"]
    assert logs["test_end"] == ["loss"]


def test_lambda_callback_rejects_unknown_hooks_and_non_functions():
    with pytest.raises(UnknownNameError, match="on_epoch_end"):
        C.LambdaCallback(on_epoch_ends=lambda epoch, logs: None)
    with pytest.raises(TypeError, match="on_epoch_end"):
        C.LambdaCallback(on_epoch_end="print")


def test_callback_list_only_calls_overridden_hooks_including_keras2_batch_aliases():
    class OldStyle(C.Callback):  # Keras 2 name of on_train_batch_end
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_end(self, batch, logs=None):
            self.batches.append((batch, sorted(logs)))

    old = OldStyle()
    epoch_only = C.LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    hooks = C.CallbackList([old, epoch_only])
    assert hooks.wants("on_train_batch_end") and not hooks.wants("on_train_batch_begin")
    assert not C.CallbackList([epoch_only]).wants("on_train_batch_end")
    # Per-epoch ModelCheckpoint / TensorBoard do not make fit build logs after every batch.
    assert not C.CallbackList([C.ModelCheckpoint("m.glassnet")]).wants("on_train_batch_end")
    assert C.CallbackList([C.ModelCheckpoint("m.glassnet", save_freq=3)]).wants("on_train_batch_end")
    x, y = regression(20)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, batch_size=10, callbacks=[old], verbose=0)
    assert old.batches == [(0, ["loss"]), (1, ["loss"])]


# ====================================================================== EarlyStopping
@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_early_stopping_patience_counts_epochs_without_improvement(patience):
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]  # best at epoch 2, never beaten
    stopper = C.EarlyStopping(monitor="loss", patience=patience)
    epochs = run_monitor(stopper, losses)
    assert stopper.stopped_epoch == max(patience, 1) + 2  # Keras 3's own check
    assert epochs == stopper.stopped_epoch + 1 and stopper.best == 8.0


def test_early_stopping_min_delta_ignores_small_improvements():
    losses = [1.0, 0.9, 0.88, 0.87, 0.86]
    assert run_monitor(C.EarlyStopping(monitor="loss", patience=1), losses) == 5
    stopper = C.EarlyStopping(monitor="loss", patience=1, min_delta=-0.05)  # the sign does not matter
    assert stopper.min_delta == 0.05
    assert run_monitor(stopper, losses) == 3 and stopper.stopped_epoch == 2 and stopper.best == 0.9


def test_early_stopping_mode_max_for_accuracy_and_auto_direction():
    accuracies = [0.5, 0.6, 0.6, 0.55, 0.7]
    stopper = C.EarlyStopping(monitor="val_accuracy", patience=1)
    assert run_monitor(stopper, accuracies, key="val_accuracy") == 3 and stopper.best == 0.6
    assert stopper.monitor_op is np.greater
    # In min mode the same numbers stop at once (0.6 is worse than 0.5).
    stopper = C.EarlyStopping(monitor="val_accuracy", patience=0, mode="min")
    assert run_monitor(stopper, accuracies, key="val_accuracy") == 2
    # mode='auto' asks the compiled metrics, then the metric's name.
    x, y = regression(20)
    labels = (y[:, 0] > 0).astype(np.float32)
    model = gn.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy", "auc", "mse", "precision"])
    cases = {"val_accuracy": np.greater, "auc": np.greater, "val_precision": np.greater, "val_mse": np.less,
             "loss": np.less, "val_loss": np.less}
    for monitor, op in cases.items():
        stopper = C.EarlyStopping(monitor=monitor, patience=10)
        model.fit(x, labels, epochs=1, validation_data=(x, labels), callbacks=[stopper], verbose=0)
        assert stopper.monitor_op is op, monitor
    assert C.monitor_direction("val_top3_acc") == "max" and C.monitor_direction("val_mean_error") == "min"
    with pytest.raises(ValueError, match="mode='max'"):  # a name nobody can classify
        run_monitor(C.EarlyStopping(monitor="val_zorp"), [1.0], key="val_zorp")
    with pytest.warns(UserWarning, match="unknown"):
        assert C.EarlyStopping(mode="maximum").mode == "auto"


def test_early_stopping_baseline():
    # Nothing beats the baseline 0.5: training runs `patience` epochs, then the best of them is restored.
    stopper = C.EarlyStopping(monitor="val_loss", patience=5, baseline=0.5, restore_best_weights=True)
    epochs = run_monitor(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], key="val_loss")
    assert epochs == 5 and stopper.model.weights == 2
    # Without the baseline the improvements of epochs 1 and 2 reset the count.
    stopper = C.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    assert run_monitor(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], key="val_loss") == 6
    # Beating the baseline resets the count like any improvement.
    stopper = C.EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    assert run_monitor(stopper, [0.9, 0.4, 0.45, 0.46, 0.47], key="val_loss") == 4


def test_early_stopping_start_from_epoch():
    losses = [5.0, 6.0, 7.0, 3.0, 3.0, 3.0]
    assert run_monitor(C.EarlyStopping(monitor="loss"), losses) == 2
    stopper = C.EarlyStopping(monitor="loss", start_from_epoch=3)
    assert run_monitor(stopper, losses) == 5 and stopper.stopped_epoch == 4 and stopper.best == 3.0
    # Real training: warm-up epochs never stop the run.
    model, x, y, validation = overfitting_run()
    history = model.fit(x, y, epochs=20, batch_size=64, validation_data=validation, verbose=0,
                        callbacks=[C.EarlyStopping(start_from_epoch=12)])
    assert len(history.epoch) == 14  # epochs 0-11 ignored, 12 is the first best, 13 is worse


def test_early_stopping_restores_best_weights_when_it_stops():
    model, x, y, validation = overfitting_run()
    recorder = WeightRecorder()
    stopper = C.EarlyStopping(patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, batch_size=64, validation_data=validation, verbose=0,
                        callbacks=[recorder, stopper])
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert best == 5 and stopper.best_epoch == best and len(val) == best + 3  # stopped 2 epochs after the best
    assert stopper.stopped_epoch == best + 2 and model.stop_training
    assert same_weights(model.get_weights(), recorder.weights[best])
    assert not same_weights(model.get_weights(), recorder.weights[len(val) - 1])
    assert model.evaluate(*validation, verbose=0) == pytest.approx(min(val), rel=1e-5)


def test_early_stopping_restores_best_weights_at_the_end_even_without_stopping():
    model, x, y, validation = overfitting_run()
    recorder = WeightRecorder()
    stopper = C.EarlyStopping(patience=50, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=64, validation_data=validation, verbose=0,
                        callbacks=[recorder, stopper])
    assert len(history.epoch) == 10 and stopper.stopped_epoch == 0
    assert same_weights(model.get_weights(), recorder.weights[5])
    # restore_best_weights=False keeps the last weights.
    model, x, y, validation = overfitting_run()
    recorder = WeightRecorder()
    model.fit(x, y, epochs=10, batch_size=64, validation_data=validation, verbose=0,
              callbacks=[recorder, C.EarlyStopping(patience=2)])
    assert same_weights(model.get_weights(), recorder.weights[7])


def test_early_stopping_missing_monitor_warns_and_training_goes_on():
    x, y = regression(20)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=["mae"])
    with pytest.warns(UserWarning, match=r"`val_loss`.*Available metrics are: loss,mae,learning_rate"):
        history = model.fit(x, y, epochs=3, callbacks=[C.EarlyStopping(patience=0)], verbose=0)
    assert len(history.epoch) == 3


def test_early_stopping_can_be_reused():
    stopper = C.EarlyStopping(monitor="loss", patience=1)
    assert run_monitor(stopper, [3.0, 2.0, 2.5, 2.6]) == 3
    assert run_monitor(stopper, [9.0, 8.0, 7.0, 6.0]) == 4  # the old best (2.0) is forgotten
    assert stopper.best == 6.0 and stopper.stopped_epoch == 0


# ====================================================================== ModelCheckpoint
def test_model_checkpoint_filepath_template(tmp_path):
    model, x, y, validation = overfitting_run()
    recorder = WeightRecorder()
    template = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.4f}.glassnet")
    history = model.fit(x, y, epochs=3, batch_size=64, validation_data=validation, verbose=0,
                        callbacks=[recorder, C.ModelCheckpoint(template)])
    expected = sorted(f"model-{e + 1:02d}-{v:.4f}.glassnet" for e, v in enumerate(history.history["val_loss"]))
    assert sorted(os.listdir(tmp_path / "ckpt")) == expected  # and no temporary files left behind
    loaded = gn.load_model(tmp_path / "ckpt" / expected[1])
    assert same_weights(loaded.get_weights(), recorder.weights[1])
    with pytest.raises(KeyError, match="val_acc.*Available keys"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(str(tmp_path / "m-{val_acc}.glassnet"))])


def test_model_checkpoint_save_best_only_keeps_the_best_model(tmp_path):
    model, x, y, validation = overfitting_run()
    recorder = WeightRecorder()
    path = tmp_path / "best.glassnet"
    checkpoint = C.ModelCheckpoint(path, save_best_only=True)
    history = model.fit(x, y, epochs=10, batch_size=64, validation_data=validation, verbose=0,
                        callbacks=[recorder, checkpoint])
    val = history.history["val_loss"]
    assert int(np.argmin(val)) == 5 and val[-1] > min(val)  # later epochs were worse and not saved
    best = gn.load_model(path)
    assert best.evaluate(*validation, verbose=0) == pytest.approx(min(val), rel=1e-5)
    assert same_weights(best.get_weights(), recorder.weights[5])
    assert checkpoint.best == min(val)
    # A threshold nothing beats: no file at all.
    model, x, y, validation = overfitting_run()
    never = tmp_path / "never.glassnet"
    model.fit(x, y, epochs=3, batch_size=64, validation_data=validation, verbose=0,
              callbacks=[C.ModelCheckpoint(never, save_best_only=True, initial_value_threshold=1e-3)])
    assert not never.exists()


def test_model_checkpoint_weights_only_and_mode_max(tmp_path):
    x, y = regression(40)
    labels = (y[:, 0] > 0).astype(np.float32)
    model = gn.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    recorder = WeightRecorder()
    path = tmp_path / "best.weights"
    history = model.fit(x, labels, epochs=6, batch_size=8, validation_data=(x, labels), verbose=0,
                        callbacks=[recorder, C.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True,
                                                               save_weights_only=True)])
    accuracy = history.history["val_accuracy"]
    first_best = int(np.argmax(accuracy))  # ties do not count as improvements
    fresh = gn.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(1, activation="sigmoid")])
    fresh.load_weights(path)
    assert same_weights(fresh.get_weights(), recorder.weights[first_best])
    with pytest.raises(FileFormatError):  # only weights: not a model file
        gn.load_model(path)


def test_model_checkpoint_every_n_batches(tmp_path):
    x, y = regression(40)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, batch_size=10, verbose=0,
              callbacks=[C.ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.glassnet"), save_freq=2)])
    assert sorted(os.listdir(tmp_path)) == ["m-1-2.glassnet", "m-1-4.glassnet", "m-2-2.glassnet", "m-2-4.glassnet"]
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("m.glassnet", save_freq="batch")


# ====================================================================== LearningRateScheduler
def test_learning_rate_scheduler_step_decay_value_and_effect():
    """SPEC: step decay (0.01, 0.5, 10) gives 0.005 at epoch 10 — and SGD really steps with it."""
    x, y = regression(32)
    model = gn.Sequential([layers.Dense(1, use_bias=False, input_shape=(3,))])
    model.compile(gn.optimizers.SGD(0.1), "mse")
    at_begin = {}
    record = C.LambdaCallback(on_epoch_begin=lambda epoch, logs: at_begin.__setitem__(epoch, model.get_weights()[0]))
    recorder = WeightRecorder()
    history = model.fit(x, y, epochs=12, batch_size=32, verbose=0, shuffle=False,
                        callbacks=[C.LearningRateScheduler(schedules.step_decay(0.01, 0.5, 10)), record, recorder])
    assert history.history["learning_rate"] == pytest.approx([0.01] * 10 + [0.005] * 2)
    for epoch, lr in [(9, 0.01), (10, 0.005)]:
        w = at_begin[epoch].astype(np.float64)
        gradient = 2 * x.T.astype(np.float64) @ (x @ w - y) / len(x)  # d mse / d w over the one batch
        np.testing.assert_allclose(recorder.weights[epoch][0], w - lr * gradient, rtol=1e-5, atol=1e-7)


def test_learning_rate_scheduler_forms_and_bad_values():
    x, y = regression(16)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(gn.optimizers.SGD(0.1), "mse")
    halve = C.LearningRateScheduler(lambda epoch, lr: lr / 2)  # Keras's (epoch, lr) form
    assert model.fit(x, y, epochs=3, verbose=0, callbacks=[halve]).history["learning_rate"] == \
        pytest.approx([0.05, 0.025, 0.0125])
    one_argument = C.LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))
    assert model.fit(x, y, epochs=2, verbose=0, callbacks=[one_argument]).history["learning_rate"] == \
        pytest.approx([0.1, 0.2])
    schedule_object = C.LearningRateScheduler(schedules.StepDecay(0.04, 0.5, 1))
    assert model.fit(x, y, epochs=3, verbose=0, callbacks=[schedule_object]).history["learning_rate"] == \
        pytest.approx([0.04, 0.02, 0.01])
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch: "fast")])
    with pytest.raises(ValueError, match=">= 0"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch: -1.0)])
    with pytest.raises(TypeError, match="function"):
        C.LearningRateScheduler(0.1)
    scheduled = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    scheduled.compile(gn.optimizers.SGD(schedules.ExponentialDecay(0.1, 10, 0.5)), "mse")
    with pytest.raises(TypeError, match="LearningRateScheduler.*schedule"):
        scheduled.fit(x, y, epochs=1, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch: 0.1)])
    assert scheduled.optimizer.iterations == 0  # refused before any step


# ====================================================================== ReduceLROnPlateau
def plateau_model(lr=0.01):
    """Zero inputs and no bias: the gradient is 0 and the loss never moves."""
    model = gn.Sequential([layers.Dense(1, use_bias=False, input_shape=(3,))])
    model.compile(gn.optimizers.SGD(lr), "mse")
    x = np.zeros((16, 3), np.float32)
    y = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
    return model, x, y


def test_reduce_lr_on_plateau_bottoms_at_min_lr():
    """SPEC: from 0.01 with factor 0.5 and min_lr 1e-4 the rate bottoms at 1e-4."""
    model, x, y = plateau_model(0.01)
    reduce = C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=1e-4)
    history = model.fit(x, y, epochs=12, batch_size=16, verbose=0, callbacks=[reduce])
    rates = history.history["learning_rate"]
    assert rates[:3] == pytest.approx([0.01, 0.01, 0.005])  # epoch 0 sets the best, epoch 1 has waited 1
    assert min(rates) >= 1e-4 and model.optimizer.learning_rate == 1e-4
    assert rates[-4:] == [1e-4] * 4  # 0.01·0.5⁶ = 1.5625e-4 → max(7.8e-5, 1e-4): stays there
    assert np.all(np.diff(rates) <= 0)


def test_reduce_lr_on_plateau_cooldown_and_patience():
    def rates(**kwargs):
        reduce = C.ReduceLROnPlateau(monitor="loss", factor=0.5, min_delta=0.0, **kwargs)
        model = FakeModel(lr=1.0)
        reduce.set_model(model)
        reduce.on_train_begin({})
        seen = []
        for epoch in range(8):
            reduce.on_epoch_end(epoch, {"loss": 1.0})
            seen.append(model.optimizer.learning_rate)
        return seen

    assert rates(patience=1) == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125]
    assert rates(patience=1, cooldown=2) == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625]
    assert rates(patience=3) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    # A loss that keeps improving (by more than min_delta) never reduces the rate.
    model, x, y, _ = overfitting_run()
    history = model.fit(x, y, epochs=6, batch_size=64, verbose=0,
                        callbacks=[C.ReduceLROnPlateau(monitor="loss", patience=0)])
    assert history.history["learning_rate"] == [0.05] * 6
    with pytest.raises(ValueError, match="factor >= 1.0"):
        C.ReduceLROnPlateau(factor=2)
    reduce = C.ReduceLROnPlateau()
    reduce.set_model(FakeModel())
    with pytest.warns(UserWarning, match="`val_loss`.*Available metrics are: loss,learning_rate"):
        reduce.on_epoch_end(0, {"loss": 1.0})


# ====================================================================== CSVLogger
def read_csv(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_content_and_append(tmp_path):
    x, y = regression(20)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=["mae"])
    path = tmp_path / "logs" / "training.csv"
    history = model.fit(x, y, epochs=3, validation_data=(x, y), verbose=0, callbacks=[C.CSVLogger(path)])
    rows = read_csv(path)
    header = ["epoch", "learning_rate", "loss", "mae", "val_loss", "val_mae"]
    assert rows[0] == header and len(rows) == 4
    for epoch, row in enumerate(rows[1:]):
        assert int(row[0]) == epoch
        for key, value in zip(header[1:], row[1:]):
            assert float(value) == history.history[key][epoch]  # full precision
    # append=True continues the file under the same header; append=False starts over.
    model.fit(x, y, epochs=2, validation_data=(x, y), verbose=0, callbacks=[C.CSVLogger(path, append=True)])
    rows = read_csv(path)
    assert rows[0] == header and [row[0] for row in rows[1:]] == ["0", "1", "2", "0", "1"]
    assert sum(row == header for row in rows) == 1
    model.fit(x, y, epochs=1, validation_data=(x, y), verbose=0, callbacks=[C.CSVLogger(path, separator=";")])
    assert [row[0] for row in read_csv(path, ";")] == ["epoch", "0"]


def test_csv_logger_keys_that_appear_later_get_a_column(tmp_path):
    x, y = regression(20)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2, verbose=0,
                        callbacks=[C.CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "learning_rate", "loss", "val_loss"]
    assert [row[3] for row in rows[1:]] == ["NA", repr(history.history["val_loss"][0]), "NA",
                                            repr(history.history["val_loss"][1])]


# ====================================================================== TerminateOnNaN
def test_terminate_on_nan_from_a_custom_loss_leaves_history_consistent():
    x, _ = regression(40)
    target = (x @ np.array([[1.0], [0.0], [0.0]])).astype(np.float32)
    flag = np.zeros((40, 1), np.float32)
    flag[25] = 1.0  # batch 2 of the first epoch (shuffle=False, batches of 10)

    def nan_when_flagged(y_true, y_pred):
        t = np.asarray(getattr(y_true, "data", y_true))
        return ops.mean(ops.square(y_pred - t[:, :1]), axis=-1) + np.where(t[:, 1] > 0, np.nan, 0.0)

    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", nan_when_flagged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, np.hstack([target, flag]), epochs=5, batch_size=10, shuffle=False, verbose=0,
                            callbacks=[C.TerminateOnNaN()])
    assert model.optimizer.iterations == 3 and history.epoch == [0]
    assert np.isnan(history.history["loss"][0]) and len(history.history["learning_rate"]) == 1
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_after_divergence(capsys):
    x, y = regression(40)
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(gn.optimizers.SGD(1e3), "mse")  # explodes to inf within two epochs
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, epochs=10, batch_size=10, validation_data=(x, y), verbose=0,
                            callbacks=[C.TerminateOnNaN()])
        assert "Invalid loss, terminating training" in capsys.readouterr().out
        assert 1 <= len(history.epoch) < 10 and history.epoch == list(range(len(history.epoch)))
        assert {len(v) for v in history.history.values()} == {len(history.epoch)}
        assert not np.isfinite(history.history["loss"][-1]) and np.isfinite(history.history["loss"][0])
        with pytest.raises(RuntimeError, match="NaN or Inf loss"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[C.TerminateOnNaN(raise_error=True)])


# ====================================================================== TensorBoard
def read_events(folder):
    accumulator_module = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = accumulator_module.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_scalars_and_histograms_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("tensorboardX")
    x, y = regression(40)
    model = gn.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(1)])
    model.compile(gn.optimizers.SGD(0.01), "mse", metrics=["mae"])
    board = C.TensorBoard(log_dir=tmp_path, histogram_freq=2)
    history = model.fit(x, y, epochs=3, batch_size=10, validation_data=(x, y), verbose=0, callbacks=[board])
    train, validation = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_mae", "epoch_learning_rate"}
    assert set(validation.Tags()["scalars"]) >= {"epoch_loss", "epoch_mae"}
    for key in ("loss", "mae", "learning_rate"):
        events = train.Scalars("epoch_" + key)
        assert [e.step for e in events] == [0, 1, 2]
        assert [e.value for e in events] == pytest.approx(history.history[key], rel=1e-6)
    for key in ("loss", "mae"):
        assert [e.value for e in validation.Scalars("epoch_" + key)] == \
            pytest.approx(history.history["val_" + key], rel=1e-6)
    evaluation = validation.Scalars("evaluation_loss_vs_iterations")
    assert [e.step for e in evaluation] == [4, 8, 12]
    tags = [f"{w.path}/histogram" for w in model.weights]
    assert sorted(train.Tags()["histograms"]) == sorted(tags)
    kernel = train.Histograms("dense_1/kernel/histogram")
    assert [e.step for e in kernel] == [0, 2]  # every histogram_freq epochs
    last = kernel[-1].histogram_value
    values = model.layers[1].kernel.data
    assert last.num == values.size and last.min == pytest.approx(values.min()) and \
        last.max == pytest.approx(values.max())


def test_tensorboard_batch_updates_text_and_images(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("tensorboardX")
    x, y = regression(40)
    model = gn.Sequential([layers.Dense(2, input_shape=(3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    losses = []
    record = C.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(logs["loss"]))
    board = C.TensorBoard(log_dir=tmp_path, update_freq=3, write_graph=True, write_images=True, histogram_freq=1)
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[record, board])
    train = read_events(tmp_path / "train")
    batch = train.Scalars("batch_loss")
    assert [e.step for e in batch] == [3, 6]  # 8 batches, every 3rd (1-based global count)
    assert [e.value for e in batch] == pytest.approx([losses[2], losses[5]], rel=1e-6)
    assert "model/summary/text_summary" in train.Tags()["tensors"]
    assert "dense/kernel/image" in train.Tags()["images"]
    assert not (tmp_path / "validation").exists()  # no validation data: no validation folder
    with pytest.raises(ValueError, match="update_freq"):
        C.TensorBoard(log_dir=tmp_path, update_freq=0)
    with pytest.raises(ValueError, match="profil"):
        C.TensorBoard(log_dir=tmp_path, profile_batch=2)


def test_tensorboard_without_tensorboardx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install 'glassnet\[tensorboard\]'"):
        C.TensorBoard()
