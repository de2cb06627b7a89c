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
from .io import (_CONFIG_ERRORS, _load_npy, _npy_bytes, _parse_json, _read_archive, _write_archive, restore_state,
                 state_entries)

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
    """Put saved running totals back. Only attributes the metric already has as data (a number, an
    array — of the same shape — or None, for arrays created on the first update) are set: a
    checkpoint can never replace a method or add an attribute."""
    attributes = vars(metric)
    for key, value in state.items():
        current = attributes.get(key, _MISSING)
        if current is _MISSING or isinstance(current, bool) or not (
                current is None or isinstance(current, (int, float, np.number, np.ndarray))):
            continue
        if "array" in value:
            array = np.asarray(value["array"], dtype=_numeric_dtype(value["dtype"]))
            if current is None or (isinstance(current, np.ndarray) and array.shape == current.shape):
                setattr(metric, key, array)
        elif not isinstance(current, np.ndarray):
            setattr(metric, key, float(value["number"]) if "number" in value else int(value["int"]))


_MISSING = object()


def _numeric_dtype(name) -> np.dtype:
    dtype = np.dtype(name) if isinstance(name, str) else None
    if dtype is None or dtype.kind not in "biuf":
        raise ValueError(f"a metric state array must have a numeric dtype, not {name!r}")
    return dtype


def _check_metric_states(states) -> list:
    """The saved metric states, checked to be what :func:`_metric_state` writes."""
    if not isinstance(states, list):
        raise ValueError(f"'metrics' must be a list, got {type(states).__name__}")
    for saved in states:
        if not isinstance(saved, dict) or not isinstance(saved.get("name"), str) \
                or not isinstance(saved.get("state"), dict):
            raise ValueError(f"each saved metric must be {{'name': str, 'state': {{...}}}}, got {saved!r:.100}")
        for key, value in saved["state"].items():
            if not isinstance(value, dict) or len(value) not in (1, 2):
                raise ValueError(f"metric state {key!r} is malformed: {value!r:.100}")
            if "number" in value:
                float(value["number"])
            elif "int" in value:
                if type(value["int"]) is not int:
                    raise ValueError(f"metric state {key!r} must be an integer")
            elif "array" in value:
                np.asarray(value["array"], dtype=_numeric_dtype(value.get("dtype")))
            else:
                raise ValueError(f"metric state {key!r} is malformed: {value!r:.100}")
    return states


def _check_history(history) -> dict:
    if not isinstance(history, dict):
        raise ValueError(f"'history' must be an object, got {type(history).__name__}")
    logs, epochs = history.get("logs", {}), history.get("epochs", [])
    if not isinstance(logs, dict) or not all(isinstance(v, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) for v in logs.values()):
        raise ValueError("'history.logs' must map names to lists of numbers")
    if not isinstance(epochs, list) or not all(type(e) is int for e in epochs):
        raise ValueError("'history.epochs' must be a list of integers")
    return dict(history)


def _count(value, name: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name!r} must be a non-negative integer, got {value!r:.50}")
    return value


def _checked_generator_state(generator: np.random.Generator, state):
    """``state`` if it is a valid state for ``generator``'s kind of bit generator (checked on a copy)."""
    probe = type(generator.bit_generator)()
    probe.state = state  # raises TypeError/ValueError/OverflowError for a malformed state
    return state


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
    if not isinstance(training, dict):
        raise FileFormatError(f"{path!r}: training.json must hold a JSON object, got {type(training).__name__}.")
    try:  # check everything before changing anything
        epoch, step = _count(training["epoch"], "epoch"), _count(training["step"], "step")
        history = _check_history(training["history"])
        metric_states = _check_metric_states(training.get("metrics", []))
        global_state = _checked_generator_state(backend.rng(), training["global_rng"])
        generators = _layer_generators(model)
        layer_states = training.get("layer_rngs", {})
        if not isinstance(layer_states, dict):
            raise ValueError(f"'layer_rngs' must be an object, got {type(layer_states).__name__}")
        layer_states = {key: _checked_generator_state(generators[key], state)
                        for key, state in layer_states.items() if key in generators}
        order = _load_npy(entries["order.npy"], "order.npy") if training.get("shuffled") else None
        if order is not None and (order.ndim != 1 or order.dtype.kind not in "iu"):
            raise ValueError(f"order.npy must be a 1-D integer array, got {order.dtype} of shape {order.shape}")
        restore_state(model, entries, training["model"], with_optimizer=True,
                      load_call=None)  # resuming a diverged run has no use
    except FileFormatError:
        raise
    except _CONFIG_ERRORS as error:
        raise FileFormatError(f"The checkpoint {path!r} is inconsistent ({type(error).__name__}: {error}).") from None
    backend.set_rng_state(global_state)
    for key, state in layer_states.items():
        generators[key].bit_generator.state = state
    return TrainingState(epoch, step, order, history, metric_states)


def restore_metrics(model, states: list) -> None:
    """Put the saved running totals back into the model's loss tracker and metrics (matched by name)."""
    by_name = {m.name: m for m in model.metrics if m is not None}
    for saved in states:
        metric = by_name.get(saved["name"])
        if metric is not None:
            _set_metric_state(metric, saved["state"])
