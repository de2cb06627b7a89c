"""Problem detectors: read a :class:`~glassnet.diagnostics.monitor.GradientFlowHistory` and say what is wrong.

Each detector looks at one recorded step and returns diagnostics — plain dicts::

    {"problem": "vanishing", "layer": "dense", "step": 12, "epoch": 0, "batch": 12,
     "message": "...what was measured, where, and the usual fixes...", "values": {...}}

=============  =====================================================================================
problem        fires when (defaults in :class:`Thresholds`)
=============  =====================================================================================
vanishing      an earlier layer's gradient norm ‖∇W_l‖ < ``vanishing_ratio`` (1e-3) · ‖∇W_last‖ of the last
               layer with weights, or ‖∇W_l‖ < ``vanishing_floor`` (1e-8) while the last layer still
               gets more than that floor (a converged or saturated loss is not a vanishing gradient)
exploding      a gradient norm is inf/NaN; or an earlier layer's norm > ``exploding_ratio`` (1e3) ·
               the last layer's; or a layer's norm rose at each of the last ``exploding_window`` (5)
               records (at least 3) and by a factor ≥ ``exploding_growth`` (100) over them. At a step
               where exploding fires, vanishing is not judged (the ratios are meaningless then)
dead_relu      a ReLU layer's dead fraction (units whose output is 0 for every sample of the batch)
               ≥ ``dead_fraction`` (0.5)
saturation     a hidden sigmoid/tanh layer's saturated fraction (activations with |tanh| > 0.99, or
               sigmoid < 0.01 or > 0.99 — derivative below ~0.02) ≥ ``saturated_fraction`` (0.5);
               the model's output layer is not judged (a confident sigmoid output is fine)
non_finite     (raised by :class:`~glassnet.diagnostics.guard.NaNGuard`, not by a detector here)
=============  =====================================================================================

Vanishing and exploding report one diagnostic per step naming the EARLIEST flagged layer (the
message lists how many others are affected); dead ReLUs and saturation report each flagged layer.
Warnings are :class:`GlassnetDiagnosticWarning` subclasses, one per problem (``WARNINGS[problem]``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np


# ============================================================================ warnings
class GlassnetDiagnosticWarning(UserWarning):
    """Base class of the warnings the gradient-flow monitor and the NaN guard emit."""


class VanishingGradientWarning(GlassnetDiagnosticWarning):
    """Early layers receive gradients orders of magnitude smaller than the last layer."""


class ExplodingGradientWarning(GlassnetDiagnosticWarning):
    """Gradients grow without bound (or became inf/NaN)."""


class DeadReLUWarning(GlassnetDiagnosticWarning):
    """Most units of a ReLU layer output 0 for every sample, so they get no gradient."""


class SaturationWarning(GlassnetDiagnosticWarning):
    """Most sigmoid/tanh activations sit in the flat tails, where the derivative is ≈ 0."""


class NonFiniteWarning(GlassnetDiagnosticWarning):
    """A loss, activation, gradient or weight became NaN/inf; training was stopped."""


WARNINGS = {
    "vanishing": VanishingGradientWarning,
    "exploding": ExplodingGradientWarning,
    "dead_relu": DeadReLUWarning,
    "saturation": SaturationWarning,
    "non_finite": NonFiniteWarning,
}

# The usual fixes, one sentence per problem (messages append them).
FIXES = {
    "vanishing": ("Fixes: ReLU-family activations (relu, leaky_relu, gelu) in hidden layers instead of "
                  "sigmoid/tanh; He initialisation for ReLU (kernel_initializer='he_normal') or Glorot/Xavier "
                  "for tanh; BatchNormalization between layers; residual (skip) connections; a shallower "
                  "network."),
    "exploding": ("Fixes: clip gradients (e.g. Adam(learning_rate=1e-3, clipnorm=1.0) or clipvalue=0.5); a "
                  "lower learning rate; He/Xavier initialisation instead of large initial weights; "
                  "BatchNormalization."),
    "dead_relu": ("Fixes: a lower learning rate; He initialisation (kernel_initializer='he_normal') with zero "
                  "or small positive biases (not large negative ones); LeakyReLU/ELU/GELU, which keep a "
                  "gradient for negative inputs; BatchNormalization before the ReLU."),
    "saturation": ("Fixes: Glorot/Xavier initialisation (smaller initial weights); standardised inputs "
                   "(zero mean, unit variance); BatchNormalization before the activation; a lower learning "
                   "rate; or ReLU-family activations."),
}

# Saturation thresholds: the output values beyond which the derivative is nearly 0.
#   tanh:    |y| > 0.99           → tanh'  = 1 − y² < 0.02
#   sigmoid: y < 0.01 or y > 0.99 → sigmoid' = y(1 − y) < 0.0099
#   hard_sigmoid / hard_tanh: on the clipped flat parts (derivative exactly 0)
TANH_SATURATION = 0.99
SIGMOID_SATURATION = 0.01


@dataclass
class Thresholds:
    """When the detectors fire (see the module docstring)."""

    vanishing_ratio: float = 1e-3
    vanishing_floor: float = 1e-8
    exploding_ratio: float = 1e3
    exploding_growth: float = 1e2
    exploding_window: int = 5
    dead_fraction: float = 0.5
    saturated_fraction: float = 0.5

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ValueError(f"Thresholds: {field.name} must be a positive number, got {value!r}.")
        if int(self.exploding_window) < 2:
            raise ValueError(f"Thresholds: exploding_window must be >= 2, got {self.exploding_window!r}.")
        self.exploding_window = int(self.exploding_window)
        for name in ("dead_fraction", "saturated_fraction"):
            if getattr(self, name) > 1:
                raise ValueError(f"Thresholds: {name} is a fraction in (0, 1], got {getattr(self, name)!r}.")

    def to_dict(self) -> dict:
        return asdict(self)


# ============================================================================ helpers
def _where(history, index: int) -> str:
    step, epoch, batch = history.position(index)
    return f"step {step} (epoch {epoch}, batch {batch})"


def _describe(history, name: str) -> str:
    info = history.layers.get(name, {})
    kind = info.get("class_name", "?")
    if info.get("activation"):
        kind += f", {info['activation']}"
    return f"layer '{name}' ({kind})"


def _diagnostic(history, index, problem, layer, message, values) -> dict:
    step, epoch, batch = history.position(index)
    return {"problem": problem, "layer": layer, "step": int(step), "epoch": int(epoch), "batch": int(batch),
            "message": message, "values": values}


def _weighted_norms(history, index):
    """[(name, grad_norm)] of the layers with trainable weights, in forward order."""
    rows = []
    for name in history.layer_names:
        info = history.layers[name]
        if info.get("has_weights") and index >= info.get("first_record", 0):
            rows.append((name, history.value(name, "grad_norm", index)))  # NaN here is a NaN gradient
    return rows


def _names(names: list, limit: int = 4) -> str:
    return ", ".join(names) if len(names) <= limit else f"{', '.join(names[:limit - 1])}, …, {names[-1]}"


# ============================================================================ detectors
def detect_vanishing(history, index: int = -1, thresholds: Thresholds | None = None) -> list:
    """Early layers whose gradient norm is tiny compared to the last layer's (or below the floor)."""
    t = thresholds or Thresholds()
    index = index % len(history)
    rows = [(n, g) for n, g in _weighted_norms(history, index) if math.isfinite(g)]
    if len(rows) < 2:
        return []
    last, g_last = rows[-1]
    flagged = []
    for name, g in rows[:-1]:
        small_ratio = g_last > 0 and g / g_last < t.vanishing_ratio
        below_floor = g < t.vanishing_floor <= g_last
        if small_ratio or below_floor:
            flagged.append((name, g))
    if not flagged:
        return []
    name, g = flagged[0]
    position = [n for n, _ in rows].index(name) + 1
    ratio = g / g_last if g_last > 0 else float("nan")
    others = [n for n, _ in flagged[1:]]
    message = (f"Vanishing gradients at {_where(history, index)}: {_describe(history, name)}, layer {position} "
               f"of {len(rows)} with weights, has gradient norm {g:.3g}, {ratio:.3g} × that of the last layer "
               f"'{last}' ({g_last:.3g}; threshold {t.vanishing_ratio:g} ×, floor {t.vanishing_floor:g}).")
    if others:
        message += f" {len(others)} more layer(s) are below it too: {_names(others)}."
    dead = history.value(name, "dead_fraction", index)
    if not math.isnan(dead) and dead >= t.dead_fraction:
        message += f" ({dead:.0%} of its units are dead ReLUs, which pass no gradient — see the dead-ReLU report.)"
    message += " The early layers barely learn. " + FIXES["vanishing"]
    values = {"grad_norm": g, "last_layer": last, "last_grad_norm": g_last, "ratio": ratio,
              "flagged_layers": [n for n, _ in flagged]}
    return [_diagnostic(history, index, "vanishing", name, message, values)]


def detect_exploding(history, index: int = -1, thresholds: Thresholds | None = None) -> list:
    """Non-finite gradient norms, early layers far above the last one, or norms growing without bound."""
    t = thresholds or Thresholds()
    index = index % len(history)
    rows = _weighted_norms(history, index)
    if not rows:
        return []
    for name, g in rows:
        if not math.isfinite(g):
            message = (f"Exploding gradients at {_where(history, index)}: the gradient norm of {_describe(history, name)} is "
                       f"{g} (not finite). " + FIXES["exploding"])
            return [_diagnostic(history, index, "exploding", name, message, {"grad_norm": g})]
    last, g_last = rows[-1]
    for name, g in rows[:-1]:
        if g_last > 0 and g / g_last > t.exploding_ratio:
            message = (f"Exploding gradients at {_where(history, index)}: {_describe(history, name)} has gradient norm {g:.3g}, "
                       f"{g / g_last:.3g} × that of the last layer '{last}' ({g_last:.3g}; threshold "
                       f"{t.exploding_ratio:g} ×): the gradient grows as it flows back. " + FIXES["exploding"])
            return [_diagnostic(history, index, "exploding", name, message,
                                {"grad_norm": g, "last_layer": last, "last_grad_norm": g_last,
                                 "ratio": g / g_last})]
    window = min(t.exploding_window, index + 1)
    if window < 3:
        return []
    for name, g in rows:
        first = history.value(name, "grad_norm", index + 1 - window)
        if not (g >= t.exploding_growth * first > 0):  # cheap test before looking at the whole window
            continue
        recent = history.window(name, "grad_norm", index + 1 - window, index + 1)
        if np.all(np.isfinite(recent)) and recent[0] > 0 and np.all(np.diff(recent) > 0) \
                and recent[-1] / recent[0] >= t.exploding_growth:
            first = int(history.position(index + 1 - window)[0])
            message = (f"Exploding gradients at {_where(history, index)}: the gradient norm of {_describe(history, name)} rose at "
                       f"each of the last {window} records, from {recent[0]:.3g} (step {first}) to "
                       f"{recent[-1]:.3g} ({recent[-1] / recent[0]:.3g} ×; threshold {t.exploding_growth:g} ×). "
                       + FIXES["exploding"])
            return [_diagnostic(history, index, "exploding", name, message,
                                {"grad_norm": g, "growth": float(recent[-1] / recent[0]),
                                 "series": [float(v) for v in recent]})]
    return []


def detect_dead_relus(history, index: int = -1, thresholds: Thresholds | None = None) -> list:
    """ReLU layers in which most units output 0 for the whole batch."""
    t = thresholds or Thresholds()
    index = index % len(history)
    found = []
    for name in history.layer_names:
        fraction = history.value(name, "dead_fraction", index)
        if math.isnan(fraction) or fraction < t.dead_fraction:
            continue
        units = history.layers[name].get("units")
        count = f" ({int(round(fraction * units))} of {units} units)" if units else ""
        message = (f"Dead ReLUs at {_where(history, index)}: {fraction:.0%} of the units of "
                   f"{_describe(history, name)}{count} output 0 for every sample of the batch (threshold "
                   f"{t.dead_fraction:.0%}); they get no gradient and stop learning. " + FIXES["dead_relu"])
        found.append(_diagnostic(history, index, "dead_relu", name, message, {"dead_fraction": fraction}))
    return found


def detect_saturation(history, index: int = -1, thresholds: Thresholds | None = None) -> list:
    """Hidden sigmoid/tanh layers whose activations mostly sit in the flat tails."""
    t = thresholds or Thresholds()
    index = index % len(history)
    found = []
    for name in history.layer_names:
        info = history.layers[name]
        if info.get("is_output"):
            continue
        fraction = history.value(name, "saturated_fraction", index)
        if math.isnan(fraction) or fraction < t.saturated_fraction:
            continue
        region = {"tanh": f"|tanh| > {TANH_SATURATION}", "sigmoid": f"sigmoid < {SIGMOID_SATURATION} or > "
                  f"{1 - SIGMOID_SATURATION}"}.get(info.get("activation"), "on the clipped flat parts")
        message = (f"Saturated units at {_where(history, index)}: {fraction:.0%} of the activations of "
                   f"{_describe(history, name)} are in the flat region ({region}, derivative ≈ 0; threshold "
                   f"{t.saturated_fraction:.0%}), so almost no gradient passes through. " + FIXES["saturation"])
        found.append(_diagnostic(history, index, "saturation", name, message, {"saturated_fraction": fraction}))
    return found


DETECTORS = {"exploding": detect_exploding, "vanishing": detect_vanishing, "dead_relu": detect_dead_relus,
             "saturation": detect_saturation}


def detect(history, index: int = -1, thresholds: Thresholds | None = None, problems=None) -> list:
    """Run the detectors (all, or those named in ``problems``) on record ``index`` of ``history``."""
    if not len(history):
        return []
    found = []
    for problem in problems or DETECTORS:
        if problem not in DETECTORS:
            from ..errors import UnknownNameError

            raise UnknownNameError("problem", problem, DETECTORS)
        if problem == "vanishing" and any(item["problem"] == "exploding" for item in found):
            continue  # exploding norms make the ratio test meaningless at this step
        found.extend(DETECTORS[problem](history, index, thresholds))
    return found


def scan(history, thresholds: Thresholds | None = None, problems=None) -> list:
    """Run the detectors on every record; each (problem, layer) is reported once per epoch."""
    seen, found = set(), []
    for index in range(len(history)):
        for item in detect(history, index, thresholds, problems):
            key = (item["problem"], item["layer"], item["epoch"])
            if key not in seen:
                seen.add(key)
                found.append(item)
    return found
