"""Shared benchmark machinery: paired timing, thread settings, GEMM peak, peak memory.

Paired rounds: in each round every framework runs the same unit of work once, back to back. The
throughput of each is taken from its best round; the ratio glassnet / PyTorch is the MEDIAN of the
per-round ratios, so a slow spell of the (shared, virtual) machine affects both sides of a pair and
not the comparison.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def threads() -> int:
    """The thread count both frameworks get (glassnet's rule: the BLAS environment variables, else
    the CPUs this process may use)."""
    from glassnet import backend

    return backend.num_threads()


def import_torch(n_threads: int):
    """torch with ``n_threads`` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(n_threads)
    return torch


def paired_rounds(runs: dict, rounds: int) -> dict:
    """Seconds per call of each function, in interleaved rounds: ``{name: [t_round0, t_round1, ...]}``."""
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def summarize(times: dict, units: float) -> dict:
    """Best throughput of each run and the median paired ratio glassnet / PyTorch (``ratio``, with its
    ``ratio_range``); each other run (a reference) gets its own ``{name}_ratio`` to PyTorch."""
    result = {f"{name}_rate": units / min(values) for name, values in times.items()}
    if "pytorch" in times:
        for name, values in times.items():
            if name == "pytorch":
                continue
            ratios = [t / g for g, t in zip(values, times["pytorch"])]
            key = "ratio" if name == "glassnet" else f"{name}_ratio"
            result[key] = statistics.median(ratios)
            result[key + "_range"] = (min(ratios), max(ratios))
    return result


def gemm_peak_gflops(size: int = 1024, repeats: int = 5) -> float:
    """NumPy float32 GEMM rate on this machine (best of ``repeats`` size³ products), GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_memory_mb(framework: str, workload: str = "mlp") -> float | None:
    """Peak resident memory (MiB) of a fresh process that imports ``framework`` and trains the
    workload (``python -m benchmarks.memory``); None if the framework is missing."""
    command = [sys.executable, "-m", "benchmarks.memory", framework, workload]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        if "ModuleNotFoundError" in completed.stderr or "ImportError" in completed.stderr:
            return None
        raise RuntimeError(f"memory probe failed: {completed.stderr.strip()[-2000:]}")
    return float(completed.stdout.strip().splitlines()[-1])
