"""Adagrad (Duchi, Hazan & Singer, 2011)."""

from __future__ import annotations

import numpy as np

from .. import accel
from .base import Optimizer


class Adagrad(Optimizer):
    """Update rule (accumulator G starts at ``initial_accumulator_value``)::

        G += g²
        w -= lr·g/(√G + ε)

    ε outside the root, as in PyTorch (Keras divides by √(G + ε)). With ``initial_accumulator_value=0``
    the first step moves every weight by ≈ lr·sign(g), whatever the gradient's scale.
    Defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7 (Keras).
    """

    def __init__(self, learning_rate=None, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 **kwargs):
        if not float(initial_accumulator_value) >= 0:
            raise ValueError(f"Adagrad: initial_accumulator_value must be >= 0, got {initial_accumulator_value!r}.")
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)
        super().__init__(learning_rate, **kwargs)

    def slot_names(self):
        return ("accumulator",)

    def initial_slot_value(self, slot_name):
        return self.initial_accumulator_value

    def compiled_update(self) -> bool:
        return accel.enabled()

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self.slot("accumulator", variable)
        kernels = accel.kernels_for(variable.data, gradient, accumulator, min_size=1)
        if kernels is not None:  # one compiled pass, the same float operations
            scalar = variable.data.dtype.type
            kernels.adagrad_update(variable.data, gradient, accumulator, scalar(self.epsilon), scalar(learning_rate))
            return
        work = self.scratch(variable)
        np.multiply(gradient, gradient, out=work)
        accumulator += work
        np.sqrt(accumulator, out=work)
        work += self.epsilon
        np.divide(gradient, work, out=work)
        work *= learning_rate
        variable.data -= work

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
