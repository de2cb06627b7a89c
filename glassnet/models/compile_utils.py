"""Losses and metrics for models with several outputs (Keras ``compile`` semantics).

``loss`` may be one loss (used for every output), a list (one per output) or a dict keyed by
output name; ``loss_weights`` likewise. The training loss is ``Σ_k weight_k · loss_k(y_k, ŷ_k)``,
and the logs show each ``<output>_loss`` as well as the total ``loss``.
"""

from __future__ import annotations

from .. import losses as losses_module
from ..errors import GlassnetError


def per_output(value, names: list, what: str) -> list:
    """``value`` spread over the outputs: one for all, a list in order, or a dict by output name."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            from ..errors import UnknownNameError

            raise UnknownNameError(f"output name in {what}", unknown[0], names)
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise GlassnetError(f"{what} has {len(value)} entries but the model has {len(names)} outputs "
                                f"({', '.join(names)}).")
        return list(value)
    return [value] * len(names)


class MultiOutputLoss:
    """Callable ``(y_list, y_pred_list, sample_weight) -> total loss`` with one loss per output;
    ``sample_weight`` is one array for all outputs or a list with one array (or None) per output.

    After each call, ``last_values`` holds every output's (unweighted) loss as a float.
    """

    def __init__(self, loss, loss_weights, names: list):
        self.names = list(names)
        identifiers = per_output(loss, self.names, "loss")
        self.losses = [None if identifier is None else losses_module.get(identifier) for identifier in identifiers]
        weights = per_output(1.0 if loss_weights is None else loss_weights, self.names, "loss_weights")
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.last_values = [0.0] * len(self.names)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if len(y_true) != len(self.names) or len(y_pred) != len(self.names):
            raise GlassnetError(f"The model has {len(self.names)} outputs ({', '.join(self.names)}); got "
                                f"{len(y_true)} target arrays for {len(y_pred)} predictions.")
        total = None
        for k, (loss, weight, target, prediction) in enumerate(zip(self.losses, self.weights, y_true, y_pred)):
            if loss is None:
                continue
            weights = sample_weight[k] if isinstance(sample_weight, list) else sample_weight  # per output, or one
            value = loss(target, prediction, sample_weight=weights)
            self.last_values[k] = float(value.data)
            weighted = value if weight == 1.0 else value * weight
            total = weighted if total is None else total + weighted
        if total is None:
            raise GlassnetError("Every output's loss is None: nothing to train.")
        return total

    @property
    def from_logits(self) -> bool:
        return False
