"""NumPy's OpenBLAS, driven through its own C functions (ctypes).

Two controls, both no-ops when NumPy uses another BLAS or the library cannot be found:

* :data:`SINGLE_THREADED_BLAS` — ``with SINGLE_THREADED_BLAS:`` limits OpenBLAS to one thread for a block
  of small GEMMs (the recurrent ops), restoring the count afterwards.
* :func:`tune_spin_wait` — OpenBLAS's idle worker threads spin on their core for 2²⁸ TSC ticks
  (~0.1 s) after each threaded GEMM before they sleep. Between the GEMMs of a training step glassnet
  runs element-wise work on its own threads (the optimizer update, batch-parallel kernels); on a
  2-core machine a spinning OpenBLAS worker takes the core that work needs (measured: the MLP
  benchmark's Adam update 1.0 ms instead of 0.73 ms, the whole step 2.9 ms instead of 2.6 ms). At
  import glassnet lowers the spin to 2¹⁸ ticks (~0.1 ms: still longer than the gap between the GEMMs
  of one layer, so their latency is unchanged) — the documented ``OPENBLAS_THREAD_TIMEOUT=18`` — by
  setting that variable, re-reading OpenBLAS's environment and restarting its (idle) worker threads.
  Left alone when ``OPENBLAS_THREAD_TIMEOUT`` (or ``GOTO_THREAD_TIMEOUT``) is set already, or with
  ``GLASSNET_TUNE_BLAS=0``. Results are unchanged; only where idle threads wait.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading

import numpy as np

SPIN_EXPONENT = 18
"""OpenBLAS's ``THREAD_TIMEOUT``: idle workers spin for 2**SPIN_EXPONENT TSC ticks, then sleep."""

_library_handles: list | None = None
_spin_tuned = False


def _candidates() -> list:
    """Paths of the OpenBLAS libraries mapped into this process (Linux), or shipped next to NumPy."""
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and "openblas" in os.path.basename(fields[5]).lower():
                    paths.append(fields[5].strip())
    except OSError:
        pass
    numpy_dir = os.path.dirname(np.__file__)
    for pattern in (numpy_dir + ".libs", os.path.join(numpy_dir, ".dylibs")):
        paths += sorted(glob.glob(os.path.join(pattern, "*openblas*")))
    return list(dict.fromkeys(paths))


def symbol(name: str):
    """The C function ``name`` of NumPy's OpenBLAS, or None."""
    global _library_handles
    if _library_handles is None:
        _library_handles = []
        for path in _candidates():
            try:
                _library_handles.append(ctypes.CDLL(path))
            except OSError:
                continue
    for lib in _library_handles:
        function = getattr(lib, name, None)
        if function is not None:
            return function
    return None


def tune_spin_wait() -> bool:
    """Lower OpenBLAS's idle spin to 2**SPIN_EXPONENT ticks (see the module docstring); True if applied."""
    global _spin_tuned
    if _spin_tuned:
        return True
    if (os.environ.get("GLASSNET_TUNE_BLAS", "1") == "0" or "OPENBLAS_THREAD_TIMEOUT" in os.environ
            or "GOTO_THREAD_TIMEOUT" in os.environ):
        return False
    read_env, timeout = symbol("openblas_read_env"), symbol("openblas_thread_timeout")
    shutdown, start = symbol("blas_thread_shutdown_"), symbol("blas_thread_init")
    if None in (read_env, timeout, shutdown, start):
        return False
    read_env.argtypes, read_env.restype = [], None  # void openblas_read_env(void)
    for function in (timeout, shutdown, start):
        function.argtypes, function.restype = [], ctypes.c_int
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(SPIN_EXPONENT)  # also inherited by worker processes
    read_env()
    if timeout() != SPIN_EXPONENT:
        return False
    shutdown()  # the workers are idle at import; the new ones take the new timeout
    start()
    _spin_tuned = True
    return True


def spin_wait_is_tuned() -> bool:
    return _spin_tuned


class _SingleThreadedBlas:
    """``with SINGLE_THREADED_BLAS:`` runs its block with OpenBLAS limited to one thread.

    A recurrence does T tiny GEMMs ((G·U, U)·(U, N)); on those a threaded OpenBLAS spends more time
    waking and synchronising threads than computing (64×64×256 on 2 cores: 45 µs with 2 threads, 26 µs
    with 1; much worse when another process is busy). It calls NumPy's OpenBLAS's own
    ``openblas_set_num_threads`` (:func:`symbol`); leaving the block restores the previous count. The
    context is re-entrant and thread-safe (the count is process-wide: the first entry saves it, the
    last exit restores it). Without an OpenBLAS (another BLAS, another platform) it does nothing.
    ``enabled = False`` switches it off.
    """

    _NAMES = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
              ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
              ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
              ("openblas_set_num_threads", "openblas_get_num_threads"))

    def __init__(self):
        self.enabled = True
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = None
        self._api = None
        self._searched = False
        self._entries = threading.local()  # per thread: did each open entry limit the threads?

    def _functions(self):
        """(set, get) of NumPy's OpenBLAS, or None."""
        if not self._searched:
            self._searched = True
            for set_name, get_name in self._NAMES:
                setter, getter = symbol(set_name), symbol(get_name)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    self._api = (setter, getter)
                    break
        return self._api

    def threads(self) -> int | None:
        """OpenBLAS's current thread count (None when it was not found)."""
        api = self._functions()
        return None if api is None else int(api[1]())

    def __enter__(self):
        entered = False
        api = self._functions() if self.enabled else None
        if api is not None:
            with self._lock:
                if self._depth == 0:
                    self._saved = int(api[1]())
                    if self._saved != 1:
                        api[0](1)
                self._depth += 1
            entered = True
        self._entries.__dict__.setdefault("stack", []).append(entered)
        return self

    def __exit__(self, *exc):
        if self._entries.stack.pop():
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._saved != 1:
                    self._api[0](self._saved)
        return False


SINGLE_THREADED_BLAS = _SingleThreadedBlas()
