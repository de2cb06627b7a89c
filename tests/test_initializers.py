"""Initializers: shapes/dtypes, fans, the stated statistics, orthogonality, seeding, names, PyTorch parity."""

import json
import math

import numpy as np
import pytest

import glassnet
from glassnet import backend, initializers as I, ops
from glassnet.errors import InputError, ShapeError, UnknownNameError

TRUNC = I.TRUNCATED_NORMAL_STDDEV_FACTOR

SNAKE_NAMES = ["zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
               "variance_scaling", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
               "lecun_normal", "orthogonal", "identity"]
CLASSES = [I.Zeros, I.Ones, I.Constant, I.RandomNormal, I.RandomUniform, I.TruncatedNormal, I.VarianceScaling,
           I.GlorotUniform, I.GlorotNormal, I.HeUniform, I.HeNormal, I.LecunUniform, I.LecunNormal, I.Orthogonal,
           I.Identity]
RANDOM_CLASSES = [I.RandomNormal, I.RandomUniform, I.TruncatedNormal, I.VarianceScaling, I.GlorotUniform,
                  I.GlorotNormal, I.HeUniform, I.HeNormal, I.LecunUniform, I.LecunNormal, I.Orthogonal]


@pytest.fixture(autouse=True)
def _seeded():
    glassnet.set_seed(1234)
    yield
    backend.set_floatx("float32")


# ----------------------------------------------------------------------------- shapes and dtypes

@pytest.mark.parametrize("name", SNAKE_NAMES)
@pytest.mark.parametrize("dtype", [None, "float32", "float64", "float16", np.float64])
def test_shape_and_dtype(name, dtype):
    init = I.get(name)
    for shape in [(3, 4), (7, 2)] + ([] if name == "identity" else [(2, 3, 4, 5)]):
        w = init(shape, dtype=dtype)
        assert isinstance(w, np.ndarray)
        assert w.shape == shape
        assert w.dtype == np.dtype("float32" if dtype is None else dtype)
        assert np.all(np.isfinite(w))


@pytest.mark.parametrize("name", [n for n in SNAKE_NAMES if n not in ("orthogonal", "identity")])
def test_one_dimensional_and_scalar_shapes(name):
    init = I.get(name)
    assert init((6,)).shape == (6,)
    assert init(6).shape == (6,)
    assert init(()).shape == ()


def test_default_dtype_follows_floatx():
    backend.set_floatx("float64")
    assert I.GlorotUniform()((3, 2)).dtype == np.float64
    assert I.Zeros()((3, 2)).dtype == np.float64


def test_constant_like_initializers_accept_integer_dtypes_random_ones_refuse():
    assert I.Zeros()((2, 2), dtype="int32").dtype == np.int32
    np.testing.assert_array_equal(I.Constant(3)((2,), dtype="int64"), [3, 3])
    np.testing.assert_array_equal(I.Identity()((2, 2), dtype="int8"), np.eye(2, dtype=np.int8))
    with pytest.raises(InputError, match="float dtype"):
        I.GlorotUniform()((2, 2), dtype="int32")


def test_bad_shapes_are_refused():
    with pytest.raises(ShapeError):
        I.GlorotUniform()((3, -1))
    with pytest.raises(ShapeError):
        I.Ones()((2.5, 3))
    with pytest.raises(ShapeError):
        I.Zeros()(None)


# ----------------------------------------------------------------------------- constants, zero init

def test_zeros_ones_constant_values():
    np.testing.assert_array_equal(I.Zeros()((3, 4)), np.zeros((3, 4)))
    np.testing.assert_array_equal(I.Ones()((3, 4)), np.ones((3, 4)))
    np.testing.assert_array_equal(I.Constant(0.25)((2, 3)), np.full((2, 3), 0.25, np.float32))
    np.testing.assert_array_equal(I.Constant()((2,)), [0.0, 0.0])
    # an array value broadcasts to the shape, and the result is a writeable copy
    w = I.Constant([1.0, 2.0, 3.0])((2, 3))
    np.testing.assert_array_equal(w, [[1, 2, 3], [1, 2, 3]])
    w[0, 0] = 9.0
    with pytest.raises(ShapeError, match="broadcast"):
        I.Constant([1.0, 2.0])((2, 3))
    with pytest.raises(InputError):
        I.Constant("one")


def test_zero_init_never_breaks_symmetry():
    """A hidden layer started at zero keeps identical units however long it trains (SPEC §6)."""
    rng = np.random.default_rng(0)
    x = ops.as_tensor(rng.normal(size=(16, 3)))
    y = ops.as_tensor(rng.normal(size=(16, 1)))
    w1 = glassnet.Parameter(I.Zeros()((3, 5), dtype="float64"))
    b1 = glassnet.Parameter(I.Zeros()((5,), dtype="float64"))
    w2 = glassnet.Parameter(I.Zeros()((5, 1), dtype="float64"))
    for _ in range(5):
        h = ops.sigmoid(x @ w1 + b1)
        loss = ((h @ w2 - y) ** 2).mean()
        for p in (w1, b1, w2):
            p.grad = None
        loss.backward()
        for p in (w1, b1, w2):
            p.data -= 0.5 * p.grad
    assert np.abs(w1.data).max() > 1e-4 and np.abs(w2.data).max() > 1e-4   # training did move the weights ...
    np.testing.assert_allclose(w1.data, w1.data[:, :1] * np.ones((1, 5)), atol=1e-12)  # ... all units identical
    np.testing.assert_allclose(w2.data, w2.data[0] * np.ones((5, 1)), atol=1e-12)
    # whereas a random init gives distinct units
    w = I.GlorotUniform(seed=0)((3, 5))
    assert not np.allclose(w, w[:, :1])


# ----------------------------------------------------------------------------- fans

@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    (7, (7, 7)),
    ((5, 9), (5, 9)),
    ((3, 3, 16, 32), (3 * 3 * 16, 3 * 3 * 32)),   # Conv2D kernel (kh, kw, in, out)
    ((5, 8, 16), (5 * 8, 5 * 16)),                 # Conv1D kernel (k, in, out)
    ((2, 3, 3, 4, 8), (18 * 4, 18 * 8)),           # Conv3D kernel
])
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans
    assert all(type(f) is int for f in I.compute_fans(shape))


def test_variance_scaling_uses_conv_fans():
    vs = I.VarianceScaling(scale=2.0, mode="fan_in")
    assert vs.variance((3, 3, 16, 32)) == pytest.approx(2.0 / 144)
    assert I.VarianceScaling(mode="fan_out").variance((3, 3, 16, 32)) == pytest.approx(1.0 / 288)
    assert I.VarianceScaling(mode="fan_avg").variance((3, 3, 16, 32)) == pytest.approx(1.0 / 216)
    assert I.VarianceScaling().variance((0, 4)) == 1.0   # n is clamped at 1


# ----------------------------------------------------------------------------- statistics

SHAPE = (400, 250)        # 100 000 draws: the std is estimated to well under 1 %
CONV = (3, 3, 64, 128)    # fan_in 576, fan_out 1152


def _check_moments(w, mean, std, rtol=0.02):
    w = w.astype(np.float64)
    assert abs(w.mean() - mean) < 6 * std / math.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=rtol)


def _uniform_cases():
    fi, fo = SHAPE
    ci, co = I.compute_fans(CONV)
    return [
        (I.GlorotUniform, SHAPE, math.sqrt(6 / (fi + fo))),
        (I.HeUniform, SHAPE, math.sqrt(6 / fi)),
        (I.LecunUniform, SHAPE, math.sqrt(3 / fi)),
        (I.GlorotUniform, CONV, math.sqrt(6 / (ci + co))),
        (I.HeUniform, CONV, math.sqrt(6 / ci)),
    ]


@pytest.mark.parametrize("cls, shape, limit", _uniform_cases())
def test_uniform_variance_scaling_limits_and_moments(cls, shape, limit):
    w = cls()(shape, dtype="float64")
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit          # the whole interval is used
    assert w.min() < -0.99 * limit
    _check_moments(w, 0.0, limit / math.sqrt(3))  # Var U[-l, l] = l²/3


def _normal_cases():
    fi, fo = SHAPE
    ci, _ = I.compute_fans(CONV)
    return [
        (I.GlorotNormal, SHAPE, 2 / (fi + fo)),
        (I.HeNormal, SHAPE, 2 / fi),
        (I.LecunNormal, SHAPE, 1 / fi),
        (I.HeNormal, CONV, 2 / ci),
    ]


@pytest.mark.parametrize("cls, shape, variance", _normal_cases())
def test_truncated_normal_variance_scaling_has_the_stated_variance(cls, shape, variance):
    w = cls()(shape, dtype="float64")
    sigma = math.sqrt(variance)
    _check_moments(w, 0.0, sigma)                 # rescaled: the variance after truncation is the stated one
    bound = 2 * sigma / TRUNC                     # truncated at 2 standard deviations of the underlying normal
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform", "normal"])
def test_variance_scaling_every_mode_and_distribution(mode, distribution):
    shape = (300, 500)
    n = {"fan_in": 300, "fan_out": 500, "fan_avg": 400}[mode]
    init = I.VarianceScaling(scale=3.0, mode=mode, distribution=distribution)
    w = init(shape, dtype="float64")
    sigma = math.sqrt(3.0 / n)
    _check_moments(w, 0.0, sigma)
    peak = np.abs(w).max()
    if distribution == "uniform":
        assert sigma * math.sqrt(3) * 0.99 < peak <= sigma * math.sqrt(3)
    elif distribution == "untruncated_normal":
        assert peak > 3.5 * sigma                 # genuinely untruncated tails
    else:                                         # "normal" is Keras' alias of "truncated_normal"
        assert init.distribution == "truncated_normal"
        assert 0.99 * 2 * sigma / TRUNC < peak <= 2 * sigma / TRUNC


def test_random_normal_moments():
    w = I.RandomNormal(mean=1.0, stddev=2.0)(SHAPE, dtype="float64")
    _check_moments(w, 1.0, 2.0)
    assert np.abs(w - 1.0).max() > 4 * 2.0       # not truncated
    assert I.RandomNormal()(SHAPE).std() == pytest.approx(0.05, rel=0.02)   # Keras default stddev


def test_random_uniform_bounds_and_moments():
    w = I.RandomUniform(minval=-1.0, maxval=3.0)(SHAPE, dtype="float64")
    assert w.min() >= -1.0 and w.max() < 3.0
    assert w.min() < -0.99 and w.max() > 2.99
    _check_moments(w, 1.0, 4.0 / math.sqrt(12))
    d = I.RandomUniform()(SHAPE)
    assert d.min() >= -0.05 and d.max() <= 0.05   # Keras defaults


def test_truncated_normal_respects_two_sigma():
    mean, stddev = 0.5, 0.1
    w = I.TruncatedNormal(mean=mean, stddev=stddev)(SHAPE, dtype="float64")
    dev = np.abs(w - mean)
    assert dev.max() <= 2 * stddev
    assert dev.max() > 0.995 * 2 * stddev
    # Keras semantics: `stddev` is the underlying normal's; truncation shrinks it by 0.8796
    _check_moments(w, mean, stddev * TRUNC)
    w32 = I.TruncatedNormal()(SHAPE)
    assert np.abs(w32).max() <= np.float32(0.1)


def test_truncation_factor_is_the_std_of_a_two_sigma_truncated_normal():
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert TRUNC == pytest.approx(math.sqrt(1 - 4 * phi2 / mass), rel=1e-12)


def test_sample_truncated_normal_is_vectorised_and_exact():
    z = I.sample_truncated_normal(np.random.default_rng(0), (1000, 1000))
    assert z.shape == (1000, 1000) and z.dtype == np.float64
    assert np.abs(z).max() <= 2.0
    assert z.std() == pytest.approx(TRUNC, rel=0.005)


# ----------------------------------------------------------------------------- orthogonal and identity

@pytest.mark.parametrize("shape", [(200, 100), (64, 64), (3, 3, 16, 32)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_tall_has_orthonormal_columns(shape, gain):
    w = I.Orthogonal(gain=gain)(shape, dtype="float64")
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])                # Keras flattens all but the last axis
    np.testing.assert_allclose(flat.T @ flat, gain ** 2 * np.eye(shape[-1]), atol=1e-10)


@pytest.mark.parametrize("shape", [(50, 120), (2, 5, 40)])
def test_orthogonal_wide_has_orthonormal_rows(shape):
    w = I.Orthogonal(gain=1.5)(shape)
    assert w.dtype == np.float32
    flat = w.reshape(-1, shape[-1]).astype(np.float64)
    np.testing.assert_allclose(flat @ flat.T, 2.25 * np.eye(flat.shape[0]), atol=1e-5)


def test_orthogonal_is_qr_of_a_gaussian_with_sign_correction():
    w = I.Orthogonal(seed=7)((6, 4), dtype="float64")
    a = np.random.default_rng(7).standard_normal((6, 4))
    q, r = np.linalg.qr(a)
    d = np.sign(np.diagonal(r))
    np.testing.assert_allclose(w, q * d, atol=1e-12)
    # the correction makes R's diagonal positive: W is the unique Q of A = QR with R_ii > 0
    r_pos = r * d[:, None]
    assert np.all(np.diagonal(r_pos) > 0)
    np.testing.assert_allclose(w @ r_pos, a, atol=1e-12)


def test_orthogonal_is_haar_distributed():
    """Without the sign correction LAPACK's Q has Q[0, 0] < 0 always; with it the sign is a fair coin."""
    firsts = np.array([I.Orthogonal()((4, 4), dtype="float64")[0, 0] for _ in range(300)])
    frac_positive = (firsts > 0).mean()
    assert 0.4 < frac_positive < 0.6
    assert abs(firsts.mean()) < 0.1


def test_orthogonal_needs_two_dims():
    with pytest.raises(ShapeError, match="at least 2-D"):
        I.Orthogonal()((5,))


def test_identity():
    np.testing.assert_array_equal(I.Identity()((3, 3)), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(I.Identity(gain=2.0)((2, 4)), 2 * np.eye(2, 4))
    np.testing.assert_array_equal(I.Identity()((4, 2)), np.eye(4, 2))
    assert I.Identity()((3, 3), dtype="float64").dtype == np.float64
    with pytest.raises(ShapeError, match="2-D"):
        I.Identity()((3, 3, 3))
    with pytest.raises(ShapeError, match="2-D"):
        I.Identity()((3,))


# ----------------------------------------------------------------------------- seeding

@pytest.mark.parametrize("cls", RANDOM_CLASSES)
def test_set_seed_reproduces_unseeded_draws_and_successive_calls_differ(cls):
    glassnet.set_seed(42)
    a1, a2 = cls()((8, 6)), cls()((8, 6))
    glassnet.set_seed(42)
    b1, b2 = cls()((8, 6)), cls()((8, 6))
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    init = cls()
    assert not np.array_equal(init((8, 6)), init((8, 6)))   # the same unseeded object draws afresh


@pytest.mark.parametrize("cls", RANDOM_CLASSES)
def test_seeded_initializer_is_stable_and_seeds_differ(cls):
    init = cls(seed=3)
    first = init((8, 6))
    np.testing.assert_array_equal(first, init((8, 6)))             # same values every call
    np.testing.assert_array_equal(first, cls(seed=3)((8, 6)))      # and for every instance with that seed
    glassnet.set_seed(99)
    np.testing.assert_array_equal(first, init((8, 6)))             # the global seed does not matter
    assert not np.array_equal(first, cls(seed=4)((8, 6)))


def test_seeded_initializer_does_not_consume_the_global_stream():
    glassnet.set_seed(5)
    expected = backend.rng().standard_normal(4)
    glassnet.set_seed(5)
    I.HeNormal(seed=1)((10, 10))
    np.testing.assert_array_equal(backend.rng().standard_normal(4), expected)


def test_seeded_float32_equals_rounded_float64():
    w64 = I.GlorotNormal(seed=11)((5, 7), dtype="float64")
    w32 = I.GlorotNormal(seed=11)((5, 7), dtype="float32")
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


def test_bad_seed_is_refused():
    with pytest.raises(InputError, match="seed"):
        I.RandomNormal(seed="abc")
    with pytest.raises(InputError, match="seed"):
        I.GlorotUniform(seed=1.5)


# ----------------------------------------------------------------------------- names and configs

@pytest.mark.parametrize("name", SNAKE_NAMES)
def test_every_snake_case_name_resolves_to_an_instance(name):
    init = I.get(name)
    assert isinstance(init, I.Initializer)
    assert name in I.names()


@pytest.mark.parametrize("cls", CLASSES)
def test_class_names_resolve(cls):
    assert type(I.get(cls.__name__)) is cls
    assert type(I.get(cls)) is cls
    assert cls.__name__ in I.names()


def test_keras_aliases():
    assert type(I.get("uniform")) is I.RandomUniform
    assert type(I.get("normal")) is I.RandomNormal
    assert type(I.get("one")) is I.Ones
    assert type(I.get("zero")) is I.Zeros
    assert type(I.get("OrthogonalInitializer")) is I.Orthogonal
    assert type(I.get("IdentityInitializer")) is I.Identity
    # Keras exposes the snake-case names as the classes themselves
    assert I.he_normal is I.HeNormal and I.glorot_uniform is I.GlorotUniform and I.truncated_normal is I.TruncatedNormal


def test_get_passes_instances_and_callables_through():
    assert I.get(None) is None
    init = I.HeUniform(seed=1)
    assert I.get(init) is init

    def custom(shape, dtype=None):
        return np.full(shape, 7.0, dtype=dtype or "float32")

    assert I.get(custom) is custom
    assert I.get(custom)((2, 2))[0, 0] == 7.0
    with pytest.raises(TypeError, match="initializer"):
        I.get(42)


@pytest.mark.parametrize("init", [
    I.Zeros(), I.Ones(), I.Constant(0.3), I.Constant([[1.0, 2.0, 3.0]]), I.RandomNormal(1.0, 0.5, seed=3),
    I.RandomUniform(-2.0, 1.0, seed=4), I.TruncatedNormal(0.1, 0.2, seed=5),
    I.VarianceScaling(2.0, "fan_out", "uniform", seed=6), I.GlorotUniform(seed=7), I.GlorotNormal(),
    I.HeUniform(), I.HeNormal(seed=8), I.LecunUniform(), I.LecunNormal(seed=9), I.Orthogonal(gain=0.5, seed=10),
    I.Identity(gain=3.0),
])
def test_serialize_round_trip(init):
    config = json.loads(json.dumps(I.serialize(init)))
    assert config["class_name"] == type(init).__name__
    again = I.deserialize(config)
    assert type(again) is type(init)
    assert again.get_config() == init.get_config()
    assert type(I.get(config)) is type(init)
    clone = init.clone()
    assert type(clone) is type(init) and clone is not init and clone.get_config() == init.get_config()
    if getattr(init, "seed", None) is not None or not isinstance(init, I.RandomInitializer):
        np.testing.assert_array_equal(again((4, 3)), init((4, 3)))   # same config → same values


def test_configs_use_keras_argument_names_and_defaults():
    assert I.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert I.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert I.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert I.VarianceScaling().get_config() == {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
                                                "seed": None}
    assert I.GlorotUniform(seed=2).get_config() == {"seed": 2}
    assert I.Orthogonal().get_config() == {"gain": 1.0, "seed": None}
    assert I.Identity().get_config() == {"gain": 1.0}
    assert I.Constant().get_config() == {"value": 0.0}
    g = I.GlorotUniform()
    assert (g.scale, g.mode, g.distribution) == (1.0, "fan_avg", "uniform")
    h = I.HeNormal()
    assert (h.scale, h.mode, h.distribution) == (2.0, "fan_in", "truncated_normal")


def test_deserialize_custom_objects():
    class MyInit(I.Initializer):
        def __init__(self, k=1.0):
            self.k = k

        def __call__(self, shape, dtype=None):
            return np.full(shape, self.k, dtype=backend.standardize_dtype(dtype))

        def get_config(self):
            return {"k": self.k}

    init = I.deserialize({"class_name": "MyInit", "config": {"k": 4.0}}, custom_objects={"MyInit": MyInit})
    assert isinstance(init, MyInit) and init((2,))[0] == 4.0
    assert isinstance(I.deserialize("MyInit", custom_objects={"MyInit": MyInit}), MyInit)


def test_unknown_name_suggests_the_right_one():
    with pytest.raises(UnknownNameError, match="glorot_uniform") as info:
        I.get("glorot_unifrom")
    assert "glorot_uniform" in info.value.suggestions
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownNameError):
        I.deserialize({"class_name": "NoSuchInit", "config": {}})


def test_variance_scaling_argument_errors():
    with pytest.raises(UnknownNameError, match="fan_in"):
        I.VarianceScaling(mode="fanin")
    with pytest.raises(UnknownNameError, match="truncated_normal"):
        I.VarianceScaling(distribution="truncated")
    with pytest.raises(InputError, match="positive"):
        I.VarianceScaling(scale=0.0)
    assert I.VarianceScaling(distribution="Uniform").distribution == "uniform"


# ----------------------------------------------------------------------------- PyTorch parity

def _torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def _torch_draw(torch, init_fn, torch_shape, **kwargs):
    t = torch.empty(torch_shape, dtype=torch.float64)
    init_fn(t, **kwargs)
    return t.numpy()


def test_torch_fans_match_for_dense_and_conv():
    torch = _torch()
    fans = torch.nn.init._calculate_fan_in_and_fan_out
    # torch stores (out, in[, kh, kw]); glassnet (in, out) and (kh, kw, in, out)
    assert fans(torch.empty(200, 300)) == I.compute_fans((300, 200))
    assert fans(torch.empty(32, 16, 3, 3)) == I.compute_fans((3, 3, 16, 32))
    assert fans(torch.empty(8, 4, 5)) == I.compute_fans((5, 4, 8))


@pytest.mark.parametrize("ours_shape, torch_shape", [((300, 200), (200, 300)), ((3, 3, 16, 32), (32, 16, 3, 3))])
def test_glorot_uniform_matches_xavier_uniform(ours_shape, torch_shape):
    torch = _torch()
    t = _torch_draw(torch, torch.nn.init.xavier_uniform_, torch_shape)
    w = I.GlorotUniform()(ours_shape, dtype="float64")
    fan_in, fan_out = I.compute_fans(ours_shape)
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    for x in (t, w):
        assert 0.98 * bound < np.abs(x).max() <= bound
    assert w.std() == pytest.approx(t.std(), rel=0.04)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_glorot_normal_matches_xavier_normal_std():
    torch = _torch()
    t = _torch_draw(torch, torch.nn.init.xavier_normal_, (200, 300))
    w = I.GlorotNormal()((300, 200), dtype="float64")
    sigma = math.sqrt(2.0 / 500)
    assert t.std() == pytest.approx(sigma, rel=0.03)
    assert w.std() == pytest.approx(t.std(), rel=0.04)
    # the one documented difference: Keras truncates (and rescales), torch does not
    assert np.abs(w).max() <= 2 * sigma / TRUNC < np.abs(t).max()


@pytest.mark.parametrize("ours_shape, torch_shape", [((300, 200), (200, 300)), ((3, 3, 16, 32), (32, 16, 3, 3))])
def test_he_uniform_matches_kaiming_uniform_relu(ours_shape, torch_shape):
    torch = _torch()
    t = _torch_draw(torch, torch.nn.init.kaiming_uniform_, torch_shape, mode="fan_in", nonlinearity="relu")
    w = I.HeUniform()(ours_shape, dtype="float64")
    fan_in, _ = I.compute_fans(ours_shape)
    bound = math.sqrt(6.0 / fan_in)
    assert bound == pytest.approx(torch.nn.init.calculate_gain("relu") * math.sqrt(3.0 / fan_in))
    for x in (t, w):
        assert 0.98 * bound < np.abs(x).max() <= bound
    assert w.std() == pytest.approx(t.std(), rel=0.04)


def test_he_normal_matches_kaiming_normal_std():
    torch = _torch()
    t = _torch_draw(torch, torch.nn.init.kaiming_normal_, (200, 300), mode="fan_in", nonlinearity="relu")
    w = I.HeNormal()((300, 200), dtype="float64")
    sigma = math.sqrt(2.0 / 300)
    assert t.std() == pytest.approx(sigma, rel=0.03)
    assert w.std() == pytest.approx(t.std(), rel=0.04)
    assert np.abs(w).max() <= 2 * sigma / TRUNC < np.abs(t).max()


@pytest.mark.parametrize("shape", [(50, 120), (120, 50)])
def test_orthogonal_matches_torch_orthogonal(shape):
    torch = _torch()
    t = _torch_draw(torch, torch.nn.init.orthogonal_, shape, gain=2.0)
    w = I.Orthogonal(gain=2.0)(shape, dtype="float64")
    for x in (t, w):
        small = x @ x.T if shape[0] < shape[1] else x.T @ x
        np.testing.assert_allclose(small, 4.0 * np.eye(min(shape)), atol=1e-10)
    # entries of a gain·(semi-)orthogonal n×m matrix have variance gain²/max(n, m)
    assert w.std() == pytest.approx(t.std(), rel=0.05)
    assert w.std() == pytest.approx(2.0 / math.sqrt(max(shape)), rel=0.05)
