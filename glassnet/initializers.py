"""Weight initializers by their Keras names: ``initializers.get("glorot_uniform")(shape)`` → ndarray.

An initializer is a callable ``init(shape, dtype=None) -> np.ndarray`` (``dtype=None`` means
``backend.floatx()``). Fans follow :func:`compute_fans`: a dense kernel ``(in, out)`` has
``fan_in = in, fan_out = out``; a conv kernel ``(kh, kw, …, in_ch, out_ch)`` multiplies both by the
receptive field ``kh·kw·…``.

=====================  ================================================================
name                   draws
=====================  ================================================================
zeros / ones           0 / 1 (zero kernels keep every hidden unit identical: no symmetry breaking)
constant               ``value``
random_normal          N(mean, stddev²)
random_uniform         U[minval, maxval)
truncated_normal       N(mean, stddev²) restricted to |x − mean| ≤ 2·stddev (re-drawn outside)
variance_scaling       σ² = scale / n,  n = fan_in | fan_out | (fan_in + fan_out)/2;
                       uniform: limit = √(3·scale/n); truncated normal: stddev = √(scale/n)/0.8796…
                       so the variance *after* truncation is scale/n
glorot_uniform         U[−√(6/(fan_in+fan_out)), +√(6/(fan_in+fan_out))]   (default kernel initializer)
glorot_normal          truncated normal, σ² = 2/(fan_in+fan_out)
he_uniform             U[−√(6/fan_in), +√(6/fan_in)]
he_normal              truncated normal, σ² = 2/fan_in
lecun_uniform          U[−√(3/fan_in), +√(3/fan_in)]
lecun_normal           truncated normal, σ² = 1/fan_in
orthogonal             gain · Q from the QR of a Gaussian matrix (sign-corrected); recurrent kernels
identity               gain · I  (2-D only)
=====================  ================================================================

Seeding: an initializer built with ``seed=None`` draws from the global generator
``backend.rng()``, so ``glassnet.set_seed(s)`` makes it reproducible and successive calls differ.
One built with ``seed=int`` returns the same values on every call (Keras 3 semantics) and does not
touch the global generator.
"""

from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from . import backend
from .errors import InputError, ShapeError, UnknownNameError
from .saving import Registry, deserialize as _deserialize, serialize as _serialize

REGISTRY = Registry("initializer")

# Standard deviation of N(0, 1) truncated to [−2, 2]: √(1 − 4φ(2)/(Φ(2) − Φ(−2))).
TRUNCATED_NORMAL_STDDEV_FACTOR = 0.87962566103423978


# ----------------------------------------------------------------------------- helpers

def _standardize_shape(shape, where: str) -> tuple[int, ...]:
    """A tuple of non-negative ints; an int ``n`` means ``(n,)``."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ShapeError(f"{where}: expected a shape (tuple of ints), got {type(shape).__name__} {shape!r}.") from None
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or int(d) < 0:
            raise ShapeError(f"{where}: every dimension of a shape must be a non-negative int, got shape {shape!r}.")
        out.append(int(d))
    return tuple(out)


def _float_dtype(dtype, where: str) -> np.dtype:
    """``backend.standardize_dtype`` plus a check that random draws are asked for in a float dtype."""
    dt = backend.standardize_dtype(dtype)
    if not np.issubdtype(dt, np.floating):
        raise InputError(f"{where}: random initializers produce floats; expected a float dtype, got {dt.name!r}.")
    return dt


def _check_seed(seed, where: str):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputError(f"{where}: `seed` must be an int or None, got {type(seed).__name__} {seed!r}.")
    return int(seed)


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape.

    * ``()`` → (1, 1);  ``(n,)`` → (n, n);  ``(in, out)`` → (in, out)
    * ``(k1, …, kd, in_ch, out_ch)`` → (r·in_ch, r·out_ch) with receptive field r = k1·…·kd.
    """
    shape = _standardize_shape(shape, "compute_fans")
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return receptive_field * shape[-2], receptive_field * shape[-1]


def sample_truncated_normal(rng: np.random.Generator, shape, mean: float = 0.0, stddev: float = 1.0) -> np.ndarray:
    """float64 draws of N(mean, stddev²) restricted to |x − mean| ≤ 2·stddev.

    Rejection sampling, vectorised: the ~4.6 % of draws that fall outside are re-drawn together
    until none remain (a handful of rounds; the loop is over rounds, never over elements).
    """
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


# ----------------------------------------------------------------------------- base classes

class Initializer:
    """Base class: ``__call__(shape, dtype=None)`` returns a NumPy array of that shape and dtype."""

    def __call__(self, shape, dtype=None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype=None).")

    def get_config(self) -> dict:
        """The constructor arguments, JSON-able."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def clone(self):
        """A new initializer with the same configuration."""
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class RandomInitializer(Initializer):
    """An initializer with a ``seed``: ``None`` → the global generator, ``int`` → same values every call."""

    def __init__(self, seed=None):
        self.seed = _check_seed(seed, type(self).__name__)

    def _rng(self) -> np.random.Generator:
        # A fresh generator per call for an int seed, so every call gives the same values.
        return backend.make_rng(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


# ----------------------------------------------------------------------------- constants

@REGISTRY.register("zeros", "zero", "Zeros")
class Zeros(Initializer):
    """W = 0. A hidden layer initialised this way never breaks symmetry: all its units stay identical."""

    def __call__(self, shape, dtype=None):
        return np.zeros(_standardize_shape(shape, "Zeros"), dtype=backend.standardize_dtype(dtype))


@REGISTRY.register("ones", "one", "Ones")
class Ones(Initializer):
    """W = 1."""

    def __call__(self, shape, dtype=None):
        return np.ones(_standardize_shape(shape, "Ones"), dtype=backend.standardize_dtype(dtype))


@REGISTRY.register("constant", "Constant")
class Constant(Initializer):
    """W = value (a scalar, or an array that broadcasts to the shape)."""

    def __init__(self, value=0.0):
        if isinstance(value, (list, tuple, np.ndarray)):
            value = np.asarray(value)
            if not np.issubdtype(value.dtype, np.number) and value.dtype != np.bool_:
                raise InputError(f"Constant: `value` must be a number or a numeric array, got {value.dtype} values.")
        elif not isinstance(value, numbers.Number):
            raise InputError(f"Constant: `value` must be a number or a numeric array, got {type(value).__name__}.")
        self.value = value

    def __call__(self, shape, dtype=None):
        shape = _standardize_shape(shape, "Constant")
        dt = backend.standardize_dtype(dtype)
        try:
            return np.array(np.broadcast_to(np.asarray(self.value, dtype=dt), shape))
        except ValueError:
            raise ShapeError(f"Constant: value of shape {np.shape(self.value)} does not broadcast to the requested "
                             f"shape {shape}.") from None

    def get_config(self):
        value = self.value.tolist() if isinstance(self.value, np.ndarray) else self.value
        if isinstance(value, np.generic):
            value = value.item()
        return {"value": value}


@REGISTRY.register("identity", "Identity", "IdentityInitializer")
class Identity(Initializer):
    """W = gain · I (ones on the main diagonal; rectangular shapes allowed). 2-D shapes only."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _standardize_shape(shape, "Identity")
        if len(shape) != 2:
            raise ShapeError(f"Identity: the identity initializer needs a 2-D shape (rows, cols), got shape {shape} "
                             f"of rank {len(shape)}.")
        dt = backend.standardize_dtype(dtype)
        return (self.gain * np.eye(*shape)).astype(dt)

    def get_config(self):
        return {"gain": self.gain}


IdentityInitializer = Identity


# ----------------------------------------------------------------------------- random

@REGISTRY.register("random_normal", "normal", "RandomNormal")
class RandomNormal(RandomInitializer):
    """W ~ N(mean, stddev²)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape, dt = _standardize_shape(shape, "RandomNormal"), _float_dtype(dtype, "RandomNormal")
        return self._rng().normal(self.mean, self.stddev, shape).astype(dt)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


@REGISTRY.register("random_uniform", "uniform", "RandomUniform")
class RandomUniform(RandomInitializer):
    """W ~ U[minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape, dt = _standardize_shape(shape, "RandomUniform"), _float_dtype(dtype, "RandomUniform")
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dt)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


@REGISTRY.register("truncated_normal", "TruncatedNormal")
class TruncatedNormal(RandomInitializer):
    """W ~ N(mean, stddev²) with draws outside mean ± 2·stddev re-drawn.

    As in Keras, ``stddev`` is that of the normal *before* truncation; the result's standard deviation
    is 0.8796·stddev (use ``VarianceScaling`` for a stated post-truncation variance).
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape, dt = _standardize_shape(shape, "TruncatedNormal"), _float_dtype(dtype, "TruncatedNormal")
        return sample_truncated_normal(self._rng(), shape, self.mean, self.stddev).astype(dt)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


@REGISTRY.register("variance_scaling", "VarianceScaling")
class VarianceScaling(RandomInitializer):
    """Zero-mean draws with variance σ² = scale / n, n = fan_in, fan_out or (fan_in + fan_out)/2 (n ≥ 1).

    * ``uniform``: U[−limit, limit], limit = √(3·σ²)
    * ``untruncated_normal``: N(0, σ²)
    * ``truncated_normal``: N(0, (σ/0.8796…)²) truncated at 2 standard deviations, whose variance is σ².
      (``"normal"`` is accepted as an alias, as in Keras.)
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        where = type(self).__name__
        if not isinstance(scale, numbers.Real) or not scale > 0:
            raise InputError(f"{where}: `scale` must be a positive number, got {scale!r}.")
        if mode not in _MODES:
            raise UnknownNameError(f"{where} mode", mode, _MODES)
        if isinstance(distribution, str):
            distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise UnknownNameError(f"{where} distribution", distribution, _DISTRIBUTIONS)
        self.scale, self.mode, self.distribution = scale, mode, distribution
        super().__init__(seed)

    def variance(self, shape) -> float:
        """σ² = scale / max(1, n) for this shape."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def __call__(self, shape, dtype=None):
        where = type(self).__name__
        shape, dt = _standardize_shape(shape, where), _float_dtype(dtype, where)
        var, rng = self.variance(shape), self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            w = rng.uniform(-limit, limit, shape)
        elif self.distribution == "untruncated_normal":
            w = rng.normal(0.0, math.sqrt(var), shape)
        else:
            w = sample_truncated_normal(rng, shape, 0.0, math.sqrt(var) / TRUNCATED_NORMAL_STDDEV_FACTOR)
        return w.astype(dt)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling whose only argument is ``seed``."""

    _scale, _mode, _distribution = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed=None):
        super().__init__(scale=self._scale, mode=self._mode, distribution=self._distribution, seed=seed)

    def get_config(self):
        return {"seed": self.seed}


@REGISTRY.register("glorot_uniform", "GlorotUniform")
class GlorotUniform(_FixedVarianceScaling):
    """Xavier uniform: U[−√(6/(fan_in+fan_out)), +√(6/(fan_in+fan_out))]. The default kernel initializer."""

    _scale, _mode, _distribution = 1.0, "fan_avg", "uniform"


@REGISTRY.register("glorot_normal", "GlorotNormal")
class GlorotNormal(_FixedVarianceScaling):
    """Xavier normal: truncated normal with σ² = 2/(fan_in+fan_out)."""

    _scale, _mode, _distribution = 1.0, "fan_avg", "truncated_normal"


@REGISTRY.register("he_uniform", "HeUniform")
class HeUniform(_FixedVarianceScaling):
    """He/Kaiming uniform: U[−√(6/fan_in), +√(6/fan_in)] (for ReLU layers)."""

    _scale, _mode, _distribution = 2.0, "fan_in", "uniform"


@REGISTRY.register("he_normal", "HeNormal")
class HeNormal(_FixedVarianceScaling):
    """He/Kaiming normal: truncated normal with σ² = 2/fan_in (for ReLU layers)."""

    _scale, _mode, _distribution = 2.0, "fan_in", "truncated_normal"


@REGISTRY.register("lecun_uniform", "LecunUniform")
class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: U[−√(3/fan_in), +√(3/fan_in)]."""

    _scale, _mode, _distribution = 1.0, "fan_in", "uniform"


@REGISTRY.register("lecun_normal", "LecunNormal")
class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with σ² = 1/fan_in (for SELU networks)."""

    _scale, _mode, _distribution = 1.0, "fan_in", "truncated_normal"


@REGISTRY.register("orthogonal", "orthogonal_initializer", "Orthogonal", "OrthogonalInitializer")
class Orthogonal(RandomInitializer):
    """W = gain · Q, Q from the QR decomposition of a Gaussian matrix (recurrent kernels).

    The shape is flattened to (rows, cols) = (∏ shape[:-1], shape[-1]). Q has orthonormal columns
    (WᵀW = gain²·I) when rows ≥ cols, orthonormal rows (WWᵀ = gain²·I) otherwise. Multiplying the columns
    of Q by sign(diag R) makes the draw uniform over orthogonal matrices (Haar measure).
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        shape, dt = _standardize_shape(shape, "Orthogonal"), _float_dtype(dtype, "Orthogonal")
        if len(shape) < 2:
            raise ShapeError(f"Orthogonal: the tensor to initialize must be at least 2-D, got shape {shape} "
                             f"of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.where(np.diagonal(r) < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return np.ascontiguousarray(self.gain * q).reshape(shape).astype(dt)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


OrthogonalInitializer = Orthogonal

# Keras also exposes the snake_case names as the classes themselves: ``initializers.he_normal(seed=1)``.
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal


# ----------------------------------------------------------------------------- lookup

def _instantiate(obj):
    """Classes are instantiated with their defaults; instances and functions are returned as they are."""
    return obj() if inspect.isclass(obj) else obj


def get(identifier):
    """An initializer from a name, a config dict, an instance, a class, or a callable ``f(shape, dtype)``.

    ``None`` → ``None`` (the caller decides the default).
    """
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if inspect.isclass(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret initializer {identifier!r}: expected a name, a config dict, an "
                    f"Initializer or a callable (shape, dtype) -> array.")


def serialize(initializer):
    """``{"class_name", "config"}`` for an initializer object; a registered name for a function."""
    return _serialize(initializer, REGISTRY)


def deserialize(config, custom_objects=None):
    """Rebuild an initializer from a name (instantiated with defaults) or a ``{"class_name", "config"}`` dict."""
    return _instantiate(_deserialize(config, REGISTRY, custom_objects))


def names() -> list[str]:
    return REGISTRY.names()
