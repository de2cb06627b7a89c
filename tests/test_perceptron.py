"""The Rosenblatt perceptron (SPEC §1): learns AND/OR/NAND, never XOR, and follows the rule exactly."""

import numpy as np
import pytest

from glassnet.datasets import logic_gate
from glassnet.errors import InputError, NotBuiltError, ShapeError
from glassnet.perceptron import Perceptron


@pytest.mark.parametrize("gate", ["and", "or", "nand", "nor"])
def test_learns_linearly_separable_gates(gate):
    X, y = logic_gate(gate)
    p = Perceptron(learning_rate=0.1, epochs=10).fit(X, y)
    assert len(p.errors_) == 10
    assert 0 in p.errors_  # a mistake-free epoch within 10 epochs
    first_clean = p.errors_.index(0)
    assert all(e == 0 for e in p.errors_[first_clean:])  # and it stays converged
    np.testing.assert_array_equal(p.predict(X), y)
    assert p.score(X, y) == 1.0


@pytest.mark.parametrize("gate", ["xor", "xnor"])
@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_never_learns_xor(gate, lr):
    X, y = logic_gate(gate)
    p = Perceptron(learning_rate=lr, epochs=1000).fit(X, y)
    assert len(p.errors_) == 1000
    assert min(p.errors_) >= 2  # still at least 2 mistakes in every one of 1000 epochs
    assert p.score(X, y) < 1.0


def test_hand_computed_first_epoch_on_and():
    # lr = 0.1, w = (0, 0), b = 0, samples in order:
    #   (0,0) y=0: z=0    → ŷ=1, wrong: b = −0.1
    #   (0,1) y=0: z=−0.1 → ŷ=0, right
    #   (1,0) y=0: z=−0.1 → ŷ=0, right
    #   (1,1) y=1: z=−0.1 → ŷ=0, wrong: w = (0.1, 0.1), b = 0.0
    X, y = logic_gate("and")
    p = Perceptron(learning_rate=0.1, epochs=1).fit(X, y)
    assert p.errors_ == [2]
    np.testing.assert_allclose(p.weights_, [0.1, 0.1])
    assert p.bias_ == pytest.approx(0.0)
    np.testing.assert_allclose(p.coef_, p.weights_)
    assert p.intercept_ == p.bias_
    np.testing.assert_allclose(p.net_input(X), [0.0, 0.1, 0.1, 0.2])
    np.testing.assert_array_equal(p.predict(X), [1, 1, 1, 1])  # step(0) = 1


def test_defaults_and_epoch_count():
    p = Perceptron()
    assert (p.learning_rate, p.epochs, p.shuffle, p.seed, p.early_stopping) == (0.01, 100, False, None, False)
    X, y = logic_gate("or")
    p.fit(X, y)
    assert len(p.errors_) == 100 and p.n_iter_ == 100  # fixed epochs by default
    early = Perceptron(learning_rate=0.1, epochs=50, early_stopping=True).fit(X, y)
    assert early.errors_[-1] == 0 and 0 not in early.errors_[:-1]
    assert early.n_iter_ == len(early.errors_) < 50


def test_predict_is_a_vectorised_batch_step():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3 > 0).astype(int)
    p = Perceptron(learning_rate=0.1, epochs=200, shuffle=True, seed=0).fit(X, y)
    predictions = p.predict(X[:50])
    assert predictions.shape == (50,) and predictions.dtype == np.int64
    np.testing.assert_array_equal(predictions, (X[:50] @ p.weights_ + p.bias_ >= 0).astype(int))
    assert p.predict(X[0]).shape == (1,)  # one sample
    # separable data: the convergence theorem says training becomes error free
    assert p.errors_[-1] == 0 and p.score(X, y) == 1.0


def test_shuffle_uses_its_own_seed():
    X, y = logic_gate("nand")
    a = Perceptron(learning_rate=0.1, epochs=5, shuffle=True, seed=3).fit(X, y)
    b = Perceptron(learning_rate=0.1, epochs=5, shuffle=True, seed=3).fit(X, y)
    assert a.errors_ == b.errors_
    np.testing.assert_array_equal(a.weights_, b.weights_)
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(40, 2))
    yr = (Xr[:, 0] > 0).astype(int)
    in_order = Perceptron(learning_rate=0.1, epochs=3).fit(Xr, yr)
    shuffled = Perceptron(learning_rate=0.1, epochs=3, shuffle=True, seed=0).fit(Xr, yr)
    assert not np.array_equal(in_order.weights_, shuffled.weights_)


def test_refit_starts_from_zero():
    X, y = logic_gate("and")
    p = Perceptron(learning_rate=0.1, epochs=1)
    first = p.fit(X, y).weights_.copy()
    np.testing.assert_array_equal(p.fit(X, y).weights_, first)
    assert p.errors_ == [2]


@pytest.mark.parametrize("labels, needle", [
    ([0, 1, 2, 1], "got 2 at index 2"),
    ([-1, 1, 1, -1], "got -1 at index 0"),
    ([0.0, 0.5, 1.0, 1.0], "got 0.5"),
])
def test_bad_labels(labels, needle):
    X, _ = logic_gate("and")
    with pytest.raises(InputError, match=needle):
        Perceptron().fit(X, np.array(labels))


def test_bad_inputs():
    X, y = logic_gate("and")
    with pytest.raises(ShapeError, match=r"\(n_samples, n_features\)"):
        Perceptron().fit(X[:, 0], y)
    with pytest.raises(ShapeError, match=r"\(4,\)"):
        Perceptron().fit(X, y[:3])
    with pytest.raises(NotBuiltError, match="fit"):
        Perceptron().predict(X)
    with pytest.raises(ShapeError, match="2 features"):
        Perceptron(epochs=1).fit(X, y).predict(np.zeros((2, 3)))
    with pytest.raises(InputError, match="NaN"):
        Perceptron().fit(np.array([[0.0, np.nan]]), [1])
    with pytest.raises(InputError, match="learning_rate"):
        Perceptron(learning_rate=0)
    with pytest.raises(InputError, match="epochs"):
        Perceptron(epochs=0)
    p = Perceptron(epochs=2).fit(X, y[:, None])  # (N, 1) labels are fine
    assert len(p.errors_) == 2


def test_config_round_trip():
    p = Perceptron(learning_rate=0.2, epochs=7, shuffle=True, seed=1, early_stopping=True)
    q = Perceptron.from_config(p.get_config())
    assert q.get_config() == p.get_config()
    assert "learning_rate=0.2" in repr(q)
