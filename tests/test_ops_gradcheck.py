"""Finite-difference gradient checks (float64) of every differentiable op in glassnet.ops,
exact checks of the documented choices at kinks and ties, fused-vs-composed cross-entropies,
and a check that gradcheck itself catches a wrong backward."""

import inspect

import numpy as np
import pytest

from glassnet import activations, ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import GradcheckError, InputError
from glassnet.tensor import make_result, tensor

RNG = np.random.default_rng(1234)


def randn(*shape):
    return RNG.standard_normal(shape)


def positive(*shape, low=0.5, high=2.0):
    return RNG.uniform(low, high, shape)


def away_from_zero(*shape):
    x = RNG.uniform(0.3, 2.0, shape)
    return x * RNG.choice([-1.0, 1.0], shape)


def distinct(*shape):
    """Values with no ties, spaced far more than the finite-difference step apart."""
    n = int(np.prod(shape))
    return RNG.permutation(np.linspace(-2.0, 2.0, n)).reshape(shape) + 0.01 * RNG.standard_normal(shape)


def separated_pair(sa, sb, gap=0.05):
    """Two arrays whose broadcast element pairs differ by more than ``gap`` (no ties at a kink)."""
    while True:
        a, b = randn(*sa), randn(*sb)
        if np.all(np.abs(a - b) > gap):
            return a, b


# (op name covered, case id, function, inputs)
CASES = []


def case(op, id_, fn, *inputs):
    CASES.append(pytest.param(fn, inputs, id=f"{op}-{id_}"))
    COVERED.add(op)


COVERED = set()

# ----------------------------------------------------------------------------- arithmetic & broadcasting
BROADCAST_PAIRS = [((3, 1), (1, 4)), ((4,), (3, 4)), ((3, 4), (4,)), ((), (3,)), ((2, 3), ()),
                   ((2, 1, 3), (4, 1)), ((1,), (2, 3)), ((2, 3), (2, 3))]
for sa, sb in BROADCAST_PAIRS:
    tag = f"{sa}x{sb}"
    case("add", tag, ops.add, randn(*sa), randn(*sb))
    case("subtract", tag, ops.subtract, randn(*sa), randn(*sb))
    case("multiply", tag, ops.multiply, randn(*sa), randn(*sb))
    case("divide", tag, ops.divide, randn(*sa), away_from_zero(*sb))
    case("power", tag, ops.power, positive(*sa), randn(*sb))
    case("maximum", tag, ops.maximum, *separated_pair(sa, sb))
    case("minimum", tag, ops.minimum, *separated_pair(sa, sb))

case("add", "python-scalar", lambda a: a + 2.5, randn(3))
case("add", "radd", lambda a: 2.5 + a, randn(3))
case("subtract", "rsub", lambda a: 1.0 - a, randn(3))
case("multiply", "rmul-0d", lambda a, b: b * a, randn(2, 2), np.array(1.7))
case("divide", "rdiv", lambda a: 3.0 / a, away_from_zero(4))
case("divide", "div-by-scalar", lambda a: a / 4.0, randn(4))
case("negative", "neg", lambda a: -a, randn(3))
case("power", "scalar-2", lambda a: a ** 2, randn(5))
case("power", "scalar-3", lambda a: a ** 3, randn(5))
case("power", "scalar-half", lambda a: a ** 0.5, positive(5))
case("power", "scalar-neg", lambda a: a ** -1.5, positive(5))
case("power", "rpow", lambda a: 2.0 ** a, randn(5))
case("power", "tensor-exponent-0d", lambda a, b: a ** b, positive(3, 2), np.array(1.3))

# ----------------------------------------------------------------------------- unary
case("exp", "exp", ops.exp, randn(3, 2))
case("log", "log", ops.log, positive(3, 2))
case("log1p", "log1p", ops.log1p, RNG.uniform(-0.7, 2.0, (3, 2)))
case("expm1", "expm1", ops.expm1, randn(3, 2))
case("sqrt", "sqrt", ops.sqrt, positive(3, 2))
case("abs", "abs", ops.abs, away_from_zero(3, 2))
case("square", "square", ops.square, randn(3, 2))
case("reciprocal", "reciprocal", ops.reciprocal, away_from_zero(3, 2))
case("sin", "sin", ops.sin, randn(3, 2))
case("cos", "cos", ops.cos, randn(3, 2))
case("erf", "erf", ops.erf, np.array([-4.0, -2.0, -1.1, -0.9, -0.5, 0.0, 0.3, 0.86, 1.2, 2.0, 3.5, 5.0, 7.0]))
case("where", "same-shape", lambda a, b: ops.where(a.data > 0, a, b), randn(3, 4), randn(3, 4))
_WHERE_MASK = RNG.random((3, 4)) > 0.5
case("where", "broadcast", lambda a, b: ops.where(_WHERE_MASK, a, b), randn(3, 1), randn(4))
case("where", "broadcast-condition", lambda a, b: ops.where(_WHERE_MASK, a, b), randn(4), randn(1))
case("where", "scalar-branch", lambda a: ops.where(a.data > 0, a, 0.0), away_from_zero(5))
case("clip", "both", lambda a: ops.clip(a, -0.5, 0.5), np.array([-2.0, -0.7, -0.2, 0.1, 0.45, 0.8, 3.0]))
case("clip", "low-only", lambda a: ops.clip(a, min_value=0.1), np.array([-1.0, 0.3, 2.0]))
case("clip", "high-only", lambda a: ops.clip(a, max_value=0.1), np.array([-1.0, 0.3, 2.0]))
case("cast", "to-float64", lambda a: ops.cast(a, "float64") * 2.0, randn(3))

# ----------------------------------------------------------------------------- reductions
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]
for axis in AXES:
    for keepdims in (False, True):
        tag = f"axis={axis}-keepdims={keepdims}"
        for name in ("sum", "mean", "var", "std", "logsumexp"):
            fn = getattr(ops, name)
            case(name, tag, lambda a, fn=fn, axis=axis, keepdims=keepdims: fn(a, axis=axis, keepdims=keepdims),
                 randn(2, 3, 4))
        for name in ("max", "min"):
            fn = getattr(ops, name)
            case(name, tag, lambda a, fn=fn, axis=axis, keepdims=keepdims: fn(a, axis=axis, keepdims=keepdims),
                 distinct(2, 3, 4))
case("var", "ddof=1", lambda a: ops.var(a, axis=1, ddof=1), randn(3, 4))
case("std", "ddof=1", lambda a: ops.std(a, axis=0, ddof=1), randn(3, 4))
case("sum", "0d", lambda a: ops.sum(a), np.array(1.5))
case("mean", "method", lambda a: a.mean(axis=-1), randn(2, 5))
for axis in (-1, (1, 2)):  # averaging over size-1 axes only: the values themselves, reshaped
    for keepdims in (False, True):
        case("mean", f"size-1-axis={axis}-keepdims={keepdims}",
             lambda a, axis=axis, keepdims=keepdims: ops.mean(a, axis=axis, keepdims=keepdims) * 2.0, randn(3, 1, 1))
case("logsumexp", "large-values", lambda a: ops.logsumexp(a, axis=-1), randn(2, 3) * 3 + 500.0)

# ----------------------------------------------------------------------------- matmul & dense
MATMUL_SHAPES = [((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)), ((5, 2, 4), (5, 4, 3)), ((5, 2, 4), (4, 3)),
                 ((2, 4), (5, 4, 3)), ((2, 1, 3, 4), (1, 5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
                 ((3, 2, 4), (2, 3, 4, 5))]
for sa, sb in MATMUL_SHAPES:
    case("matmul", f"{sa}@{sb}", ops.matmul, randn(*sa), randn(*sb))
case("matmul", "operator", lambda a, b: a @ b, randn(2, 3), randn(3, 2))
case("matmul", "rmatmul-ndarray", lambda b: np.ones((2, 3)) @ b, randn(3, 2))

case("dense", "2d-bias", ops.dense, randn(4, 3), randn(3, 5), randn(5))
case("dense", "2d-nobias", ops.dense, randn(4, 3), randn(3, 5))
case("dense", "3d-bias", ops.dense, randn(2, 4, 3), randn(3, 5), randn(5))
case("dense", "3d-nobias", ops.dense, randn(2, 4, 3), randn(3, 5))
case("dense", "4d-bias", ops.dense, randn(2, 2, 2, 3), randn(3, 2), randn(2))

# ----------------------------------------------------------------------------- shape & indexing
case("reshape", "-1", lambda a: ops.reshape(a, (3, -1)), randn(2, 3, 2))
case("reshape", "method", lambda a: a.reshape(6, 2), randn(2, 3, 2))
case("transpose", "reverse", ops.transpose, randn(2, 3, 4))
case("transpose", "axes", lambda a: ops.transpose(a, (1, 2, 0)), randn(2, 3, 4))
case("transpose", "negative-axes", lambda a: ops.transpose(a, (-1, 0, -2)), randn(2, 3, 4))
case("transpose", "T", lambda a: a.T, randn(2, 3))
case("permute", "args", lambda a: ops.permute(a, 2, 0, 1), randn(2, 3, 4))
case("swapaxes", "0,-1", lambda a: ops.swapaxes(a, 0, -1), randn(2, 3, 4))
case("expand_dims", "0", lambda a: ops.expand_dims(a, 0), randn(2, 3))
case("expand_dims", "-1", lambda a: ops.expand_dims(a, -1), randn(2, 3))
case("squeeze", "all", ops.squeeze, randn(1, 3, 1))
case("squeeze", "axis", lambda a: ops.squeeze(a, 2), randn(1, 3, 1))
case("flatten", "default", ops.flatten, randn(2, 3, 2))
case("flatten", "start0", lambda a: ops.flatten(a, 0), randn(2, 3, 2))
case("broadcast_to", "leading+inner", lambda a: ops.broadcast_to(a, (2, 3, 4)), randn(3, 1))
case("broadcast_to", "0d", lambda a: ops.broadcast_to(a, (2, 2)), np.array(0.7))
case("concatenate", "axis1", lambda a, b, c: ops.concatenate([a, b, c], axis=1), randn(2, 1), randn(2, 3),
     randn(2, 2))
case("concatenate", "axis-1-with-constant", lambda a: ops.concatenate([a, np.ones((2, 2))], axis=-1), randn(2, 3))
case("stack", "axis0", lambda a, b: ops.stack([a, b]), randn(2, 3), randn(2, 3))
case("stack", "axis-1", lambda a, b: ops.stack([a, b], axis=-1), randn(2, 3), randn(2, 3))
case("stack", "axis1", lambda a, b, c: ops.stack([a, b, c], axis=1), randn(2, 3), randn(2, 3), randn(2, 3))


def _weighted_join(pieces, axis):
    return ops.concatenate([p * float(i + 1) for i, p in enumerate(pieces)], axis=axis)


case("split", "sections", lambda a: _weighted_join(ops.split(a, 3, axis=1), 1), randn(2, 6))
case("split", "uneven", lambda a: _weighted_join(ops.split(a, 2, axis=0), 0), randn(5, 2))
case("split", "indices-axis-1", lambda a: _weighted_join(ops.split(a, [1, 3], axis=-1), -1), randn(2, 5))

GETITEM_INDICES = {
    "slice": (slice(1, 3),),
    "negative-step": (slice(None, None, -1), slice(3, 0, -2)),
    "int": (1,),
    "int-negative": (Ellipsis, -1),
    "none": (None, slice(None), 0),
    "ellipsis": (Ellipsis, slice(1, None)),
    "int-array-repeats": (np.array([0, 2, 0, 0]),),
    "two-int-arrays": (np.array([0, 1, 1]), np.array([3, 0, 3])),
    "list": ([2, 2, 1],),
    "bool-mask-rows": (np.array([True, False, True]),),
    "mixed": (slice(None), np.array([1, 1, 3])),
}
for tag, index in GETITEM_INDICES.items():
    case("getitem", tag, lambda a, index=index: a[index], randn(3, 4))
_MASK = RNG.random((3, 4)) > 0.4
case("getitem", "bool-mask-full", lambda a: a[_MASK], randn(3, 4))
case("getitem", "function-form", lambda a: ops.getitem(a, (slice(None), 2)), randn(3, 4))

case("take", "axis0-repeats", lambda a: ops.take(a, [2, 0, 2], axis=0), randn(3, 4))
case("take", "axis1", lambda a: ops.take(a, np.array([3, 1]), axis=1), randn(3, 4))
case("take", "axis-1-2d-indices", lambda a: ops.take(a, np.array([[0, 2], [1, 1]]), axis=-1), randn(3, 4))
case("take", "3d-axis1-2d-indices", lambda a: ops.take(a, np.array([[0, 2], [2, 2]]), axis=1), randn(2, 3, 2))
case("take", "0d-index", lambda a: ops.take(a, 1, axis=1), randn(3, 4))
case("pad", "int", lambda a: ops.pad(a, 1), randn(2, 3))
case("pad", "per-axis", lambda a: ops.pad(a, ((1, 0), (2, 3)), constant_values=5.0), randn(2, 3))
case("pad", "one-pair", lambda a: ops.pad(a, (1, 2)), randn(2, 3))
case("pad", "one-pair-nested", lambda a: ops.pad(a, ((0, 2),)), randn(2, 3))
case("repeat", "axis0", lambda a: ops.repeat(a, 3, axis=0), randn(2, 3))
case("repeat", "axis1", lambda a: ops.repeat(a, 2, axis=1), randn(2, 3))
case("repeat", "axis-1", lambda a: ops.repeat(a, 2, axis=-1), randn(2, 3))
case("tile", "int", lambda a: ops.tile(a, 2), randn(2, 3))
case("tile", "tuple", lambda a: ops.tile(a, (2, 3)), randn(2, 3))
case("tile", "more-reps-than-dims", lambda a: ops.tile(a, (2, 1, 2)), randn(3))

# fused dense + activation (one node) — gradchecked, and equal to the composed ops
for act in ("relu", "tanh"):
    case("dense", f"fused-{act}-2d", lambda x, w, b, act=act: ops.dense(x, w, b, activation=act),
         randn(5, 3), randn(3, 4), randn(4))
    case("dense", f"fused-{act}-3d", lambda x, w, b, act=act: ops.dense(x, w, b, activation=act),
         randn(2, 3, 3), randn(3, 4), randn(4))


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_fused_dense_activation_equals_composed(act):
    """The fused node gives the same values and gradients as dense followed by the activation op."""
    arrays = (randn(6, 5), randn(5, 3), randn(3))
    projection = randn(6, 3)
    results = []
    for fused in (True, False):
        x, w, b = (tensor(a, requires_grad=True) for a in arrays)
        out = ops.dense(x, w, b, activation=act) if fused else getattr(ops, act)(ops.dense(x, w, b))
        (out * projection).sum().backward()
        results.append((out, [t.grad for t in (x, w, b)]))
    (fused_out, fused_grads), (composed_out, composed_grads) = results
    np.testing.assert_allclose(fused_out.numpy(), composed_out.numpy(), rtol=1e-12)
    for a, b in zip(fused_grads, composed_grads):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert fused_out._op == act  # tools reading the producing op see the activation


# ----------------------------------------------------------------------------- convolution, pooling, normalisation
# (the layer test files check these ops in depth; here each public op gets one representative check)
IMAGES = randn(2, 5, 5, 3)
SEQUENCES = randn(2, 7, 3)
case("conv2d", "stride2-same-bias", lambda x, k, b: ops.conv2d(x, k, b, strides=2, padding="same"),
     IMAGES, randn(3, 3, 3, 4), randn(4))
case("conv2d", "dilation2-groups3", lambda x, k: ops.conv2d(x, k, dilation_rate=2, groups=3), IMAGES, randn(2, 2, 1, 3))
case("conv1d", "valid", lambda x, k, b: ops.conv1d(x, k, b), SEQUENCES, randn(3, 3, 2), randn(2))
case("conv_transpose", "2d-stride2", lambda x, k: ops.conv_transpose(x, k, strides=2), IMAGES, randn(3, 3, 2, 3))
case("conv2d_transpose", "same", lambda x, k, b: ops.conv2d_transpose(x, k, b, strides=2, padding="same"),
     IMAGES, randn(2, 2, 4, 3), randn(4))
case("depthwise_conv", "2d", lambda x, k: ops.depthwise_conv(x, k), IMAGES, randn(3, 3, 3, 2))
case("depthwise_conv2d", "same", lambda x, k, b: ops.depthwise_conv2d(x, k, b, padding="same"),
     IMAGES, randn(2, 2, 3, 1), randn(3))
case("max_pool", "3-stride2-overlap", lambda x: ops.max_pool(x, 3, strides=2), IMAGES)
case("average_pool", "same", lambda x: ops.average_pool(x, 2, padding="same"), IMAGES)
case("avg_pool", "1d", lambda x: ops.avg_pool(x, 2), SEQUENCES)
case("normalize", "batch-norm-axes", lambda x, g, b: ops.normalize(x, (0, 1, 2), g, b), IMAGES, randn(3), randn(3))
case("moments", "mean-and-variance", lambda x: ops.moments(x, (0, 1))[0] * ops.moments(x, (0, 1))[1], SEQUENCES)
case("batch_normalization", "inference", lambda x, m, v, o, s: ops.batch_normalization(x, m, v, offset=o, scale=s),
     SEQUENCES, randn(3), np.abs(randn(3)) + 0.5, randn(3), randn(3))

# ----------------------------------------------------------------------------- nonlinear functions
# Fixed points with margin from every kink (0, ±1, ±3, 6) of the piecewise activations.
KINK_FREE = np.array([-7.3, -5.1, -3.7, -2.2, -1.3, -0.8, -0.35, 0.4, 0.9, 1.6, 2.7, 4.2, 6.5, 8.1])
SMOOTH = np.array([[-3.1, -1.2, -0.4, 0.2, 0.7, 2.3], [-0.9, 0.05, 1.1, 3.4, -2.5, 0.6]])

for name in activations.names():
    fn = activations.get(name)
    case(name, "registry", fn, KINK_FREE.reshape(2, 7))
    if hasattr(ops, name):
        COVERED.add(name)

case("leaky_relu", "slope0.2", lambda a: ops.leaky_relu(a, negative_slope=0.2), KINK_FREE)
case("elu", "alpha0.5", lambda a: ops.elu(a, alpha=0.5), KINK_FREE)
case("elu", "alpha2", lambda a: ops.elu(a, alpha=2.0), KINK_FREE)
case("gelu", "exact", lambda a: ops.gelu(a, approximate=False), KINK_FREE)
case("gelu", "tanh", lambda a: ops.gelu(a, approximate=True), KINK_FREE)
case("swish", "beta1.7", lambda a: ops.swish(a, beta=1.7), KINK_FREE)
case("swish", "beta-tensor", lambda a, beta: ops.swish(a, beta=beta), KINK_FREE, np.array(0.8))
case("silu", "alias", ops.silu, KINK_FREE)
case("relu", "max_value", lambda a: ops.relu(a, max_value=4.0), KINK_FREE)
case("relu", "threshold", lambda a: ops.relu(a, threshold=0.5), KINK_FREE)
case("relu", "negative_slope", lambda a: ops.relu(a, negative_slope=0.1), KINK_FREE)
case("relu", "all", lambda a: ops.relu(a, negative_slope=0.1, max_value=5.0, threshold=1.5), KINK_FREE)
case("relu6", "relu6", ops.relu6, KINK_FREE)
case("hard_swish", "alias", ops.hard_swish, KINK_FREE)
for axis in (0, 1, -1):
    case("softmax", f"axis{axis}", lambda a, axis=axis: ops.softmax(a, axis=axis), SMOOTH)
    case("log_softmax", f"axis{axis}", lambda a, axis=axis: ops.log_softmax(a, axis=axis), SMOOTH)
case("softmax", "3d-axis1", lambda a: ops.softmax(a, axis=1), randn(2, 3, 2))
case("log_softmax", "3d-axis1", lambda a: ops.log_softmax(a, axis=1), randn(2, 3, 2))
case("softmax", "method", lambda a: a.softmax(axis=0), SMOOTH)
case("l2_normalize", "last", ops.l2_normalize, randn(3, 4))
case("l2_normalize", "axis0", lambda a: ops.l2_normalize(a, axis=0), randn(3, 4))

# ----------------------------------------------------------------------------- fused cross-entropies
SOFT_LABELS = RNG.dirichlet(np.ones(4), size=3)
case("softmax_cross_entropy", "wrt-both", ops.softmax_cross_entropy, randn(3, 4), SOFT_LABELS)
case("softmax_cross_entropy", "axis0", lambda z, y: ops.softmax_cross_entropy(z, y, axis=0), randn(4, 3),
     SOFT_LABELS.T.copy())
case("softmax_cross_entropy", "3d", ops.softmax_cross_entropy, randn(2, 3, 4), RNG.dirichlet(np.ones(4), (2, 3)))
case("softmax_cross_entropy", "labels-broadcast", ops.softmax_cross_entropy, randn(3, 4),
     RNG.dirichlet(np.ones(4)))
case("softmax_cross_entropy", "logits-broadcast", ops.softmax_cross_entropy, randn(4),
     RNG.dirichlet(np.ones(4), 3))
case("sparse_softmax_cross_entropy", "1d-labels", ops.sparse_softmax_cross_entropy, randn(5, 4),
     np.array([0, 3, 1, 1, 2]))
case("sparse_softmax_cross_entropy", "2d-labels", ops.sparse_softmax_cross_entropy, randn(2, 3, 4),
     np.array([[0, 3, 1], [2, 2, 0]]))
case("sigmoid_cross_entropy", "wrt-both", ops.sigmoid_cross_entropy, randn(3, 4) * 3, RNG.random((3, 4)))
case("sigmoid_cross_entropy", "broadcast-labels", ops.sigmoid_cross_entropy, randn(3, 4), RNG.random((4,)))


@pytest.mark.parametrize("fn, inputs", CASES)
def test_gradcheck(fn, inputs):
    assert gradcheck(fn, *inputs) is True


# ----------------------------------------------------------------------------- 0-d inputs
ZERO_D_UNARY = {
    **{name: activations.get(name) for name in activations.names()},
    "exp": ops.exp, "log": ops.log, "log1p": ops.log1p, "expm1": ops.expm1, "sqrt": ops.sqrt, "abs": ops.abs,
    "square": ops.square, "reciprocal": ops.reciprocal, "sin": ops.sin, "cos": ops.cos, "erf": ops.erf,
    "negative": ops.negative, "gelu_tanh": lambda a: ops.gelu(a, approximate=True),
    "clip": lambda a: ops.clip(a, 0.0, 1.0), "power": lambda a: a ** 3, "sum": ops.sum, "mean": ops.mean,
    "max": ops.max, "logsumexp": ops.logsumexp, "var": ops.var, "cast": lambda a: ops.cast(a, "float64"),
    "maximum": lambda a: ops.maximum(a, np.array(0.1)), "minimum": lambda a: ops.minimum(np.array(0.1), a),
    "where": lambda a: ops.where(np.array(True), a, 0.0), "reshape": lambda a: ops.reshape(a, (1, 1)),
    "expand_dims": lambda a: ops.expand_dims(a, 0), "broadcast_to": lambda a: ops.broadcast_to(a, (2,)),
    "relu_general": lambda a: ops.relu(a, max_value=0.5), "swish_beta": lambda a: ops.swish(a, beta=2.0),
}


@pytest.mark.parametrize("name", sorted(ZERO_D_UNARY))
def test_zero_d_input(name):
    """NumPy ufuncs return scalars (not arrays) for 0-d input; results must still be ndarrays."""
    fn = ZERO_D_UNARY[name]
    x = tensor(np.array(0.7), requires_grad=True)
    out = fn(x)
    assert isinstance(out.data, np.ndarray), type(out.data)
    assert isinstance(out.numpy(), np.ndarray)
    assert gradcheck(fn, np.array(0.7))


def test_zero_d_binary_ops():
    for op in (ops.add, ops.subtract, ops.multiply, ops.divide, ops.maximum, ops.minimum, ops.power):
        a, b = tensor(np.array(1.5), requires_grad=True), tensor(np.array(0.5), requires_grad=True)
        out = op(a, b)
        assert isinstance(out.data, np.ndarray)
        out.backward()
        assert a.grad.shape == () and b.grad.shape == ()
        assert gradcheck(op, np.array(1.5), np.array(0.5))
    a, b = tensor(np.array(1.0), requires_grad=True), tensor(np.array(1.0), requires_grad=True)
    ops.maximum(a, b).backward()
    assert a.grad == 0.5 and b.grad == 0.5


# ----------------------------------------------------------------------------- every op is covered
NOT_DIFFERENTIABLE = {"argmax", "argmin", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                      "logical_and", "logical_or", "logical_not", "isnan", "isfinite", "sign", "floor", "round",
                      "tensor", "as_tensor", "Tensor"}
ALIASES = {"clamp": "clip", "concat": "concatenate", "pow": "power", "mul": "multiply", "sub": "subtract",
           "div": "divide", "true_divide": "divide", "dot": "matmul", "hard_swish": "hard_silu", "silu": "swish"}


def test_every_op_is_gradchecked():
    public = {n for n in dir(ops) if not n.startswith("_") and callable(getattr(ops, n))
              and not inspect.ismodule(getattr(ops, n))}
    missing = {n for n in public - NOT_DIFFERENTIABLE if ALIASES.get(n, n) not in COVERED and n not in COVERED}
    assert not missing, f"ops without a gradient check: {sorted(missing)}"


def test_aliases_are_the_same_functions():
    for alias, name in ALIASES.items():
        assert getattr(ops, alias) is getattr(ops, name), alias


# ----------------------------------------------------------------------------- exact gradients at kinks and ties
def grad_of(fn, *arrays, seed=None):
    leaves = [tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.backward(np.ones(out.shape) if seed is None else seed)
    return [leaf.grad for leaf in leaves]


def test_maximum_minimum_split_ties_in_half():
    a, b = [1.0, 2.0, 3.0], [1.0, 0.0, 5.0]
    ga, gb = grad_of(ops.maximum, a, b)
    np.testing.assert_array_equal(ga, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0, 1.0])
    ga, gb = grad_of(ops.minimum, a, b)
    np.testing.assert_array_equal(ga, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gb, [0.5, 1.0, 0.0])


def test_maximum_tie_with_broadcast_scalar():
    ga, gb = grad_of(ops.maximum, [[0.0, 1.0], [-1.0, 0.0]], 0.0)
    np.testing.assert_array_equal(ga, [[0.5, 1.0], [0.0, 0.5]])
    assert gb.shape == () and gb == pytest.approx(1.0 + 0.5 + 0.5)  # wins once, ties twice


def test_max_min_reductions_share_ties_equally():
    x = [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]
    (g,) = grad_of(lambda a: ops.max(a, axis=1), x)
    np.testing.assert_allclose(g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    (g,) = grad_of(lambda a: ops.min(a, axis=1, keepdims=True), x)
    np.testing.assert_allclose(g, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    (g,) = grad_of(lambda a: ops.max(a), x)
    np.testing.assert_allclose(g, [[0, 0.5, 0.5], [0, 0, 0]])
    (g,) = grad_of(lambda a: ops.max(a, axis=0), [[1.0, 5.0], [1.0, 2.0]])
    np.testing.assert_allclose(g, [[0.5, 1.0], [0.5, 0.0]])


def test_clip_gradient_includes_the_bounds():
    (g,) = grad_of(lambda a: ops.clip(a, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 0])


def test_abs_and_relu_derivative_at_zero_is_zero():
    (g,) = grad_of(ops.abs, [0.0, -2.0, 3.0])
    np.testing.assert_array_equal(g, [0, -1, 1])
    (g,) = grad_of(ops.relu, [0.0, -2.0, 3.0])
    np.testing.assert_array_equal(g, [0, 0, 1])


def test_power_zero_exponent_gradient_is_zero_at_zero():
    (g,) = grad_of(lambda a: a ** 0, [0.0, 2.0])
    np.testing.assert_array_equal(g, [0.0, 0.0])
    ga, gb = grad_of(lambda a, b: a ** b, [0.0, 2.0], [0.0, 0.0])
    np.testing.assert_array_equal(ga, [0.0, 0.0])
    assert np.all(np.isfinite(gb))


def test_power_tensor_exponent_gradient_values():
    ga, gb = grad_of(lambda a, b: a ** b, [2.0, 3.0], [3.0, 0.5])
    np.testing.assert_allclose(ga, [3 * 4.0, 0.5 * 3.0 ** -0.5])
    np.testing.assert_allclose(gb, [8 * np.log(2.0), np.sqrt(3.0) * np.log(3.0)])


def test_relu_general_form_values():
    x = np.array([-2.0, 0.0, 0.5, 1.0, 3.0, 7.0])
    out = ops.relu(tensor(x), negative_slope=0.1, max_value=5.0, threshold=1.0).numpy()
    np.testing.assert_allclose(out, [-0.3, -0.1, -0.05, -0.0, 3.0, 5.0])
    np.testing.assert_allclose(ops.relu(tensor(x), max_value=2.0).numpy(), [0, 0, 0.5, 1, 2, 2])
    np.testing.assert_allclose(ops.relu(tensor(x), threshold=1.0).numpy(), [0, 0, 0, 0, 3, 7])


def test_cast_gradient_returns_to_source_dtype():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.cast(x, "float32")
    assert y.dtype == np.float32
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_cast_gradcheck_through_float32_with_loose_tolerance():
    assert gradcheck(lambda a: ops.square(ops.cast(a, "float32")), randn(4), eps=1e-2, atol=1e-3, rtol=1e-2)


def test_dense_accepts_numpy_bias():
    x = tensor(randn(4, 3), requires_grad=True)
    w = tensor(randn(3, 2), requires_grad=True)
    b = randn(2)
    out = ops.dense(x, w, b)
    np.testing.assert_allclose(out.numpy(), x.numpy() @ w.numpy() + b)
    out.sum().backward()
    np.testing.assert_allclose(w.grad, x.numpy().T @ np.ones((4, 2)))


def test_dense_matches_matmul_plus_bias():
    x, w, b = randn(2, 4, 3), randn(3, 5), randn(5)
    out = ops.dense(tensor(x), tensor(w), tensor(b))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), x @ w + b)


def test_matmul_values_match_numpy():
    for sa, sb in MATMUL_SHAPES:
        a, b = randn(*sa), randn(*sb)
        np.testing.assert_allclose(ops.matmul(tensor(a), tensor(b)).numpy(), a @ b)


def test_getitem_repeated_indices_accumulate():
    (g,) = grad_of(lambda a: a[np.array([0, 2, 0, 0])], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [3.0, 0.0, 1.0])
    (g,) = grad_of(lambda a: ops.take(a, [1, 1], axis=0), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [0.0, 2.0, 0.0])


def test_shape_ops_values_match_numpy():
    x = randn(2, 3, 4)
    t = tensor(x)
    np.testing.assert_array_equal(ops.take(t, np.array([[0, 2], [1, 1]]), axis=-1).numpy(),
                                  np.take(x, np.array([[0, 2], [1, 1]]), axis=-1))
    np.testing.assert_array_equal(ops.repeat(t, 2, axis=-1).numpy(), np.repeat(x, 2, axis=-1))
    np.testing.assert_array_equal(ops.tile(t, (2, 1, 1, 2)).numpy(), np.tile(x, (2, 1, 1, 2)))
    np.testing.assert_array_equal(ops.pad(t, ((1, 2),)).numpy(), np.pad(x, ((1, 2),)))
    np.testing.assert_array_equal(ops.pad(t, (1, 2)).numpy(), np.pad(x, (1, 2)))
    for got, want in zip(ops.split(t, [1, 3], axis=-1), np.split(x, [1, 3], axis=-1)):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(ops.split(t, 2, axis=1), np.array_split(x, 2, axis=1)):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(ops.stack([t, t], axis=-1).numpy(), np.stack([x, x], axis=-1))
    np.testing.assert_array_equal(ops.swapaxes(t, 0, -1).numpy(), np.swapaxes(x, 0, -1))


def test_reductions_values_match_numpy():
    x = randn(2, 3, 4)
    for axis in AXES:
        for keepdims in (False, True):
            for name in ("sum", "mean", "max", "min", "var", "std"):
                got = getattr(ops, name)(tensor(x), axis=axis, keepdims=keepdims).numpy()
                np.testing.assert_allclose(got, getattr(np, name)(x, axis=axis, keepdims=keepdims), err_msg=name)
            ref = np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))
            np.testing.assert_allclose(ops.logsumexp(tensor(x), axis=axis, keepdims=keepdims).numpy(), ref)
    np.testing.assert_allclose(ops.var(tensor(x), axis=1, ddof=1).numpy(), np.var(x, axis=1, ddof=1))


def test_mean_over_size_one_axes_matches_numpy_in_value_shape_and_dtype():
    for data in (randn(4, 1).astype(np.float32), randn(2, 1, 3)):
        for axis in (-1, 1, (1,)):
            if data.shape[axis if isinstance(axis, int) else axis[0]] != 1:
                continue
            for keepdims in (False, True):
                got = ops.mean(tensor(data), axis=axis, keepdims=keepdims).numpy()
                want = np.mean(data, axis=axis, keepdims=keepdims)
                np.testing.assert_array_equal(got, want)
                assert got.shape == want.shape and got.dtype == want.dtype


def test_softmax_with_masked_minus_infinity_entries():
    x = tensor(np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, 2.0]]), requires_grad=True)
    y = ops.softmax(x)
    np.testing.assert_allclose(y.numpy(), [[0.0, 1 / (1 + np.e), np.e / (1 + np.e)], [0.5, 0.0, 0.5]])
    y.backward(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, -1.0]]))
    assert np.all(np.isfinite(x.grad))
    assert x.grad[0, 0] == 0.0 and x.grad[1, 1] == 0.0
    np.testing.assert_allclose(ops.logsumexp(tensor(np.array([-np.inf, 0.0])), axis=-1).numpy(), 0.0)


def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])
    out = ops.logsumexp(tensor(x), axis=1).numpy()
    np.testing.assert_allclose(out, [1000 + np.log(2), -1000 + np.log(2)])


# ----------------------------------------------------------------------------- fused vs composed
def composed_softmax_ce(z, y, axis=-1):
    return -ops.sum(y * ops.log_softmax(z, axis=axis), axis=axis)


def composed_sigmoid_ce(z, y):
    return -(y * ops.log_sigmoid(z) + (1.0 - y) * ops.log_sigmoid(-z))


def assert_same_values_and_grads(fused, composed, *arrays):
    seed = RNG.standard_normal(fused(*[tensor(a) for a in arrays]).shape)
    outs, grads = [], []
    for fn in (fused, composed):
        leaves = [tensor(np.array(a, dtype=np.float64), requires_grad=np.asarray(a).dtype.kind == "f")
                  for a in arrays]
        out = fn(*leaves)
        out.backward(seed)
        outs.append(out.numpy())
        grads.append([leaf.grad for leaf in leaves if leaf.requires_grad])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10, atol=1e-12)
    for g_fused, g_composed in zip(*grads):
        np.testing.assert_allclose(g_fused, g_composed, rtol=1e-9, atol=1e-12)


def test_softmax_cross_entropy_matches_composed():
    assert_same_values_and_grads(ops.softmax_cross_entropy, composed_softmax_ce, randn(5, 4) * 3,
                                 RNG.dirichlet(np.ones(4), 5))
    # unnormalised soft labels: ∂/∂z = softmax·Σy − y
    assert_same_values_and_grads(ops.softmax_cross_entropy, composed_softmax_ce, randn(3, 4), RNG.random((3, 4)))
    assert_same_values_and_grads(lambda z, y: ops.softmax_cross_entropy(z, y, axis=0),
                                 lambda z, y: composed_softmax_ce(z, y, axis=0), randn(4, 3),
                                 RNG.dirichlet(np.ones(4), 3).T.copy())


def test_sparse_softmax_cross_entropy_matches_composed():
    z = randn(2, 3, 5) * 2
    labels = np.array([[0, 4, 2], [1, 1, 3]])
    onehot = np.eye(5)[labels]
    assert_same_values_and_grads(lambda z_: ops.sparse_softmax_cross_entropy(z_, labels),
                                 lambda z_: composed_softmax_ce(z_, onehot), z)
    dense = ops.softmax_cross_entropy(tensor(z), tensor(onehot)).numpy()
    np.testing.assert_allclose(ops.sparse_softmax_cross_entropy(tensor(z), labels).numpy(), dense)


def test_sparse_labels_may_be_integer_valued_floats_or_tensors():
    z = tensor(randn(3, 4))
    a = ops.sparse_softmax_cross_entropy(z, np.array([0.0, 3.0, 1.0])).numpy()
    b = ops.sparse_softmax_cross_entropy(z, tensor([0, 3, 1], dtype="int64")).numpy()
    np.testing.assert_allclose(a, b)


def test_sigmoid_cross_entropy_matches_composed():
    assert_same_values_and_grads(ops.sigmoid_cross_entropy, composed_sigmoid_ce, randn(4, 3) * 4,
                                 RNG.random((4, 3)))


def test_cross_entropies_are_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0]])
    out = ops.softmax_cross_entropy(tensor(z), np.array([[0.0, 1.0, 0.0]])).numpy()
    np.testing.assert_allclose(out, [2e4])
    out = ops.sparse_softmax_cross_entropy(tensor(z), np.array([0])).numpy()
    np.testing.assert_allclose(out, [0.0], atol=1e-12)
    z = tensor(np.array([100.0, -100.0, 1e4, -1e4]), requires_grad=True)
    loss = ops.sigmoid_cross_entropy(z, np.array([0.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0, 0.0, 0.0], atol=1e-12)
    loss.sum().backward()
    np.testing.assert_allclose(z.grad, [1.0, -1.0, 0.0, 0.0], atol=1e-12)


def test_sparse_labels_are_validated():
    z = tensor(randn(3, 4))
    with pytest.raises(InputError, match="out of range"):
        ops.sparse_softmax_cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(InputError, match="out of range"):
        ops.sparse_softmax_cross_entropy(z, np.array([0, -1, 1]))
    with pytest.raises(InputError, match="non-integer"):
        ops.sparse_softmax_cross_entropy(z, np.array([0.0, 0.5, 1.0]))
    with pytest.raises(InputError, match="NaN"):
        ops.sparse_softmax_cross_entropy(z, np.array([0.0, np.nan, 1.0]))
    with pytest.raises(InputError, match="shape"):
        ops.sparse_softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(InputError):
        ops.sparse_softmax_cross_entropy(z, np.array(["a", "b", "c"]))


# ----------------------------------------------------------------------------- gradcheck itself
def _op_with_wrong_backward(x):
    """Forward x², backward claims x (should be 2x)."""
    return make_result(x.data ** 2, (x,), lambda g: (g * x.data,), "wrong_square")


def _op_with_right_backward(x):
    return make_result(x.data ** 2, (x,), lambda g: (g * 2 * x.data,), "square")


def _op_with_wrong_second_input(a, b):
    """a·b whose backward forgets the sign of b's gradient."""
    return make_result(a.data * b.data, (a, b), lambda g: (g * b.data, -g * a.data), "bad_mul")


def test_gradcheck_catches_a_wrong_backward():
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(_op_with_wrong_backward, randn(3))
    assert gradcheck(_op_with_wrong_backward, randn(3), raise_exception=False) is False
    assert gradcheck(_op_with_right_backward, randn(3)) is True


def test_gradcheck_names_the_bad_input():
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(_op_with_wrong_second_input, randn(3), randn(3))


def test_gradcheck_catches_a_missing_gradient():
    def drops_gradient(x):
        return make_result(x.data * 3.0, (x,), lambda g: (None,), "drop")

    with pytest.raises(GradcheckError):
        gradcheck(drops_gradient, randn(2))


def test_gradcheck_catches_a_wrong_unbroadcast():
    def forgets_to_unbroadcast(a, b):
        # b is (1, 3) broadcast over 4 rows, but its gradient is taken from the first row only
        return make_result(a.data + b.data, (a, b), lambda g: (g, g[:1]), "bad_add")

    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(forgets_to_unbroadcast, randn(4, 3), randn(1, 3))


def test_gradcheck_catches_a_small_relative_error():
    def slightly_off(x):
        return make_result(np.sin(x.data), (x,), lambda g: (g * np.cos(x.data) * 1.01,), "sin")

    with pytest.raises(GradcheckError):
        gradcheck(slightly_off, RNG.uniform(0.1, 1.0, 4))


def test_gradcheck_input_validation():
    with pytest.raises(ValueError):
        gradcheck(lambda i: ops.sum(tensor(i)), np.array([1, 2]))
    with pytest.raises(TypeError):
        gradcheck(lambda a: a.numpy(), randn(2))
    with pytest.raises(GradcheckError):
        gradcheck(lambda a: tensor(np.ones(2)), randn(2))


def test_gradcheck_does_not_modify_inputs():
    x = randn(3)
    before = x.copy()
    gradcheck(ops.exp, x)
    np.testing.assert_array_equal(x, before)
