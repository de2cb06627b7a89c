"""Activations: values and gradients against PyTorch, numerical stability at huge inputs,
the facts of SPEC §2, and name lookup (get / serialize / errors).

Only the parity tests need torch; they skip without it, the rest always run."""

import warnings

import numpy as np
import pytest

from glassnet import activations, ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import UnknownNameError
from glassnet.tensor import Tensor, tensor


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


KINKS = np.array([0.0, -1.0, 1.0, -3.0, 3.0, 6.0])


def sample_points(shape=(4, 30), low=-8.0, high=8.0, seed=0):
    """Uniform points at least 1e-3 away from every kink of the piecewise activations."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, shape)
    close = np.abs(x[..., None] - KINKS).min(axis=-1) < 1e-3
    x[close] += 0.01
    return x


# name -> (glassnet function, torch function builder)
def _torch_table(torch):
    F = torch.nn.functional
    return {
        "relu": (ops.relu, F.relu),
        "leaky_relu": (ops.leaky_relu, lambda t: F.leaky_relu(t, 0.01)),
        "elu": (ops.elu, F.elu),
        "selu": (ops.selu, F.selu),
        "gelu": (ops.gelu, F.gelu),
        "gelu_tanh": (lambda x: ops.gelu(x, approximate=True), lambda t: F.gelu(t, approximate="tanh")),
        "silu": (ops.silu, F.silu),
        "swish": (activations.get("swish"), F.silu),
        "mish": (ops.mish, F.mish),
        "softplus": (ops.softplus, F.softplus),
        "softsign": (ops.softsign, F.softsign),
        "sigmoid": (ops.sigmoid, torch.sigmoid),
        "tanh": (ops.tanh, torch.tanh),
        "hard_sigmoid": (ops.hard_sigmoid, F.hardsigmoid),
        "hard_silu": (ops.hard_silu, F.hardswish),
        "hard_swish": (activations.get("hard_swish"), F.hardswish),
        "relu6": (ops.relu6, F.relu6),
        "hard_tanh": (ops.hard_tanh, F.hardtanh),
        "log_sigmoid": (ops.log_sigmoid, F.logsigmoid),
        "softmax": (ops.softmax, lambda t: torch.softmax(t, dim=-1)),
        "softmax_axis0": (lambda x: ops.softmax(x, axis=0), lambda t: torch.softmax(t, dim=0)),
        "log_softmax": (ops.log_softmax, lambda t: torch.log_softmax(t, dim=-1)),
        "log_softmax_axis0": (lambda x: ops.log_softmax(x, axis=0), lambda t: torch.log_softmax(t, dim=0)),
        "exponential": (activations.get("exponential"), torch.exp),
        "linear": (activations.get("linear"), lambda t: t * 1.0),
        "elu_alpha": (lambda x: ops.elu(x, alpha=0.7), lambda t: F.elu(t, alpha=0.7)),
        "leaky_relu_0.2": (lambda x: ops.leaky_relu(x, 0.2), lambda t: F.leaky_relu(t, 0.2)),
    }


PARITY_NAMES = ["relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "swish", "mish", "softplus",
                "softsign", "sigmoid", "tanh", "hard_sigmoid", "hard_silu", "hard_swish", "relu6", "hard_tanh",
                "log_sigmoid", "softmax", "softmax_axis0", "log_softmax", "log_softmax_axis0", "exponential",
                "linear", "elu_alpha", "leaky_relu_0.2"]
TOLERANCES = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=2e-5, atol=2e-6)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", PARITY_NAMES)
def test_values_and_gradients_match_torch(torch, name, dtype):
    ours, theirs = _torch_table(torch)[name]
    # softplus: torch returns x itself above its threshold of 20, so stay below it.
    x_np = sample_points(low=-6.0 if name == "exponential" else -8.0, high=6.0 if name == "exponential" else 8.0)
    x_np = x_np.astype(dtype)
    seed = np.random.default_rng(1).standard_normal(x_np.shape).astype(dtype)

    x = tensor(x_np.copy(), requires_grad=True)
    y = ours(x)
    y.backward(seed)

    xt = torch.tensor(x_np.copy(), requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(seed))

    assert y.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **TOLERANCES[dtype], err_msg="values")
    grad_tolerance = TOLERANCES[dtype]
    if name == "hard_sigmoid" and dtype == np.float64:
        # torch's hardsigmoid backward multiplies by the float32 constant 1/6 even in float64
        grad_tolerance = dict(rtol=1e-7, atol=1e-10)
        inside = np.abs(x_np) < 3
        np.testing.assert_allclose(x.grad, np.where(inside, seed / 6.0, 0.0), rtol=1e-15, atol=0)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), **grad_tolerance, err_msg="gradients")


def test_every_registered_activation_has_a_torch_reference(torch):
    table = _torch_table(torch)
    untested = set(activations.names()) - set(table) - {"step"}
    assert not untested, sorted(untested)


def test_step_matches_heaviside_and_has_zero_gradient(torch):
    x_np = np.array([-2.0, -1e-12, 0.0, 1e-12, 3.0])
    x = tensor(x_np, requires_grad=True)
    y = activations.get("step")(x)
    np.testing.assert_array_equal(y.numpy(), torch.heaviside(torch.tensor(x_np), torch.tensor(1.0, dtype=torch.float64)).numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(5))


def test_swish_with_beta_matches_torch(torch):
    x_np = sample_points()
    beta = 1.7
    x = tensor(x_np, requires_grad=True)
    ops.swish(x, beta=beta).sum().backward()
    xt = torch.tensor(x_np, requires_grad=True)
    (xt * torch.sigmoid(beta * xt)).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)

    b = tensor(np.array(beta), requires_grad=True)
    x = tensor(x_np, requires_grad=True)
    ops.swish(x, beta=b).sum().backward()
    bt = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    (xt * torch.sigmoid(bt * xt)).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad, bt.grad.numpy(), rtol=1e-10)


# ----------------------------------------------------------------------------- numerical stability
STABLE = {n: activations.get(n) for n in activations.names() if n != "exponential"}
STABLE.update({
    "gelu_tanh": lambda x: ops.gelu(x, approximate=True),
    "swish_beta": lambda x: ops.swish(x, beta=2.5),
    "elu_alpha": lambda x: ops.elu(x, alpha=0.5),
    "relu_general": lambda x: ops.relu(x, negative_slope=0.1, max_value=6.0, threshold=0.5),
    "softmax_axis0": lambda x: ops.softmax(x, axis=0),
    "log_softmax_axis0": lambda x: ops.log_softmax(x, axis=0),
    "logsumexp": lambda x: ops.logsumexp(x, axis=-1),
    "softmax_cross_entropy": lambda x: ops.softmax_cross_entropy(x, np.eye(5, dtype=x.dtype)[[1, 4]]),
    "sparse_softmax_cross_entropy": lambda x: ops.sparse_softmax_cross_entropy(x, np.array([0, 2])),
    "sigmoid_cross_entropy": lambda x: ops.sigmoid_cross_entropy(x, np.full(x.shape, 0.3, dtype=x.dtype)),
})


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("magnitude", [1e4, 1e30])
@pytest.mark.parametrize("name", sorted(STABLE))
def test_finite_values_and_gradients_at_huge_inputs(name, magnitude, dtype):
    fn = STABLE[name]
    x_np = np.array([[-magnitude, -1.0, 0.0, 1.0, magnitude], [magnitude, 0.5, -magnitude, 2.0, -0.5]],
                    dtype=dtype)
    x = tensor(x_np, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow / invalid-value warnings either
        y = fn(x)
        y.backward(np.ones(y.shape, dtype=dtype))
    assert y.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(y.numpy())), y.numpy()
    assert np.all(np.isfinite(x.grad)), x.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_asymptotic_values_are_right(dtype):
    big = np.array([-1e4, 1e4], dtype=dtype)
    np.testing.assert_array_equal(ops.sigmoid(tensor(big)).numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(ops.tanh(tensor(big)).numpy(), [-1.0, 1.0])
    np.testing.assert_array_equal(ops.softplus(tensor(big)).numpy(), [0.0, 1e4])
    np.testing.assert_array_equal(ops.log_sigmoid(tensor(big)).numpy(), [-1e4, 0.0])
    np.testing.assert_array_equal(ops.gelu(tensor(big)).numpy(), [0.0, 1e4])
    np.testing.assert_array_equal(ops.gelu(tensor(big), approximate=True).numpy(), [0.0, 1e4])
    np.testing.assert_array_equal(ops.silu(tensor(big)).numpy(), [0.0, 1e4])
    np.testing.assert_array_equal(ops.mish(tensor(big)).numpy(), [0.0, 1e4])
    np.testing.assert_allclose(ops.elu(tensor(big)).numpy(), [-1.0, 1e4])
    np.testing.assert_allclose(ops.softmax(tensor(big)).numpy(), [0.0, 1.0])
    np.testing.assert_allclose(ops.log_softmax(tensor(big)).numpy(), [-2e4, 0.0])


# ----------------------------------------------------------------------------- facts from SPEC §2
def _grid(low, high, step=1e-4):
    return np.arange(low, high, step)


def test_gelu_minimum():
    x = _grid(-2.0, 0.0)
    y = ops.gelu(tensor(x)).numpy()
    i = np.argmin(y)
    assert x[i] == pytest.approx(-0.752, abs=1e-3)
    assert y[i] == pytest.approx(-0.170, abs=1e-3)
    t = tensor(np.array([x[i]]), requires_grad=True)
    ops.gelu(t).sum().backward()
    assert abs(t.grad[0]) < 1e-3  # derivative vanishes at the minimum


def test_swish_minimum():
    x = _grid(-3.0, 0.0)
    y = ops.swish(tensor(x)).numpy()
    i = np.argmin(y)
    assert x[i] == pytest.approx(-1.278, abs=1e-3)
    assert y[i] == pytest.approx(-0.278, abs=1e-3)
    t = tensor(np.array([x[i]]), requires_grad=True)
    ops.swish(t).sum().backward()
    assert abs(t.grad[0]) < 1e-3


def test_sigmoid_derivative_peaks_at_a_quarter():
    x = tensor(_grid(-10.0, 10.0, 1e-3), requires_grad=True)
    ops.sigmoid(x).sum().backward()
    assert x.grad.max() <= 0.25
    zero = tensor(np.array([0.0]), requires_grad=True)
    ops.sigmoid(zero).sum().backward()
    assert zero.grad[0] == 0.25


def test_relu_derivative_at_zero_is_zero():
    x = tensor(np.array([0.0, 0.0]), requires_grad=True)
    activations.get("relu")(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_tanh_is_two_sigmoid_of_two_x_minus_one():
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(ops.tanh(tensor(x)).numpy(), 2 * ops.sigmoid(tensor(2 * x)).numpy() - 1, atol=1e-15)


def test_selu_constants_and_range():
    assert ops.selu(tensor(np.array([1.0]))).numpy()[0] == pytest.approx(1.0507, abs=1e-4)
    assert ops.selu(tensor(np.array([-1e4]))).numpy()[0] == pytest.approx(-1.0507 * 1.67326, abs=1e-4)
    assert ops.elu(tensor(np.array([-1e4]))).numpy()[0] == pytest.approx(-1.0)


def test_hard_sigmoid_is_the_keras_3_definition():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    np.testing.assert_allclose(ops.hard_sigmoid(tensor(x)).numpy(), np.clip(x / 6 + 0.5, 0, 1))


def test_leaky_relu_default_slope_is_0_01():
    np.testing.assert_allclose(activations.get("leaky_relu")(tensor(np.array([-2.0]))).numpy(), [-0.02])


# ----------------------------------------------------------------------------- lookup
def test_get_by_name():
    assert activations.get("relu") is ops.relu
    assert activations.get("sigmoid") is ops.sigmoid
    assert activations.get("softmax") is ops.softmax
    assert activations.get("swish") is activations.get("silu")
    assert activations.get("RELU") is ops.relu  # case-insensitive, as Keras strings are lower-case


def test_get_none_is_linear():
    linear = activations.get(None)
    assert linear is activations.get("linear")
    x = tensor([1.0, -2.0])
    out = linear(x)
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.numpy(), [1.0, -2.0])
    assert isinstance(linear(np.array([1.0])), Tensor)


def test_custom_callable_passes_through_and_gets_gradients():
    def scaled_tanh(x):
        return ops.tanh(x) * 1.7159

    assert activations.get(scaled_tanh) is scaled_tanh
    assert gradcheck(activations.get(scaled_tanh), np.linspace(-2, 2, 7))


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'relu'") as info:
        activations.get("rleu")
    assert "relu" in info.value.suggestions
    with pytest.raises(UnknownNameError, match="softmax"):
        activations.get("sofmax")
    with pytest.raises(ValueError):  # UnknownNameError is a ValueError for Keras users
        activations.get("no_such_activation")


def test_get_rejects_non_callables():
    with pytest.raises(TypeError):
        activations.get(42)


def test_serialize_round_trip():
    for name in activations.names():
        fn = activations.get(name)
        assert activations.get(activations.serialize(fn)) is fn
    assert activations.serialize(ops.relu) == "relu"
    assert activations.deserialize("gelu") is ops.gelu
