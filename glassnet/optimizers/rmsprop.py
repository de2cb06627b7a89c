"""RMSprop (Hinton, 2012), with the centered and momentum variants (PyTorch form)."""

from __future__ import annotations

import numpy as np

from .. import accel
from .base import Optimizer


class RMSprop(Optimizer):
    """Update rule::

        v = ρ·v + (1 − ρ)·g²
        centered:  ḡ = ρ·ḡ + (1 − ρ)·g;  s = √(v − ḡ²) + ε      otherwise s = √v + ε
        momentum μ > 0:  b = μ·b + g/s;  w -= lr·b              otherwise w -= lr·g/s

    Defaults: learning_rate=0.001, rho=0.9, momentum=0, epsilon=1e-7, centered=False.
    """

    cycled_momentum = "momentum"  # driven by a OneCycle(cycle_momentum=True) learning rate

    def __init__(self, learning_rate=None, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
                 centered: bool = False, **kwargs):
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        names = ("velocity",) + (("average_gradient",) if self.centered else ())
        return names + (("momentum",) if self.momentum or self.cycles_momentum else ())

    def compiled_update(self) -> bool:
        return accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        v = self.slot("velocity", variable)
        buffer = self.slot("momentum", variable) if self.momentum else v  # (unused without momentum)
        average = self.slot("average_gradient", variable) if self.centered else v  # (unused when not centered)
        kernels = accel.kernels_for(variable.data, gradient, v, average, buffer, min_size=1)
        if kernels is not None:  # one compiled pass, the same float operations
            scalar = variable.data.dtype.type
            kernels.rmsprop_update(variable.data, gradient, v, average, buffer, self.centered, scalar(self.rho),
                                   scalar(1.0 - self.rho), scalar(self.epsilon), scalar(learning_rate),
                                   scalar(self.momentum))
            return
        v *= self.rho
        v += (1.0 - self.rho) * (gradient * gradient)
        if self.centered:
            average *= self.rho
            average += (1.0 - self.rho) * gradient
            scale = np.sqrt(v - average * average)
        else:
            scale = np.sqrt(v)
        scale += self.epsilon
        if self.momentum:
            buffer = self.slot("momentum", variable)
            buffer *= self.momentum
            buffer += gradient / scale
            variable.data -= learning_rate * buffer
        else:
            variable.data -= learning_rate * gradient / scale

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
