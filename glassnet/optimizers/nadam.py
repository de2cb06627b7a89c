"""Nadam (Dozat, 2016): Adam with Nesterov momentum and a warming-up momentum schedule."""

from __future__ import annotations

import math

import numpy as np

from .. import accel
from .base import Optimizer


class Nadam(Optimizer):
    """Update rule (t = 1, 2, ...; ψ = ``momentum_decay``; Π₀ = 1)::

        μ_t = β1·(1 − ½·0.96^(ψ·t)),   Π_t = Π_{t−1}·μ_t        (Π is saved with the optimizer state)
        m = β1·m + (1 − β1)·g
        v = β2·v + (1 − β2)·g²,        v̂ = v/(1 − β2ᵗ)
        w -= lr·[(1 − μ_t)/(1 − Π_t)·g + μ_{t+1}/(1 − Π_{t+1})·m]/(√v̂ + ε)

    = ``torch.optim.NAdam(momentum_decay=4e-3)`` and Keras 2 (ψ = 0.004, Dozat's 0.96^(t/250)).
    Keras 3 uses 0.96^t, i.e. ``momentum_decay=1``.
    Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, momentum_decay=0.004.
    """

    cycled_momentum = "beta_1"
    state_scalars = ("mu_product",)

    def __init__(self, learning_rate=None, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 momentum_decay: float = 0.004, **kwargs):
        if not float(momentum_decay) >= 0:
            raise ValueError(f"Nadam: momentum_decay must be >= 0, got {momentum_decay!r}.")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.momentum_decay = float(momentum_decay)
        self.mu_product = 1.0
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        return ("m", "v")

    def _mu(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (self.momentum_decay * t))

    def prepare_step(self):
        t = self.iterations + 1
        self._mu_t, self._mu_next = self._mu(t), self._mu(t + 1)
        self.mu_product *= self._mu_t

    def compiled_update(self) -> bool:
        return accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        t = self.iterations + 1
        m, v = self.slot("m", variable), self.slot("v", variable)
        root_scale = 1.0 / math.sqrt(1.0 - self.beta_2 ** t)
        gradient_step = learning_rate * (1.0 - self._mu_t) / (1.0 - self.mu_product)
        momentum_step = learning_rate * self._mu_next / (1.0 - self.mu_product * self._mu_next)
        kernels = accel.kernels_for(variable.data, gradient, m, v, min_size=1)
        if kernels is not None:  # one compiled pass, the same float operations
            scalar = variable.data.dtype.type
            kernels.nadam_update(variable.data, gradient, m, v, scalar(self.beta_1), scalar(1.0 - self.beta_1),
                                 scalar(self.beta_2), scalar(1.0 - self.beta_2), scalar(root_scale),
                                 scalar(self.epsilon), scalar(gradient_step), scalar(momentum_step))
            return
        denominator, work = self.scratch(variable), self.scratch(variable, 1)
        m *= self.beta_1
        np.multiply(gradient, 1.0 - self.beta_1, out=work)
        m += work
        v *= self.beta_2
        np.multiply(gradient, gradient, out=work)
        work *= 1.0 - self.beta_2
        v += work
        np.sqrt(v, out=denominator)
        denominator *= root_scale
        denominator += self.epsilon
        np.divide(gradient, denominator, out=work)
        work *= gradient_step
        variable.data -= work
        np.divide(m, denominator, out=work)
        work *= momentum_step
        variable.data -= work

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "momentum_decay": self.momentum_decay}
