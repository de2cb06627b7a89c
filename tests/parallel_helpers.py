"""Shared by the convolution, pooling and LSTM tests: force glassnet's batch-parallel work onto two threads."""

import threading

from glassnet import backend
from glassnet.ops import conv as conv_ops


def spy_parts(monkeypatch, module, name) -> set:
    """Replace ``module.name`` — a runner ``name(fn, n, extra)`` that calls ``fn(lo, hi)`` once per part —
    by one that records the ids of the threads that ran a part; return that set."""
    used = set()
    original = getattr(module, name)

    def spy(fn, n, extra):
        def wrapped(lo, hi):
            used.add(threading.get_ident())
            fn(lo, hi)
        original(wrapped, n, extra)

    monkeypatch.setattr(module, name, spy)
    return used


def spy_threads(monkeypatch) -> set:
    """Split every batch-parallel conv/pooling kernel into two threads even for tiny arrays; return the set
    that collects the ids of the threads that ran a piece (the caller restores ``backend.set_num_threads(None)``)."""
    monkeypatch.setattr(conv_ops, "PARALLEL_MIN_ELEMENTS", 1)
    backend.set_num_threads(2)
    return spy_parts(monkeypatch, conv_ops, "_parallel")
