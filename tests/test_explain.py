"""Explain mode: the SPEC §1 hand-worked forward pass, per-layer shapes and statistics, and a backward
pass whose gradients equal autodiff's and satisfy the chain-rule identities."""

import re

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.diagnostics import Explanation, explain
from glassnet.errors import GlassnetError

SPEC_Z1 = [-0.301989, -0.156122, 0.942224, 0.447158]
SPEC_A2 = 0.494641


def spec_model():
    """SPEC §1: np.random.seed(42); W1=randn(4,3), b1=randn(4,1), W2=randn(1,4), b2=randn(1,1) (column
    convention), loaded into a row-convention Sequential through set_weights."""
    np.random.seed(42)
    W1, b1 = np.random.randn(4, 3), np.random.randn(4, 1)
    W2, b2 = np.random.randn(1, 4), np.random.randn(1, 1)
    model = gn.Sequential([L.Dense(4, activation="relu", input_shape=(3,), name="hidden"),
                           L.Dense(1, activation="sigmoid", name="output")])
    model.set_weights([W1.T, b1.ravel(), W2.T, b2.ravel()])
    return model, np.array([[1.0, 0.5, -1.5]])


def printed_vector(text, symbol):
    match = re.search(rf"^\s*{re.escape(symbol)} = \[([^\]]*)\]", text, flags=re.MULTILINE)
    assert match, f"no line '{symbol} = [...]' in:\n{text}"
    return [float(v) for v in match.group(1).split(",")]


def test_reproduces_the_spec_forward_example_in_text_and_arrays(capsys):
    model, x = spec_model()
    exp = explain(model, x)
    text = capsys.readouterr().out
    assert isinstance(exp, Explanation) and text.strip() == exp.to_text().strip()
    # printed, labelled Z1, A1, Z2, A2 (6 decimals)
    assert printed_vector(text, "Z1") == SPEC_Z1
    assert printed_vector(text, "A1") == [0.0, 0.0, 0.942224, 0.447158]
    assert printed_vector(text, "A2") == [SPEC_A2]
    assert len(printed_vector(text, "Z2")) == 1
    # the formulas
    assert "Z1 = X·W1 + b1" in text and "A1 = relu(Z1)" in text
    assert "Z2 = A1·W2 + b2" in text and "A2 = sigmoid(Z2)" in text
    # returned arrays
    np.testing.assert_allclose(exp.values["Z1"].ravel(), SPEC_Z1, atol=5e-7)
    np.testing.assert_allclose(exp.values["A2"].ravel(), [SPEC_A2], atol=5e-7)
    np.testing.assert_allclose(exp[0].z.ravel(), SPEC_Z1, atol=5e-7)
    np.testing.assert_allclose(exp[1].a, model.predict(x, verbose=0), rtol=1e-6)
    assert exp[0].activation == "relu" and exp[1].activation == "sigmoid"


def test_prints_shapes_and_activation_statistics_per_layer():
    model, x = spec_model()
    exp = explain(model, np.repeat(x, 3, axis=0) * np.array([[1.0], [2.0], [-1.0]]), print=False)
    text = exp.to_text()
    assert "[1] hidden (Dense): X (3, 3) → A1 (3, 4);  weights W1 (3, 4), b1 (4,)" in text
    assert "[2] output (Dense): A1 (3, 4) → A2 (3, 1);  weights W2 (4, 1), b2 (1,)" in text
    a1 = exp.values["A1"]
    stats = exp[0].stats()
    assert stats["zero"] == pytest.approx(np.mean(a1 == 0))
    assert stats["mean"] == pytest.approx(a1.mean(), rel=1e-6) and stats["max"] == pytest.approx(a1.max(), rel=1e-6)
    line = re.search(r"shape \(3, 4\)  mean (\S+)  std (\S+)  min (\S+)  max (\S+)  zero (\S+)%", text)
    assert line, text
    assert float(line.group(1)) == pytest.approx(exp.values["Z1"].mean(), rel=1e-5)  # the Z1 line comes first
    assert "(sample 0 of 3)" in text


def test_backward_gradients_equal_autodiff_and_satisfy_the_chain_rule():
    gn.set_seed(3)
    model = gn.Sequential([L.Dense(5, activation="tanh", input_shape=(4,)), L.Dense(3, activation="relu"),
                           L.Dense(1, activation="sigmoid")])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype("float32")
    y = (rng.random((6, 1)) > 0.5).astype("float32")
    exp = explain(model, x, backward=True, y=y, loss="binary_crossentropy", print=False)

    # autodiff of the same loss, through the model's own graph
    xt = gn.tensor(x, requires_grad=True)
    loss = gn.losses.get("binary_crossentropy")(y, model(xt))
    loss.backward()
    assert exp.loss == pytest.approx(float(loss.data), rel=1e-5)
    for k, layer in enumerate(model.layers, start=1):
        np.testing.assert_allclose(exp.grads[f"W{k}"], layer.kernel.grad, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(exp.grads[f"b{k}"], layer.bias.grad, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exp.grads["X"], xt.grad, rtol=1e-4, atol=1e-6)

    # chain-rule identities, layer by layer
    for record in exp:
        X, W = record.inputs[0], record.weights["W"]
        np.testing.assert_allclose(record.grad_z, record.grad_output * record.activation_derivative, rtol=1e-6,
                                   atol=1e-7)
        np.testing.assert_allclose(record.grad_weights["W"], X.T @ record.grad_z, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(record.grad_weights["b"], record.grad_z.sum(axis=0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(record.grad_inputs[0], record.grad_z @ W.T, rtol=1e-5, atol=1e-7)
    # what a layer passes back is what the layer below receives
    for lower, upper in zip(exp.records[:-1], exp.records[1:]):
        np.testing.assert_allclose(lower.grad_output, upper.grad_inputs[0], rtol=1e-5, atol=1e-7)
    # f'(Z) really is the derivative of the activation: tanh' = 1 − tanh², relu' = 1[Z > 0]
    np.testing.assert_allclose(exp[0].activation_derivative, 1 - np.tanh(exp[0].z) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(exp[1].activation_derivative, (exp[1].z > 0).astype("float32"))
    # the output layer: ∂L/∂Z of sigmoid + cross-entropy is (ŷ − y)/N
    np.testing.assert_allclose(exp[2].grad_z, (exp[2].a - y) / len(y), rtol=1e-4, atol=1e-6)


def test_backward_text_shows_the_factors_from_output_to_input():
    model, x = spec_model()
    exp = explain(model, x, backward=True, y=np.array([[1.0]]), loss="binary_crossentropy", print=False)
    text = exp.to_text()
    backward = text[text.index("backward pass"):]
    assert backward.index("[2] output (Dense)") < backward.index("[1] hidden (Dense)")  # output first
    for label in ["∂L/∂A2", "∂L/∂Z2 = ∂L/∂A2 ⊙ sigmoid'(Z2)", "∂L/∂W2 = A1ᵀ·∂L/∂Z2", "∂L/∂b2 = Σ_batch ∂L/∂Z2",
                  "∂L/∂A1 = ∂L/∂Z2·W2ᵀ", "∂L/∂Z1 = ∂L/∂A1 ⊙ relu'(Z1)", "∂L/∂W1 = Xᵀ·∂L/∂Z1",
                  "∂L/∂X = ∂L/∂Z1·W1ᵀ"]:
        assert label in backward, label
    norm = re.search(r"∂L/∂W1 = Xᵀ·∂L/∂Z1\n\s+shape \(3, 4\)  norm (\S+)", backward)
    assert float(norm.group(1)) == pytest.approx(np.linalg.norm(exp.grads["W1"]), rel=1e-5)
    # hand check of the output layer: ∂L/∂Z2 = A2 − y
    assert exp.grads["Z2"].item() == pytest.approx(SPEC_A2 - 1.0, abs=1e-6)
    assert f"L = binary_crossentropy(y, A2) = {-np.log(exp.values['A2'].item()):.6f}" in backward


def test_functional_residual_model_gradients_and_fan_out():
    gn.set_seed(1)
    inp = gn.Input((6,))
    h = L.Dense(8, activation="tanh", name="stem")(inp)
    b = L.Dense(8, activation="relu", name="branch")(h)
    s = L.Add(name="add")([h, b])
    n = L.LayerNormalization(name="norm")(s)
    out = L.Dense(3, activation="softmax", name="head")(n)
    model = gn.Model(inp, out)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1]]
    exp = explain(model, x, backward=True, y=y, loss="categorical_crossentropy", print=False)
    text = exp.to_text()
    assert "A3 = A1 + A2" in text
    assert "∂L/∂A1 = sum of the gradients coming back from [2] branch, [3] add" in text
    assert "∂L/∂Z5 = J_softmax(Z5)ᵀ·∂L/∂A5" in text

    loss = gn.losses.get("categorical_crossentropy")(y, model(x))
    loss.backward()
    for name in ("stem", "branch", "head"):
        np.testing.assert_allclose(exp[name].grad_weights["W"], model.get_layer(name).kernel.grad, rtol=1e-4,
                                   atol=1e-6)
    gamma = model.get_layer("norm").weights[0]
    np.testing.assert_allclose(exp["norm"].grad_weights["gamma"], gamma.grad, rtol=1e-4, atol=1e-6)
    # the total reaching the fan-out tensor A1 is the sum of what each consumer sends back
    total = exp["branch"].grad_inputs[0] + exp["add"].grad_inputs[0]
    np.testing.assert_allclose(exp["stem"].grad_output, total, rtol=1e-5, atol=1e-7)


def test_unknown_layers_are_shown_as_a_call_with_shapes_and_stats():
    class Doubler(L.Layer):
        def call(self, inputs):
            return inputs * 2.0

    gn.set_seed(0)
    model = gn.Sequential([L.Dense(3, input_shape=(2,)), Doubler(name="doubler"), L.Flatten()])
    exp = explain(model, np.ones((2, 2), dtype="float32"), backward=True, y=np.zeros((2, 3)), loss="mse",
                  print=False)
    text = exp.to_text()
    assert "A1 = Z1 = X·W1 + b1" in text  # a linear Dense: no separate activation step
    assert "A2 = doubler(A1)" in text and "[2] doubler (Doubler): A1 (2, 3) → A2 (2, 3)" in text
    assert "A3 = reshape(A2, (batch, −1))" in text
    np.testing.assert_allclose(exp["doubler"].a, 2 * exp[0].a)
    # the VJP of the unknown layer comes from autodiff of that layer: ∂L/∂A1 = 2·∂L/∂A2
    np.testing.assert_allclose(exp["doubler"].grad_inputs[0], 2 * exp["doubler"].grad_output, rtol=1e-6)


def test_explain_leaves_weight_gradients_alone_and_uses_the_compiled_loss():
    model, x = spec_model()
    sentinel = np.full((3, 4), 7.0, dtype="float32")
    model.layers[0].kernel.grad = sentinel
    model.compile(optimizer="sgd", loss="mse")
    exp = explain(model, x, backward=True, y=np.array([[0.0]]), print=False)
    assert model.layers[0].kernel.grad is sentinel
    assert model.layers[1].kernel.grad is None
    assert exp.loss == pytest.approx(SPEC_A2 ** 2, rel=1e-5)
    assert exp.loss_name == "mean_squared_error"


def test_explain_errors_are_clear():
    model, x = spec_model()
    with pytest.raises(GlassnetError, match="needs the targets y"):
        explain(model, x, backward=True, print=False)
    with pytest.raises(GlassnetError, match="loss="):
        explain(model, x, backward=True, y=[[1.0]], print=False)
    with pytest.raises(TypeError, match="glassnet Model or Layer"):
        explain(lambda v: v, x, print=False)


def test_training_mode_shows_dropout_and_uses_totals():
    gn.set_seed(0)
    model = gn.Sequential([L.Dense(4, activation="relu", input_shape=(3,)), L.Dropout(0.5, seed=1),
                           L.Dense(1)])
    x = np.ones((4, 3), dtype="float32")
    exp = explain(model, x, backward=True, y=np.zeros((4, 1)), loss="mse", training=True, print=False)
    assert "A2 = A1 ⊙ mask / (1 − 0.5)" in exp.to_text()
    assert exp[1].grad_method.startswith("autodiff (totals")
    kept = exp[1].a != 0
    np.testing.assert_allclose(exp[1].a[kept], 2 * exp[0].a[kept], rtol=1e-6)
    # what dropout passes back is the total gradient at A1, which the Dense chain rule must match
    np.testing.assert_allclose(exp[0].grad_output, exp[1].grad_inputs[0], rtol=1e-6)
