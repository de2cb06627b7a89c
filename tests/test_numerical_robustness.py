"""Numerical robustness (issue 8, item 4): every built-in loss and activation gives finite values and
finite gradients at ±1e4, at probabilities of exactly 0 and 1, and for float16 / float64 / integer /
bool inputs, which are cast to the compute dtype; softmax and sigmoid never overflow.

Extends tests/test_losses.py (a few losses at extreme logits) and
tests/test_activations_torch_parity.py (activations at ±1e4 and ±1e30 in float32/float64) to every
registered loss name and to float16, integer and bool inputs, through layers and ``fit``.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet import activations, layers, losses, ops, tensor

BIG = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])  # ±1e4 (and moderate values)
P = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # probabilities of exactly 0 and 1
ONE_HOT = np.eye(3)[[0, 2]]
LABELS = np.array([0, 2])
ZEROS = np.zeros((2, 3))


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)


# ====================================================================== losses
def extreme_cases(loss) -> list:
    """(y_true, y_pred) pairs at the edges of ``loss``'s domain: probabilities exactly 0 and 1 (agreeing
    and disagreeing with the labels), logits and predictions at ±1e4, zero vectors."""
    logits = getattr(loss, "from_logits", False)
    if isinstance(loss, (losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy)):
        return [(P, BIG), (1 - P, BIG)] if logits else [(P, P), (P, 1 - P), (1 - P, P)]
    if isinstance(loss, losses.CategoricalCrossentropy):
        return [(ONE_HOT, BIG), (P, BIG)] if logits else [(ONE_HOT, P), (P, P), (ONE_HOT, ONE_HOT)]
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return [(LABELS, BIG), (np.array([1, 0]), BIG)] if logits else [(LABELS, P), (np.array([0, 1]), P)]
    if isinstance(loss, losses.KLDivergence):
        return [(ONE_HOT, P), (P, ONE_HOT), (ZEROS, P), (P, ZEROS)]
    if isinstance(loss, losses.Poisson):
        return [(np.abs(BIG), P), (P, ZEROS), (np.abs(BIG), np.abs(BIG))]
    if isinstance(loss, losses.MeanSquaredLogarithmicError):
        return [(np.abs(BIG), BIG), (ZEROS, -np.abs(BIG)), (BIG, ZEROS)]
    if isinstance(loss, (losses.Hinge, losses.SquaredHinge)):
        return [(P, BIG), (2 * P - 1, -BIG)]
    if isinstance(loss, losses.CategoricalHinge):
        return [(ONE_HOT, BIG), (ONE_HOT, -BIG)]
    if isinstance(loss, (losses.CosineSimilarity, losses.CosineDistance)):
        return [(ZEROS, BIG), (BIG, ZEROS), (ZEROS, ZEROS), (BIG, -BIG)]
    if isinstance(loss, losses.Dice):
        return [(ZEROS, ZEROS), (P, P), (P, 1 - P)]
    if isinstance(loss, (losses.MeanSquaredError, losses.MeanAbsoluteError, losses.MeanAbsolutePercentageError,
                         losses.Huber, losses.LogCosh, losses.Quantile)):
        return [(BIG, -BIG), (ZEROS, BIG), (BIG, BIG), (-BIG, ZEROS)]
    raise AssertionError(f"no extreme inputs defined for {type(loss).__name__}: add them here")


def _loss_variants() -> list:
    """Every registered loss name, plus the options that change the numerics."""
    variants = [(name, losses.get(name)) for name in losses.REGISTRY.names() if name != "LossFunctionWrapper"]
    variants += [
        ("bce_from_logits", losses.BinaryCrossentropy(from_logits=True)),
        ("bce_label_smoothing", losses.BinaryCrossentropy(label_smoothing=0.2)),
        ("focal_from_logits", losses.BinaryFocalCrossentropy(from_logits=True, gamma=3.0)),
        ("focal_class_balancing", losses.BinaryFocalCrossentropy(apply_class_balancing=True)),
        ("cce_from_logits", losses.CategoricalCrossentropy(from_logits=True)),
        ("cce_label_smoothing", losses.CategoricalCrossentropy(label_smoothing=0.1)),
        ("scce_from_logits", losses.SparseCategoricalCrossentropy(from_logits=True)),
        ("huber_small_delta", losses.Huber(delta=1e-3)),
        ("quantile_0.9", losses.Quantile(quantile=0.9)),
    ]
    return variants


LOSSES = _loss_variants()
LOSS_CASES = [(name, loss, i, y_true, y_pred) for name, loss in LOSSES
              for i, (y_true, y_pred) in enumerate(extreme_cases(loss))]


def test_every_loss_class_has_extreme_cases():
    classes = {cls for _, cls in inspect.getmembers(losses, inspect.isclass)
               if issubclass(cls, losses.Loss) and cls not in (losses.Loss, losses.LossFunctionWrapper)}
    covered = {type(loss) for _, loss in LOSSES}
    assert classes <= covered, classes - covered
    assert len(LOSS_CASES) > 150


def value_and_grad(loss, y_true, y_pred, dtype, allow_cast_overflow=False):
    """The loss value and d(loss)/d(y_pred), with every NumPy warning (overflow, divide by zero,
    invalid value) turned into an error — except, if allowed, rounding a float32 gradient beyond
    ±65504 to ±inf when it is cast back to a float16 input."""
    x = tensor(np.asarray(y_pred, dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if allow_cast_overflow:
            warnings.filterwarnings("ignore", "overflow encountered in cast", RuntimeWarning)
        value = loss(y_true, x)
        value.backward()
    return value, x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, loss, i, y_true, y_pred", LOSS_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in LOSS_CASES])
def test_loss_is_finite_with_finite_gradients_at_the_extremes(name, loss, i, y_true, y_pred, dtype):
    value, x = value_and_grad(loss, y_true, y_pred, dtype)
    assert value.dtype == dtype and x.grad.dtype == dtype
    assert np.isfinite(value.item()), value
    assert np.all(np.isfinite(x.grad)), x.grad


@pytest.mark.parametrize("name, loss", LOSSES, ids=[n for n, _ in LOSSES])
def test_float16_integer_and_bool_predictions_use_the_float32_compute_dtype(name, loss):
    """float16, integer and bool predictions are cast to float32 (float16's ±65504 cannot hold (1e4)² or
    1/ε); the value is the float32 one, and the gradient flows back through the cast."""
    for y_true, y_pred in extreme_cases(loss):
        half = np.asarray(y_pred, np.float16)
        value16, x16 = value_and_grad(loss, y_true, half, "float16", allow_cast_overflow=True)
        value32, x32 = value_and_grad(loss, y_true, half.astype(np.float32), "float32")
        assert value16.dtype == np.float32 and value16.item() == value32.item()
        assert np.isfinite(value16.item())
        assert x16.grad.dtype == np.float16 and np.all(np.isfinite(x32.grad))
        with np.errstate(over="ignore"):  # a float32 gradient beyond ±65504 rounds to ±inf in float16
            np.testing.assert_array_equal(x16.grad, x32.grad.astype(np.float16))
        fits = np.abs(x32.grad) <= np.finfo(np.float16).max
        assert np.all(np.isfinite(x16.grad[fits]))
        for integers in (np.rint(np.asarray(y_pred)).astype(np.int64), np.asarray(y_pred) != 0):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                value = loss(y_true, integers)
            assert value.dtype == np.float32 and np.isfinite(value.item())


def test_float16_gradient_overflow_is_only_where_float16_cannot_hold_it():
    """The one way a float16 prediction gets an infinite gradient: the exact float32 gradient is beyond
    float16's range (here MAPE at y_true = 0: 100/ε per unit)."""
    y_pred = tensor(np.array([[0.5, -0.5]], np.float16), requires_grad=True)
    with np.errstate(over="ignore"):
        losses.MeanAbsolutePercentageError()(np.zeros((1, 2)), y_pred).backward()
    assert np.all(np.isinf(y_pred.grad))
    y_pred32 = tensor(np.array([[0.5, -0.5]], np.float32), requires_grad=True)
    losses.MeanAbsolutePercentageError()(np.zeros((1, 2)), y_pred32).backward()
    assert np.all(np.isfinite(y_pred32.grad)) and np.all(np.abs(y_pred32.grad) > np.finfo(np.float16).max)


@pytest.mark.parametrize("dtype", ["float16", "int64", "int32", "bool"])
def test_targets_of_any_numeric_dtype_are_cast_to_the_prediction_dtype(dtype):
    p = tensor(np.full((4, 1), 0.25, np.float32), requires_grad=True)
    y = np.array([[1], [0], [1], [0]]).astype(dtype)
    value = losses.BinaryCrossentropy()(y, p)
    value.backward()
    assert value.dtype == np.float32 and p.grad.dtype == np.float32
    assert value.item() == pytest.approx(-np.log(0.75) / 2 - np.log(0.25) / 2, rel=1e-6)


# ====================================================================== activations
ACTIVATIONS = [name for name in activations.names() if name != "exponential"]


def _x(dtype, magnitude=1e4):
    return np.array([[-magnitude, -1.0, 0.0, 1.0, magnitude], [magnitude, 0.5, -magnitude, 2.0, -0.5]]).astype(dtype)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_in_float16_at_pm1e4_and_pm3e4(name):
    """float16 stays float16 through an activation (mixed-precision layers), and stays finite."""
    fn = activations.get(name)
    for magnitude in (1e4, 3e4):
        x = tensor(_x(np.float16, magnitude), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = fn(x)
            y.backward(np.ones(y.shape, y.dtype))
        assert y.dtype == np.float16 and x.grad.dtype == np.float16
        assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad)), (y.numpy(), x.grad)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int8"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_of_integer_data_is_computed_in_floatx(name, dtype):
    x = np.clip(_x(np.float64), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.get(name)(x)
    assert y.dtype == np.float32 and np.all(np.isfinite(y.numpy()))


def test_exponential_is_finite_over_its_range_and_overflows_only_beyond():
    """exp(1e4) exceeds every float format, so ``exponential`` is the one activation left out of the
    ±1e4 checks; within its range (x ≤ 88 in float32) value and gradient are finite."""
    x = tensor(np.array([-1e4, -50.0, 0.0, 50.0, 88.0], np.float32), requires_grad=True)
    y = activations.get("exponential")(x)
    y.backward(np.ones(5, np.float32))
    assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad)) and y.numpy()[0] == 0.0


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_softmax_and_sigmoid_never_overflow(dtype):
    """At half the largest value of each dtype (so that max − min still fits): no warning, values in
    [0, 1], rows summing to 1, log-forms finite, gradients finite."""
    half_max = float(np.finfo(dtype).max) / 2
    x_np = np.array([[-half_max, 0.0, half_max], [half_max, half_max, -half_max], [1.0, 2.0, 3.0]], dtype=dtype)
    for fn in (ops.softmax, ops.sigmoid, ops.log_softmax, ops.log_sigmoid, ops.softplus,
               lambda t: ops.softmax(t, axis=0)):
        x = tensor(x_np, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = fn(x)
            y.backward(np.ones(y.shape, y.dtype))
        assert y.dtype == dtype and np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad))
    s = ops.softmax(tensor(x_np)).numpy()
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s.sum(axis=-1, dtype=np.float64), 1.0, rtol=1e-3 if dtype == "float16" else 1e-6)
    np.testing.assert_array_equal(s[:2], [[0, 0, 1], [0.5, 0.5, 0]])
    sig = ops.sigmoid(tensor(x_np)).numpy()
    np.testing.assert_array_equal(sig[:2], [[0, 0.5, 1], [1, 1, 0]])


def test_float16_softmax_is_computed_in_float32():
    """Many classes: a float16 running sum would lose the small terms; computing in float32 and
    rounding once keeps the float16 result within one rounding of the exact one."""
    z = np.random.default_rng(0).normal(size=(4, 1000)).astype(np.float16)
    exact = np.exp(z.astype(np.float64) - z.astype(np.float64).max(-1, keepdims=True))
    exact /= exact.sum(-1, keepdims=True)
    got = ops.softmax(tensor(z)).numpy()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, exact, rtol=2e-3, atol=1e-7)
    log_got = ops.log_softmax(tensor(np.array([[-6e4, 0.0, 6e4]], np.float16))).numpy()
    assert np.all(np.isfinite(log_got)) and log_got[0, 0] == np.finfo(np.float16).min and log_got[0, 2] == 0


# ====================================================================== through layers and fit
@pytest.mark.parametrize("dtype", ["float16", "float64", "int64", "uint8", "bool"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_dense_casts_inputs_to_its_compute_dtype_and_stays_finite(name, dtype):
    layer = layers.Dense(4, activation=name)
    x = np.clip(_x(np.float64)[:, :3], *((0, 255) if dtype == "uint8" else (-1e4, 1e4))).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = layer(x)
        out.sum().backward()
    assert out.dtype == np.float32 and np.all(np.isfinite(out.numpy()))
    assert layer.kernel.grad.dtype == np.float32 and np.all(np.isfinite(layer.kernel.grad))


@pytest.mark.parametrize("make", [layers.BatchNormalization, layers.LayerNormalization, layers.Softmax,
                                  lambda: layers.Activation("sigmoid"), layers.ReLU, layers.ELU,
                                  lambda: layers.LeakyReLU(0.2)], ids=lambda m: getattr(m, "__name__", "layer"))
@pytest.mark.parametrize("dtype", ["float16", "float64", "int64"])
def test_normalization_and_activation_layers_at_pm1e4(make, dtype):
    layer = make()
    x = tensor(np.tile(_x(np.float64), (3, 1)).astype(dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for training in (True, False):
            out = layer(x, training=training)
            assert out.dtype == np.float32 and np.all(np.isfinite(out.numpy()))


@pytest.mark.parametrize("x_dtype, y_dtype", [("float16", "int64"), ("float64", "float16"), ("int64", "bool"),
                                              ("uint8", "float64"), ("bool", "int32"), ("int32", "uint8")])
def test_fit_casts_data_of_any_numeric_dtype(x_dtype, y_dtype):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(64, 3)) if x_dtype in ("bool", "uint8", "int64", "int32") else rng.normal(size=(64, 3))
    y = x[:, 0] > x[:, 1] if y_dtype == "bool" else (x[:, 0] > x[:, 1]).astype(int)
    model = gn.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        history = model.fit(x.astype(x_dtype), y.astype(y_dtype), epochs=2, batch_size=16, verbose=0)
        prediction = model.predict(x.astype(x_dtype), verbose=0)
    assert all(w.dtype == np.float32 and np.all(np.isfinite(w)) for w in model.get_weights())
    assert np.all(np.isfinite(history.history["loss"])) and prediction.dtype == np.float32


@pytest.mark.parametrize("loss, output", [("binary_crossentropy", "sigmoid"), ("sparse_categorical_crossentropy",
                                                                              "softmax"),
                                          ("categorical_crossentropy", "softmax"), ("hinge", "tanh"),
                                          ("mse", "linear"), ("huber", "linear"), ("poisson", "softplus"),
                                          ("kl_divergence", "softmax")])
def test_training_on_inputs_at_1e4_stays_finite(loss, output):
    """Inputs of magnitude 1e4 saturate the outputs (sigmoid/softmax exactly 0 or 1 in float32): the
    loss, its gradient and the updated weights stay finite. (Unbounded outputs get a learning rate
    below 2/λ_max ≈ 2/(4·1e8), or plain gradient descent would diverge, as it should.)"""
    rng = np.random.default_rng(2)
    x = (rng.choice([-1.0, 1.0], size=(32, 4)) * 1e4).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int)
    units = 1 if loss in ("binary_crossentropy", "hinge", "mse", "huber", "poisson") else 2
    y = {"sparse_categorical_crossentropy": labels, "categorical_crossentropy": np.eye(2)[labels],
         "kl_divergence": np.eye(2)[labels]}.get(loss, labels.astype(np.float32))
    model = gn.Sequential([layers.Dense(units, activation=output, input_shape=(4,),
                                        kernel_initializer="ones")])
    bounded = output in ("sigmoid", "softmax", "tanh")
    model.compile(gn.optimizers.SGD(0.01 if bounded else 1e-9), loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_value_anywhere_and_survives_overflowing_sums(dtype, bad):
    from glassnet.training import all_finite

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 7, 5)).astype(dtype)
    assert all_finite(x)
    big = np.full((200, 40), np.finfo(dtype).max / 2, dtype=dtype)  # row sums overflow, elements are finite
    assert all_finite(big)
    for index in [(0, 0, 0), (299, 6, 4), (150, 3, 2)]:
        y = x.copy()
        y[index] = bad
        assert not all_finite(y)
        assert all_finite(y[:, ::2]) == (index[1] % 2 == 1)  # a non-contiguous view holds it iff axis 1 is even
    assert not all_finite(np.array([np.inf, -np.inf], dtype=dtype))
