"""Long runs (issue 8, item 6): 300 epochs of a small model with callbacks keep memory flat — no
autodiff graph, metric state or history object is kept from one step or epoch to the next.

Measured at epochs 20 and 300 (after ``gc.collect()``): the resident set size (VmRSS from
/proc/self/status) must grow by less than 15 MB, and the number of live ``Tensor`` objects — in
particular of graph nodes, Tensors that have parents — must not grow at all. A weak reference to an
intermediate Tensor of a training step must be dead once the step is over.
"""

from __future__ import annotations

import csv
import gc
import sys
import time
import weakref

import numpy as np
import pytest

import glassnet as gn
from glassnet import callbacks, layers
from glassnet.layers.base import observe_layers
from glassnet.tensor import Tensor

RSS_GROWTH_LIMIT = 15 * 2 ** 20

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line in /proc/self/status")


def live_tensors() -> tuple:
    """(all live Tensors, those that are graph nodes — results of an op, with parents)."""
    tensors = [o for o in gc.get_objects() if isinstance(o, Tensor)]
    return len(tensors), sum(1 for t in tensors if t._parents)


class Probe(callbacks.Callback):
    """At the end of the marked epochs: collect garbage, then record RSS and live Tensor counts."""

    def __init__(self, marks):
        super().__init__()
        self.marks, self.rss, self.tensors = set(marks), {}, {}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.marks:
            gc.collect()
            self.rss[epoch + 1] = rss_bytes()
            self.tensors[epoch + 1] = live_tensors()


class StepWatcher(callbacks.Callback):
    """Keeps a weak reference to the first Dense layer's output of each training step, and checks at
    the start of the next step that it is gone — freed by reference counting alone, so the graph holds
    no reference cycles (memory comes back at once, not at the next garbage collection)."""

    def __init__(self):
        super().__init__()
        self.ref = None
        self.checked = self.alive_without_gc = 0

    def observe(self, layer, inputs, outputs):
        if isinstance(layer, layers.Dense) and isinstance(outputs, Tensor) and outputs._parents and self.ref is None:
            self.ref = weakref.ref(outputs)

    def on_train_batch_begin(self, batch, logs=None):
        if self.ref is not None:
            if self.ref() is not None:
                self.alive_without_gc += 1  # only a reference cycle keeps it (freed by the collector)
                gc.collect()
            assert self.ref() is None, "an intermediate Tensor of the previous step is still alive"
            self.checked += 1
            self.ref = None


def test_300_epochs_with_callbacks_keep_memory_and_tensor_counts_flat(tmp_path):
    gn.clear_session()
    gn.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    model = gn.Sequential([gn.Input(shape=(8,)), layers.Dense(16, activation="relu"), layers.Dropout(0.1),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(gn.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
    probe, watcher = Probe(marks=(20, 100, 300)), StepWatcher()
    log = tmp_path / "log.csv"
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=10_000, restore_best_weights=True)
    start = time.perf_counter()
    with observe_layers(watcher.observe):
        history = model.fit(x, y, epochs=300, batch_size=16, validation_split=0.25, verbose=0,
                            callbacks=[stopper, callbacks.CSVLogger(log), probe, watcher])
    elapsed = time.perf_counter() - start

    # the run really was 300 epochs with every callback active
    assert len(history.epoch) == 300 and len(history.history["val_loss"]) == 300
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 301 and rows[0][0] == "epoch" and rows[-1][0] == "299"
    assert watcher.checked == 300 * 3 - 1  # 48 training samples: 3 steps per epoch
    assert watcher.alive_without_gc == 0, "graph nodes form reference cycles: freed only by the garbage collector"

    growth = probe.rss[300] - probe.rss[20]
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2 ** 20:.1f} MB between epochs 20 and 300"
    assert probe.tensors[300] == probe.tensors[100] == probe.tensors[20], probe.tensors
    assert probe.tensors[300][1] == 0, f"{probe.tensors[300][1]} graph nodes survive between epochs"
    assert elapsed < 30


def test_repeated_fit_evaluate_predict_calls_do_not_accumulate():
    """Many short calls (as a notebook or a hyper-parameter loop makes): live Tensors stay flat."""
    gn.clear_session()
    gn.set_seed(1)
    x = np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    counts = []
    for i in range(60):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, validation_data=(x[:8], y[:8]))
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
        model.train_on_batch(x[:8], y[:8])
        if i in (9, 59):
            gc.collect()
            counts.append(live_tensors())
    assert counts[0] == counts[1], counts
    assert counts[1][1] == 0
