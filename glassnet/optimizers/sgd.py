"""Stochastic gradient descent, with momentum and Nesterov momentum (PyTorch form)."""

from __future__ import annotations

from .. import accel
from .base import Optimizer


class SGD(Optimizer):
    """Update rule (buffer b starts at 0)::

        momentum = 0:   w -= lr·g
        otherwise:      b = μ·b + (1 − dampening)·g
                        w -= lr·b                      (classical)
                        w -= lr·(g + μ·b)              (nesterov=True)

    With ``dampening=momentum`` the buffer is the exponential moving average v = βv + (1−β)g.
    (PyTorch starts the buffer at g instead of (1−dampening)·g; the two agree when dampening=0.)
    Defaults: learning_rate=0.01, momentum=0.
    """

    default_learning_rate = 0.01
    cycled_momentum = "momentum"  # driven by a OneCycle(cycle_momentum=True) learning rate

    def __init__(self, learning_rate=None, momentum: float = 0.0, nesterov: bool = False, dampening: float = 0.0,
                 **kwargs):
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1], got {momentum!r}.")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0 (as in PyTorch).")
        self.momentum, self.nesterov, self.dampening = float(momentum), bool(nesterov), float(dampening)
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        return ("momentum",) if self.momentum or self.cycles_momentum else ()

    def compiled_update(self) -> bool:
        return bool(self.momentum) and accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        if not self.momentum:
            variable.data -= learning_rate * gradient
            return
        buffer = self.slot("momentum", variable)
        kernels = accel.kernels_for(variable.data, gradient, buffer, min_size=1)
        if kernels is not None:  # one compiled pass, the same float operations
            scalar = variable.data.dtype.type
            kernels.sgd_momentum_update(variable.data, gradient, buffer, scalar(self.momentum),
                                        scalar(1.0 - self.dampening), scalar(learning_rate), self.nesterov)
            return
        buffer *= self.momentum
        buffer += gradient if self.dampening == 0 else (1.0 - self.dampening) * gradient
        if self.nesterov:
            variable.data -= learning_rate * (gradient + self.momentum * buffer)
        else:
            variable.data -= learning_rate * buffer

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "dampening": self.dampening}
