"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay."""

from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    """Update rule: the decay, then the unchanged Adam step (see :class:`Adam`)::

        w -= lr·wd·w                 (decoupled: never enters m or v; done by the Optimizer base)
        w -= lr·m̂/(√v̂ + ε)

    (= ``torch.optim.AdamW``.) Defaults: learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
    beta_2=0.999, epsilon=1e-7, amsgrad=False (Keras; PyTorch's weight_decay default is 0.01).
    """

    def __init__(self, learning_rate=None, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number (0 turns the decay off), got None.")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, **kwargs)

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay or 0.0}
