"""Property tests (hypothesis): broadcasting element-wise ops, reductions over random axes, and
reshape/transpose round trips agree with NumPy, and their gradients have the inputs' shapes and
the values the chain rule predicts.

The reference for "sum a broadcast gradient back to an input's shape" is computed independently
of the engine's ``unbroadcast``: every output element is mapped to the input element it was read
from (by broadcasting an array of flat indices) and the gradients are added with ``np.bincount``."""

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from glassnet import ops
from glassnet.diagnostics import gradcheck
from glassnet.tensor import tensor

SETTINGS = settings(max_examples=50, deadline=None)
SHAPES_2 = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4)
SHAPES_3 = mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1, max_side=3)
SEEDS = st.integers(0, 2**32 - 1)


def reduce_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` (of a broadcast result's shape) back onto the input of ``shape`` that was broadcast."""
    flat_index = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)
    source = np.broadcast_to(flat_index, g.shape)
    return np.bincount(source.ravel(), weights=g.ravel(), minlength=flat_index.size).reshape(shape)


def leaves(*arrays):
    return [tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]


def run(fn, *arrays, seed_rng):
    """Forward, then backward with a random seed; returns (output array, seed, grads)."""
    xs = leaves(*arrays)
    out = fn(*xs)
    seed = seed_rng.standard_normal(out.shape)
    out.backward(seed)
    return out.numpy(), seed, [x.grad for x in xs]


# ----------------------------------------------------------------------------- element-wise binary ops
def _nonzero(rng, shape):
    return rng.uniform(0.5, 3.0, shape) * rng.choice([-1.0, 1.0], shape)


# name -> (glassnet op, numpy op, [∂f/∂a, ∂f/∂b] as functions of (a, b) broadcast arrays)
BINARY = {
    "add": (ops.add, np.add, lambda a, b: (np.ones_like(a), np.ones_like(b))),
    "subtract": (ops.subtract, np.subtract, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    "multiply": (ops.multiply, np.multiply, lambda a, b: (b, a)),
    "divide": (ops.divide, np.divide, lambda a, b: (1.0 / b, -a / b ** 2)),
    "maximum": (ops.maximum, np.maximum,
                lambda a, b: (np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0)),
                              np.where(b > a, 1.0, np.where(a == b, 0.5, 0.0)))),
    "minimum": (ops.minimum, np.minimum,
                lambda a, b: (np.where(a < b, 1.0, np.where(a == b, 0.5, 0.0)),
                              np.where(b < a, 1.0, np.where(a == b, 0.5, 0.0)))),
}


@SETTINGS
@given(shapes=SHAPES_2, name=st.sampled_from(sorted(BINARY)), seed=SEEDS, integer_values=st.booleans())
def test_binary_ops_match_numpy_and_chain_rule(shapes, name, seed, integer_values):
    op, np_op, partials = BINARY[name]
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    if integer_values and name in ("maximum", "minimum", "add", "multiply"):
        a, b = rng.integers(-2, 3, sa).astype(float), rng.integers(-2, 3, sb).astype(float)  # many ties
    else:
        a = rng.standard_normal(sa)
        b = _nonzero(rng, sb) if name == "divide" else rng.standard_normal(sb)

    out, g, (ga, gb) = run(op, a, b, seed_rng=rng)

    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out, np_op(a, b), rtol=1e-13, atol=0)
    assert ga.shape == sa and gb.shape == sb
    da, db = partials(*np.broadcast_arrays(a, b))
    np.testing.assert_allclose(ga, reduce_to(g * da, sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, reduce_to(g * db, sb), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(shapes=SHAPES_2, seed=SEEDS)
def test_grad_of_sum_of_product_is_the_other_factor_summed_to_shape(shapes, seed):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b = leaves(rng.standard_normal(sa), rng.standard_normal(sb))
    ops.sum(a * b).backward()
    b_broadcast = np.broadcast_to(b.numpy(), shapes.result_shape)
    a_broadcast = np.broadcast_to(a.numpy(), shapes.result_shape)
    np.testing.assert_allclose(a.grad, reduce_to(b_broadcast, sa), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad, reduce_to(a_broadcast, sb), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(shapes=SHAPES_3, seed=SEEDS)
def test_where_matches_numpy_and_routes_gradients(shapes, seed):
    sc, sx, sy = shapes.input_shapes
    rng = np.random.default_rng(seed)
    cond = rng.random(sc) > 0.5
    x, y = rng.standard_normal(sx), rng.standard_normal(sy)
    out, g, (gx, gy) = run(lambda x_, y_: ops.where(cond, x_, y_), x, y, seed_rng=rng)
    assert out.shape == shapes.result_shape
    np.testing.assert_array_equal(out, np.where(cond, x, y))
    c = np.broadcast_to(cond, shapes.result_shape)
    assert gx.shape == sx and gy.shape == sy
    np.testing.assert_allclose(gx, reduce_to(np.where(c, g, 0.0), sx), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gy, reduce_to(np.where(c, 0.0, g), sy), rtol=1e-12, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3),
       name=st.sampled_from(["add", "subtract", "multiply", "divide"]), seed=SEEDS)
def test_binary_ops_pass_finite_difference_check(shapes, name, seed):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(sa), _nonzero(rng, sb)
    assert gradcheck(BINARY[name][0], a, b)


@SETTINGS
@given(shapes=SHAPES_2, seed=SEEDS)
def test_broadcast_to_gradient_sums_back(shapes, seed):
    source = shapes.input_shapes[0]
    target = shapes.result_shape
    rng = np.random.default_rng(seed)
    out, g, (gx,) = run(lambda x: ops.broadcast_to(x, target), rng.standard_normal(source), seed_rng=rng)
    assert out.shape == target
    np.testing.assert_allclose(gx, reduce_to(g, source), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(shapes=SHAPES_2, seed=SEEDS, python_scalar=st.floats(-3, 3, allow_nan=False))
def test_float32_stays_float32_with_any_float64_operand(shapes, seed, python_scalar):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(seed)
    a = tensor(rng.standard_normal(sa).astype(np.float32), requires_grad=True)
    b = rng.standard_normal(sb)  # float64 NumPy array
    out = a * b + python_scalar - np.float64(python_scalar) * a
    assert out.dtype == np.float32
    ops.sum(out).backward()
    assert a.grad.dtype == np.float32 and a.grad.shape == sa


# ----------------------------------------------------------------------------- reductions
@st.composite
def array_and_axis(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(
            lambda axes: tuple(a - ndim if i % 2 else a for i, a in enumerate(axes))),  # mix negative axes in
    ))
    return shape, axis


def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else tuple(range(x.ndim)))


REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "var": np.var, "std": np.std,
    "logsumexp": _np_logsumexp,
}


@SETTINGS
@given(shape_axis=array_and_axis(), name=st.sampled_from(sorted(REDUCTIONS)), keepdims=st.booleans(),
       seed=SEEDS, integer_values=st.booleans())
def test_reductions_match_numpy(shape_axis, name, keepdims, seed, integer_values):
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(float) if integer_values else rng.standard_normal(shape)
    with np.errstate(divide="ignore", invalid="ignore"):  # std of a constant group: ∂√v/∂v = ∞ (NaN grad)
        out, g, (gx,) = run(lambda t: getattr(ops, name)(t, axis=axis, keepdims=keepdims), x, seed_rng=rng)
    expected = REDUCTIONS[name](x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert gx.shape == shape

    # Expected gradients, with the seed re-expanded over the reduced axes.
    axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis) % x.ndim)
    g_full = g if keepdims else np.expand_dims(g, axes)
    if name == "sum":
        np.testing.assert_allclose(gx, np.broadcast_to(g_full, shape), rtol=1e-12)
    elif name == "mean":
        n = int(np.prod([shape[a] for a in axes]))
        np.testing.assert_allclose(gx, np.broadcast_to(g_full, shape) / n, rtol=1e-12)
    elif name in ("max", "min"):
        chosen = x == REDUCTIONS[name](x, axis=axes, keepdims=True)
        share = chosen / chosen.sum(axis=axes, keepdims=True)  # ties share equally
        np.testing.assert_allclose(gx, share * g_full, rtol=1e-12, atol=1e-15)
    elif name == "logsumexp":
        softmax = np.exp(x - _np_logsumexp(x, axis=axes, keepdims=True))
        np.testing.assert_allclose(gx, softmax * g_full, rtol=1e-10, atol=1e-12)
    elif name == "var":
        n = int(np.prod([shape[a] for a in axes]))
        centered = x - x.mean(axis=axes, keepdims=True)
        np.testing.assert_allclose(gx, 2 * centered / n * g_full, rtol=1e-10, atol=1e-12)
    elif name == "std":
        n = int(np.prod([shape[a] for a in axes]))
        centered = x - x.mean(axis=axes, keepdims=True)
        sigma = np.std(x, axis=axes, keepdims=True)
        spread = np.broadcast_to(sigma > 1e-6, shape)
        expected = centered / (n * np.where(sigma > 1e-6, sigma, 1.0)) * g_full
        np.testing.assert_allclose(gx[spread], np.broadcast_to(expected, shape)[spread], rtol=1e-9, atol=1e-12)


@SETTINGS
@given(shape_axis=array_and_axis(), seed=SEEDS)
def test_max_gradient_sums_to_one_per_group_even_with_ties(shape_axis, seed):
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    x = leaves(rng.integers(0, 2, shape).astype(float))[0]  # 0/1 values: ties everywhere
    out = ops.max(x, axis=axis)
    out.backward(np.ones(out.shape))
    axes = tuple(range(len(shape))) if axis is None else tuple(np.atleast_1d(axis) % len(shape))
    np.testing.assert_allclose(x.grad.sum(axis=axes), np.ones(out.shape))
    assert np.all(x.grad[x.numpy() < np.max(x.numpy(), axis=axes, keepdims=True)] == 0)


# ----------------------------------------------------------------------------- reshape / transpose
@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=4), data=st.data(), seed=SEEDS)
def test_transpose_round_trip_and_gradient(shape, data, seed):
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    inverse = tuple(np.argsort(perm))
    t = leaves(x)[0]
    moved = ops.transpose(t, perm)
    np.testing.assert_array_equal(moved.numpy(), np.transpose(x, perm))
    back = ops.transpose(moved, inverse)
    np.testing.assert_array_equal(back.numpy(), x)
    g = rng.standard_normal(moved.shape)
    moved.backward(g)
    np.testing.assert_array_equal(t.grad, np.transpose(g, inverse))


@SETTINGS
@given(shape=array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=4), data=st.data(), seed=SEEDS)
def test_reshape_round_trip_and_gradient(shape, data, seed):
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = data.draw(st.sampled_from(divisors))
    new_shape = (first, -1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    t = leaves(x)[0]
    r = ops.reshape(t, new_shape)
    np.testing.assert_array_equal(r.numpy(), x.reshape(new_shape))
    back = ops.reshape(r, shape)
    assert back.shape == shape
    np.testing.assert_array_equal(back.numpy(), x)
    g = rng.standard_normal(r.shape)
    r.backward(g)
    np.testing.assert_array_equal(t.grad, g.reshape(shape))


@SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), data=st.data(), seed=SEEDS)
def test_swapaxes_expand_squeeze_round_trip(shape, data, seed):
    ndim = len(shape)
    a1 = data.draw(st.integers(-ndim, ndim - 1))
    a2 = data.draw(st.integers(-ndim, ndim - 1))
    new_axis = data.draw(st.integers(-ndim - 1, ndim))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    t = leaves(x)[0]
    swapped = ops.swapaxes(t, a1, a2)
    np.testing.assert_array_equal(swapped.numpy(), np.swapaxes(x, a1, a2))
    expanded = ops.expand_dims(swapped, new_axis)
    np.testing.assert_array_equal(expanded.numpy(), np.expand_dims(np.swapaxes(x, a1, a2), new_axis))
    restored = ops.swapaxes(ops.squeeze(expanded, new_axis), a1, a2)
    np.testing.assert_array_equal(restored.numpy(), x)
    g = rng.standard_normal(shape)
    restored.backward(g)
    np.testing.assert_array_equal(t.grad, g)
