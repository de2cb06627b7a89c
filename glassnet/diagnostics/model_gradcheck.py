"""Whole-model gradient check: ∂loss/∂(every weight) by central differences in float64, per layer.

``gradcheck(model, x, y, loss)`` (or :func:`model_gradcheck`) does, in place and undone afterwards:

1. builds the model if needed, then switches every layer to float64 (``layer.dtype``) and replaces every
   weight's array by a float64 copy (the original arrays, dtypes and ``.grad`` are put back at the end,
   even on error — the model is unchanged);
2. computes L = loss(y, model(x, training)) + Σ model.losses (regularisation), backpropagates once, and
   compares each weight element's analytic ∂L/∂w with (L(w+ε) − L(w−ε)) / 2ε;
3. (``check_layers=True``) checks each layer on its own: with the input it received in that forward
   pass, compares ∂(Σ r ⊙ layer(x))/∂x with central differences (r fixed random). A layer whose own
   backward is wrong fails here even if it has no weights, so the report can name the culprit — the
   weights of every layer before it fail too, because a wrong input-gradient flows back into them.

An element passes when |analytic − numeric| ≤ atol + rtol·|numeric| (as the function form). The report
gives, per layer and per check, the worst relative error |a − n| / max(|a|, |n|, atol).
``training=False`` by default so Dropout and noise layers are the identity (a random forward cannot
be differentiated numerically). ``max_checks`` samples that many elements per tensor (all by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import GradcheckError


@dataclass
class LayerCheck:
    """One row of a :class:`GradcheckReport`: one layer, one check (``'weights'`` or ``'input'``)."""

    layer: str
    class_name: str
    check: str                 # 'weights': ∂loss/∂W (end to end); 'input': ∂layer/∂x (the layer alone)
    checked: int               # elements compared
    size: int                  # elements in total
    max_abs_error: float
    max_rel_error: float
    worst: str                 # where the worst element is, e.g. "dense/kernel[3, 1]"
    analytic: float            # both gradients at the worst element
    numeric: float
    bad: int                   # elements outside the tolerance
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.bad == 0

    def to_dict(self) -> dict:
        return {**self.__dict__, "passed": self.passed}


@dataclass
class GradcheckReport:
    """Result of a whole-model gradient check: ``rows`` (one :class:`LayerCheck` per layer and check),
    ``passed``, ``worst`` (the row to blame), ``table()``; ``bool(report)`` is ``passed``."""

    rows: list = field(default_factory=list)
    skipped: list = field(default_factory=list)   # [(layer name, reason)] for layer checks not done
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> list:
        return [row for row in self.rows if not row.passed]

    @property
    def worst(self):
        """The row to blame: the first failing layer-alone ('input') check in forward order (its own
        backward is wrong); else the failing 'weights' row with the largest relative error; else the
        row with the largest relative error."""
        local = [row for row in self.failures if row.check == "input"]
        if local:
            return local[0]
        pool = self.failures or self.rows
        return max(pool, key=lambda row: row.max_rel_error) if pool else None

    @property
    def worst_layer(self):
        row = self.worst
        return None if row is None else row.layer

    def table(self) -> str:
        header = ["layer", "class", "check", "checked", "max abs err", "max rel err", "worst at", "ok"]
        lines = [[r.layer, r.class_name, "d loss/d W" if r.check == "weights" else "d out/d x (alone)",
                  f"{r.checked}/{r.size}", f"{r.max_abs_error:.2e}", f"{r.max_rel_error:.2e}", r.worst,
                  "ok" if r.passed else f"FAIL ({r.bad})"] for r in self.rows]
        widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]
        out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
               "  ".join("-" * w for w in widths)]
        out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
        for name, reason in self.skipped:
            out.append(f"(layer '{name}' not checked alone: {reason})")
        out.append(f"{'PASSED' if self.passed else 'FAILED'} (eps={self.eps:g}, atol={self.atol:g}, "
                   f"rtol={self.rtol:g}; relative error = |a − n| / max(|a|, |n|, atol))")
        return "\n".join(out)

    __str__ = table

    def to_dict(self) -> dict:
        return {"passed": self.passed, "worst_layer": self.worst_layer, "rows": [r.to_dict() for r in self.rows],
                "skipped": list(self.skipped)}


# ============================================================================ helpers
def _compare(analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float):
    """(max abs error, max rel error, index of the worst element by tolerance ratio, number bad)."""
    error = np.abs(analytic - numeric)
    tolerance = atol + rtol * np.abs(numeric)
    bad = int(np.count_nonzero(~(error <= tolerance)))  # NaN counts as bad
    relative = error / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), atol)
    ratio = np.where(np.isnan(error), np.inf, error / tolerance)
    worst = int(np.argmax(ratio)) if ratio.size else 0
    return (float(np.nanmax(error)) if error.size else 0.0, float(np.nanmax(relative)) if error.size else 0.0,
            worst, bad)


def _positions(size: int, max_checks, rng) -> np.ndarray:
    if max_checks is None or size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, int(max_checks), replace=False))


def _index_text(shape, flat_index: int) -> str:
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]" if shape else "[]"


def _numeric(array: np.ndarray, positions: np.ndarray, evaluate, eps: float) -> np.ndarray:
    """Central differences of ``evaluate()`` with respect to ``array.flat[positions]`` (perturbed in place)."""
    flat = array.reshape(-1)
    out = np.empty(len(positions))
    for k, i in enumerate(positions):
        original = flat[i]
        flat[i] = original + eps
        plus = evaluate()
        flat[i] = original - eps
        minus = evaluate()
        flat[i] = original
        out[k] = (plus - minus) / (2 * eps)
    return out


class _Float64:
    """Context: every layer computes in float64 and every float weight is a float64 copy; undone on exit."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.layers = [(layer, layer.dtype) for layer in self.model._flatten_layers(include_self=True)]
        self.weights = [(w, w.data, w.grad) for w in self.model.weights]
        for layer, dtype in self.layers:
            if np.dtype(dtype).kind == "f":
                layer.dtype = "float64"
        for w, data, _ in self.weights:
            if data.dtype.kind == "f":
                w.data = data.astype(np.float64)
            w.grad = None
        return self

    def __exit__(self, *exc):
        for layer, dtype in self.layers:
            layer.dtype = dtype
        for w, data, grad in self.weights:
            w.data, w.grad = data, grad
        return False


def _as64(value):
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_as64(v) for v in value)
    if isinstance(value, dict):
        return {k: _as64(v) for k, v in value.items()}
    array = np.asarray(value)
    return array.astype(np.float64) if array.dtype.kind == "f" else array


def _resolve_loss(model, loss):
    if loss is None:
        compiled = getattr(model, "compiled_loss", None)
        if compiled is None:
            raise ValueError("gradcheck(model, x, y): give loss= (a name, a function or a Loss), or compile the "
                             "model first so its loss is used.")
        return compiled
    from .. import losses

    return losses.get(loss)


# ============================================================================ the check
def model_gradcheck(model, x, y, loss=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                    training: bool = False, sample_weight=None, check_layers: bool = True, max_checks=None,
                    seed: int = 0, raise_exception: bool = True) -> GradcheckReport:
    """Check ∂loss/∂(every trainable weight) of ``model`` on (x, y) by central differences in float64.

    Returns a :class:`GradcheckReport` (per-layer rows, ``table()``); raises :class:`GradcheckError`
    naming the worst layer when a check fails (``raise_exception=False`` returns the report instead).
    ``loss`` defaults to the compiled loss. See the module docstring for the method.
    """
    from ..layers.base import Layer, observe_layers
    from ..tensor import Tensor, no_grad

    if not isinstance(model, Layer):
        raise TypeError(f"model_gradcheck expects a Layer or Model, got {type(model).__name__}.")
    if eps <= 0:
        raise ValueError(f"gradcheck: eps must be > 0, got {eps!r}.")
    loss_fn = _resolve_loss(model, loss)
    if not model.built or not model.weights:
        with no_grad():
            model(x, training=training)
    rng = np.random.default_rng(seed)
    report = GradcheckReport(eps=eps, atol=atol, rtol=rtol)
    x64, y64 = _as64(x), _as64(y)
    sw64 = None if sample_weight is None else _as64(sample_weight)

    def total_loss(record=None):
        if record is not None:
            with observe_layers(record):
                out = model(x64, training=training)
        else:
            out = model(x64, training=training)
        value = loss_fn(y64, out, sample_weight=sw64) if sw64 is not None else loss_fn(y64, out)
        for penalty in model.losses:
            value = value + penalty
        return value

    with _Float64(model):
        # --- analytic gradients, and each layer's inputs in this forward pass
        calls = {}

        def record(layer, inputs, outputs):
            if layer is not model and id(layer) not in calls:
                calls[id(layer)] = (layer, inputs, outputs)

        value = total_loss(record)
        if not isinstance(value, Tensor) or not value.requires_grad:
            raise GradcheckError("gradcheck: the loss does not depend on any trainable weight.")
        value.backward()
        forward = [layer for layer, _, _ in calls.values()]
        known = {id(layer) for layer in forward}
        forward += [layer for layer in model._flatten_layers(include_self=True)
                    if id(layer) not in known and layer._own_weights]

        def evaluate() -> float:
            with no_grad():
                return float(np.sum(total_loss().data))

        # --- d loss / d W, layer by layer
        for layer in forward:
            weights = [w for w in layer._own_weights if w.requires_grad and w.data.dtype.kind == "f"]
            if not weights:
                continue
            analytic, numeric, labels, size = [], [], [], 0
            for w in weights:
                grad = np.zeros(w.shape) if w.grad is None else w.grad.astype(np.float64)
                positions = _positions(w.size, max_checks, rng)
                numeric.append(_numeric(w.data, positions, evaluate, eps))
                analytic.append(grad.reshape(-1)[positions])
                labels += [f"{w.path}{_index_text(w.shape, int(i))}" for i in positions]
                size += w.size
            a, n = np.concatenate(analytic), np.concatenate(numeric)
            abs_err, rel_err, worst, bad = _compare(a, n, atol, rtol)
            report.rows.append(LayerCheck(layer.name, type(layer).__name__, "weights", a.size, size, abs_err,
                                          rel_err, labels[worst], float(a[worst]), float(n[worst]), bad))

        # --- each layer alone: d (Σ r ⊙ layer(x)) / d x
        if check_layers:
            for layer, inputs, outputs in calls.values():
                row = _check_layer_alone(layer, inputs, outputs, training, eps, atol, rtol, max_checks, rng,
                                         report)
                if row is not None:
                    report.rows.append(row)
    _order_rows(report, forward)
    if not report.passed and raise_exception:
        raise GradcheckError(_failure_message(report))
    return report


def _order_rows(report: GradcheckReport, forward: list) -> None:
    rank = {layer.name: i for i, layer in enumerate(forward)}
    report.rows.sort(key=lambda r: (rank.get(r.layer, len(rank)), r.check != "weights"))


def _check_layer_alone(layer, inputs, outputs, training, eps, atol, rtol, max_checks, rng, report):
    from ..tensor import Tensor, no_grad
    from .monitor import _float_tensors, _is_composite

    if _is_composite(layer):
        return None
    if isinstance(inputs, Tensor):
        structure = [inputs]
    elif isinstance(inputs, (list, tuple)) and all(isinstance(t, Tensor) for t in inputs):
        structure = list(inputs)
    else:
        report.skipped.append((layer.name, "its inputs are not a tensor or a list of tensors"))
        return None
    leaves = [Tensor(t.data.astype(np.float64), requires_grad=True) if t.data.dtype.kind == "f"
              else Tensor(t.data.copy()) for t in structure]
    differentiable = [leaf for leaf in leaves if leaf.requires_grad]
    if not differentiable:
        report.skipped.append((layer.name, "its inputs are not floating point (no input gradient)"))
        return None
    call_input = leaves[0] if isinstance(inputs, Tensor) else type(inputs)(leaves)
    expected = [t.data.shape for t in _float_tensors(outputs)]
    try:
        out = _float_tensors(layer(call_input, training=training))
    except Exception as error:  # noqa: BLE001 — e.g. a layer that needs extra call arguments
        report.skipped.append((layer.name, f"calling it on its recorded input alone failed ({type(error).__name__})"))
        return None
    if [t.data.shape for t in out] != expected:
        report.skipped.append((layer.name, "it needs more call arguments than its first input"))
        return None
    projections = [rng.standard_normal(t.data.shape) for t in out]
    total = None
    for t, r in zip(out, projections):
        if t.requires_grad:
            term = (t * r).sum()
            total = term if total is None else total + term
    if total is None:
        report.skipped.append((layer.name, "its output does not depend on its input through differentiable ops"))
        return None
    for leaf in differentiable:
        leaf.grad = None
    total.backward()

    def evaluate() -> float:
        with no_grad():
            values = _float_tensors(layer(call_input, training=training))
            return float(sum(np.sum(v.data.astype(np.float64) * r) for v, r in zip(values, projections)))

    analytic, numeric, labels, size = [], [], [], 0
    for k, leaf in enumerate(differentiable):
        grad = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad.astype(np.float64)
        positions = _positions(leaf.size, max_checks, rng)
        numeric.append(_numeric(leaf.data, positions, evaluate, eps))
        analytic.append(grad.reshape(-1)[positions])
        prefix = "input" if len(differentiable) == 1 else f"input{k}"
        labels += [f"{prefix}{_index_text(leaf.shape, int(i))}" for i in positions]
        size += leaf.size
    a, n = np.concatenate(analytic), np.concatenate(numeric)
    abs_err, rel_err, worst, bad = _compare(a, n, atol, rtol)
    return LayerCheck(layer.name, type(layer).__name__, "input", a.size, size, abs_err, rel_err, labels[worst],
                      float(a[worst]), float(n[worst]), bad)


def _failure_message(report: GradcheckReport) -> str:
    row = report.worst
    what = ("its own backward is wrong: d(output)/d(input) of the layer alone" if row.check == "input"
            else "d loss / d its weights")
    others = [f"'{r.layer}' ({'alone' if r.check == 'input' else 'weights'})" for r in report.failures
              if r is not row]
    message = (f"gradcheck failed; worst layer '{row.layer}' ({row.class_name}): {what} disagrees with central "
               f"differences — {row.bad} of {row.checked} elements off, max relative error "
               f"{row.max_rel_error:.3g}, at {row.worst}: analytic {row.analytic:.8g} vs numerical "
               f"{row.numeric:.8g} (atol={report.atol:g}, rtol={report.rtol:g}).")
    if others:
        message += f" Also failing: {', '.join(others)}."
    return message + "\n" + report.table()


def is_model_call(fn, inputs: tuple, kwargs: dict) -> bool:
    """Whether ``gradcheck(fn, *inputs, **kwargs)`` means the whole-model form ``gradcheck(model, x, y, loss)``:
    ``fn`` is a Layer and either ``loss=`` is given, or (x, y, loss) with a name/callable loss, or (x, y) for
    a compiled model. Anything else is the function form ``fn(*inputs)``."""
    from ..layers.base import Layer

    if not isinstance(fn, Layer):
        return False
    if "loss" in kwargs:
        return True
    if len(inputs) == 3 and (isinstance(inputs[2], str) or (callable(inputs[2])
                                                            and not isinstance(inputs[2], np.ndarray)
                                                            and not hasattr(inputs[2], "data"))):
        return True
    return len(inputs) == 2 and getattr(fn, "compiled_loss", None) is not None


__all__ = ["model_gradcheck", "GradcheckReport", "LayerCheck", "is_model_call"]
