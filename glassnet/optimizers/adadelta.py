"""Adadelta (Zeiler, 2012)."""

from __future__ import annotations

import numpy as np

from .. import accel
from .base import Optimizer


class Adadelta(Optimizer):
    """Update rule (both running averages start at 0)::

        E[g²] = ρ·E[g²] + (1 − ρ)·g²
        Δ     = √(E[Δ²] + ε)/√(E[g²] + ε)·g
        E[Δ²] = ρ·E[Δ²] + (1 − ρ)·Δ²
        w -= lr·Δ

    (= ``torch.optim.Adadelta`` and Keras.) Defaults: learning_rate=0.001, rho=0.95, epsilon=1e-7
    (Keras; Zeiler's paper and PyTorch use lr = 1).
    """

    def __init__(self, learning_rate=None, rho: float = 0.95, epsilon: float = 1e-7, **kwargs):
        self.rho, self.epsilon = float(rho), float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        return ("accumulated_grad", "accumulated_delta")

    def compiled_update(self) -> bool:
        return accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        mean_g2, mean_d2 = self.slot("accumulated_grad", variable), self.slot("accumulated_delta", variable)
        kernels = accel.kernels_for(variable.data, gradient, mean_g2, mean_d2, min_size=1)
        if kernels is not None:  # one compiled pass, the same float operations
            scalar = variable.data.dtype.type
            kernels.adadelta_update(variable.data, gradient, mean_g2, mean_d2, scalar(self.rho),
                                    scalar(1.0 - self.rho), scalar(self.epsilon), scalar(learning_rate))
            return
        delta, work = self.scratch(variable), self.scratch(variable, 1)
        mean_g2 *= self.rho
        np.multiply(gradient, gradient, out=work)
        work *= 1.0 - self.rho
        mean_g2 += work
        np.add(mean_d2, self.epsilon, out=delta)
        np.sqrt(delta, out=delta)
        np.add(mean_g2, self.epsilon, out=work)
        np.sqrt(work, out=work)
        delta /= work
        delta *= gradient
        mean_d2 *= self.rho
        np.multiply(delta, delta, out=work)
        work *= 1.0 - self.rho
        mean_d2 += work
        delta *= learning_rate
        variable.data -= delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
