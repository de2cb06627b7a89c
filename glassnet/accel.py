"""Optional compiled kernels (numba) for the few passes NumPy cannot fuse.

glassnet's engine is NumPy; every op has a NumPy implementation, which is the reference and what runs
when numba is absent. Where one loop over the data replaces several NumPy passes and the gain was
measured (see ``docs/benchmarks.md``), an op asks :func:`kernels` for a compiled kernel and takes it
when one is offered. The results are the same to the bit (the kernels do the same float operations)
and the fast paths are tested against the NumPy ones.

* install: ``pip install "glassnet[fast]"`` (numba); nothing else changes;
* switch off: ``GLASSNET_ACCEL=0`` in the environment, or :func:`set_enabled` (``False``) at run time,
  or ``with accel.disabled(): ...``;
* numba is imported on the first call that can use it, not when glassnet is imported; each kernel is
  compiled on its first use (≈ 1 s) and cached on disk next to the module when that is writable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings

import numpy as np

_enabled = os.environ.get("GLASSNET_ACCEL", "1").strip().lower() not in ("0", "false", "no", "off")
_kernels = None
_load_error: str | None = None
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_installed: bool | None = None   # looked up once: find_spec costs ~10 µs and ops ask on every call


def available() -> bool:
    """Whether numba is installed (without importing it)."""
    global _installed
    if _installed is None:
        _installed = importlib.util.find_spec("numba") is not None
    return _installed


def enabled() -> bool:
    """Whether ops will use the compiled kernels: numba is installed and they are not switched off."""
    return _enabled and available()


def set_enabled(flag: bool) -> None:
    """Switch the compiled kernels on or off for this process (NumPy paths are used when off)."""
    global _enabled
    _enabled = bool(flag)


@contextlib.contextmanager
def disabled():
    """``with accel.disabled():`` — run the block on the NumPy paths only."""
    previous = _enabled
    set_enabled(False)
    try:
        yield
    finally:
        set_enabled(previous)


def kernels():
    """The module of compiled kernels (:mod:`glassnet.numba_kernels`), or None when not :func:`enabled`."""
    global _kernels, _installed, _load_error
    if not (_enabled and available()):
        return None
    if _kernels is None:
        try:
            from . import numba_kernels
        except Exception as error:  # numba present but unusable (built for another NumPy, no cache dir, ...)
            _installed, _load_error = False, f"{type(error).__name__}: {error}"
            warnings.warn(f"glassnet: the compiled kernels could not be loaded ({_load_error}); "
                          "using the NumPy paths.", RuntimeWarning, stacklevel=2)
            return None
        _kernels = numba_kernels
    return _kernels


COMPILED_MIN_SIZE = 4096
"""Arrays smaller than this take the NumPy path (a compiled call's dispatch costs about what it saves)."""


def kernels_for(*arrays, min_size: int | None = None):
    """:func:`kernels` if every array is a C-contiguous float32/float64 array of one dtype (what the
    element-wise kernels take) and the first has at least ``min_size`` elements (default
    :data:`COMPILED_MIN_SIZE`: worth it for a kernel that replaces one NumPy call; one that replaces
    many is worth it at any size); None otherwise: take the NumPy path."""
    first = arrays[0]
    dtype = first.dtype
    if first.size < (COMPILED_MIN_SIZE if min_size is None else min_size) or dtype not in _KERNEL_DTYPES:
        return None
    for array in arrays:  # (a plain loop: this runs for every variable of every optimizer step)
        if array.dtype != dtype or not array.flags.c_contiguous:
            return None
    return kernels()


def status() -> str:
    """One line for reports: which path the ops take."""
    if enabled():
        import numba
        return f"numba {numba.__version__} kernels on"
    if available():
        return "numba installed, kernels switched off"
    if _load_error is not None:
        return f"NumPy only (the kernels could not be loaded: {_load_error})"
    return "NumPy only (numba not installed)"
