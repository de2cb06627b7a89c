"""Seeing inside a network: gradient checks, gradient-flow monitoring, problem detectors, explain mode.

- :func:`gradcheck` — ``gradcheck(fn, *inputs)`` for any op/layer/loss, or ``gradcheck(model, x, y, loss)``
  for a whole model (per-layer report, :class:`GradcheckReport`).
- :class:`GradientMonitor` — callback recording per-layer gradient norms, update/weight ratios and
  activation statistics (:class:`GradientFlowHistory`), with the detectors (vanishing, exploding,
  dead ReLUs, saturation) and the NaN guard built in.
- :class:`NaNGuard` — callback stopping ``fit`` at the first NaN/inf, naming the step, layer and cause.
"""

from .detectors import (
    DeadReLUWarning, ExplodingGradientWarning, GlassnetDiagnosticWarning, NonFiniteWarning, SaturationWarning,
    Thresholds, VanishingGradientWarning, detect, scan,
)
from .explain import Explanation, LayerRecord, explain
from .gradcheck import gradcheck
from .guard import NaNGuard, NonFiniteError
from .model_gradcheck import GradcheckReport, LayerCheck, model_gradcheck
from .monitor import QUANTITIES, GradientFlowHistory, GradientMonitor

__all__ = [
    "explain", "Explanation", "LayerRecord", "gradcheck", "model_gradcheck", "GradcheckReport", "LayerCheck",
    "GradientMonitor", "GradientFlowHistory", "QUANTITIES", "NaNGuard", "NonFiniteError",
    "GlassnetDiagnosticWarning", "VanishingGradientWarning", "ExplodingGradientWarning", "DeadReLUWarning",
    "SaturationWarning", "NonFiniteWarning", "Thresholds", "detect", "scan",
]
