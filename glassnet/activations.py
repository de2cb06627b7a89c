"""Activation functions by their Keras names: ``activations.get("relu")`` → the op.

Each activation is defined once, in :mod:`glassnet.ops.nonlinear`, with its derivative;
this module only names them. Any callable built from glassnet ops is a valid activation too.

=================  =============================================================
name               definition
=================  =============================================================
linear             x
step               1[x ≥ 0]  (gradient 0; the perceptron's)
sigmoid            1/(1+e^−x)
hard_sigmoid       clip(x/6 + 1/2, 0, 1)  (Keras 3)
tanh               tanh x
relu               max(0, x)
relu6              min(max(0, x), 6)
leaky_relu         x if x > 0 else 0.01x
elu                x if x > 0 else e^x − 1
selu               1.0507·elu(x, 1.67326)
gelu               x·Φ(x)  (exact; ``approximate=True`` for the tanh form)
swish / silu       x·σ(x)
hard_silu          x·hard_sigmoid(x)  (a.k.a. hard_swish)
mish               x·tanh(softplus(x))
softplus           log(1 + e^x)
softsign           x/(1 + |x|)
exponential        e^x
softmax            e^{x_i − max}/Σ_j e^{x_j − max}  (last axis)
log_softmax        x_i − logsumexp(x)
log_sigmoid        log σ(x)
hard_tanh          clip(x, −1, 1)
=================  =============================================================
"""

from __future__ import annotations

from . import ops
from .saving import Registry, deserialize as _deserialize, serialize as _serialize
from .ops.nonlinear import (
    elu, gelu, hard_sigmoid, hard_silu, hard_tanh, leaky_relu, log_sigmoid, log_softmax, mish, relu, relu6,
    selu, sigmoid, silu, softmax, softplus, softsign, step, swish, tanh,
)

REGISTRY = Registry("activation")


def linear(x):
    """The identity, f(x) = x."""
    return ops.as_tensor(x)


def exponential(x):
    """eˣ (overflows to inf above ~88 in float32, as the function itself does)."""
    return ops.exp(x)


for _name, _fn in {
    "linear": linear, "step": step, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "tanh": tanh,
    "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu, "selu": selu, "gelu": gelu,
    "swish": swish, "silu": silu, "hard_silu": hard_silu, "hard_swish": hard_silu, "mish": mish,
    "softplus": softplus, "softsign": softsign, "exponential": exponential, "softmax": softmax,
    "log_softmax": log_softmax, "log_sigmoid": log_sigmoid, "hard_tanh": hard_tanh,
}.items():
    REGISTRY.add(_name, _fn)


def get(identifier):
    """An activation from a name, a config, or a callable (returned as is). ``None`` → linear."""
    if identifier is None:
        return linear
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret activation {identifier!r}: expected a name or a callable.")


def serialize(activation):
    """The activation's registered name (custom functions must be registered)."""
    return _serialize(activation, REGISTRY)


def deserialize(config, custom_objects=None):
    """An activation from its name, or from a layer config (``activation=ReLU()`` saves as one)."""
    if isinstance(config, dict):
        from .layers.base import REGISTRY as LAYERS

        if config.get("class_name") in LAYERS.names():
            return _deserialize(config, LAYERS, custom_objects)
    return _deserialize(config, REGISTRY, custom_objects)


def names() -> list[str]:
    return REGISTRY.names()
