"""MLP training throughput: glassnet ``fit`` vs a plain PyTorch loop, same work, one process.

Workload: 784-256-128-10 ReLU MLP, softmax cross-entropy from logits, Adam(1e-3), batch 128,
float32, 20,000 random samples, one epoch (after one warm-up epoch each), timed interleaved, best of
``--repeats``. Both frameworks use the same number of threads.
Prints samples/s of each and the ratio glassnet / PyTorch.

    python benchmarks/mlp.py [--repeats 5] [--samples 20000]
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

SIZES = (784, 256, 128, 10)
BATCH = 128


def make_data(samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], samples)
    return x, y


def glassnet_epoch(x, y):
    """A function running one training epoch of the glassnet model (built and warmed up here)."""
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(SIZES[0],))]
                          + [layers.Dense(n, activation="relu") for n in SIZES[1:-1]]
                          + [layers.Dense(SIZES[-1])])
    model.compile(optimizer=optimizers.Adam(1e-3),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))

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
    net_layers = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        net_layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*net_layers, torch.nn.Linear(SIZES[-2], SIZES[-1]))
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


def blas_threads() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var])
    return os.cpu_count() or 1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
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
    print(f"MLP 784-256-128-10, Adam, batch {BATCH}, {args.samples} samples, {threads} threads (best of {args.repeats}, interleaved)")
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
    return result


if __name__ == "__main__":
    main()
