"""Problem detectors and the NaN/inf guard (SPEC §11): dead ReLUs, saturation, vanishing/exploding rules
on synthetic histories, once-per-epoch reporting, and NaNGuard stopping at the step, layer and cause
with the model left at its last finite weights."""

import math
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet import callbacks as C
from glassnet import initializers, layers, ops
from glassnet.diagnostics import (
    DeadReLUWarning, GlassnetDiagnosticWarning, GradientFlowHistory, GradientMonitor, NaNGuard, NonFiniteError,
    NonFiniteWarning, SaturationWarning, Thresholds, detect, scan,
)
from glassnet.errors import GlassnetError
from glassnet.layers.base import _CallContext
from glassnet.tensor import make_result


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def data(n=64, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32)


def run(model, callbacks, epochs=1, batch_size=32, x=None, y=None):
    if x is None:
        x, y = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=callbacks)
    return history, [w for w in caught if issubclass(w.category, GlassnetDiagnosticWarning)]


def all_finite(model):
    return all(np.isfinite(w).all() for w in model.get_weights())


# ====================================================================== dead ReLUs, saturation
def test_large_negative_bias_reports_dead_relus():
    model = gn.Sequential([layers.Input((8,)), layers.Dense(32, activation="relu",
                                                            bias_initializer=initializers.Constant(-10.0)),
                           layers.Dense(1)])
    model.compile("sgd", "mse")
    monitor = GradientMonitor()
    _, caught = run(model, [monitor], epochs=2, batch_size=16)  # 4 steps per epoch
    name = model.layers[0].name
    assert monitor.history.series(name, "dead_fraction") == pytest.approx(np.ones(8))
    dead = [w for w in caught if issubclass(w.category, DeadReLUWarning)]
    assert len(dead) == 2  # each (problem, layer) once per epoch, not at each of the 8 steps
    message = str(dead[0].message)
    assert f"'{name}'" in message and "100%" in message and "32 of 32 units" in message
    assert "he_normal" in message and "LeakyReLU" in message
    assert [d["epoch"] for d in monitor.diagnostics if d["problem"] == "dead_relu"] == [0, 1]
    # the dead units pass no gradient at all, which the vanishing detector also points out
    vanishing = [d for d in monitor.diagnostics if d["problem"] == "vanishing"]
    assert vanishing == [] or "dead ReLUs" in vanishing[0]["message"]


def test_tanh_net_with_huge_weights_reports_saturation():
    big = initializers.RandomNormal(stddev=10.0)
    model = gn.Sequential([layers.Input((8,)), layers.Dense(32, activation="tanh", kernel_initializer=big),
                           layers.Dense(32, activation="tanh", kernel_initializer=big), layers.Dense(1)])
    model.compile("sgd", "mse")
    monitor = GradientMonitor()
    _, caught = run(model, [monitor])
    saturated = [w for w in caught if issubclass(w.category, SaturationWarning)]
    names = {d["layer"] for d in monitor.diagnostics if d["problem"] == "saturation"}
    assert names == {model.layers[0].name, model.layers[1].name}
    assert len(saturated) == 2
    assert (monitor.history.series(model.layers[0].name, "saturated_fraction") > 0.8).all()
    assert "|tanh| > 0.99" in str(saturated[0].message) and "Glorot" in str(saturated[0].message)


def test_a_confident_sigmoid_output_layer_is_not_called_saturated():
    x, _ = data()
    y = (x[:, :1] > 0).astype(np.float32)
    model = gn.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                           layers.Dense(1, activation="sigmoid", kernel_initializer=initializers.RandomNormal(stddev=20))])
    model.compile("sgd", "binary_crossentropy")
    monitor = GradientMonitor()
    _, caught = run(model, [monitor], x=x, y=y)
    out = model.layers[-1].name
    assert monitor.history.series(out, "saturated_fraction").max() > 0.5  # measured...
    assert not [w for w in caught if issubclass(w.category, SaturationWarning)]  # ...but not judged


def test_healthy_network_raises_no_diagnostic():
    x, _ = data(256)
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.float32)
    model = gn.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
                           layers.Dense(8, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.Adam(1e-2), "binary_crossentropy")
    monitor = GradientMonitor()
    _, caught = run(model, [monitor], epochs=3, x=x, y=y)
    assert caught == [] and monitor.diagnostics == []


def test_warn_false_records_without_warning():
    model = gn.Sequential([layers.Input((8,)), layers.Dense(8, activation="relu",
                                                            bias_initializer=initializers.Constant(-10.0)),
                           layers.Dense(1)])
    model.compile("sgd", "mse")
    monitor = GradientMonitor(warn=False, dead_fraction=0.9)
    _, caught = run(model, [monitor])
    assert caught == [] and [d["problem"] for d in monitor.diagnostics].count("dead_relu") == 1


# ====================================================================== detector rules on synthetic histories
def synthetic(grad_norms: dict, layers_info=None, epochs=None):
    """A GradientFlowHistory with the given grad_norm series (one list per layer, forward order)."""
    h = GradientFlowHistory()
    for name in grad_norms:
        h._add_layer(name, {"class_name": "Dense", "activation": None, "has_weights": True, "units": 4,
                            "is_output": False, **(layers_info or {}).get(name, {})})
    steps = len(next(iter(grad_norms.values())))
    for i in range(steps):
        h._append(i, 0 if epochs is None else epochs[i], i, {n: {"grad_norm": v[i]} for n, v in grad_norms.items()})
    return h


def problems(found):
    return [(d["problem"], d["layer"]) for d in found]


def test_vanishing_rule_ratio_and_floor():
    h = synthetic({"a": [1e-6, 1e-2], "b": [1e-4, 1e-2], "c": [1.0, 1e-2]})
    assert problems(detect(h, 0)) == [("vanishing", "a")]  # the earliest flagged layer is named
    assert "1 more layer" in detect(h, 0)[0]["message"] and "'b'" not in detect(h, 0)[0]["message"][:80]
    assert detect(h, 1) == []
    assert problems(detect(h, 0, Thresholds(vanishing_ratio=1e-5))) == [("vanishing", "a")]
    assert detect(h, 0, Thresholds(vanishing_ratio=1e-7, vanishing_floor=1e-9)) == []
    floor = synthetic({"a": [1e-9], "b": [1e-7]})  # ratio 1e-2 is fine, but the gradient is below the floor
    assert problems(detect(floor, 0)) == [("vanishing", "a")]
    converged = synthetic({"a": [1e-12], "b": [1e-11]})  # the output layer gets nothing either: not vanishing
    assert detect(converged, 0) == []


def test_exploding_rules_non_finite_ratio_and_growth():
    assert problems(detect(synthetic({"a": [math.inf], "b": [1.0]}), 0)) == [("exploding", "a")]
    assert problems(detect(synthetic({"a": [1.0], "b": [math.nan]}), 0)) == [("exploding", "b")]
    ratio = synthetic({"a": [5e3], "b": [1.0]})
    found = detect(ratio, 0)
    assert problems(found) == [("exploding", "a")] and found[0]["values"]["ratio"] == pytest.approx(5e3)
    growing = synthetic({"a": [1.0, 3.0, 20.0, 150.0, 900.0], "b": [1.0, 3.0, 20.0, 150.0, 900.0]})
    assert detect(growing, 1) == []  # fewer than 3 records
    found = detect(growing, 4)
    assert problems(found) == [("exploding", "a")] and "900" in found[0]["message"] and "clipnorm" in found[0]["message"]
    wobbly = synthetic({"a": [1.0, 3.0, 2.0, 150.0, 900.0], "b": [1.0] * 5})  # not monotonic over the window
    assert not [d for d in detect(wobbly, 4, Thresholds(exploding_ratio=1e4)) if d["problem"] == "exploding"]


def test_scan_reports_each_problem_and_layer_once_per_epoch():
    h = synthetic({"a": [1e-6] * 6, "b": [1.0] * 6}, epochs=[0, 0, 0, 1, 1, 1])
    found = scan(h)
    assert [(d["problem"], d["layer"], d["epoch"], d["step"]) for d in found] == [
        ("vanishing", "a", 0, 0), ("vanishing", "a", 1, 3)]
    assert scan(h, problems=["exploding"]) == []
    with pytest.raises(GlassnetError, match="Did you mean 'vanishing'"):
        detect(h, 0, problems=["vanishng"])


def test_threshold_validation():
    with pytest.raises(ValueError, match="vanishing_ratio"):
        Thresholds(vanishing_ratio=-1)
    with pytest.raises(ValueError, match="exploding_window"):
        Thresholds(exploding_window=1)
    assert Thresholds(dead_fraction=0.9).to_dict()["dead_fraction"] == 0.9


# ====================================================================== NaN / inf guard
def relu_regressor(lr):
    model = gn.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                           layers.Dense(16, activation="relu"), layers.Dense(1)])
    model.compile(gn.optimizers.SGD(lr), "mse")
    return model


class Snapshots(C.Callback):
    """Keeps the weights at the start of every step."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_begin(self, batch, logs=None):
        self.weights.append(self.model.get_weights())


def test_huge_learning_rate_is_stopped_with_the_layer_and_finite_weights():
    model = relu_regressor(1e3)
    snapshots, guard = Snapshots(), NaNGuard()
    with np.errstate(all="ignore"):
        history, caught = run(model, [snapshots, guard], epochs=20, batch_size=16)
    assert model.stop_training and len(history.history["loss"]) < 20
    assert all_finite(model)
    report = guard.report
    assert report["problem"] == "non_finite" and report["layer"] in [layer.name for layer in model.layers]
    for a, b in zip(snapshots.weights[-1], model.get_weights()):  # the weights from before the failing step
        np.testing.assert_array_equal(a, b)
    warned = [w for w in caught if issubclass(w.category, NonFiniteWarning)]
    assert len(warned) == 1
    message = str(warned[0].message)
    assert f"step {report['step']}" in message and f"'{report['layer']}'" in message
    assert "learning rate (1000) is too high" in message and "clip" in message and "last finite weights" in message


def test_monitor_includes_the_guard_and_records_its_diagnostic():
    model = relu_regressor(1e3)
    monitor = GradientMonitor()
    with np.errstate(all="ignore"):
        _, caught = run(model, [monitor], epochs=20, batch_size=16)
    assert all_finite(model) and model.stop_training
    non_finite = [d for d in monitor.diagnostics if d["problem"] == "non_finite"]
    assert len(non_finite) == 1 and non_finite[0]["layer"] is not None
    assert [w.category for w in caught].count(NonFiniteWarning) == 1
    assert math.isnan(monitor.history.series(non_finite[0]["layer"], "update_ratio")[-1])  # refused update
    assert _CallContext.observers == []


def test_raise_error_raises_a_glassnet_error_after_restoring():
    model = relu_regressor(1e3)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteError, match="NaNGuard stopped training") as error:
        run(model, [NaNGuard(raise_error=True)], epochs=20, batch_size=16)
    assert isinstance(error.value, GlassnetError) and all_finite(model)
    assert _CallContext.observers == []  # the guard unregistered before raising


def test_log_of_negative_values_names_the_layer_and_the_cause():
    guard = NaNGuard(warn=False)
    with np.errstate(all="ignore"):  # (building runs the Lambda on zeros: log(0))
        model = gn.Sequential([layers.Input((8,)), layers.Dense(4),
                               layers.Lambda(lambda t: ops.log(t), name="logger"), layers.Dense(1)])
        model.compile("sgd", "mse")
        _, caught = run(model, [guard])
    assert caught == [] and guard.stopped and model.optimizer.iterations == 0
    assert guard.report["layer"] == "logger" and guard.report["values"]["stage"] == "activation"
    assert "log of zero or of a negative number" in guard.report["message"]
    assert "although its inputs were finite" in guard.report["message"]


def test_non_finite_loss_with_finite_activations():
    model = gn.Sequential([layers.Input((8,)), layers.Dense(1)])
    model.compile("sgd", lambda y_true, y_pred: ops.mean(ops.square(y_true - y_pred)) / 0.0)
    guard = NaNGuard()
    with np.errstate(all="ignore"):
        _, caught = run(model, [guard])
    assert [w.category for w in caught] == [NonFiniteWarning]
    assert guard.report["values"]["stage"] == "loss" and guard.report["layer"] == model.layers[0].name
    assert "the loss became inf" in guard.report["message"] and "from_logits=True" in guard.report["message"]
    assert model.optimizer.iterations == 0


class InfiniteBackward(layers.Layer):
    """The identity forward, an infinite gradient backward."""

    def call(self, x):
        return make_result(x.data.copy(), (x,), lambda g: (g * np.inf,), "inf_backward")


def test_non_finite_gradient_is_refused_before_the_update():
    model = gn.Sequential([layers.Input((8,)), layers.Dense(4), InfiniteBackward(), layers.Dense(1)])
    model.compile("sgd", "mse")
    model.build((None, 8))
    start = model.get_weights()
    guard = NaNGuard(restore_weights=False)  # nothing to restore: the update is never applied
    with np.errstate(all="ignore"):
        run(model, [guard])
    assert guard.report["values"]["stage"] == "gradient" and guard.report["layer"] == model.layers[0].name
    assert "dense/kernel" in guard.report["message"] or model.layers[0].kernel.path in guard.report["message"]
    for a, b in zip(start, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_update_overflow_is_undone():
    model = gn.Sequential([layers.Input((8,)), layers.Dense(1, kernel_initializer="ones")])
    model.compile(gn.optimizers.SGD(1e38), "mse")  # finite gradients, but lr·g overflows float32
    snapshots, guard = Snapshots(), NaNGuard()
    with np.errstate(all="ignore"):
        run(model, [snapshots, guard], epochs=3)
    assert guard.report["values"]["stage"] == "weights" and guard.report["step"] == 0
    assert "optimizer update overflowed" in guard.report["message"]
    assert all_finite(model)
    for a, b in zip(snapshots.weights[0], model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batchnorm_moving_statistics_are_restored_too():
    with np.errstate(all="ignore"):
        model = gn.Sequential([layers.Input((8,)), layers.Dense(8), layers.BatchNormalization(),
                               layers.Lambda(lambda t: ops.log(t - 100.0), name="bad_log"), layers.Dense(1)])
    model.compile("sgd", "mse")
    start = model.get_weights()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(*data(), epochs=1, batch_size=32, verbose=0, callbacks=[NaNGuard()])
    for a, b in zip(start, model.get_weights()):  # moving_mean/variance were updated in the forward pass
        np.testing.assert_array_equal(a, b)


def test_guard_is_silent_on_finite_training():
    model = relu_regressor(1e-2)
    guard = NaNGuard()
    history, caught = run(model, [guard], epochs=2)
    assert caught == [] and guard.report is None and not guard.stopped
    assert len(history.history["loss"]) == 2
