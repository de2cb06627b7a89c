"""Gradient flow: per-layer gradient norms, update/weight ratios and activation statistics during ``fit``.

``GradientMonitor`` is a callback. At each recorded step (every ``every`` steps, or the last batch of
each epoch with ``per='epoch'``) it stores, for every layer, in forward order:

==================  =====================================================================================
quantity            definition (layers with trainable weights W = {W_1, …}; activations y of the layer)
==================  =====================================================================================
grad_norm           ‖∇W‖ = √(Σ_k ‖∂L/∂W_k‖²)  — after ``backward``, before the optimizer step (before clipping)
weight_norm         ‖W‖ = √(Σ_k ‖W_k‖²)  — before the step
update_ratio        ‖W_after − W_before‖ / ‖W_before‖  — the size of the step (≈ 1e-3 is the usual
                    healthy value; ≫ 1e-2 too big, ≪ 1e-4 too small)
activation_mean     mean of y over the batch and units
activation_std      standard deviation of y
dead_fraction       ReLU layers only: fraction of units (output elements, batch axis excluded) that are 0 for
                    every sample of the batch
saturated_fraction  sigmoid/tanh (and hard_sigmoid/hard_tanh) layers only: fraction of activations with
                    |tanh| > 0.99, or sigmoid < 0.01 or > 0.99 (derivative < 0.02), or on the clipped parts
==================  =====================================================================================

A quantity that does not apply to a layer (no weights, not ReLU...) is NaN. The activation kind is the
op that produced the layer's output (``relu``/``sigmoid``/``tanh``), so ``Dense(activation='relu')``,
``Activation('relu')`` and ``ReLU()`` are all recognised.

Results: ``monitor.history`` — a :class:`GradientFlowHistory` (``steps``, ``layer_names``, ``layers``,
``series(name, quantity)``, ``to_dict()``, ``to_dataframe()``). Problems found by the detectors
(:mod:`~glassnet.diagnostics.detectors`) and by the NaN guard are emitted as warnings and kept in
``monitor.diagnostics`` (also ``monitor.history.diagnostics``): a list of dicts with ``problem``,
``layer``, ``step``, ``epoch``, ``batch``, ``message`` and ``values``; each (problem, layer) is
reported at most once per epoch.
"""

from __future__ import annotations

import math
import warnings
from array import array

import numpy as np

from .observing import LayerObservingCallback
from . import detectors as D

QUANTITIES = ("grad_norm", "weight_norm", "update_ratio", "activation_mean", "activation_std", "dead_fraction",
              "saturated_fraction")
RELU_OPS = {"relu"}
SATURATING_OPS = {"sigmoid", "tanh", "hard_sigmoid", "hard_tanh"}


# ============================================================================ history
class GradientFlowHistory:
    """Per-step, per-layer quantities recorded by :class:`GradientMonitor`.

    ``steps`` / ``epochs`` / ``batches`` — arrays, one entry per record (``steps`` counts the training
    batches since ``fit`` started, from 0); ``layer_names`` — layers in forward order; ``layers`` —
    ``{name: {"class_name", "activation", "has_weights", "units", "is_output", "first_record"}}``
    (``first_record``: the index of the first record that saw the layer; earlier entries are NaN);
    ``series(name, quantity)`` — a float array aligned with ``steps`` (NaN where it does not apply);
    ``diagnostics`` — the problems reported while recording.
    """

    quantities = QUANTITIES

    def __init__(self):
        self._steps, self._epochs, self._batches = [], [], []
        self.layer_names: list = []
        self.layers: dict = {}
        self._values: dict = {}  # name -> {quantity: array('d')} (compact, O(1) appends)
        self.diagnostics: list = []

    # ----------------------------------------------------------------- access
    @property
    def steps(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.int64)

    @property
    def epochs(self) -> np.ndarray:
        return np.asarray(self._epochs, dtype=np.int64)

    @property
    def batches(self) -> np.ndarray:
        return np.asarray(self._batches, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._steps)

    def position(self, index: int = -1) -> tuple:
        """(step, epoch, batch) of record ``index``."""
        return self._steps[index], self._epochs[index], self._batches[index]

    def _check(self, name: str, quantity: str) -> None:
        from ..errors import UnknownNameError

        if name not in self._values:
            raise UnknownNameError("layer", name, self.layer_names)
        if quantity not in QUANTITIES:
            raise UnknownNameError("gradient-flow quantity", quantity, QUANTITIES)

    def series(self, name: str, quantity: str) -> np.ndarray:
        """``quantity`` of layer ``name`` at each recorded step (float64; NaN where it does not apply)."""
        self._check(name, quantity)
        return np.asarray(self._values[name][quantity], dtype=np.float64)

    def value(self, name: str, quantity: str, index: int = -1) -> float:
        """One entry of :meth:`series`."""
        self._check(name, quantity)
        return float(self._values[name][quantity][index])

    def window(self, name: str, quantity: str, start: int, stop: int) -> np.ndarray:
        """``series(name, quantity)[start:stop]`` without converting the whole series (detectors use it)."""
        self._check(name, quantity)
        return np.asarray(self._values[name][quantity][start:stop], dtype=np.float64)

    def record(self, index: int = -1) -> dict:
        """``{layer: {quantity: value}}`` at record ``index``."""
        return {name: {q: float(self._values[name][q][index]) for q in QUANTITIES} for name in self.layer_names}

    # ----------------------------------------------------------------- building
    def _add_layer(self, name: str, info: dict) -> None:
        if name in self._values:
            self.layers[name].update({k: v for k, v in info.items() if v is not None})
            return
        self.layer_names.append(name)
        self.layers[name] = {**info, "first_record": len(self._steps)}
        self._values[name] = {q: array("d", [math.nan] * len(self._steps)) for q in QUANTITIES}

    def _append(self, step: int, epoch: int, batch: int, values: dict) -> None:
        """Add one record: ``values = {name: {quantity: value}}`` (missing entries become NaN)."""
        self._steps.append(int(step))
        self._epochs.append(int(epoch))
        self._batches.append(int(batch))
        for name in self.layer_names:
            row = values.get(name, {})
            for q in QUANTITIES:
                self._values[name][q].append(float(row.get(q, math.nan)))

    # ----------------------------------------------------------------- export
    def to_dict(self) -> dict:
        """JSON-able: ``{"steps", "epochs", "batches", "layer_names", "layers", "series": {name: {q: [...]}},
        "diagnostics"}`` (NaN stays NaN; ``json.dumps`` writes it as ``NaN``)."""
        return {"steps": self.steps.tolist(), "epochs": self.epochs.tolist(), "batches": self.batches.tolist(),
                "layer_names": list(self.layer_names), "layers": {k: dict(v) for k, v in self.layers.items()},
                "series": {name: {q: list(v) for q, v in self._values[name].items()} for name in self.layer_names},
                "diagnostics": [dict(d) for d in self.diagnostics]}

    def to_dataframe(self):
        """A pandas DataFrame in long form: one row per (step, layer), one column per quantity."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("GradientFlowHistory.to_dataframe() needs pandas: pip install pandas "
                              "(or use to_dict(), which needs nothing).") from None
        rows = []
        for i, (step, epoch, batch) in enumerate(zip(self._steps, self._epochs, self._batches)):
            for name in self.layer_names:
                rows.append({"step": step, "epoch": epoch, "batch": batch, "layer": name,
                             **{q: self._values[name][q][i] for q in QUANTITIES}})
        return pd.DataFrame(rows, columns=["step", "epoch", "batch", "layer", *QUANTITIES])

    def table(self, index: int = -1) -> str:
        """A text table of record ``index`` (the last one by default)."""
        if not self._steps:
            return "GradientFlowHistory: nothing recorded."
        header = ["layer", *QUANTITIES]
        lines = [[name] + [_fmt(self._values[name][q][index]) for q in QUANTITIES] for name in self.layer_names]
        widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
        out = [f"step {self._steps[index]} (epoch {self._epochs[index]}, batch {self._batches[index]})",
               "  ".join(h.ljust(w) for h, w in zip(header, widths))]
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in lines]
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<GradientFlowHistory {len(self._steps)} records × {len(self.layer_names)} layers>"


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


# ============================================================================ measurements
def _float_tensors(outputs) -> list:
    from ..tensor import Tensor

    if isinstance(outputs, Tensor):
        return [outputs] if outputs.data.dtype.kind == "f" else []
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in _float_tensors(item)]
    if isinstance(outputs, dict):
        return [t for item in outputs.values() for t in _float_tensors(item)]
    return []


def activation_kind(layer, output) -> str | None:
    """'relu', 'sigmoid', 'tanh', 'hard_sigmoid', 'hard_tanh' (from the op that produced ``output``), or None."""
    op = getattr(output, "_op", None)
    if op in RELU_OPS or op in SATURATING_OPS:
        return op
    return None


def l2_norm(arrays) -> float:
    """√(Σ ‖a‖²) over arrays, in float64 (no float32 under/overflow of the squares)."""
    total = 0.0
    for a in arrays:
        flat = np.asarray(a, dtype=np.float64).ravel()
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


class _ActivationStats:
    """Running statistics of one layer's outputs over the calls of one step (Chan's parallel variance)."""

    __slots__ = ("kind", "count", "mean", "m2", "alive", "dead_parts", "saturated", "units")

    def __init__(self, kind):
        self.kind = kind
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.alive, self.dead_parts, self.saturated, self.units = None, [], 0, None

    def add(self, data: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            values = data.astype(np.float64, copy=False)
            n = values.size
            if n == 0:
                return
            mean = float(values.mean())
            m2 = float(np.square(values - mean).sum())
            total = self.count + n
            delta = mean - self.mean
            self.m2 += m2 + delta * delta * self.count * n / total
            self.mean += delta * n / total
            self.count = total
        if data.ndim == 0:
            return
        if self.kind in RELU_OPS:
            alive = (data.reshape(data.shape[0], -1) != 0).any(axis=0)
            self.units = alive.size
            if self.alive is None or self.alive.shape == alive.shape:
                self.alive = alive if self.alive is None else (self.alive | alive)
            else:  # a later call with another shape: average the per-call fractions
                self.dead_parts.append(1.0 - alive.mean())
        elif self.kind in SATURATING_OPS:
            self.units = int(np.prod(data.shape[1:]))
            if self.kind == "tanh":
                saturated = np.abs(data) > D.TANH_SATURATION
            elif self.kind == "sigmoid":
                saturated = (data < D.SIGMOID_SATURATION) | (data > 1.0 - D.SIGMOID_SATURATION)
            elif self.kind == "hard_sigmoid":
                saturated = (data <= 0) | (data >= 1)
            else:
                saturated = np.abs(data) >= 1
            self.saturated += int(np.count_nonzero(saturated))

    def result(self) -> dict:
        if self.count == 0:
            return {}
        out = {"activation_mean": self.mean, "activation_std": math.sqrt(max(self.m2 / self.count, 0.0))}
        if not (math.isfinite(self.mean) and math.isfinite(self.m2)):
            out["activation_std"] = math.nan if math.isnan(self.mean) else math.inf
        if self.kind in RELU_OPS and self.alive is not None:
            parts = [1.0 - float(self.alive.mean())] + self.dead_parts
            out["dead_fraction"] = float(np.mean(parts))
        elif self.kind in SATURATING_OPS:
            out["saturated_fraction"] = self.saturated / self.count
        return out


def _is_composite(layer) -> bool:
    """A layer made only of other layers (a nested model, a wrapper): its sublayers are recorded instead."""
    return bool(layer._discover_layers()) and not layer._own_weights


def _trainable_own(layer) -> list:
    return [w for w in layer._own_weights if w.requires_grad]


# ============================================================================ the callback
class GradientMonitor(LayerObservingCallback):
    """Record gradient flow during ``fit`` and warn about vanishing/exploding gradients, dead ReLUs,
    saturation and non-finite values.

    Args:
        every: record every ``every``-th training step (1 = each step).
        per: ``'epoch'`` to record once per epoch, at its last batch (overrides ``every``); ``'step'`` or
            None to use ``every``.
        detect: run the detectors at each record (warnings + ``diagnostics``).
        guard: also stop on NaN/inf like :class:`~glassnet.diagnostics.guard.NaNGuard` (True, False, or a
            configured ``NaNGuard``).
        warn: emit Python warnings (:class:`GlassnetDiagnosticWarning` subclasses); False only records.
        thresholds: a :class:`~glassnet.diagnostics.detectors.Thresholds`, or its fields as keyword
            arguments (``vanishing_ratio=1e-3``, ``dead_fraction=0.5``...).

    ``monitor.history`` is a :class:`GradientFlowHistory`; ``monitor.diagnostics`` the problems found.
    """

    def __init__(self, every: int = 1, per=None, detect: bool = True, guard=True, warn: bool = True,
                 thresholds: D.Thresholds | None = None, **threshold_kwargs):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"GradientMonitor: every must be an integer >= 1, got {every!r}.")
        if per not in (None, "step", "epoch"):
            raise ValueError(f"GradientMonitor: per must be 'step' or 'epoch', got {per!r}.")
        if thresholds is not None and threshold_kwargs:
            raise ValueError("GradientMonitor: give either thresholds= or threshold keyword arguments, not both.")
        try:
            self.thresholds = thresholds or D.Thresholds(**threshold_kwargs)
        except TypeError:
            from ..errors import UnknownNameError

            bad = next(k for k in threshold_kwargs if k not in D.Thresholds.__dataclass_fields__)
            raise TypeError(str(UnknownNameError("GradientMonitor argument", bad,
                                                 list(D.Thresholds.__dataclass_fields__)))) from None
        self.every, self.per, self.detect, self.warn = int(every), per, bool(detect), bool(warn)
        from .guard import NaNGuard

        if guard is True:
            guard = NaNGuard(warn=warn)
        elif guard is False or guard is None:
            guard = None
        elif not isinstance(guard, NaNGuard):
            raise TypeError(f"GradientMonitor: guard must be True, False or a NaNGuard, got {guard!r}.")
        self.guard = guard
        if guard is not None:
            guard._sink = self._add_diagnostic
        self.history = GradientFlowHistory()
        self.diagnostics: list = []
        self._reported, self._before, self._rows, self._stats, self._order = set(), {}, None, {}, []
        self._step, self._epoch, self._recording = 0, 0, False
        self._skip, self._weighted = {}, []

    # ----------------------------------------------------------------- plumbing
    def set_model(self, model) -> None:
        super().set_model(model)
        if self.guard is not None:
            self.guard.set_model(model)

    def set_params(self, params) -> None:
        super().set_params(params)
        if self.guard is not None:
            self.guard.set_params(params)

    def _add_diagnostic(self, item: dict, warn: bool | None = None) -> None:
        key = (item["problem"], item["layer"], item["epoch"])
        if item["problem"] != "non_finite" and key in self._reported:
            return
        self._reported.add(key)
        self.diagnostics.append(item)
        self.history.diagnostics.append(item)
        if self.warn if warn is None else warn:
            warnings.warn(item["message"], D.WARNINGS[item["problem"]], stacklevel=3)

    def _clear_records(self) -> None:
        self._stats = {}
        self._order = []

    def _record(self, layer, inputs, outputs) -> None:
        skip = self._skip.get(id(layer))
        if skip is None:
            skip = self._skip[id(layer)] = layer is self.model or _is_composite(layer)
        if skip:
            return
        tensors = _float_tensors(outputs)
        if not tensors:
            return
        stats = self._stats.get(id(layer))
        if stats is None:
            stats = self._stats[id(layer)] = (layer, _ActivationStats(activation_kind(layer, tensors[0])))
            self._order.append(layer)
        stats[1].add(tensors[0].data)

    def _layers_in_order(self) -> list:
        """Observed layers in forward order, then layers with trainable weights that were not observed."""
        order, seen = list(self._order), {id(layer) for layer in self._order}
        for layer in self._weighted:
            if id(layer) not in seen:
                order.append(layer)
                seen.add(id(layer))
        return order

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        self._stop_observing()
        self.history = GradientFlowHistory()
        self.diagnostics = []
        self._reported = set()
        self._step = 0
        self._epoch = 0
        self._recording = False
        self._skip = {}  # id(layer) -> not recorded (the model itself, composite layers)
        self._weighted = [layer for layer in self.model._flatten_layers(include_self=True) if _trainable_own(layer)]
        if self.guard is not None:
            self.guard.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._reported = set()
        if self.guard is not None:
            self.guard.on_epoch_begin(epoch, logs)

    def _records(self, batch: int) -> bool:
        if self.per == "epoch":
            steps = self.params.get("steps")
            return batch == steps - 1 if steps else batch == 0
        return self._step % self.every == 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.guard is not None:
            self.guard.on_train_batch_begin(batch, logs)
        self._recording = self._records(batch)
        if self._recording:
            self._start_observing()

    def on_train_batch_gradients(self, batch, logs=None):
        if self.guard is not None:
            self.guard.on_train_batch_gradients(batch, logs)
        if not self._recording:
            return
        self._stop_observing()
        rows, self._before = {}, {}
        for layer in self._layers_in_order():
            row = {}
            if id(layer) in self._stats:
                row.update(self._stats[id(layer)][1].result())
            weights = _trainable_own(layer)
            if weights:
                grads = [w.grad for w in weights if w.grad is not None]
                row["grad_norm"] = l2_norm(grads)
                row["weight_norm"] = l2_norm([w.data for w in weights])
                self._before[layer.name] = [(w, w.data.copy()) for w in weights]
            rows[layer.name] = (layer, row)
        self._rows = rows

    def on_train_batch_end(self, batch, logs=None):
        if self.guard is not None:
            self.guard.on_train_batch_end(batch, logs)
        step = self._step
        self._step += 1
        if not self._recording:
            return
        self._recording = False
        self._stop_observing()
        rows = getattr(self, "_rows", None)
        if rows is None:  # the gradient hook did not run (e.g. train_on_batch): nothing to record
            return
        self._rows = None
        refused = self.guard is not None and self.guard.report is not None and self.guard.report["step"] == step
        values = {}
        outputs = self._output_layer_names()
        for name, (layer, row) in rows.items():
            before = self._before.get(name)
            if before is not None:
                if refused:
                    row["update_ratio"] = math.nan
                else:
                    delta = l2_norm([w.data.astype(np.float64) - old for w, old in before])
                    norm = row.get("weight_norm", math.nan)
                    row["update_ratio"] = delta / norm if norm > 0 else (0.0 if delta == 0 else math.inf)
            stats = self._stats.get(id(layer))
            kind = stats[1].kind if stats is not None else None
            units = stats[1].units if stats is not None else None
            self.history._add_layer(name, {"class_name": type(layer).__name__, "activation": kind,
                                           "has_weights": bool(_trainable_own(layer)), "units": units,
                                           "is_output": name in outputs})
            values[name] = row
        self._before = {}
        self.history._append(step, self._epoch, batch, values)
        if self.detect and not refused:
            for item in D.detect(self.history, -1, self.thresholds):
                self._add_diagnostic(item)

    def _output_layer_names(self) -> set:
        """Names of the layers producing the model's outputs: the last observed one, plus functional outputs."""
        names = set()
        outputs = getattr(self.model, "_output_structure", None)
        if outputs is not None:
            from ..training import flatten_structure

            for t in flatten_structure(outputs):
                node = getattr(t, "node", None)
                if node is not None and getattr(node, "layer", None) is not None:
                    names.add(node.layer.name)
        if not names and self._order:
            names.add(self._order[-1].name)
        return names

    def on_train_end(self, logs=None):
        self._stop_observing()
        self._recording = False
        if self.guard is not None:
            self.guard.on_train_end(logs)
