"""The learning-rate range test: exact restoration of the model and its optimizer, the exponential
sweep, early stop on divergence, a sensible suggestion, and the plot."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, optimizers
from glassnet.errors import GlassnetError
from glassnet.lr_finder import LRFinderResult, lr_finder
from glassnet.schedules import ExponentialDecay


def regression_data(n=256):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.3).astype(np.float32)[:, None]
    return x, y


def regression_model(optimizer, **dense_kwargs):
    gn.set_seed(1)
    model = gn.Sequential([layers.Dense(16, activation="relu", input_shape=(4,), **dense_kwargs), layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model


def optimizer_snapshot(optimizer):
    state = optimizer.get_state()
    return state["iterations"], {k: [a.copy() for a in v] for k, v in state["slots"].items()}


def assert_same_optimizer_state(before, after):
    assert before[0] == after[0]
    assert before[1].keys() == after[1].keys()
    for name in before[1]:
        assert len(before[1][name]) == len(after[1][name])
        for a, b in zip(before[1][name], after[1][name]):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("make_optimizer", [
    lambda: optimizers.SGD(learning_rate=0.01, momentum=0.9),
    lambda: optimizers.Adam(learning_rate=ExponentialDecay(1e-3, 10, 0.5)),
])
def test_weights_and_optimizer_state_are_restored_exactly(make_optimizer):
    x, y = regression_data()
    model = regression_model(make_optimizer())
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # the optimizer now has slots and iterations
    optimizer = model.optimizer
    learning_rate_object, learning_rate = optimizer._learning_rate, optimizer.learning_rate
    weights = model.get_weights()
    state = optimizer_snapshot(optimizer)
    assert state[0] == 8 and any(len(v) for v in state[1].values())

    result = lr_finder(model, x, y, start_lr=1e-4, end_lr=1.0, steps=30)

    assert len(result.learning_rates) > 5
    assert model.optimizer is optimizer and optimizer._learning_rate is learning_rate_object
    assert optimizer.learning_rate == learning_rate
    for a, b in zip(weights, model.get_weights()):
        assert np.array_equal(a, b)
    assert_same_optimizer_state(state, optimizer_snapshot(optimizer))
    # training continues exactly as it would have without the finder
    twin = regression_model(make_optimizer())
    twin.fit(x, y, batch_size=32, epochs=1, verbose=0)
    x_batch, y_batch = x[:32], y[:32]
    model.train_on_batch(x_batch, y_batch)
    twin.train_on_batch(x_batch, y_batch)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_fresh_optimizer_stays_fresh():
    x, y = regression_data()
    model = regression_model(optimizers.Adam())
    lr_finder(model, x, y, steps=10)
    assert model.optimizer.iterations == 0 and model.optimizer.variables == []
    assert all(len(v) == 0 for v in model.optimizer.get_state()["slots"].values())


def test_learning_rates_increase_exponentially():
    x, y = regression_data()
    result = lr_finder(regression_model(optimizers.SGD()), x, y, start_lr=1e-6, end_lr=1e-2, steps=25)
    lrs = result.learning_rates
    assert len(lrs) == 25 and not result.diverged  # 1e-2 is safe for this problem
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1e-2)
    np.testing.assert_allclose(np.diff(np.log(lrs)), np.log(1e4) / 24, rtol=1e-9)
    # smoothing is a bias-corrected moving average of the raw losses
    beta, average = 0.98, 0.0
    for i, loss in enumerate(result.losses):
        average = beta * average + (1 - beta) * loss
        assert result.smoothed_losses[i] == pytest.approx(average / (1 - beta ** (i + 1)), rel=1e-12)
    assert result.smoothed_losses[0] == result.losses[0]


def test_stops_early_on_divergence_and_suggests_a_rate_where_the_loss_falls():
    x, y = regression_data()
    result = lr_finder(regression_model(optimizers.SGD()), x, y, start_lr=1e-5, end_lr=1e4, steps=100,
                       batch_size=32)
    assert result.diverged and len(result.learning_rates) < 100
    smoothed = result.smoothed_losses
    last = smoothed[-1]
    assert not np.isfinite(last) or last > 4.0 * np.min(smoothed[:-1])
    divergence_lr = result.learning_rates[-1]
    assert result.suggestion is not None and result.suggestion < divergence_lr
    assert smoothed[result.suggestion_index] < smoothed[0]
    assert result.learning_rates[0] < result.suggestion
    assert result.best_lr < divergence_lr
    assert smoothed[np.flatnonzero(result.learning_rates == result.best_lr)[0]] == np.nanmin(smoothed)
    assert "diverged=True" in repr(result)


def test_classification_with_int_labels_and_regularization_in_the_loss():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 5)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    gn.set_seed(2)
    model = gn.Sequential([layers.Dense(8, activation="tanh", input_shape=(5,), kernel_regularizer="l2"),
                           layers.Dense(3)])
    model.compile(optimizers.SGD(), gn.losses.SparseCategoricalCrossentropy(from_logits=True))
    with gn.no_grad():
        expected_first = float(model.compiled_loss(labels, model(x, training=True)).data) + sum(
            float(p.data) for p in model.losses)
    result = lr_finder(model, x, labels, start_lr=1e-3, end_lr=1e2, steps=20, batch_size=96)
    assert result.losses[0] == pytest.approx(expected_first, rel=1e-5)  # full batch: loss + L2 penalty
    assert np.all(np.isfinite(result.losses[:5]))


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = regression_data(128)
    target = tmp_path / "figures" / "lr_finder.png"
    result = lr_finder(regression_model(optimizers.SGD()), x, y, start_lr=1e-5, end_lr=1e3, steps=40,
                       plot=True, to_file=target)
    assert target.stat().st_size > 1000 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure = result.plot(to_file=tmp_path / "again.png")
    axis = figure.axes[0]
    assert axis.get_xscale() == "log" and (tmp_path / "again.png").stat().st_size > 1000
    assert any(line.get_label().startswith("steepest descent") for line in axis.get_lines())


def test_bad_arguments():
    x, y = regression_data(32)
    uncompiled = gn.Sequential([layers.Dense(1, input_shape=(4,))])
    with pytest.raises(GlassnetError, match="compile"):
        lr_finder(uncompiled, x, y)
    model = regression_model(optimizers.SGD())
    with pytest.raises(ValueError, match="end_lr"):
        lr_finder(model, x, y, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        lr_finder(model, x, y, steps=1)
    with pytest.raises(ValueError, match="smoothing"):
        lr_finder(model, x, y, smoothing=1.0)
    with pytest.raises(ValueError, match="divergence_threshold"):
        lr_finder(model, x, y, divergence_threshold=0.5)


def test_suggestion_on_a_synthetic_curve():
    lrs = np.logspace(-6, 0, 61)
    smoothed = 2.0 - np.tanh(np.log10(lrs) + 3.0)  # steepest fall at lr = 1e-3
    result = LRFinderResult(lrs, smoothed, smoothed, diverged=False, divergence_threshold=4.0)
    assert result.suggestion == pytest.approx(1e-3)
    assert result.best_lr == lrs[-1]
