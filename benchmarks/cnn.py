"""CNN training throughput: glassnet ``fit`` vs a plain PyTorch loop, same work, one process.

Workload: 28×28×1 images, Conv(32, 3, relu) → MaxPool(2) → Conv(64, 3, relu) → MaxPool(2) → Flatten →
Dense(128, relu) → Dense(10), softmax cross-entropy from logits, Adam(1e-3), batch 64, float32, 4,096
random samples, one epoch (after one warm-up epoch each), timed interleaved, best of ``--repeats``.
Both frameworks use the same number of threads. Prints samples/s of each and the ratio
glassnet / PyTorch; ``--profile`` adds a cProfile of one glassnet epoch (top functions by own time).

    python benchmarks/cnn.py [--repeats 5] [--samples 4096] [--profile]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for the shared timing helpers in mlp.py

import glassnet as gn  # noqa: E402
from glassnet import layers, losses, optimizers  # noqa: E402
from glassnet.layers.conv import Conv2D  # noqa: E402
from glassnet.layers.pooling import MaxPooling2D  # noqa: E402

from mlp import best_times, blas_threads  # noqa: E402  (same timing protocol as the MLP benchmark)

SHAPE = (28, 28, 1)
CLASSES = 10
BATCH = 64


def make_data(samples: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples,) + SHAPE, dtype=np.float32)
    y = rng.integers(0, CLASSES, samples)
    return x, y


def glassnet_model():
    return gn.Sequential([
        layers.Input(shape=SHAPE),
        Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(CLASSES),
    ])


def glassnet_epoch(x, y):
    """A function running one training epoch of the glassnet model (built and warmed up here)."""
    gn.set_seed(0)
    model = glassnet_model()
    model.compile(optimizer=optimizers.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))

    def epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    epoch()  # warm-up
    return epoch


def torch_epoch(x, y, threads: int):
    """The same epoch as a plain PyTorch loop (channels-first), or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, CLASSES))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)

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


def profile_epoch(epoch, top: int = 25) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    epoch()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one glassnet epoch")
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
    print(f"CNN 28x28x1 Conv32-Pool-Conv64-Pool-Dense128-Dense10, Adam, batch {BATCH}, {args.samples} samples, "
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
        profile_epoch(epochs["glassnet"])
    return result


if __name__ == "__main__":
    main()
