"""NaN/inf guard: stop training at the first non-finite value, say where it appeared and why, and keep
the model at its last finite weights.

At every training step of ``fit`` the guard checks, in this order:

1. each layer's outputs as the forward pass runs (the first layer, in forward order, whose output
   holds a NaN/inf is remembered);
2. the loss;
3. each layer's gradients (after ``backward``, BEFORE the optimizer applies them — a non-finite
   update is refused through the ``on_train_batch_gradients`` hook);
4. every weight after the update (an overflow of ``learning_rate · gradient``).

On the first failure it restores the weights saved at the start of the step (including batch-norm
moving statistics), sets ``model.stop_training = True`` and reports the step, the layer, the stage and
the likely cause (input data, log of zero, division by zero, overflow from a too-high learning rate /
exploding gradients) with the usual fixes — as a :class:`NonFiniteWarning` (default, like Keras'
``TerminateOnNaN`` it stops rather than raises) or, with ``raise_error=True``, a :class:`NonFiniteError`.
``guard.report`` holds the same facts as a dict.
"""

from __future__ import annotations

import math
import warnings
from collections import deque

import numpy as np

from ..errors import GlassnetError
from ..training import all_finite as _all_finite
from .detectors import FIXES, NonFiniteWarning
from .observing import LayerObservingCallback


class NonFiniteError(GlassnetError, FloatingPointError):
    """Training produced a NaN or an infinity (raised by ``NaNGuard(raise_error=True)``)."""


HUGE = 1e15  # magnitudes above this count as "overflowing" when explaining the cause



def _tensors(value) -> list:
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _max_abs(arrays) -> float:
    """Largest finite |value| over arrays (0 if none)."""
    best = 0.0
    with np.errstate(all="ignore"):
        for a in arrays:
            a = np.asarray(a)
            if a.dtype.kind != "f" or a.size == 0:
                continue
            finite = np.abs(a[np.isfinite(a)])
            if finite.size:
                best = max(best, float(finite.max()))
    return best


def _count(array) -> str:
    nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    return f"{nan} NaN and {inf} inf of {array.size} values"


class NaNGuard(LayerObservingCallback):
    """Stop ``fit`` at the first NaN/inf in an activation, the loss, a gradient or a weight (see module doc).

    Args:
        raise_error: raise :class:`NonFiniteError` (after restoring the weights) instead of warning.
        restore_weights: copy the weights at the start of each step and restore them on failure (the model
            keeps its last finite weights); False skips the copy (cheaper; non-finite updates are still
            refused, but an overflow in the update itself cannot be undone).
        check_activations: watch every layer's outputs to name the first layer that went non-finite.
        warn: emit a :class:`NonFiniteWarning` (False: only ``report`` and ``stopped``).
    """

    def __init__(self, raise_error: bool = False, restore_weights: bool = True, check_activations: bool = True,
                 warn: bool = True):
        super().__init__()
        self.raise_error = bool(raise_error)
        self.restore_weights = bool(restore_weights)
        self.check_activations = bool(check_activations)
        self.warn = bool(warn)
        self.report = None
        self.stopped = False
        self._sink = None  # GradientMonitor's diagnostics list, when the guard runs inside one
        self._reset()

    def _reset(self) -> None:
        self.report = None
        self.stopped = False
        self._step, self._epoch = 0, 0
        self._losses = deque(maxlen=20)
        self._grad_norms = deque(maxlen=20)
        self._snapshot = None
        self._first_bad = None
        self._seen = {}
        self._outputs = []

    # ----------------------------------------------------------------- observation
    def _clear_records(self) -> None:
        self._first_bad = None
        self._seen = {}
        self._outputs = []

    def _record(self, layer, inputs, outputs) -> None:
        self._seen.setdefault(id(layer), layer)
        if self._first_bad is not None:
            return
        self._outputs.append((layer, outputs))  # references only, dropped at the end of the step
        bad = [t.data for t in _tensors(outputs) if not _all_finite(t.data)]
        if not bad:
            return
        in_arrays = [t.data for t in _tensors(inputs)]
        self._first_bad = {
            "layer": layer, "counts": _count(bad[0]), "op": getattr(_tensors(outputs)[0], "_op", None),
            "inputs_finite": all(_all_finite(a) for a in in_arrays), "max_input": _max_abs(in_arrays),
            "weights_finite": all(_all_finite(w.data) for w in layer._own_weights),
            "max_weight": _max_abs([w.data for w in layer._own_weights]),
            "position": len(self._seen),
        }

    def _forward_order(self) -> list:
        order = [layer for layer in self._seen.values() if layer is not self.model]
        known = {id(layer) for layer in order}
        for layer in self.model._flatten_layers(include_self=True):
            if id(layer) not in known and layer._own_weights:
                order.append(layer)
        return order

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        self._stop_observing()
        self._reset()
        self._weights = list(self.model.weights)
        self._trainable = [w for w in self._weights if w.requires_grad]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.restore_weights:
            self._snapshot = [(w, w.data.copy()) for w in self._weights]
        if self.check_activations:
            self._start_observing()
        else:
            self._seen = {}

    def _first_non_finite(self, arrays_of) -> tuple:
        """(layer, weight) of the first weight, in forward order, whose ``arrays_of(w)`` is not finite."""
        for layer in self._forward_order():
            for w in layer._own_weights:
                array = arrays_of(w)
                if array is not None and not _all_finite(array):
                    return layer, w
        return None, None

    def on_train_batch_gradients(self, batch, logs=None):
        self._stop_observing()
        if self.stopped:
            return
        loss = (logs or {}).get("loss")
        if self._first_bad is not None:
            return self._fail(batch, "activation", self._first_bad["layer"], loss=loss)
        if loss is not None and not math.isfinite(loss):
            return self._fail(batch, "loss", self._loss_layer(), loss=loss)
        # One reduction per gradient: Σg² is finite only if every element is (and gives the norm).
        with np.errstate(all="ignore"):
            squares = [float(np.dot(g.ravel(), g.ravel())) for g in (w.grad for w in self._trainable)
                       if g is not None]
        total = math.fsum(squares)
        if not math.isfinite(total):
            layer, w = self._first_non_finite(lambda w: w.grad if w.requires_grad else None)
            if layer is not None:
                return self._fail(batch, "gradient", layer, loss=loss, weight=w)
        self._pending_grad_norm = math.sqrt(total)

    def _loss_layer(self):
        """For a non-finite loss: the first layer whose outputs exceed ``HUGE`` (an overflow hidden by a
        later sigmoid/softmax), else the layer that produced the model's output."""
        self._huge = None
        for layer, outputs in self._outputs:
            if layer is self.model:
                continue
            largest = _max_abs([t.data for t in _tensors(outputs)])
            if largest > HUGE:
                self._huge = (layer, largest)
                return layer
        candidates = [layer for layer, _ in self._outputs if layer is not self.model]
        return candidates[-1] if candidates else None

    def on_train_batch_end(self, batch, logs=None):
        self._stop_observing()
        self._outputs = []
        step_failed = self.stopped and self.report is not None and self.report["step"] == self._step
        if not self.stopped:
            with np.errstate(all="ignore"):
                sums = [float(np.sum(w.data)) for w in self._weights if w.data.dtype.kind == "f"]
            if not math.isfinite(math.fsum(sums)):
                layer, w = self._first_non_finite(lambda w: w.data)
                if layer is not None:
                    self._fail(batch, "weights", layer, loss=(logs or {}).get("loss"), weight=w)
        if not step_failed and not self.stopped:
            loss = (logs or {}).get("loss")
            if loss is not None:
                self._losses.append(float(loss))
            self._grad_norms.append(getattr(self, "_pending_grad_norm", math.nan))
        self._snapshot = None
        self._step += 1

    def on_train_end(self, logs=None):
        self._stop_observing()
        self._snapshot = None

    # ----------------------------------------------------------------- failure
    def _restore(self) -> bool:
        if self._snapshot is None:
            return False
        for w, value in self._snapshot:
            if w.data.shape == value.shape:
                w.data[...] = value
            else:
                w.data = value
        return True

    def _learning_rate(self):
        try:
            return float(self.model.optimizer.learning_rate)
        except (AttributeError, TypeError, ValueError):
            return None

    def _growth(self) -> str:
        """A sentence about the recent loss / gradient trend, or ''."""
        parts = []
        losses = [v for v in self._losses if math.isfinite(v)]
        if len(losses) >= 2 and losses[-1] > 100 * max(min(losses), 1e-12):
            parts.append(f"the loss grew from {min(losses):.3g} to {losses[-1]:.3g} over the last "
                         f"{len(losses)} steps")
        norms = [v for v in self._grad_norms if math.isfinite(v)]
        if len(norms) >= 2 and norms[-1] > 100 * max(min(norms), 1e-30):
            parts.append(f"the gradient norm grew from {min(norms):.3g} to {norms[-1]:.3g}")
        return " and ".join(parts)

    def _cause(self, stage: str, layer, info: dict | None, weight) -> tuple[str, str]:
        """(likely cause, fixes)."""
        lr = self._learning_rate()
        lr_text = f"the learning rate ({lr:g}) is too high" if lr is not None else "the learning rate is too high"
        growth = self._growth()
        exploding = (f"exploding weights/gradients — {lr_text}" + (f" ({growth})" if growth else
                                                                     " or the initial weights are too large"))
        largest = _max_abs([w.data for w in self.model.weights])
        explode_fix = FIXES["exploding"].replace("Fixes: clip", "Fixes: lower the learning rate (try 10× "
                                                 "smaller); clip").replace("; a lower learning rate", "")
        if stage == "activation":
            first = info["position"] == 1
            if not info["inputs_finite"] and first:
                return ("the input data itself contains NaN/inf (the first layer received it)",
                        "Fixes: clean the data before fit (np.isnan(x).any(), np.isinf(x).any(); impute or drop "
                        "the bad rows; scale the features).")
            if not info["weights_finite"]:
                return ("this layer's weights were already non-finite before the step (set or loaded that way)",
                        "Fixes: re-initialise or reload the weights; check set_weights/load_weights inputs.")
            op = info["op"]
            if op == "log":
                return ("the log of zero or of a negative number inside this layer",
                        "Fixes: add a small epsilon inside the log (ops.log(x + 1e-7)) or clip its argument.")
            if op in ("divide", "reciprocal"):
                return ("a division by zero inside this layer",
                        "Fixes: add a small epsilon to the denominator (x / (d + 1e-7)).")
            if op in ("sqrt", "power"):
                return ("the square root or a power of a negative number inside this layer",
                        "Fixes: clip the argument to be >= 0, or add an epsilon (ops.sqrt(x + 1e-7)).")
            if info["max_input"] > HUGE or info["max_weight"] > HUGE or growth:
                return (f"float overflow from {exploding} (largest finite input {info['max_input']:.3g}, "
                        f"largest weight {info['max_weight']:.3g})", explode_fix)
            if op == "exp":
                return ("exp overflow inside this layer (exp(x) is inf for x > 88 in float32)",
                        "Fixes: use the fused from-logits losses (from_logits=True) and ops.logsumexp; "
                        "keep the inputs of exp small (normalise, lower the learning rate).")
            return (f"a float overflow or an invalid operation (0/0, inf − inf) inside this layer; often "
                    f"{exploding}", explode_fix)
        if stage == "loss":
            if growth or largest > HUGE:
                return (f"float overflow from {exploding} (largest weight {largest:.3g}): a pre-activation "
                        "overflowed inside the network (a sigmoid/softmax output can still look finite) and "
                        "the loss became non-finite", explode_fix)
            return ("every activation was finite, so the loss itself produced it: the log of 0 (probabilities "
                    "of exactly 0 or 1 in a crossentropy), a division by zero in a custom loss, or NaN/inf in "
                    "the targets y",
                    "Fixes: use from_logits=True with a linear output layer; add an epsilon in custom losses; "
                    "check y with np.isfinite(y).all().")
        if stage == "gradient":
            return ("the forward pass was finite but the gradient is not: " + exploding
                    + ", or the derivative of sqrt/log/pow at 0 (e.g. sqrt(0) in a custom norm)",
                    explode_fix + " Add an epsilon inside sqrt/log.")
        norm = self._grad_norms[-1] if self._grad_norms else math.nan
        pending = getattr(self, "_pending_grad_norm", norm)
        return (f"the optimizer update overflowed (gradient norm {pending:.3g}): {exploding}", explode_fix)

    def _fail(self, batch, stage: str, layer, loss=None, weight=None) -> None:
        restored = self._restore() if self.restore_weights else False
        self.stopped = True
        self.model.stop_training = True
        info = self._first_bad if stage == "activation" else None
        cause, fixes = self._cause(stage, layer, info, weight)
        where = f"step {self._step} (epoch {self._epoch}, batch {batch})"
        order = self._forward_order()
        position = next((i + 1 for i, known in enumerate(order) if known is layer), None)
        name = layer.name if layer is not None else None
        described = (f"layer '{name}' ({type(layer).__name__}" + (f", layer {position} of {len(order)} in forward "
                     f"order)" if position else ")")) if layer is not None else None
        if stage == "activation":
            what = f"the output of {described} became non-finite ({info['counts']})"
            if info["inputs_finite"]:
                what += " although its inputs were finite"
        elif stage == "loss":
            what = f"the loss became {loss} while every layer output was finite"
            huge = getattr(self, "_huge", None)
            if huge is not None:
                what += f"; values first exceeded {HUGE:g} in the output of {described} (max |y| = {huge[1]:.3g})"
            elif described is not None:
                what += f" (the model output comes from {described})"
        elif stage == "gradient":
            what = (f"the gradient of {described} (weight '{weight.path}') became non-finite "
                    f"({_count(weight.grad)}) while the loss ({loss:.4g}) was finite")
        else:
            what = (f"the optimizer update made the weights of {described} (weight '{weight.path}') "
                    f"non-finite ({_count(weight.data)})")
        keep = (f"The model keeps its last finite weights (from before step {self._step})." if restored else
                "The non-finite update was not applied." if stage != "weights" else
                "The weights could not be restored (restore_weights=False).")
        message = f"NaNGuard stopped training at {where}: {what}. Likely cause: {cause}. {fixes} {keep}"
        self.report = {"problem": "non_finite", "layer": name, "step": self._step, "epoch": self._epoch,
                       "batch": int(batch), "message": message,
                       "values": {"stage": stage, "loss": loss, "cause": cause, "restored": restored,
                                  "learning_rate": self._learning_rate(),
                                  "weight": getattr(weight, "path", None)}}
        if self._sink is not None:
            self._sink(self.report, warn=False if self.raise_error else None)
        elif self.warn and not self.raise_error:
            warnings.warn(message, NonFiniteWarning, stacklevel=3)
        if self.raise_error:
            raise NonFiniteError(message)
