"""Subclassed models that override train_step / test_step / predict_step (Keras' "customizing what
happens in fit", written the way its PyTorch-backend guide writes them)."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, metrics, optimizers
from glassnet.errors import InputError


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)


class Net(gn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="tanh")
        self.out = layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))


class GuideStep(Net):
    """The Keras guide's first train_step: compiled loss and metrics, through compute_loss / self.metrics."""

    calls = 0

    def train_step(self, data):
        x, y = data
        type(self).calls += 1
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        with gn.no_grad():
            self.optimizer.apply(gradients, trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_a_train_step_written_like_the_default_trains_exactly_like_it():
    x, y = regression_data()
    histories, weights = [], []
    for cls in (Net, GuideStep):
        gn.set_seed(1)
        model = cls()
        model.compile(optimizers.Adam(0.01), "mse", metrics=["mae"])
        histories.append(model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history)
        weights.append(model.get_weights())
    assert GuideStep.calls == 3 * 4  # once per batch
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for key in ("loss", "mae"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6)
    assert histories[1]["loss"][-1] < histories[1]["loss"][0]


class OwnLossAndMetrics(Net):
    """The guide's second form: compiled with an optimizer only; its own loss, trackers and metrics."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_metric = metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = gn.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(self.loss_fn(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]  # reset at every epoch start and before evaluating


def test_own_loss_metrics_and_test_step_with_an_optimizer_only_compile():
    x, y = regression_data()
    model = OwnLossAndMetrics()
    model.compile(optimizer=optimizers.SGD(0.05))
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0, validation_split=0.25).history
    assert set(history) >= {"loss", "mae", "val_loss", "val_mae"}
    assert history["loss"][-1] < history["loss"][0]
    result = model.evaluate(x[48:], y[48:], verbose=0, return_dict=True)
    predictions = model.predict(x[48:], verbose=0)
    assert result["loss"] == pytest.approx(float(np.mean((predictions - y[48:]) ** 2)), rel=1e-5)
    assert result["mae"] == pytest.approx(float(np.mean(np.abs(predictions - y[48:]))), rel=1e-5)
    assert history["val_loss"][-1] == pytest.approx(result["loss"], rel=1e-5)  # the same split, reset first


class Autoencoder(Net):
    """Trained with fit(x) alone: the step makes its own targets (the inputs)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.out = layers.Dense(3)

    def train_step(self, data):
        x = data  # no targets: the batch is x itself
        self.zero_grad()
        loss = gn.ops.mean(gn.ops.square(self(x, training=True) - x))
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        return {"reconstruction": loss}

    def predict_step(self, data):
        return self(data, training=False) * 0.0 + 7.0  # something predict could not produce otherwise


def test_fit_without_targets_and_a_custom_predict_step():
    x, _ = regression_data(96)
    model = Autoencoder()
    model.compile(optimizers.Adam(0.02))
    history = model.fit(x, batch_size=32, epochs=5, verbose=0).history
    assert history["reconstruction"][-1] < 0.7 * history["reconstruction"][0]
    np.testing.assert_array_equal(model.predict(x[:5], verbose=0), np.full((5, 3), 7.0, np.float32))
    with pytest.raises(InputError, match="Validation needs targets"):
        model.fit(x, epochs=1, verbose=0, validation_split=0.2)


def test_the_default_steps_still_need_targets_and_a_loss():
    x, y = regression_data()
    model = Net()
    model.compile("sgd", "mse")
    with pytest.raises(InputError, match="needs targets y"):
        model.fit(x, epochs=1, verbose=0)
    other = Net()
    other.compile("sgd")
    with pytest.raises(gn.errors.GlassnetError, match="compile the model with a loss"):
        other.fit(x, y, epochs=1, verbose=0)
    logs = model.train_step((x[:16], y[:16]))  # the default step is public too
    assert set(logs) == {"loss"} and np.isfinite(logs["loss"])
