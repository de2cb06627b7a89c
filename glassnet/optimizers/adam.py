"""Adam (Kingma & Ba, 2015), with the AMSGrad variant."""

from __future__ import annotations

import math

import numpy as np

from .. import accel
from .base import Optimizer


class Adam(Optimizer):
    """Update rule (t = 1, 2, ...)::

        m = β1·m + (1 − β1)·g
        v = β2·v + (1 − β2)·g²
        m̂ = m/(1 − β1ᵗ),  v̂ = v/(1 − β2ᵗ)        (amsgrad: v̂ uses v_max = max(v_max, v))
        w -= lr·m̂/(√v̂ + ε)

    The first step moves every weight by ≈ lr·sign(g), whatever the gradient's scale.
    Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7 (Keras).
    A OneCycle(cycle_momentum=True) learning rate drives β1 (the bias correction uses the current β1).
    """

    cycled_momentum = "beta_1"

    def __init__(self, learning_rate=None, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs):
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def compiled_update(self) -> bool:
        return accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        t = self.iterations + 1
        # lr·m̂/(√v̂ + ε) = [lr·√c2/c1] · m/(√v + ε·√c2), with c1 = 1 − β1ᵗ and c2 = 1 − β2ᵗ
        root_c2 = math.sqrt(1.0 - self.beta_2 ** t)
        eps_hat, step = self.epsilon * root_c2, learning_rate * root_c2 / (1.0 - self.beta_1 ** t)
        m, v = self.slot("m", variable), self.slot("v", variable)
        v_max = self.slot("v_max", variable) if self.amsgrad else v  # (not touched without AMSGrad)
        kernels = accel.kernels_for(variable.data, gradient, m, v, v_max, min_size=1)
        if kernels is not None:  # one compiled pass instead of twelve, the same float operations
            scalar = variable.data.dtype.type
            kernels.adam_update(variable.data, gradient, m, v, v_max, self.amsgrad, scalar(self.beta_1),
                                scalar(1.0 - self.beta_1), scalar(self.beta_2), scalar(1.0 - self.beta_2),
                                scalar(eps_hat), scalar(step))
            return
        work = self.scratch(variable)
        m *= self.beta_1
        np.multiply(gradient, 1.0 - self.beta_1, out=work)
        m += work
        v *= self.beta_2
        np.multiply(gradient, gradient, out=work)
        work *= 1.0 - self.beta_2
        v += work
        if self.amsgrad:
            np.maximum(v_max, v, out=v_max)
            v = v_max
        np.sqrt(v, out=work)
        work += eps_hat
        np.divide(m, work, out=work)
        work *= step
        variable.data -= work

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}
