"""The optional compiled kernels (glassnet.accel, glassnet.numba_kernels): the switch, and every fast path
against the NumPy path it replaces — bit for bit on values and gradients, including ties, NaN, ±inf and
−0.0 — plus gradient checks through the compiled paths and whole training runs with and without them."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import glassnet as gn
from glassnet import accel, layers
from glassnet.diagnostics import gradcheck
from glassnet.ops import conv as conv_ops
from glassnet.ops import linalg, nonlinear
from glassnet.tensor import Parameter, Tensor
from parallel_helpers import spy_parts

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _accelerated():
    accel.set_enabled(True)
    gn.set_seed(0)
    yield
    accel.set_enabled(True)


@pytest.fixture
def small_arrays_compiled(monkeypatch):
    """Send arrays of any size to the kernels (so gradient checks on small inputs exercise them)."""
    monkeypatch.setattr(accel, "COMPILED_MIN_SIZE", 1)


def both_paths(fn):
    """fn() with the compiled kernels, then on the NumPy paths."""
    fast = fn()
    with accel.disabled():
        assert accel.kernels() is None
        reference = fn()
    return fast, reference


def assert_same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # NaN equals NaN here
    assert np.asarray(a).dtype == np.asarray(b).dtype


# ------------------------------------------------------------------ the switch
def test_switch_and_status():
    assert accel.available() and accel.enabled()
    assert accel.kernels() is not None
    assert "kernels on" in accel.status()
    with accel.disabled():
        assert not accel.enabled() and accel.kernels() is None
        assert "switched off" in accel.status()
        with accel.disabled():
            pass
        assert not accel.enabled()  # nested blocks restore what they found
    assert accel.enabled()
    accel.set_enabled(False)
    assert accel.kernels() is None
    accel.set_enabled(True)
    assert accel.kernels() is not None


def test_environment_variable_switches_off_and_numba_is_not_imported_with_glassnet():
    code = ("import sys, glassnet, glassnet.accel as a; "
            "print(a.enabled(), 'numba' in sys.modules)")
    env = {**os.environ, "GLASSNET_ACCEL": "0"}
    off = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert off.stdout.split() == ["False", "False"]
    env["GLASSNET_ACCEL"] = "1"
    on = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert on.stdout.split() == ["True", "False"]  # numba waits for the first op that can use it


def test_a_numba_that_fails_to_load_warns_once_and_leaves_the_numpy_paths(monkeypatch):
    import glassnet

    monkeypatch.setattr(accel, "_kernels", None)
    monkeypatch.setattr(accel, "_installed", True)
    monkeypatch.setattr(accel, "_load_error", None)
    monkeypatch.delattr(glassnet, "numba_kernels", raising=False)
    monkeypatch.setitem(sys.modules, "glassnet.numba_kernels", None)  # importing it now fails
    with pytest.warns(RuntimeWarning, match="compiled kernels could not be loaded"):
        assert accel.kernels() is None
    assert not accel.available() and not accel.enabled()
    assert accel.kernels() is None  # no second warning: it is not retried
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3))
    assert conv_ops.max_pool(Tensor(x), 2).shape == (2, 4, 4, 3)
    assert "could not be loaded" in accel.status()


# ------------------------------------------------------------------ max pooling
def _pool_input(shape, dtype, rng, special=False):
    x = rng.standard_normal(shape).astype(dtype)
    x[x < 0.3] = 0.0  # many ties, as after a ReLU
    x[..., ::3] = np.round(x[..., ::3])  # more ties
    if special:
        flat = x.reshape(-1)
        flat[5], flat[40], flat[41], flat[77] = np.nan, np.inf, -np.inf, -0.0
        x[1, :2, :2, 0] = -np.inf  # a whole window of −inf
    return x


@pytest.mark.parametrize("shape, pool", [((4, 8, 8, 3), 2), ((3, 9, 7, 5), 2), ((2, 9, 9, 4), 3),
                                         ((2, 8, 9, 3), (2, 3)), ((2, 5, 5, 2), (1, 1)), ((2, 6, 6, 2), 6)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("special", [False, True])
def test_max_pool_compiled_equals_numpy(shape, pool, dtype, special):
    rng = np.random.default_rng(1)
    x_data = _pool_input(shape, dtype, rng, special)
    out_shape = conv_ops.max_pool(Tensor(x_data), pool).shape
    g = rng.standard_normal(out_shape).astype(dtype)

    def run():
        x = Tensor(x_data.copy(), requires_grad=True)
        y = conv_ops.max_pool(x, pool)
        (y * Tensor(g)).sum().backward()
        return y.data, x.grad

    (y_fast, gx_fast), (y_ref, gx_ref) = both_paths(run)
    assert_same(y_fast, y_ref)
    assert_same(gx_fast, gx_ref)
    # one element per window receives the gradient; rows/columns past the last window get none
    assert np.count_nonzero(gx_fast) <= np.count_nonzero(g)


def test_max_pool_compiled_routes_to_the_first_maximum_and_nan_windows_pass_nothing():
    x = np.zeros((1, 4, 4, 1), np.float32)            # window 0: all ties at 0 → offset 0 wins
    x[0, 0, 2, 0], x[0, 1, 3, 0] = 5.0, 5.0          # window 1: tie at 5 → (0, 2) wins (row-major first)
    x[0, 2, 0, 0] = np.nan                           # window 2: NaN → output NaN, no gradient
    x[0, 3, 3, 0] = 2.0                              # window 3: single max at its last offset
    t = Tensor(x, requires_grad=True)
    y = conv_ops.max_pool(t, 2)
    y.sum().backward()
    assert y.data[0, 0, 1, 0] == 5.0 and np.isnan(y.data[0, 1, 0, 0]) and y.data[0, 1, 1, 0] == 2.0
    expected = np.zeros((4, 4), np.float32)
    expected[0, 0], expected[0, 2], expected[3, 3] = 1, 1, 1
    np.testing.assert_array_equal(t.grad[0, :, :, 0], expected)


@pytest.mark.parametrize("pool, shape", [(2, (2, 6, 5, 3)), (3, (1, 7, 6, 2)), ((2, 3), (2, 4, 7, 2))])
def test_max_pool_compiled_gradcheck(pool, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)  # distinct values: the maximum is differentiable
    assert gradcheck(lambda t: conv_ops.max_pool(t, pool), x)


def test_max_pool_paths_not_compiled_still_agree():
    """Overlapping windows, padding and 1-D/3-D pooling keep the NumPy path (same results either way)."""
    rng = np.random.default_rng(3)
    for x_data, args in [(rng.standard_normal((2, 7, 7, 3)), (3, 2, "valid")),
                         (rng.standard_normal((2, 7, 7, 3)), (2, 2, "same")),
                         (rng.standard_normal((2, 9, 3)), (2, None, "valid")),
                         (rng.standard_normal((2, 4, 4, 4, 2)), (2, None, "valid"))]:
        fast, reference = both_paths(lambda: conv_ops.max_pool(Tensor(x_data), *args).data)
        assert_same(fast, reference)


# ------------------------------------------------------------------ ReLU and the fused dense / conv
def _with_specials(shape, rng, dtype=np.float32):
    z = rng.standard_normal(shape).astype(dtype)
    flat = z.reshape(-1)
    flat[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, -np.nan]
    return z


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernels_equal_numpy(dtype):
    rng = np.random.default_rng(4)
    z = _with_specials((64, 130), rng, dtype)
    g = rng.standard_normal(z.shape).astype(dtype)
    fast, reference = both_paths(lambda: (nonlinear.relu_array(z), nonlinear.relu_array(z.copy(), out=None)))
    assert_same(fast[0], np.maximum(z, 0))
    assert_same(fast[0], reference[0])
    in_place = z.copy()
    assert nonlinear.relu_array(in_place, out=in_place) is in_place
    assert_same(in_place, np.maximum(z, 0))
    a = np.maximum(z, 0)
    fast, reference = both_paths(lambda: nonlinear.relu_gradient_array(g, a))
    assert_same(fast, reference)
    assert_same(fast, g * (a > 0))
    bias = rng.standard_normal(z.shape[1]).astype(dtype)
    y = z.copy()
    assert nonlinear.bias_relu_inplace(y, bias)
    assert_same(y, np.maximum(z + bias, 0))
    with accel.disabled():
        untouched = z.copy()
        assert not nonlinear.bias_relu_inplace(untouched, bias)
        assert_same(untouched, z)


def test_relu_kernels_decline_what_they_cannot_take():
    rng = np.random.default_rng(5)
    z16 = rng.standard_normal((100, 100)).astype(np.float16)
    assert nonlinear.relu_array(z16).dtype == np.float16
    strided = rng.standard_normal((200, 100)).astype(np.float32)[::2]
    assert_same(nonlinear.relu_array(strided), np.maximum(strided, 0))
    a = np.maximum(strided, 0)
    assert_same(nonlinear.relu_gradient_array(strided, a), strided * (a > 0))
    assert not nonlinear.bias_relu_inplace(strided, np.zeros(100, np.float32))
    assert not nonlinear.bias_relu_inplace(np.zeros((100, 100), np.float32), np.zeros(100, np.float64))


def test_relu_op_and_fused_dense_gradcheck_through_the_kernels(small_arrays_compiled):
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    assert gradcheck(lambda x: nonlinear.relu(x), rng.standard_normal((6, 5)))
    assert gradcheck(lambda x, w, b: linalg.dense(x, w, b, activation="relu"), x, w, b)
    assert gradcheck(lambda x, w: linalg.dense(x, w, None, activation="relu"), x, w)


def test_fused_conv_relu_gradcheck_through_the_kernels(small_arrays_compiled):
    rng = np.random.default_rng(7)
    x, k, b = rng.standard_normal((2, 5, 5, 2)), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    assert gradcheck(lambda x, k, b: conv_ops.conv(x, k, b, activation="relu"), x, k, b)
    assert gradcheck(lambda x, k, b: conv_ops.conv(x, k, b, groups=1, padding="same", activation="relu"), x, k, b)


def _train(model_fn, x, y, epochs=2):
    gn.clear_session()
    gn.set_seed(0)
    model = model_fn()
    model.compile(optimizer="adam", loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return [w.data.copy() for w in model.weights], history.history["loss"], model.predict(x, verbose=0)


def test_cnn_and_mlp_training_are_bit_identical_with_and_without_the_kernels():
    rng = np.random.default_rng(8)
    images, labels = rng.standard_normal((96, 12, 12, 1)).astype(np.float32), rng.integers(0, 4, 96)

    def cnn():
        return gn.Sequential([layers.Input(shape=(12, 12, 1)), layers.Conv2D(8, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(16, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(64, activation="relu"),
                              layers.Dense(4)])

    vectors = rng.standard_normal((256, 40)).astype(np.float32)
    classes = rng.integers(0, 3, 256)

    def mlp():
        return gn.Sequential([layers.Input(shape=(40,)), layers.Dense(256, activation="relu"),
                              layers.Dense(128), layers.Activation("relu"), layers.Dense(3)])

    for build, x, y in [(cnn, images, labels), (mlp, vectors, classes)]:
        fast, reference = both_paths(lambda: _train(build, x, y))
        for a, b in zip(fast[0], reference[0]):
            assert_same(a, b)
        assert fast[1] == reference[1]
        assert_same(fast[2], reference[2])



# ------------------------------------------------------------------ Adam
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [[(300, 50)], [(784, 256), (256,), (256, 10)]])  # one, and split over threads
def test_adam_compiled_update_equals_numpy(dtype, shapes):
    rng = np.random.default_rng(9)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) * 10.0 ** -k for s in shapes] for k in range(4)]
    grads[1][0].reshape(-1)[:3] = 0.0  # m and v stay tiny: the ε̂ in the denominator matters

    def run(**options):
        variables = [Parameter(w.copy()) for w in start]
        optimizer = gn.optimizers.Adam(learning_rate=0.01, **options)
        for step_grads in grads:
            optimizer.apply(step_grads, variables)
        return [v.data for v in variables] + [optimizer.slot(name, v) for name in ("m", "v") for v in variables]

    for options in ({}, {"weight_decay": 0.01}, {"amsgrad": True}, {"epsilon": 1e-3, "beta_1": 0.5}):
        fast, reference = both_paths(lambda: run(**options))
        for a, b in zip(fast, reference):
            assert_same(a, b)
        assert not np.array_equal(fast[0], start[0])


def test_compiled_adam_is_not_split_across_threads():
    assert gn.optimizers.Adam().compiled_update() and gn.optimizers.AdamW().compiled_update()
    assert gn.optimizers.Adam(amsgrad=True).compiled_update()
    assert not gn.optimizers.SGD().compiled_update()
    with accel.disabled():
        assert not gn.optimizers.Adam().compiled_update()


def test_adamw_through_fit_is_bit_identical_with_and_without_the_kernel():
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((128, 64)).astype(np.float32), rng.integers(0, 3, 128)

    def run():
        gn.clear_session()
        gn.set_seed(0)
        model = gn.Sequential([layers.Input(shape=(64,)), layers.Dense(128, activation="relu"), layers.Dense(3)])
        model.compile(optimizer=gn.optimizers.AdamW(1e-2), loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        return [w.data.copy() for w in model.weights]

    fast, reference = both_paths(run)
    for a, b in zip(fast, reference):
        assert_same(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, options", [
    ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"momentum": 0.5, "dampening": 0.3}), ("SGD", {"momentum": 0.9, "weight_decay": 0.01}),
    ("RMSprop", {}), ("RMSprop", {"momentum": 0.9}), ("RMSprop", {"rho": 0.5, "epsilon": 1e-3}),
    ("RMSprop", {"centered": True}), ("RMSprop", {"centered": True, "momentum": 0.9}), ("SGD", {}),
    ("Nadam", {}), ("Nadam", {"beta_1": 0.5, "epsilon": 1e-3, "momentum_decay": 1.0}),
    ("Adamax", {}), ("Adamax", {"beta_2": 0.5, "epsilon": 1e-3}),
    ("Adagrad", {}), ("Adagrad", {"initial_accumulator_value": 0.0, "epsilon": 1e-3}),
    ("Adadelta", {}), ("Adadelta", {"rho": 0.5, "epsilon": 1e-3, "weight_decay": 0.01}),
])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the NaN and inf entries, NumPy path
def test_compiled_optimizer_updates_equal_numpy(dtype, name, options):
    """Each optimizer's one-pass kernel against its NumPy update, to the bit, over steps whose gradients
    shrink by 10× each (so ε and the running averages' history both matter), with a NaN, an inf and a
    zero gradient entry (NaN/inf must spread, or not, exactly as in NumPy)."""
    rng = np.random.default_rng(11)
    shapes = [(784, 256), (256,), (3,)]
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) * 10.0 ** -k for s in shapes] for k in range(4)]
    grads[1][2][:] = [np.nan, np.inf, 0.0]

    def run():
        variables = [Parameter(w.copy()) for w in start]
        optimizer = getattr(gn.optimizers, name)(learning_rate=0.01, **options)
        for step_grads in grads:
            optimizer.apply(step_grads, variables)
        return [v.data for v in variables] + [optimizer.slot(slot, v) for slot in optimizer.slot_names()
                                              for v in variables]

    fast, reference = both_paths(run)
    for a, b in zip(fast, reference):
        assert_same(a, b)
    assert not np.array_equal(fast[0], start[0])
    optimizer = getattr(gn.optimizers, name)(**options)
    assert optimizer.compiled_update() == ((options.get("momentum", 0) != 0) if name == "SGD" else True)
    with accel.disabled():
        assert not optimizer.compiled_update()


# ------------------------------------------------------------------ LSTM
def lstm_problem(dtype, n=5, steps=7, features=3, units=4, seed=12):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, features)).astype(dtype)
    kernel = (rng.standard_normal((features, 4 * units)) * 0.5).astype(dtype)
    recurrent_kernel = (rng.standard_normal((units, 4 * units)) * 0.5).astype(dtype)
    bias = rng.standard_normal(4 * units).astype(dtype)
    h0, c0 = rng.standard_normal((n, units)).astype(dtype), rng.standard_normal((n, units)).astype(dtype)
    mask = rng.random((n, steps)) > 0.3
    mask[0] = False                      # a sample that is all padding
    mask[1, [0, -1]] = False             # padding on the first and the last step
    mask[2] = True
    extras = {"mask": mask,
              "recurrent_dropout": (rng.random((n, units)) > 0.5).astype(dtype) * 2,
              "input_dropout": (rng.random((n, features)) > 0.5).astype(dtype) * 2}
    return (x, kernel, recurrent_kernel, bias, h0, c0), extras


def run_lstm(arrays, extras, options, dtype):
    """Forward (training and inference) and every gradient of ``recurrent.lstm`` with ``options``."""
    from glassnet.ops import recurrent

    x, kernel, recurrent_kernel, bias, h0, c0 = arrays
    kwargs = {"return_sequences": options.get("return_sequences", True),
              "go_backwards": options.get("go_backwards", False),
              "activation": options.get("activation", "tanh")}
    if options.get("mask"):
        kwargs["mask"] = extras["mask"]
    if options.get("recurrent_dropout"):
        kwargs["recurrent_dropout"] = extras["recurrent_dropout"]
    if options.get("input_dropout"):
        kwargs["input_dropout"] = extras["input_dropout"]
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    initial = leaves[4:] if options.get("initial") else [None, None]
    h, c = recurrent.lstm(*leaves[:4], initial_h=initial[0], initial_c=initial[1], **kwargs)
    rng_fixed = np.random.default_rng(0)
    weights = [Tensor(rng_fixed.standard_normal(t.shape).astype(dtype)) for t in (h, c)]
    ((h * weights[0]).sum() + (c * weights[1]).sum()).backward()
    with gn.no_grad():
        inference = recurrent.lstm(*[Tensor(a) for a in (x, kernel, recurrent_kernel, bias)],
                                   initial_h=None if initial[0] is None else Tensor(h0),
                                   initial_c=None if initial[1] is None else Tensor(c0), **kwargs)
    grads = [leaf.grad for leaf in leaves if leaf.grad is not None]
    return [h.data, c.data, inference[0].data, inference[1].data] + grads


LSTM_OPTIONS = [{}, {"return_sequences": False}, {"go_backwards": True}, {"initial": True},
                {"input_dropout": True}, {"recurrent_dropout": True, "input_dropout": True}, {"mask": True},
                {"mask": True, "return_sequences": False, "initial": True},
                {"mask": True, "go_backwards": True, "input_dropout": True},
                {"mask": True, "recurrent_dropout": True}, {"activation": "relu"}]


@pytest.fixture
def step_kernels_only(monkeypatch):
    """The LSTM without its compiled loops: the per-step kernels called from the Python loop."""
    from glassnet.ops import recurrent

    monkeypatch.setattr(recurrent, "_compiled_loops", lambda X: None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", LSTM_OPTIONS)
def test_lstm_compiled_steps_equal_numpy(dtype, options, step_kernels_only):
    arrays, extras = lstm_problem(dtype)
    fast = run_lstm(arrays, extras, options, dtype)
    with accel.disabled():
        reference = run_lstm(arrays, extras, options, dtype)
    assert len(fast) == len(reference) >= 8
    for a, b in zip(fast, reference):
        assert_same(a, b)


def test_lstm_compiled_steps_gradcheck(step_kernels_only):
    from glassnet.ops import recurrent

    rng = np.random.default_rng(13)
    x, w, u, b = (rng.standard_normal((3, 4, 2)), rng.standard_normal((2, 12)) * 0.5,
                  rng.standard_normal((3, 12)) * 0.5, rng.standard_normal(12))
    assert gradcheck(lambda x, w, u, b: recurrent.lstm(x, w, u, b)[0], x, w, u, b)
    assert gradcheck(lambda x, w, u, b: recurrent.lstm(x, w, u, b, return_sequences=False)[1], x, w, u, b)


def test_native_functions_are_numpys():
    """The GEMM and tanh the compiled loops call are NumPy's own: same results to the bit."""
    import ctypes

    from glassnet import native

    for dtype in (np.float32, np.float64):
        assert native.gemm_address(dtype) is not None
        function, data = native.tanh_loop(dtype)
        x = native._test_values(dtype)[::-1].copy()
        out = np.empty_like(x)
        args = (ctypes.c_void_p * 2)(x.ctypes.data, out.ctypes.data)
        sizes, steps = (ctypes.c_ssize_t * 1)(x.size), (ctypes.c_ssize_t * 2)(x.itemsize, x.itemsize)
        native._UNARY_LOOP(function)(ctypes.addressof(args), ctypes.addressof(sizes), ctypes.addressof(steps),
                                     data or None)
        with np.errstate(all="ignore"):
            assert_same(out, np.tanh(x))
    assert native.gemm_address(np.int32) is None and native.tanh_loop(np.int64) is None


def test_native_gemm_missing_keeps_the_step_kernels(monkeypatch):
    """Without NumPy's OpenBLAS symbols (another BLAS) the LSTM keeps its per-step path: same results."""
    from glassnet import native
    from glassnet.ops import recurrent

    monkeypatch.setattr(native, "symbol", lambda name: None)
    native.gemm_address.cache_clear()
    try:
        assert native.gemm_address(np.float32) is None
        arrays, _ = lstm_problem(np.float32)
        assert recurrent._compiled_loops(arrays[0]) is None
        fast = run_lstm(arrays, {}, {}, np.float32)
        with accel.disabled():
            reference = run_lstm(arrays, {}, {}, np.float32)
        for a, b in zip(fast, reference):
            assert_same(a, b)
    finally:
        native.gemm_address.cache_clear()


@pytest.fixture
def lstm_in_parts(monkeypatch):
    """Split every LSTM batch into two parts on two threads; return the set of threads that ran a part."""
    from glassnet import backend
    from glassnet.ops import recurrent

    monkeypatch.setattr(recurrent, "LSTM_PART_MIN_SAMPLES", 1)
    backend.set_num_threads(2)
    yield spy_parts(monkeypatch, recurrent, "in_parts")
    backend.set_num_threads(None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", LSTM_OPTIONS)
def test_lstm_compiled_loops_match_numpy(dtype, options, lstm_in_parts):
    """The loops over time in one compiled call, the batch in two parts on two threads: forward values
    as NumPy's path; the gradients too, up to the order in which the weight gradients are summed."""
    arrays, extras = lstm_problem(dtype, n=9)
    assert_compiled_loops_match(run_lstm, arrays, extras, options, dtype, lstm_in_parts,
                                compiled=not options.get("activation"), results=8)  # σ/tanh only


def assert_compiled_loops_match(run, arrays, extras, options, dtype, threads_used, compiled, results):
    """``run`` with the kernels (two parts on two threads when ``compiled``) and on the NumPy path: the same
    outputs and gradients (at least ``results`` arrays), up to the order of the parts' weight-gradient sums."""
    fast = run(arrays, extras, options, dtype)
    with accel.disabled():
        reference = run(arrays, extras, options, dtype)
    assert (len(threads_used) == 2) == compiled
    tolerance = 2e-6 if dtype == np.float32 else 1e-13
    assert len(fast) == len(reference) >= results
    for a, b in zip(fast, reference):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * np.abs(b).max())


def test_lstm_compiled_loops_gradcheck(lstm_in_parts):
    from glassnet.ops import recurrent

    rng = np.random.default_rng(14)
    x, w, u, b, h0, c0 = (rng.standard_normal((5, 4, 2)), rng.standard_normal((2, 12)) * 0.5,
                          rng.standard_normal((3, 12)) * 0.5, rng.standard_normal(12),
                          rng.standard_normal((5, 3)), rng.standard_normal((5, 3)))
    assert gradcheck(lambda x, w, u, b: recurrent.lstm(x, w, u, b)[0], x, w, u, b)
    assert gradcheck(lambda x, w, u, b, h0, c0: recurrent.lstm(x, w, u, b, initial_h=h0, initial_c=c0,
                                                              return_sequences=False)[1], x, w, u, b, h0, c0)
    assert gradcheck(lambda x, w, u, b: recurrent.lstm(x, w, u, b, go_backwards=True)[0], x, w, u, b)
    mask = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [1, 0, 1, 1]], dtype=bool)
    dropout = (rng.random((5, 3)) > 0.4) / 0.6
    assert gradcheck(lambda x, w, u, b, h0: recurrent.lstm(x, w, u, b, initial_h=h0, recurrent_dropout=dropout,
                                                          mask=mask)[0], x, w, u, b, h0)
    for go_backwards in (False, True):
        assert gradcheck(lambda x, w, u, b, h0, c0: recurrent.lstm(x, w, u, b, initial_h=h0, initial_c=c0, mask=mask,
                                                                  go_backwards=go_backwards)[0],
                         x, w, u, b, h0, c0)
        assert gradcheck(lambda x, w, u, b, h0, c0: recurrent.lstm(x, w, u, b, initial_h=h0, initial_c=c0, mask=mask,
                                                                  go_backwards=go_backwards,
                                                                  return_sequences=False)[1], x, w, u, b, h0, c0)
    assert len(lstm_in_parts) == 2


def test_lstm_compiled_loops_leave_the_output_gradient_alone(lstm_in_parts):
    """The backward loop works in its own buffers: the incoming gradient is not modified (also when a
    part holds a single sample, whose column of the gradient is contiguous)."""
    from glassnet.ops import recurrent

    rng = np.random.default_rng(15)
    x, w, u, b = (Tensor(rng.standard_normal((2, 3, 2)).astype(np.float32), requires_grad=True),
                  Tensor(rng.standard_normal((2, 12)).astype(np.float32), requires_grad=True),
                  Tensor(rng.standard_normal((3, 12)).astype(np.float32), requires_grad=True),
                  Tensor(rng.standard_normal(12).astype(np.float32), requires_grad=True))
    h, c = recurrent.lstm(x, w, u, b, return_sequences=False)
    seed = rng.standard_normal(h.shape).astype(np.float32)
    kept = seed.copy()
    h.backward(seed)
    assert_same(seed, kept)
    assert np.isfinite(w.grad).all() and np.abs(w.grad).sum() > 0


# ------------------------------------------------------------------ GRU
def run_gru(arrays, extras, options, dtype):
    """Forward (training and inference) and every gradient of ``recurrent.gru`` with ``options``."""
    from glassnet.ops import recurrent

    x, kernel, recurrent_kernel, bias, h0 = arrays
    kwargs = {key: options[key] for key in ("return_sequences", "go_backwards", "activation", "reset_after")
              if key in options}
    kwargs.update({key: extras[key] for key in ("mask", "recurrent_dropout", "input_dropout") if options.get(key)})
    if not options.get("reset_after", True):
        bias = bias[0]
    leaves = [Tensor(a.copy(), requires_grad=True) for a in (x, kernel, recurrent_kernel, bias, h0)]
    if options.get("no_bias"):
        leaves[3] = None
    initial = leaves[4] if options.get("initial") else None
    out = recurrent.gru(*leaves[:4], initial_state=initial, **kwargs)
    weights = Tensor(np.random.default_rng(0).standard_normal(out.shape).astype(dtype))
    (out * weights).sum().backward()
    with gn.no_grad():
        inference = recurrent.gru(*[None if leaf is None else Tensor(leaf.data) for leaf in leaves[:4]],
                                  initial_state=None if initial is None else Tensor(h0), **kwargs)
    grads = [leaf.grad for leaf in leaves if leaf is not None and leaf.grad is not None]
    return [out.data, inference.data] + grads


def gru_problem(dtype, n=9, steps=7, features=3, units=4, seed=16):
    (x, kernel, _, _, h0, _), extras = lstm_problem(dtype, n, steps, features, units, seed)
    rng = np.random.default_rng(seed + 1)
    kernel = (rng.standard_normal((features, 3 * units)) * 0.5).astype(dtype)
    recurrent_kernel = (rng.standard_normal((units, 3 * units)) * 0.5).astype(dtype)
    bias = rng.standard_normal((2, 3 * units)).astype(dtype)
    return (x, kernel, recurrent_kernel, bias, h0), extras


GRU_OPTIONS = [{}, {"return_sequences": False}, {"go_backwards": True}, {"initial": True}, {"no_bias": True},
               {"input_dropout": True, "recurrent_dropout": True}, {"mask": True},
               {"mask": True, "go_backwards": True, "return_sequences": False, "initial": True},
               {"mask": True, "recurrent_dropout": True},
               {"reset_after": False}, {"activation": "relu"}]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", GRU_OPTIONS)
def test_gru_compiled_loops_match_numpy(dtype, options, lstm_in_parts):
    """The GRU's loops over time in one compiled call each, the batch in two parts on two threads (σ/tanh
    with reset_after, Keras' default; the others keep the NumPy path): outputs and every gradient as on the
    NumPy path, up to the order in which the parts' weight gradients are summed."""
    arrays, extras = gru_problem(dtype)
    assert_compiled_loops_match(run_gru, arrays, extras, options, dtype, lstm_in_parts,
                                compiled=options.get("reset_after", True) and "activation" not in options, results=5)


def test_gru_compiled_loops_gradcheck(lstm_in_parts):
    from glassnet.ops import recurrent

    rng = np.random.default_rng(17)
    x, w, u, b, h0 = (rng.standard_normal((5, 4, 2)), rng.standard_normal((2, 9)) * 0.5,
                      rng.standard_normal((3, 9)) * 0.5, rng.standard_normal((2, 9)), rng.standard_normal((5, 3)))
    mask = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [1, 0, 1, 1]], dtype=bool)
    dropout = (rng.random((5, 3)) > 0.4) / 0.6
    assert gradcheck(lambda x, w, u, b, h0: recurrent.gru(x, w, u, b, initial_state=h0), x, w, u, b, h0)
    for go_backwards in (False, True):
        assert gradcheck(lambda x, w, u, b, h0: recurrent.gru(x, w, u, b, initial_state=h0, mask=mask,
                                                             recurrent_dropout=dropout, go_backwards=go_backwards,
                                                             return_sequences=go_backwards), x, w, u, b, h0)
    assert len(lstm_in_parts) == 2


def test_lstm_layer_training_with_compiled_loops_matches_numpy():
    """A Keras-style LSTM model trained a few steps: the same losses with and without the kernels."""
    def train():
        gn.set_seed(3)
        rng = np.random.default_rng(3)
        x = rng.standard_normal((64, 6, 4)).astype(np.float32)
        y = rng.integers(0, 3, 64)
        model = gn.models.Sequential([layers.Input((6, 4)), layers.LSTM(8), layers.Dense(3)])
        model.compile(optimizer="adam", loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model.fit(x, y, batch_size=32, epochs=3, verbose=0, shuffle=False).history["loss"]

    fast = train()
    with accel.disabled():
        reference = train()
    np.testing.assert_allclose(fast, reference, rtol=1e-5)
    assert fast[-1] < fast[0]


def test_kernels_compile_without_a_writable_cache_location():
    """numba raises at decoration when it finds nowhere to cache; the kernels then compile per process."""
    code = (
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []\n"  # as if no location were writable
        "import numpy as np, glassnet as gn\n"
        "from glassnet import accel\n"
        "from glassnet.ops import conv\n"
        "x = gn.Tensor(np.random.default_rng(0).standard_normal((2, 8, 8, 3)), requires_grad=True)\n"
        "y = conv.max_pool(x, 2); y.sum().backward()\n"
        "assert accel.kernels() is not None and accel.kernels().max_pool2d_disjoint_forward._cache is not None\n"
        "print(accel.status(), type(accel.kernels().relu._cache).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "kernels on" in result.stdout and "NullCache" in result.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_lstm_parts_run_in_a_forked_child(lstm_in_parts):
    """A child forked after the part pool started (as process-based tuners do) gets a pool of its own
    instead of waiting forever on the parent's threads."""
    from glassnet.ops import recurrent

    x = Tensor(np.random.default_rng(16).standard_normal((4, 3, 2)).astype(np.float32))
    w, u = Tensor(np.ones((2, 8), np.float32) * 0.1), Tensor(np.ones((2, 8), np.float32) * 0.1)
    expected = recurrent.lstm(x, w, u)[0].data
    assert len(lstm_in_parts) == 2
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if the parts ran and agree
        code = 1
        try:
            code = 0 if np.array_equal(recurrent.lstm(x, w, u)[0].data, expected) else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if status[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung (waiting on the parent's pool threads)")
    assert os.WIFEXITED(status[1]) and os.WEXITSTATUS(status[1]) == 0
