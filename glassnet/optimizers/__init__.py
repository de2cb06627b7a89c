"""Optimizers (Keras names, arguments and defaults; update rules in each class docstring).

``compile(optimizer='adam')`` resolves names through :func:`get`. The learning-rate schedules are
also here as in Keras: ``optimizers.schedules.ExponentialDecay`` (the classes of :mod:`glassnet.schedules`).
"""

from ..saving import Registry, deserialize as _deserialize, serialize as _serialize
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from . import schedules
from .base import Optimizer, global_norm
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

REGISTRY = Registry("optimizer")
for _name, _cls in {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
                    "adamw": AdamW, "nadam": Nadam, "adamax": Adamax}.items():
    REGISTRY.add(_name, _cls)
    REGISTRY.add(_cls.__name__, _cls)


def get(identifier) -> Optimizer:
    """An optimizer instance from a name ('adam'), a config dict, a class, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return REGISTRY.lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(f"Could not interpret optimizer {identifier!r}: expected a name like 'adam' or an Optimizer.")


def serialize(optimizer) -> dict:
    return _serialize(optimizer, REGISTRY)


def deserialize(config, custom_objects=None) -> Optimizer:
    return _deserialize(config, REGISTRY, custom_objects)


def names() -> list:
    return [n for n in REGISTRY.names() if n == n.lower()]
