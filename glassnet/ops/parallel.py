"""Run an op's work in contiguous pieces of its batch, one per thread, while OpenBLAS runs on one thread.

Used by the batch-parallel convolution and pooling kernels (:mod:`glassnet.ops.conv`) and the LSTM's
compiled loops (:mod:`glassnet.ops.recurrent`): samples are independent there, so each thread takes its
own range of them. NumPy, the compiled kernels and BLAS release the GIL, so the pieces run on separate
cores. OpenBLAS is held to one thread meanwhile (:data:`glassnet.blas.SINGLE_THREADED_BLAS`): its own
workers would compete with ours for the same cores.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from .. import backend
from ..blas import SINGLE_THREADED_BLAS

_POOL = None
_POOL_PID = None


def in_parts(fn, n: int, parts: int) -> None:
    """``fn(lo, hi)`` over the index range [0, n), cut into at most ``parts`` contiguous ranges and no
    more than :func:`glassnet.backend.num_threads` — the first on the calling thread, the others on a
    shared pool. Exceptions from any piece are re-raised after all of them finished."""
    global _POOL, _POOL_PID
    threads = min(backend.num_threads(), n, parts)
    if threads < 2:
        fn(0, n)
        return
    # a forked child inherits the pool object but not its threads: it gets a pool of its own
    if _POOL is None or _POOL._max_workers < threads - 1 or _POOL_PID != os.getpid():
        _POOL = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="glassnet-parts")
        _POOL_PID = os.getpid()
    bounds = [n * k // threads for k in range(threads + 1)]
    with SINGLE_THREADED_BLAS:
        futures = [_POOL.submit(fn, bounds[k], bounds[k + 1]) for k in range(1, threads)]
        try:
            fn(bounds[0], bounds[1])
        finally:
            for future in futures:
                future.result()
