"""Figures (glassnet.plot): every function draws headless (Agg), returns the Figure and writes a real PNG;
the curves hold the right numbers (schedules, activation derivatives by autodiff, gradient flow)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import glassnet as gn
from glassnet import layers as L
from glassnet import plot
from glassnet.errors import InputError, UnknownNameError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1024


def assert_figure(fig):
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    return fig


@pytest.fixture(scope="module")
def trained():
    gn.set_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("float32")
    model = gn.Sequential([L.Dense(6, activation="relu", input_shape=(2,)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    return model, history, X, y


def test_training_curves(trained, tmp_path):
    _, history, _, _ = trained
    fig = assert_figure(plot.plot_training(history, to_file=tmp_path / "training.png"))
    assert_png(tmp_path / "training.png")
    assert len(fig.axes) == 2
    loss_ax = fig.axes[0]
    assert [line.get_label() for line in loss_ax.lines] == ["train loss", "validation loss"]
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), history.history["val_loss"])
    # a regression history has no accuracy: that panel is skipped
    fig = plot.plot_training({"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]}, to_file=tmp_path / "reg.png")
    assert len(fig.axes) == 1
    assert_png(tmp_path / "reg.png")
    with pytest.raises(UnknownNameError):
        plot.plot_training({"loss": [1.0]}, metrics=("accuracy",))
    assert_figure(plot.plot_history(history, "accuracy", to_file=tmp_path / "acc.png"))
    assert_png(tmp_path / "acc.png")


def test_comparison_curves(trained, tmp_path):
    _, history, _, _ = trained
    runs = {"adam": history, "sgd": {"val_accuracy": [0.5, 0.6, 0.7], "val_loss": [0.7, 0.6, 0.5]}}
    fig = plot.plot_comparison(runs, metric=("val_loss", "val_accuracy"), to_file=tmp_path / "cmp.png")
    assert_png(tmp_path / "cmp.png")
    assert len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[1].lines] == ["adam", "sgd"]
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [0.5, 0.6, 0.7])
    with pytest.raises(UnknownNameError):
        plot.plot_comparison(runs, metric="val_auc")


def test_schedule_curves(tmp_path):
    decay = gn.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    fig = plot.plot_schedule(decay, steps=50, to_file=tmp_path / "one.png")
    assert_png(tmp_path / "one.png")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), 0.1 * 0.5 ** (np.arange(50) / 10), rtol=1e-6)
    schedules = {"cosine": gn.schedules.CosineDecay(0.1, 40), "step": gn.schedules.StepDecay(0.1, 0.5, 10),
                 "keras fn": lambda epoch, lr: lr * 0.9}
    fig = plot.plot_schedule(schedules, steps=40, initial_lr=0.1, log_scale=True, to_file=tmp_path / "many.png")
    assert_png(tmp_path / "many.png")
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
    assert set(lines) == set(schedules)
    np.testing.assert_allclose(lines["keras fn"], 0.1 * 0.9 ** np.arange(1, 41), rtol=1e-9)
    np.testing.assert_allclose(lines["step"][[0, 9, 10, 25]], [0.1, 0.1, 0.05, 0.025])
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="initial_lr"):
        plot.plot_schedule(lambda epoch, lr: lr, steps=5)


def test_activation_functions_and_autodiff_derivatives(tmp_path):
    fig = plot.plot_activations(("sigmoid", "tanh", "relu", "elu"), x_range=(-4, 4), num=81,
                                to_file=tmp_path / "act.png")
    assert_png(tmp_path / "act.png")
    assert len(fig.axes) == 4
    x, s = fig.axes[0].lines[0].get_data()
    ds = fig.axes[0].lines[1].get_ydata()
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(ds, s * (1 - s), rtol=1e-10)  # autodiff agrees with σ' = σ(1 − σ)
    x, _ = fig.axes[1].lines[0].get_data()
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), 1 - np.tanh(x) ** 2, rtol=1e-10, atol=1e-14)
    _, dy = plot.activation_curve("elu", np.array([-1.0, 2.0]))
    np.testing.assert_allclose(dy, [np.exp(-1.0), 1.0])
    fig = plot.plot_activations({"custom": lambda v: v * v}, to_file=tmp_path / "custom.png")
    x, _ = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), 2 * x, atol=1e-12)
    with pytest.raises(ValueError, match="elementwise"):
        plot.plot_activations(["softmax"])


def test_decision_boundaries(trained, tmp_path):
    model, _, X, y = trained
    assert_figure(plot.plot_decision_boundary(model, X, y, resolution=60, to_file=tmp_path / "model.png"))
    assert_png(tmp_path / "model.png")
    perceptron = gn.Perceptron(learning_rate=0.1, epochs=5).fit(X, y.astype(int))
    plot.plot_decision_boundary(perceptron, X, y, resolution=60, to_file=tmp_path / "perceptron.png")
    assert_png(tmp_path / "perceptron.png")
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # three classes
    three = gn.Sequential([L.Dense(3, activation="softmax", input_shape=(2,))])
    fig = plot.plot_decision_boundary(three, X, np.eye(3)[labels], resolution=50, to_file=tmp_path / "multi.png")
    assert_png(tmp_path / "multi.png")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["class 0", "class 1", "class 2"]
    plot.plot_decision_boundary(lambda g: (g[:, 0] > g[:, 1]).astype(int), X, y, resolution=40,
                                to_file=tmp_path / "callable.png")
    assert_png(tmp_path / "callable.png")
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        plot.plot_decision_boundary(model, np.zeros((5, 3)), None)


def test_decision_boundary_labels_and_thresholds():
    labels, score, n = plot._as_labels(np.array([[0.2], [0.7], [0.5]]), 0.5)
    assert labels.tolist() == [0, 1, 1] and n == 2 and score is not None
    labels, score, n = plot._as_labels(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]), 0.5)
    assert labels.tolist() == [1, 0] and n == 3 and score is None
    labels, score, n = plot._as_labels(np.array([0, 1, 1]), 0.5)
    assert labels.tolist() == [0, 1, 1] and score is None


class FlowStandIn:
    """The interface of GradientMonitor.history: layer_names, steps, series(layer, quantity)."""

    def __init__(self):
        self.layer_names = ["dense", "dropout", "dense_1"]
        self.steps = np.arange(0, 50, 5)
        self._data = {"dense": np.geomspace(1e-1, 1e-4, 10), "dropout": np.full(10, np.nan),
                      "dense_1": np.geomspace(1.0, 0.5, 10)}

    def series(self, name, quantity):
        assert quantity == "grad_norm"
        return self._data[name]


def test_gradient_flow_chart(tmp_path):
    flow = FlowStandIn()
    fig = plot.plot_gradient_flow(flow, to_file=tmp_path / "flow.png")
    assert_png(tmp_path / "flow.png")
    lines_ax, bar_ax = fig.axes
    assert [line.get_label() for line in lines_ax.lines] == ["dense", "dense_1"]  # all-NaN layer left out
    assert lines_ax.get_yscale() == "log" and bar_ax.get_yscale() == "log"
    np.testing.assert_allclose([p.get_height() for p in bar_ax.patches], [1e-4, 0.5])
    fig = plot.plot_gradient_flow(flow, kind="bar", to_file=tmp_path / "bar.png")
    assert len(fig.axes) == 1
    assert_png(tmp_path / "bar.png")
    with pytest.raises(UnknownNameError):
        plot.plot_gradient_flow(flow, kind="pie")
    with pytest.raises(TypeError, match="GradientMonitor"):
        plot.plot_gradient_flow({"dense": [1.0]})


def test_gradient_flow_from_a_real_monitor(trained, tmp_path):
    try:
        from glassnet.diagnostics.monitor import GradientMonitor

        monitor = GradientMonitor(warn=False)
    except ImportError as error:  # the monitor is developed in parallel; the stand-in test covers the interface
        pytest.skip(f"GradientMonitor not available yet: {error}")
    model, _, X, y = trained
    model.fit(X, y, epochs=1, batch_size=40, verbose=0, callbacks=[monitor])
    fig = plot.plot_gradient_flow(monitor, to_file=tmp_path / "monitor.png")
    assert_png(tmp_path / "monitor.png")
    assert len(fig.axes[0].lines) == 2  # the two Dense layers


def test_weight_and_activation_histograms(trained, tmp_path):
    model, _, X, _ = trained
    fig = plot.plot_weight_histograms(model, to_file=tmp_path / "weights.png")
    assert_png(tmp_path / "weights.png")
    assert len([ax for ax in fig.axes if ax.patches]) == 2  # one panel per layer with weights
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["kernel (12)", "bias (6)"]
    fig = plot.plot_activation_histograms(model, X, to_file=tmp_path / "activations.png")
    assert_png(tmp_path / "activations.png")
    assert len(fig.axes) == 2
    outputs = plot.layer_outputs(model, X)
    assert [layer.name for layer, _ in outputs] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(outputs[-1][1], model.predict(X, verbose=0), rtol=1e-6)
    assert "zero" in fig.axes[0].get_title()
    with pytest.raises(Exception, match="no weights"):
        plot.plot_weight_histograms(gn.Sequential([L.Dense(2)]))


def test_to_file_is_saved_before_show(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    target = tmp_path / "shown.png"
    seen = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: seen.append(target.exists()))
    plot.plot_training({"loss": [2.0, 1.0]}, to_file=target, show=True)
    assert seen == [True]
    plt.close("all")
