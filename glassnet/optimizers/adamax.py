"""Adamax (Kingma & Ba, 2015, §7.1): Adam with the infinity norm."""

from __future__ import annotations

import numpy as np

from .. import accel
from .base import Optimizer


class Adamax(Optimizer):
    """Update rule (t = 1, 2, ...; m and u start at 0)::

        m = β1·m + (1 − β1)·g
        u = max(β2·u, |g| + ε)
        w -= lr/(1 − β1ᵗ)·m/u

    PyTorch's form (ε inside the max). Keras computes u = max(β2·u, |g|) and divides by (u + ε);
    the two differ only while |g| is comparable to ε.
    Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7 (Keras).
    """

    cycled_momentum = "beta_1"

    def __init__(self, learning_rate=None, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 **kwargs):
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        return ("m", "u")

    def compiled_update(self) -> bool:
        return accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        t = self.iterations + 1
        step = learning_rate / (1.0 - self.beta_1 ** t)
        m, u = self.slot("m", variable), self.slot("u", variable)
        kernels = accel.kernels_for(variable.data, gradient, m, u, min_size=1)
        if kernels is not None:  # one compiled pass, the same float operations
            scalar = variable.data.dtype.type
            kernels.adamax_update(variable.data, gradient, m, u, scalar(self.beta_1), scalar(1.0 - self.beta_1),
                                  scalar(self.beta_2), scalar(self.epsilon), scalar(step))
            return
        work = self.scratch(variable)
        m *= self.beta_1
        np.multiply(gradient, 1.0 - self.beta_1, out=work)
        m += work
        np.abs(gradient, out=work)
        work += self.epsilon
        u *= self.beta_2
        np.maximum(u, work, out=u)
        np.divide(m, u, out=work)
        work *= step
        variable.data -= work

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
