"""Array backend: the default float dtype, the small epsilon, and seeded random numbers.

Everything random in glassnet (initialisers, dropout masks, shuffling) draws from one
``numpy.random.Generator`` held here, so ``set_seed(s)`` makes a whole run reproducible.
"""

from __future__ import annotations

import random as _py_random

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_rng = np.random.default_rng()


def floatx() -> str:
    """The default float dtype name (``'float32'`` unless changed by :func:`set_floatx`)."""
    return _FLOATX


def set_floatx(dtype: str) -> None:
    """Set the default float dtype: ``'float16'``, ``'float32'`` or ``'float64'``."""
    global _FLOATX
    name = np.dtype(dtype).name
    if name not in ("float16", "float32", "float64"):
        raise ValueError(f"floatx must be float16, float32 or float64, got {dtype!r}")
    _FLOATX = name


def epsilon() -> float:
    """The fuzz factor used to keep logarithms and divisions finite (Keras: 1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def set_seed(seed: int) -> None:
    """Seed every random number source glassnet uses (and Python's and NumPy's legacy ones).

    After ``set_seed(s)`` a run is reproducible bit for bit on the same machine.
    """
    global _rng
    seed = int(seed)
    _rng = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)
    _py_random.seed(seed)


def rng() -> np.random.Generator:
    """The global random generator (re-created by :func:`set_seed`)."""
    return _rng


def get_rng_state() -> dict:
    """The global generator's state, JSON-serialisable (used by checkpoints)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


def make_rng(seed: int | None) -> np.random.Generator:
    """A generator for an object that was given its own ``seed``; the global one otherwise."""
    return _rng if seed is None else np.random.default_rng(int(seed))


def standardize_dtype(dtype) -> np.dtype:
    """``None`` means floatx; anything NumPy understands is accepted."""
    return np.dtype(_FLOATX if dtype is None else dtype)
