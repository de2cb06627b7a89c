"""Shared by the convolution and pooling tests: force glassnet's batch-parallel kernels onto two threads."""

import threading

from glassnet import backend
from glassnet.ops import conv as conv_ops


def spy_threads(monkeypatch) -> set:
    """Split every batch-parallel kernel into two threads even for tiny arrays; return the set that collects
    the ids of the threads that ran a piece (the caller restores ``backend.set_num_threads(None)``)."""
    monkeypatch.setattr(conv_ops, "PARALLEL_MIN_ELEMENTS", 1)
    backend.set_num_threads(2)
    used = set()
    original = conv_ops._parallel

    def spy(fn, n, elements):
        def wrapped(lo, hi):
            used.add(threading.get_ident())
            fn(lo, hi)
        original(wrapped, n, elements)

    monkeypatch.setattr(conv_ops, "_parallel", spy)
    return used
