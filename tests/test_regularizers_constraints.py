"""Regularizers (penalties added to the loss) and constraints (projections after each update)."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import constraints, layers, regularizers
from glassnet.diagnostics import gradcheck
from glassnet.errors import UnknownNameError

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 3))


# ---------------------------------------------------------------- regularizers
@pytest.mark.parametrize("regularizer, expected", [
    (regularizers.L1(0.3), 0.3 * np.abs(W).sum()),
    (regularizers.L2(0.2), 0.2 * (W ** 2).sum()),
    (regularizers.L1L2(l1=0.1, l2=0.4), 0.1 * np.abs(W).sum() + 0.4 * (W ** 2).sum()),
    (regularizers.L1L2(), 0.0),
])
def test_penalty_values(regularizer, expected):
    value = regularizer(gn.tensor(W, dtype="float64"))
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.4)])
def test_penalty_gradients(regularizer):
    assert gradcheck(lambda w: regularizer(w), W)


def test_names_use_keras_default_factor():
    assert regularizers.get("l1").l1 == 0.01
    assert regularizers.get("l2").l2 == 0.01
    both = regularizers.get("l1_l2")
    assert (both.l1, both.l2) == (0.01, 0.01)
    assert regularizers.get(None) is None
    with pytest.raises(UnknownNameError, match="l2"):
        regularizers.get("l3")


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.4)])
def test_config_round_trip(regularizer):
    config = json.loads(json.dumps(regularizers.serialize(regularizer)))
    rebuilt = regularizers.deserialize(config)
    assert type(rebuilt) is type(regularizer) and rebuilt.get_config() == regularizer.get_config()


def test_lower_case_keras_spellings_are_the_classes():
    # Keras 3 exports L1 as l1 and L2 as l2: instances of the classes, serialized under the class names
    assert isinstance(regularizers.l1(0.3), regularizers.L1) and regularizers.l1().l1 == 0.01
    assert isinstance(regularizers.l2(0.2), regularizers.L2) and regularizers.l2().l2 == 0.01
    value = regularizers.l2(0.2)(gn.tensor(W, dtype="float64")).item()
    np.testing.assert_allclose(value, 0.2 * (W ** 2).sum(), rtol=1e-12)
    for regularizer, name in ((regularizers.l1(0.3), "L1"), (regularizers.l2(1e-3), "L2")):
        config = json.loads(json.dumps(regularizers.serialize(regularizer)))
        assert config["class_name"] == name
        rebuilt = regularizers.deserialize(config)
        assert type(rebuilt) is type(regularizer) and rebuilt.get_config() == regularizer.get_config()


def test_lower_case_regularizers_save_and_load_with_a_model(tmp_path):
    model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(3, kernel_regularizer=regularizers.l2(1e-3),
                                                                bias_regularizer=regularizers.l1(0.02))])
    model.save(tmp_path / "m.glassnet")
    dense = gn.load_model(tmp_path / "m.glassnet").layers[0]
    assert type(dense.kernel_regularizer) is regularizers.L2 and dense.kernel_regularizer.l2 == 1e-3
    assert type(dense.bias_regularizer) is regularizers.L1 and dense.bias_regularizer.l1 == 0.02


def test_model_losses_lists_every_penalty():
    gn.set_seed(0)
    model = gn.Sequential([layers.Dense(3, input_shape=(2,), kernel_regularizer="l2", bias_regularizer="l1",
                                        bias_initializer="ones"),
                           layers.Dense(1, kernel_regularizer=regularizers.L1(0.5))])
    model.build((None, 2))
    penalties = [p.item() for p in model.losses]
    first, second = model.layers
    expected = [0.01 * (first.kernel.data ** 2).sum(), 0.01 * np.abs(first.bias.data).sum(),
                0.5 * np.abs(second.kernel.data).sum()]
    np.testing.assert_allclose(sorted(penalties), sorted(expected), rtol=1e-6)


def test_l2_penalty_shrinks_weights_during_training():
    x = RNG.standard_normal((64, 5)).astype("float32")
    y = (x @ RNG.standard_normal((5, 1))).astype("float32")

    def final_norm(regularizer):
        gn.set_seed(1)
        model = gn.Sequential([layers.Dense(1, input_shape=(5,), kernel_regularizer=regularizer)])
        model.compile(gn.optimizers.SGD(0.05), "mse")
        model.fit(x, y, epochs=30, batch_size=16, verbose=0, shuffle=False)
        return np.linalg.norm(model.layers[0].kernel.data)

    assert final_norm(regularizers.L2(1.0)) < 0.5 * final_norm(None)


# ---------------------------------------------------------------- constraints
def test_max_norm_rescales_only_columns_above_the_limit():
    w = np.array([[3.0, 0.3], [4.0, 0.4]])  # column norms 5 and 0.5
    out = constraints.MaxNorm(2.0)(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [2.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], w[:, 1], rtol=1e-6)
    np.testing.assert_allclose(out[:, 0] / np.linalg.norm(out[:, 0]), [0.6, 0.8])


def test_max_norm_along_rows():
    w = np.array([[3.0, 4.0], [0.3, 0.4]])
    np.testing.assert_allclose(np.linalg.norm(constraints.MaxNorm(1.0, axis=1)(w), axis=1), [1.0, 0.5], rtol=1e-6)


def test_non_neg_zeroes_negative_entries():
    np.testing.assert_array_equal(constraints.NonNeg()(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0])


def test_unit_norm():
    out = constraints.UnitNorm()(W)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), 1.0, rtol=1e-6)


def test_min_max_norm_with_rate():
    w = np.array([[3.0, 0.03], [4.0, 0.04]])  # norms 5 and 0.05
    out = constraints.MinMaxNorm(min_value=0.5, max_value=2.0, rate=1.0)(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [2.0, 0.5], rtol=1e-5)
    half = constraints.MinMaxNorm(min_value=0.5, max_value=2.0, rate=0.5)(w)
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [(2.0 + 5.0) / 2, (0.5 + 0.05) / 2], rtol=1e-5)


@pytest.mark.parametrize("name, cls", [("max_norm", constraints.MaxNorm), ("non_neg", constraints.NonNeg),
                                       ("unit_norm", constraints.UnitNorm), ("min_max_norm", constraints.MinMaxNorm)])
def test_constraint_names_and_config(name, cls):
    constraint = constraints.get(name)
    assert isinstance(constraint, cls)
    rebuilt = constraints.deserialize(json.loads(json.dumps(constraints.serialize(constraint))))
    assert type(rebuilt) is cls and rebuilt.get_config() == constraint.get_config()


def test_max_norm_holds_after_every_training_step():
    x = RNG.standard_normal((64, 6)).astype("float32")
    y = (3 * x @ RNG.standard_normal((6, 4))).astype("float32")
    gn.set_seed(2)
    model = gn.Sequential([layers.Dense(4, input_shape=(6,), kernel_constraint=constraints.MaxNorm(0.5))])
    model.compile(gn.optimizers.SGD(0.1), "mse")
    norms = []

    class RecordNorms(gn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            norms.append(np.linalg.norm(model.layers[0].kernel.data, axis=0).max())

    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[RecordNorms()])
    assert len(norms) == 24 and max(norms) <= 0.5 + 1e-6
    assert max(norms) > 0.49  # the constraint is active, not vacuous
