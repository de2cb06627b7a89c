"""LSTM training throughput: glassnet ``fit`` vs a plain PyTorch loop, same work, one process.

Workload: sequences of T=40 steps × 8 features → LSTM(64) → Dense(10) logits, softmax cross-entropy,
Adam(1e-3), batch 64, float32, 4,096 random samples, one epoch (after one warm-up epoch each),
timed interleaved, best of ``--repeats``. PyTorch runs ``torch.nn.LSTM(batch_first=True)`` on the
same number of threads. Prints samples/s of each, the ratio glassnet / PyTorch, and (``--profile``)
where glassnet's time goes: the LSTM forward, the LSTM backward (BPTT), and everything else.

    python benchmarks/lstm.py [--repeats 5] [--samples 4096] [--profile]

Notes: PyTorch's CPU LSTM runs oneDNN's fused LSTM kernel (about 2x its own generic cell path); on a
busy 2-core machine multi-threaded OpenBLAS makes the small per-step GEMMs ~3x slower, so compare
with OPENBLAS_NUM_THREADS=1 as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import glassnet as gn  # noqa: E402
from glassnet import layers, losses, optimizers  # noqa: E402
from glassnet.layers.recurrent import LSTM  # noqa: E402

STEPS, FEATURES, UNITS, CLASSES = 40, 8, 64, 10
BATCH = 64


def make_data(samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, STEPS, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, samples)
    return x, y


def glassnet_model():
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(STEPS, FEATURES)), LSTM(UNITS), layers.Dense(CLASSES)])
    model.compile(optimizer=optimizers.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def glassnet_epoch(x, y):
    """A function running one training epoch of the glassnet model (built and warmed up here)."""
    model = glassnet_model()

    def epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    epoch()  # warm-up
    return epoch


def torch_epoch(x, y, threads: int):
    """The same epoch as a plain PyTorch loop, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
            self.head = torch.nn.Linear(UNITS, CLASSES)

        def forward(self, xb):
            out, _ = self.lstm(xb)
            return self.head(out[:, -1])

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        order = torch.randperm(len(xt))
        xs, ys = xt[order], yt[order]
        for start in range(0, len(xs), BATCH):
            xb, yb = xs[start:start + BATCH], ys[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            optimizer.step()

    epoch()  # warm-up
    return epoch


def best_times(epochs: dict, repeats: int) -> dict:
    """Time the epochs interleaved (A, B, A, B, ...) so a noisy moment hits both; keep each one's best."""
    times = {name: [] for name in epochs}
    for _ in range(repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def profile(x, y, batches: int = 20) -> dict:
    """Seconds per batch spent in the LSTM forward, the LSTM backward, and the rest of a training step."""
    from glassnet.ops import recurrent as rnn_ops

    model = glassnet_model()
    model.fit(x[:BATCH * 2], y[:BATCH * 2], batch_size=BATCH, epochs=1, verbose=0)
    spent = {"lstm forward": 0.0, "lstm backward (BPTT)": 0.0}
    original = rnn_ops.lstm

    def timed_lstm(*args, **kwargs):
        start = time.perf_counter()
        hs, c = original(*args, **kwargs)
        spent["lstm forward"] += time.perf_counter() - start
        if not hs._parents:  # computed without a graph (inference)
            return hs, c
        node = hs._parents[0]  # the fused node (hs is a slice of it)
        inner = node._backward

        def backward(g):
            begin = time.perf_counter()
            grads = inner(g)
            spent["lstm backward (BPTT)"] += time.perf_counter() - begin
            return grads

        node._backward = backward
        return hs, c

    rnn_ops.lstm = timed_lstm
    try:
        start = time.perf_counter()
        model.fit(x[:BATCH * batches], y[:BATCH * batches], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        total = time.perf_counter() - start
    finally:
        rnn_ops.lstm = original
    result = {name: value / batches for name, value in spent.items()}
    result["everything else"] = total / batches - sum(result.values())
    result["total"] = total / batches
    return result


def blas_threads() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var])
    return os.cpu_count() or 1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also show where glassnet's time goes")
    args = parser.parse_args(argv)
    x, y = make_data(args.samples)
    threads = blas_threads()
    epochs = {"glassnet": glassnet_epoch(x, y)}
    torch_run = torch_epoch(x, y, threads)
    if torch_run is not None:
        epochs["pytorch"] = torch_run
    best = best_times(epochs, args.repeats)
    g, t = best["glassnet"], best.get("pytorch")
    g_rate = args.samples / g
    print(f"LSTM({UNITS}) on T={STEPS}×{FEATURES} → Dense({CLASSES}), Adam, batch {BATCH}, {args.samples} samples, "
          f"{threads} threads (best of {args.repeats}, interleaved)")
    print(f"{'framework':<10} {'samples/s':>12} {'epoch s':>9}")
    print(f"{'glassnet':<10} {g_rate:>12,.0f} {g:>9.3f}")
    result = {"glassnet_samples_per_s": g_rate}
    if t is not None:
        t_rate = args.samples / t
        print(f"{'pytorch':<10} {t_rate:>12,.0f} {t:>9.3f}")
        print(f"ratio glassnet/pytorch: {g_rate / t_rate:.2f}x")
        result.update(torch_samples_per_s=t_rate, ratio=g_rate / t_rate)
    else:
        print("pytorch not installed: glassnet alone")
    if args.profile:
        parts = profile(x, y)
        print("glassnet time per batch:")
        for name, seconds in parts.items():
            print(f"  {name:<22} {seconds * 1e3:8.2f} ms  ({100 * seconds / parts['total']:5.1f}%)")
        result["profile"] = parts
    return result


if __name__ == "__main__":
    main()
