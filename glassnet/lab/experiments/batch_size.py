"""Batch size × learning rate (SPEC §12, exercise 15's axes; the "linear scaling rule").

The same MLP on the digits trains from the same initial weights with plain SGD for the same number
of epochs (so every run sees the same number of samples) at every (batch size B, learning rate η) of a
grid. A mini-batch gradient is an average of B per-sample gradients, so its noise shrinks like 1/√B,
and a bigger batch takes fewer steps per epoch (N/B): both suggest the best η grows with B (Goyal et
al. 2017: η ∝ B), until η hits the stability limit of the loss surface, which does not depend on B.

    best η(B) = argmax_η  validation accuracy after the last epoch (ties: the lower validation loss)
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from ... import layers, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment


def build_mlp(units: int) -> Sequential:
    return Sequential([layers.Input(shape=(64,)), layers.Dense(units, activation="relu"),
                       layers.Dense(10, activation="softmax")])


def _loss(value) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.inf


def best_learning_rate(cells: list) -> float:
    """The learning rate of the best cell of one batch size: highest val accuracy, then lowest val loss."""
    best = max(cells, key=lambda c: (float(c["val_accuracy"]), -_loss(c["val_loss"])))
    return float(best["learning_rate"])


class BatchSizeExperiment(Experiment):
    name = "batch-size"
    title = "Batch size and learning rate"
    claim = "Larger batches need larger learning rates (the best learning rate grows with the batch size)."
    criterion = ("For each batch size, the best learning rate is the one with the highest final validation "
                 "accuracy (ties: lower validation loss) after the same number of epochs. Supported when the best "
                 "learning rate never decreases as the batch size grows and is strictly larger for the largest "
                 "batch than for the smallest; refuted otherwise.")
    parameters = {"batch_sizes": [8, 32, 128], "learning_rates": [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
                  "epochs": 15, "units": 64, "max_train": None}
    quick_parameters = {"learning_rates": [0.1, 0.3, 1.0], "epochs": 10, "max_train": 500}

    def run(self, lab):
        p = lab.params
        (x_train, y_train), (x_val, y_val) = lab.digits(p["max_train"], sample=True)
        lab.progress(f"digits MLP, plain SGD, {p['epochs']} epochs on {len(x_train)} samples")
        lab.reseed(1)
        weights = build_mlp(p["units"]).get_weights()
        batches = [int(b) for b in p["batch_sizes"]]
        rates = [float(r) for r in p["learning_rates"]]

        results = {"batch_sizes": batches, "learning_rates": rates, "epochs": p["epochs"], "cells": {},
                   "best_learning_rate": {}, "seconds_per_epoch": {}}
        for batch in batches:
            cells, seconds = [], 0.0
            for rate in rates:
                model = build_mlp(p["units"])
                model.set_weights(weights)
                model.compile(optimizers.SGD(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
                lab.reseed(2)
                started = time.perf_counter()
                history = model.fit(x_train, y_train, epochs=p["epochs"], batch_size=batch, verbose=0,
                                    validation_data=(x_val, y_val))
                seconds += time.perf_counter() - started
                h = history.history
                cells.append({"learning_rate": rate, "val_accuracy": float(h["val_accuracy"][-1]),
                              "val_loss": _loss(h["val_loss"][-1]), "train_loss": _loss(h["loss"][-1])})
            results["cells"][str(batch)] = cells
            results["best_learning_rate"][str(batch)] = best_learning_rate(cells)
            results["seconds_per_epoch"][str(batch)] = seconds / (len(rates) * p["epochs"])
            lab.progress(f"batch {batch:4d}: val accuracy " + " ".join(f"{c['val_accuracy']:.3f}" for c in cells)
                         + f" → best lr {results['best_learning_rate'][str(batch)]:g}; "
                         f"{results['seconds_per_epoch'][str(batch)] * 1000:.0f} ms per epoch")

        grid = np.array([[c["val_accuracy"] for c in results["cells"][str(b)]] for b in batches])
        figure = plot._figure(figsize=(1.2 * len(rates) + 2.5, 0.8 * len(batches) + 1.8))
        axis = figure.add_subplot()
        image = axis.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        axis.set_xticks(range(len(rates)), [f"{r:g}" for r in rates])
        axis.set_yticks(range(len(batches)), [str(b) for b in batches])
        axis.set_xlabel("learning rate")
        axis.set_ylabel("batch size")
        for i, batch in enumerate(batches):
            best = rates.index(results["best_learning_rate"][str(batch)])
            for j in range(len(rates)):
                axis.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8,
                          color="black" if grid[i, j] > 0.6 else "white", fontweight="bold" if j == best else None)
            axis.add_patch(_rectangle(best - 0.5, i - 0.5))
        axis.set_title(f"Validation accuracy after {p['epochs']} epochs (best per batch size boxed)")
        figure.colorbar(image, ax=axis, label="validation accuracy")
        lab.figure("heatmap", figure, "Final validation accuracy for each batch size and learning rate")

        lab.table("Final validation accuracy", ["batch size"] + [f"lr {r:g}" for r in rates]
                  + ["best lr", "ms / epoch"],
                  [[b] + [c["val_accuracy"] for c in results["cells"][str(b)]]
                   + [results["best_learning_rate"][str(b)], 1000 * results["seconds_per_epoch"][str(b)]]
                   for b in batches], "Same initial weights, same number of epochs (samples seen) per cell.")
        return results

    def verdict(self, results):
        batches = sorted(int(b) for b in results["batch_sizes"])
        best = [float(results["best_learning_rate"][str(b)]) for b in batches]
        monotone = all(later >= earlier for earlier, later in itertools.pairwise(best))
        grows = best[-1] > best[0]
        explanation = ("Best learning rate per batch size: "
                       + ", ".join(f"{b} → {lr:g}" for b, lr in zip(batches, best))
                       + (". It never decreases and grows overall" if monotone and grows else
                          ". It does not grow with the batch size" if not grows else
                          ". It grows overall but not monotonically")
                       + f" (batch ×{batches[-1] / batches[0]:g} → best lr ×{best[-1] / best[0]:.3g}).")
        return monotone and grows, explanation


def _rectangle(x, y):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1.0, 1.0, fill=False, edgecolor="red", linewidth=2.0)


EXPERIMENT = BatchSizeExperiment()
