"""Layer wrappers: ``Bidirectional`` (run an RNN both ways) and ``TimeDistributed`` (a layer per time step)."""

from __future__ import annotations

from .. import ops
from ..saving import deserialize as _deserialize
from ..saving import serialize as _serialize
from .base import REGISTRY, InputSpec, Layer

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _copy_layer(layer: Layer, **overrides) -> Layer:
    """A fresh (unbuilt) layer of the same class and config, with some config entries replaced."""
    config = {**layer.get_config(), **overrides}
    return type(layer).from_config(config)


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy of it backwards over the sequence and merges the two outputs.

    ``merge_mode``: ``'concat'`` (features side by side: 2·units), ``'sum'``, ``'mul'``, ``'ave'``, or
    ``None`` (a list [forward, backward]). The backward layer is rebuilt from ``layer``'s config with
    ``go_backwards`` flipped (or given as ``backward_layer``); with ``return_sequences`` its outputs are
    reversed back so step t of both directions lines up (Keras). Both layers get fresh weights, so the
    parameter count is twice the wrapped layer's. ``return_state`` returns
    ``[output, *forward_states, *backward_states]``; ``initial_state`` is split in half the same way.
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, weights=None, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"Bidirectional needs a Layer instance (e.g. LSTM(32)), got {layer!r}.")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise TypeError(f"Bidirectional: backward_layer must be a Layer instance, got {backward_layer!r}.")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: invalid merge_mode {merge_mode!r}; expected one of "
                             f"'concat', 'sum', 'mul', 'ave' or None.")
        for attribute in ("go_backwards", "return_sequences", "return_state"):
            if not hasattr(layer, attribute):
                raise TypeError(f"Bidirectional wraps sequence layers with a '{attribute}' attribute (SimpleRNN, "
                                f"LSTM, GRU), got {type(layer).__name__}.")
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        if self._input_shape_arg is None:  # Bidirectional(LSTM(8, input_shape=(T, F))) as in Keras 2
            self._input_shape_arg = layer._input_shape_arg
        self.forward_layer = _copy_layer(layer, name="forward_" + layer.name.removeprefix("forward_"))
        if backward_layer is None:
            self.backward_layer = _copy_layer(layer, name="backward_" + layer.name.removeprefix("backward_"),
                                              go_backwards=not layer.go_backwards)
        else:
            self.backward_layer = backward_layer
        self._verify()
        for direction in (self.forward_layer, self.backward_layer):
            if hasattr(direction, "zero_output_for_mask"):
                direction.zero_output_for_mask = direction.return_sequences  # Keras: padded steps output 0
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = getattr(layer, "stateful", False)
        self.supports_masking = True
        self.input_spec = layer.input_spec
        self._initial_weights = weights

    def _verify(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"Bidirectional: the forward and backward layers must have different go_backwards "
                             f"values, got {forward.go_backwards} for both.")
        for attribute in ("return_sequences", "return_state", "stateful"):
            a, b = getattr(forward, attribute, None), getattr(backward, attribute, None)
            if a != b:
                raise ValueError(f"Bidirectional: the forward and backward layers must have the same {attribute}, "
                                 f"got {a} (forward) and {b} (backward).")

    def build(self, input_shape):
        for direction in (self.forward_layer, self.backward_layer):
            if not direction.built:
                direction._build_input_shape = input_shape
                direction.build(input_shape)
                direction.built = True
        self.input_spec = self.forward_layer.input_spec
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            half = len(states) // 2
            forward_state, backward_state = states[:half], states[half:]
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask, training=training)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.getitem(y_rev, (slice(None), slice(None, None, -1)))
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = ops.add(y, y_rev)
        elif self.merge_mode == "mul":
            output = ops.multiply(y, y_rev)
        elif self.merge_mode == "ave":
            output = ops.multiply(ops.add(y, y_rev), 0.5)
        else:
            output = [y, y_rev]
        if self.return_state:
            return (output if isinstance(output, list) else [output]) + states
        return output

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        state_shapes = []
        if self.return_state:
            shape, state_shapes = shape[0], list(shape[1:])
        shape = tuple(shape)
        if self.merge_mode == "concat":
            output = [shape[:-1] + (None if shape[-1] is None else 2 * shape[-1],)]
        elif self.merge_mode is None:
            output = [shape, shape]
        else:
            output = [shape]
        if self.return_state:
            return output + state_shapes + state_shapes
        return output if self.merge_mode is None else output[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            count = len(getattr(self.forward_layer, "state_size", [])) * 2
            return masks + [None] * count
        return masks if self.merge_mode is None else output_mask

    def reset_states(self, states=None) -> None:
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' (Bidirectional) is not stateful.")
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def get_config(self):
        return {**super().get_config(), "layer": _serialize(self.forward_layer, REGISTRY),
                "merge_mode": self.merge_mode, "backward_layer": _serialize(self.backward_layer, REGISTRY)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = _deserialize(config["layer"], REGISTRY, custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = _deserialize(config["backward_layer"], REGISTRY, custom_objects)
        return cls(**config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: (batch, T, ...) → (batch, T, ...out).

    The time axis is folded into the batch — ``layer`` runs once on (batch·T, ...) — and unfolded
    afterwards, so every step shares the same weights (parameters = the wrapped layer's).
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed needs a Layer instance (e.g. Dense(8)), got {layer!r}.")
        super().__init__(**kwargs)
        self.layer = layer
        self.input_spec = InputSpec(min_ndim=3)

    @staticmethod
    def _step_shape(input_shape):
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            step_shape = self._step_shape(input_shape)
            self.layer._build_input_shape = step_shape
            self.layer.build(step_shape)
            self.layer.built = True
        self.built = True

    def call(self, inputs, training=None):
        batch, steps = inputs.shape[0], inputs.shape[1]
        folded = ops.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        outputs = self.layer(folded, training=training)
        return ops.reshape(outputs, (batch, steps) + tuple(outputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        step_output = self.layer.compute_output_shape(self._step_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(step_output[1:])

    def get_config(self):
        return {**super().get_config(), "layer": _serialize(self.layer, REGISTRY)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = _deserialize(config["layer"], REGISTRY, custom_objects)
        return cls(**config)


__all__ = ["Bidirectional", "TimeDistributed"]
