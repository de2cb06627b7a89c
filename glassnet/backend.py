"""Array backend: the default float dtype, the small epsilon, and seeded random numbers.

Everything random in glassnet (initialisers, dropout masks, shuffling) draws from one
``numpy.random.Generator`` held here, so ``set_seed(s)`` makes a whole run reproducible.
"""

from __future__ import annotations

import os
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


_NUM_THREADS: int | None = None
_NUM_THREADS_DEFAULT: int | None = None
_THREAD_ENV_VARIABLES = ("GLASSNET_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def num_threads() -> int:
    """Threads glassnet's own parallel work may use (element-wise optimizer updates).

    The first of GLASSNET_NUM_THREADS, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS that is
    set — the same limit the BLAS library obeys, so the two never oversubscribe the machine —
    otherwise the number of CPUs this process may run on. :func:`set_num_threads` overrides it.
    """
    global _NUM_THREADS_DEFAULT
    if _NUM_THREADS is not None:
        return _NUM_THREADS
    if _NUM_THREADS_DEFAULT is None:  # read the environment once
        _NUM_THREADS_DEFAULT = _default_threads()
    return _NUM_THREADS_DEFAULT


def _default_threads() -> int:
    for variable in _THREAD_ENV_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads for glassnet's own parallel work (None: back to the default)."""
    global _NUM_THREADS
    if n is not None and int(n) < 1:
        raise ValueError(f"set_num_threads needs a positive number of threads, got {n!r}.")
    _NUM_THREADS = None if n is None else int(n)
