"""Gradient flow (SPEC §11): GradientMonitor's per-layer quantities and history, the vanishing-gradient
detector on deep sigmoid vs He-ReLU-BatchNorm nets, the ``on_train_batch_gradients`` hook, and the
whole-model gradient check."""

import json
import math
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet import callbacks as C
from glassnet import layers
from glassnet.diagnostics import (
    GradcheckReport, GradientFlowHistory, GradientMonitor, QUANTITIES, VanishingGradientWarning, gradcheck,
    model_gradcheck,
)
from glassnet.errors import GradcheckError, UnknownNameError
from glassnet.layers.base import _CallContext
from glassnet.tensor import make_result


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def data(n=64, d=8, seed=0, binary=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.random((n, 1)) > 0.5) if binary else rng.standard_normal((n, 1))
    return x, y.astype(np.float32)


def fit_quietly(model, x, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, verbose=0, **kwargs)
    return caught


def small_net(lr=0.1):
    model = gn.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"), layers.Dense(8),
                           layers.Activation("tanh"), layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.SGD(lr), "binary_crossentropy")
    return model


# ====================================================================== history structure
def test_history_shapes_steps_and_layer_order():
    x, y = data(binary=True)
    model = small_net()
    monitor = GradientMonitor()
    fit_quietly(model, x, y, batch_size=16, epochs=2, callbacks=[monitor])
    h = monitor.history
    assert isinstance(h, GradientFlowHistory)
    np.testing.assert_array_equal(h.steps, np.arange(8))
    np.testing.assert_array_equal(h.epochs, [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(h.batches, [0, 1, 2, 3] * 2)
    assert h.layer_names == [layer.name for layer in model.layers]  # forward order
    for name in h.layer_names:
        for quantity in QUANTITIES:
            assert h.series(name, quantity).shape == (8,)
    dense, hidden, act, out = h.layer_names
    # what applies where: weights only for Dense, dead fraction only for relu, saturation for tanh/sigmoid
    assert np.isnan(h.series(act, "grad_norm")).all() and np.isfinite(h.series(act, "activation_std")).all()
    assert np.isfinite(h.series(dense, "dead_fraction")).all() and np.isnan(h.series(hidden, "dead_fraction")).all()
    assert np.isnan(h.series(dense, "saturated_fraction")).all()
    assert np.isfinite(h.series(act, "saturated_fraction")).all()
    assert h.layers[dense]["activation"] == "relu" and h.layers[act]["activation"] == "tanh"
    assert h.layers[out]["is_output"] and not h.layers[dense]["is_output"]
    assert h.layers[dense]["units"] == 16
    # plausible magnitudes
    for name in (dense, hidden, out):
        assert (h.series(name, "grad_norm") > 0).all()
        assert (h.series(name, "weight_norm") > 0).all()
        assert ((h.series(name, "update_ratio") > 0) & (h.series(name, "update_ratio") < 1)).all()
    assert ((h.series(act, "activation_mean") > -1) & (h.series(act, "activation_mean") < 1)).all()
    assert not monitor.diagnostics
    assert _CallContext.observers == []  # the monitor unregistered its observer


def test_every_and_per_epoch_recording():
    x, y = data(binary=True)
    every = GradientMonitor(every=3)
    fit_quietly(small_net(), x, y, batch_size=16, epochs=2, callbacks=[every])
    np.testing.assert_array_equal(every.history.steps, [0, 3, 6])
    per_epoch = GradientMonitor(per="epoch")
    fit_quietly(small_net(), x, y, batch_size=16, epochs=3, callbacks=[per_epoch])
    np.testing.assert_array_equal(per_epoch.history.steps, [3, 7, 11])
    np.testing.assert_array_equal(per_epoch.history.batches, [3, 3, 3])
    np.testing.assert_array_equal(per_epoch.history.epochs, [0, 1, 2])


def test_quantities_equal_hand_computed_values():
    """One full-batch SGD step: every quantity recomputed by hand from the weights before/after."""
    x, y = data(n=32)
    model = gn.Sequential([layers.Input((8,)), layers.Dense(6, activation="relu"),
                           layers.Dense(4, activation="sigmoid"), layers.Dense(1)])
    lr = 0.05
    model.compile(gn.optimizers.SGD(lr), "mse")
    model.build((None, 8))
    before = model.get_weights()
    monitor = GradientMonitor()
    fit_quietly(model, x, y, batch_size=32, epochs=1, shuffle=False, callbacks=[monitor])
    h = monitor.history
    assert len(h) == 1
    after = model.get_weights()
    for k, layer in enumerate(model.layers):
        kernel, bias = layer.kernel, layer.bias
        grad_norm = math.sqrt(float(np.sum(kernel.grad.astype(np.float64) ** 2) + np.sum(bias.grad.astype(np.float64) ** 2)))
        assert h.value(layer.name, "grad_norm") == pytest.approx(grad_norm, rel=1e-6)
        w0 = np.concatenate([before[2 * k].ravel(), before[2 * k + 1].ravel()]).astype(np.float64)
        w1 = np.concatenate([after[2 * k].ravel(), after[2 * k + 1].ravel()]).astype(np.float64)
        assert h.value(layer.name, "weight_norm") == pytest.approx(np.linalg.norm(w0), rel=1e-6)
        assert h.value(layer.name, "update_ratio") == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0),
                                                                     rel=1e-4)
        # plain SGD: Δw = −lr·g, so the ratio is lr·‖g‖/‖w‖
        assert h.value(layer.name, "update_ratio") == pytest.approx(lr * grad_norm / np.linalg.norm(w0), rel=1e-4)
    a1 = np.maximum(x.astype(np.float64) @ before[0] + before[1], 0)
    first = model.layers[0].name
    assert h.value(first, "activation_mean") == pytest.approx(a1.mean(), rel=1e-5)
    assert h.value(first, "activation_std") == pytest.approx(a1.std(), rel=1e-5)
    assert h.value(first, "dead_fraction") == pytest.approx(np.mean(~(a1 > 0).any(axis=0)))
    a2 = 1 / (1 + np.exp(-(a1 @ before[2] + before[3])))
    second = model.layers[1].name
    assert h.value(second, "saturated_fraction") == pytest.approx(np.mean((a2 < 0.01) | (a2 > 0.99)))
    assert h.value(second, "activation_mean") == pytest.approx(a2.mean(), rel=1e-5)


def test_history_export_and_errors():
    x, y = data(binary=True)
    monitor = GradientMonitor(every=2)
    fit_quietly(small_net(), x, y, batch_size=32, epochs=2, callbacks=[monitor])
    h = monitor.history
    d = h.to_dict()
    assert d["steps"] == [0, 2] and d["layer_names"] == h.layer_names
    assert len(d["series"][h.layer_names[0]]["grad_norm"]) == 2
    json.loads(json.dumps(d))  # JSON-able (NaN is written as NaN)
    record = h.record(-1)
    assert set(record) == set(h.layer_names) and set(record[h.layer_names[0]]) == set(QUANTITIES)
    table = h.table()
    assert h.layer_names[0] in table and "grad_norm" in table
    with pytest.raises(UnknownNameError, match="Did you mean .grad_norm."):
        h.series(h.layer_names[0], "grad_nrom")
    with pytest.raises(UnknownNameError, match="layer"):
        h.series("no_such_layer", "grad_norm")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            h.to_dataframe()
    else:
        frame = h.to_dataframe()
        assert frame.shape == (2 * len(h.layer_names), 4 + len(QUANTITIES))


def test_monitor_argument_errors():
    with pytest.raises(ValueError, match="every"):
        GradientMonitor(every=0)
    with pytest.raises(ValueError, match="per"):
        GradientMonitor(per="batch")
    with pytest.raises(TypeError, match="vanishing_ratio"):
        GradientMonitor(vanishing_ration=1e-3)
    with pytest.raises(ValueError, match="dead_fraction"):
        GradientMonitor(dead_fraction=2.0)


def test_functional_model_layers_and_output():
    x, y = data(binary=True)
    inputs = gn.Input((8,))
    h1 = layers.Dense(8, activation="relu", name="h1")(inputs)
    h2 = layers.Dense(8, activation="tanh", name="h2")(inputs)
    merged = layers.Concatenate(name="cat")([h1, h2])
    out = layers.Dense(1, activation="sigmoid", name="out")(merged)
    model = gn.Model(inputs, out)
    model.compile("adam", "binary_crossentropy")
    monitor = GradientMonitor()
    fit_quietly(model, x, y, batch_size=32, epochs=1, callbacks=[monitor])
    names = monitor.history.layer_names
    assert set(names) == {"h1", "h2", "cat", "out"} and names[-1] == "out"
    assert monitor.history.layers["out"]["is_output"]
    assert np.isnan(monitor.history.series("cat", "grad_norm")).all()


# ====================================================================== the gradient hook (model.py)
def test_gradient_hook_runs_after_backward_before_the_update():
    x, y = data(n=16)
    model = gn.Sequential([layers.Input((8,)), layers.Dense(1)])
    model.compile(gn.optimizers.SGD(0.1), "mse")
    seen = []

    def on_gradients(batch, logs):
        kernel = model.layers[0].kernel
        seen.append((batch, logs["loss"], kernel.data.copy(), kernel.grad.copy()))

    start = model.get_weights()[0]
    fit_quietly(model, x, y, batch_size=8, epochs=1, shuffle=False,
                callbacks=[C.LambdaCallback(on_train_batch_gradients=on_gradients)])
    assert [s[0] for s in seen] == [0, 1]
    np.testing.assert_array_equal(seen[0][2], start)  # not updated yet at the hook
    np.testing.assert_allclose(seen[1][2], start - 0.1 * seen[0][3], rtol=1e-6)  # then the update happened
    assert math.isfinite(seen[0][1])


def test_stopping_in_the_gradient_hook_refuses_the_update():
    x, y = data(n=16)
    model = gn.Sequential([layers.Input((8,)), layers.Dense(1)])
    model.compile(gn.optimizers.SGD(0.1), "mse")
    model.build((None, 8))
    start = model.get_weights()

    def refuse(batch, logs):
        model.stop_training = True

    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        callbacks=[C.LambdaCallback(on_train_batch_gradients=refuse)])
    for a, b in zip(start, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0 and len(history.history["loss"]) == 1


# ====================================================================== vanishing gradients (exercise 19)
def deep_mlp(activation, depth=20, width=32, batch_norm=False, init="glorot_uniform"):
    model = gn.Sequential([layers.Input((16,))])
    for _ in range(depth - 1):
        if batch_norm:
            model.add(layers.Dense(width, kernel_initializer=init))
            model.add(layers.BatchNormalization())
            model.add(layers.Activation(activation))
        else:
            model.add(layers.Dense(width, activation=activation, kernel_initializer=init))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(gn.optimizers.SGD(0.01), "binary_crossentropy")
    return model


def first_last_ratio(history):
    weighted = [n for n in history.layer_names if history.layers[n]["has_weights"]]
    return history.series(weighted[0], "grad_norm") / history.series(weighted[-1], "grad_norm")


def test_deep_sigmoid_mlp_triggers_the_vanishing_detector_on_an_early_layer():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    y = (rng.random((64, 1)) > 0.5).astype(np.float32)
    model = deep_mlp("sigmoid")
    monitor = GradientMonitor()
    caught = fit_quietly(model, x, y, batch_size=32, epochs=2, callbacks=[monitor])
    assert (first_last_ratio(monitor.history) < 1e-3).all()
    vanishing = [w for w in caught if issubclass(w.category, VanishingGradientWarning)]
    assert len(vanishing) == 2  # once per epoch, not once per step
    found = [d for d in monitor.diagnostics if d["problem"] == "vanishing"]
    early = [layer.name for layer in model.layers[:3]]
    assert found and all(d["layer"] in early for d in found)
    message = str(vanishing[0].message)
    assert found[0]["layer"] in message and "step 0" in message and "He" in message and "BatchNormalization" in message
    assert found[0]["values"]["ratio"] < 1e-3
    assert monitor.history.diagnostics == monitor.diagnostics


def test_he_relu_batchnorm_at_the_same_depth_does_not_vanish():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 16)).astype(np.float32)
    y = (rng.random((64, 1)) > 0.5).astype(np.float32)
    model = deep_mlp("relu", batch_norm=True, init="he_normal")
    monitor = GradientMonitor()
    caught = fit_quietly(model, x, y, batch_size=32, epochs=2, callbacks=[monitor])
    assert not [w for w in caught if issubclass(w.category, VanishingGradientWarning)]
    assert not [d for d in monitor.diagnostics if d["problem"] == "vanishing"]
    assert (first_last_ratio(monitor.history) > 1e-2).all()


# ====================================================================== whole-model gradcheck
class BadSquare(layers.Layer):
    """x² with a wrong backward (x instead of 2x)."""

    def call(self, x):
        return make_result(x.data ** 2, (x,), lambda g: (g * x.data,), "bad_square")


class BadScale(layers.Layer):
    """y = x·w with the weight gradient off by a factor of 3."""

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1],), "ones", name="w")

    def call(self, x):
        w = self.w
        return make_result(x.data * w.data, (x, w),
                           lambda g: (g * w.data, 3.0 * (g * x.data).sum(axis=0)), "bad_scale")


def classifier(*middle):
    return gn.Sequential([layers.Input((4,)), layers.Dense(5, activation="tanh"), *middle, layers.Dense(3)])


def test_model_gradcheck_passes_on_a_correct_model_and_leaves_it_unchanged():
    rng = np.random.default_rng(0)
    conv2d = getattr(layers, "Conv2D", None)
    if conv2d is None:  # the convolution module is new; import it directly until layers exports it
        from glassnet.layers.conv import Conv2D as conv2d
    model = gn.Sequential([layers.Input((5, 5, 1)), conv2d(2, 3, activation="tanh"),
                           layers.BatchNormalization(), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.build((None, 5, 5, 1))
    start = model.get_weights()
    x = rng.standard_normal((3, 5, 5, 1)).astype(np.float32)
    y = np.eye(3)[[0, 2, 1]].astype(np.float32)
    report = gradcheck(model, x, y, "categorical_crossentropy")
    assert isinstance(report, GradcheckReport) and report.passed and bool(report)
    weighted = {row.layer for row in report.rows if row.check == "weights"}
    assert weighted == {layer.name for layer in model.layers if layer.trainable_weights}
    assert all(row.checked == row.size for row in report.rows)
    assert all(row.max_rel_error < 1e-3 for row in report.rows)
    assert "PASSED" in report.table() and model.layers[0].name in report.table()
    assert gradcheck(model, x, y, "categorical_crossentropy", training=True).passed  # batch statistics
    for a, b in zip(start, model.get_weights()):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert all(layer.dtype == "float32" for layer in model.layers)


def test_model_gradcheck_uses_the_compiled_loss_and_keyword_form():
    rng = np.random.default_rng(0)
    model = classifier()
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    assert gradcheck(model, x, y).passed  # (x, y) on a compiled model
    sampled = model_gradcheck(model, x, y, max_checks=5).rows[0]  # 5 elements of each tensor
    assert (sampled.layer, sampled.check, sampled.checked, sampled.size) == (model.layers[0].name, "weights", 10, 25)
    dense = layers.Dense(3, dtype="float64")
    assert gradcheck(dense, rng.standard_normal((2, 4))) is True  # a layer alone keeps the function form


def test_model_gradcheck_names_a_weightless_layer_with_a_wrong_backward():
    rng = np.random.default_rng(0)
    model = classifier(BadSquare(name="bad_square"))
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    with pytest.raises(GradcheckError, match="worst layer 'bad_square'"):
        gradcheck(model, x, y, loss="sparse_categorical_crossentropy")
    report = gradcheck(model, x, y, "sparse_categorical_crossentropy", raise_exception=False)
    assert not report and report.worst_layer == "bad_square" and report.worst.check == "input"
    failing = {(row.layer, row.check) for row in report.failures}
    # its wrong input-gradient also corrupts the weights before it, not those after it
    assert (model.layers[0].name, "weights") in failing and (model.layers[2].name, "weights") not in failing


def test_model_gradcheck_names_a_layer_with_a_wrong_weight_gradient():
    rng = np.random.default_rng(0)
    model = classifier(BadScale(name="bad_scale"))
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    with pytest.raises(GradcheckError, match="'bad_scale'") as error:
        gradcheck(model, x, y, "sparse_categorical_crossentropy")
    assert "FAIL" in str(error.value)
    report = model_gradcheck(model, x, y, "sparse_categorical_crossentropy", raise_exception=False)
    assert [(row.layer, row.check) for row in report.failures] == [("bad_scale", "weights")]
    assert report.worst.max_rel_error == pytest.approx(2 / 3, rel=1e-3)  # |3g − g| / |3g|
