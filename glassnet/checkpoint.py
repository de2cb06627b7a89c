"""Training checkpoints: everything needed to continue ``fit`` exactly where it stopped.

A checkpoint (``<checkpoint_dir>/checkpoint.glassnet``, written atomically, in the same checksummed zip
format as model files) holds:

* the model's weights and the optimizer's state (slots, step count, scalars);
* the state of every random generator training uses — glassnet's global one and any layer's own
  (e.g. ``Dropout(seed=...)``) — so the next dropout masks and shuffles are the ones an uninterrupted
  run would draw;
* where training is: the epoch, the next step in it, and that epoch's sample order;
* the running loss/metric totals of the current epoch and the History of finished epochs.

``fit(..., checkpoint_dir=d, checkpoint_every=n, resume=True)`` writes one every ``n`` optimizer steps
and at each epoch end, and continues from it; a run killed at any moment (even while a checkpoint
is being written) and resumed ends with exactly the weights of an uninterrupted run with the same
seed. Callback state (e.g. EarlyStopping's patience counter) is not part of a checkpoint.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import backend
from .errors import FileFormatError
from .io import _load_npy, _npy_bytes, _parse_json, _read_archive, _write_archive, restore_state, state_entries

FORMAT_NAME = "glassnet-checkpoint"
FILENAME = "checkpoint.glassnet"


def checkpoint_path(folder) -> str:
    return os.path.join(os.fspath(folder), FILENAME)


def _layer_generators(model) -> dict:
    """Random generators owned by layers (e.g. a seeded Dropout), keyed by the layer's position in the
    model and its class and attribute — not its name, which differs between two builds of one model."""
    generators = {}
    for position, layer in enumerate(model._flatten_layers()):
        for attribute, value in vars(layer).items():
            if isinstance(value, np.random.Generator):
                generators[f"{position}:{type(layer).__name__}.{attribute}"] = value
    return generators


def _metric_state(metric) -> dict:
    """The numeric running totals of a metric object (floats, ints and arrays among its attributes)."""
    state = {}
    for key, value in vars(metric).items():
        if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
            state[key] = {"number": float(value)} if isinstance(value, (float, np.floating)) else {"int": int(value)}
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            state[key] = {"array": value.tolist(), "dtype": value.dtype.name}
    return state


def _set_metric_state(metric, state: dict) -> None:
    for key, value in state.items():
        if "number" in value:
            setattr(metric, key, float(value["number"]))
        elif "int" in value:
            setattr(metric, key, int(value["int"]))
        else:
            setattr(metric, key, np.asarray(value["array"], dtype=value["dtype"]))


def save_checkpoint(model, folder, epoch: int, step: int, order, history: dict) -> str:
    """Write the checkpoint of ``model`` at (``epoch``, next ``step``); returns its path."""
    entries, description = state_entries(model, include_optimizer=True)
    metrics = [m for m in model.metrics if m is not None]
    training = {
        "epoch": int(epoch), "step": int(step), "shuffled": order is not None,
        "global_rng": backend.get_rng_state(),
        "layer_rngs": {key: g.bit_generator.state for key, g in _layer_generators(model).items()},
        "metrics": [{"name": m.name, "state": _metric_state(m)} for m in metrics],
        "history": history, "model": description,
    }
    if order is not None:
        entries["order.npy"] = _npy_bytes(np.asarray(order, dtype=np.int64))
    entries["training.json"] = json.dumps(training).encode("utf-8")
    path = checkpoint_path(folder)
    os.makedirs(os.fspath(folder), exist_ok=True)
    _write_archive(path, entries, FORMAT_NAME)
    return path


class TrainingState:
    """What :func:`load_checkpoint` restored: where to continue and the data order of that epoch."""

    def __init__(self, epoch: int, step: int, order, history: dict, metric_states: list):
        self.epoch, self.step, self.order, self.history = epoch, step, order, history
        self.metric_states = metric_states


def load_checkpoint(model, folder) -> TrainingState | None:
    """Restore weights, optimizer state and random generators from ``folder``'s checkpoint into the
    (built, compiled) ``model``; None when there is no checkpoint yet."""
    path = checkpoint_path(folder)
    if not os.path.exists(path):
        return None
    entries = _read_archive(path, FORMAT_NAME)
    if "training.json" not in entries:
        raise FileFormatError(f"{path!r} has no training.json entry.")
    training = _parse_json(entries["training.json"], "training.json")
    try:
        restore_state(model, entries, training["model"], with_optimizer=True)
        backend.set_rng_state(training["global_rng"])
        generators = _layer_generators(model)
        for key, state in training.get("layer_rngs", {}).items():
            if key in generators:
                generators[key].bit_generator.state = state
        order = _load_npy(entries["order.npy"], "order.npy") if training.get("shuffled") else None
        return TrainingState(int(training["epoch"]), int(training["step"]), order, dict(training["history"]),
                             list(training.get("metrics", [])))
    except FileFormatError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise FileFormatError(f"The checkpoint {path!r} is inconsistent ({type(error).__name__}: {error}).") from None


def restore_metrics(model, states: list) -> None:
    """Put the saved running totals back into the model's loss tracker and metrics (matched by name)."""
    by_name = {m.name: m for m in model.metrics if m is not None}
    for saved in states:
        metric = by_name.get(saved["name"])
        if metric is not None:
            _set_metric_state(metric, saved["state"])
