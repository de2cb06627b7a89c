"""Recurrent layers: ``SimpleRNN``, ``LSTM``, ``GRU`` (Keras 3 names, arguments, gate orders and weights).

Inputs are sequences (batch, timesteps, features). Each layer runs its whole sequence as one fused
graph node (:mod:`glassnet.ops.recurrent`: the input projection of all steps is one GEMM, the
backward pass is hand-written backpropagation through time).

* ``return_sequences`` — every step's output (batch, timesteps, units), else only the last (batch, units).
* ``return_state`` — ``[output, *final_states]`` (LSTM: h and c; SimpleRNN/GRU: h).
* ``go_backwards`` — process the sequence from its end; returned sequences are in processing order.
* ``dropout`` / ``recurrent_dropout`` — inverted dropout on the inputs / on the recurrent state, one mask
  per sequence shared by all time steps, in training only.
* ``initial_state=[...]`` in the call; masks (e.g. from ``Embedding(mask_zero=True)``): a masked step keeps
  the previous state, and outputs the previous output (zeros with ``zero_output_for_mask``).
* ``stateful`` — the final states of a batch are the initial states of the next one (fixed batch size;
  ``reset_states()`` clears them); no gradient flows between batches.

Parameters (F inputs, U units): SimpleRNN U(F+U)+U; LSTM 4(U(F+U)+U); GRU 3U(F+U)+6U (reset_after,
two bias rows) or 3(U(F+U)+U).
"""

from __future__ import annotations

import numpy as np

from .. import activations, backend, ops
from ..errors import ShapeError
from ..ops import recurrent as rnn_ops
from ..tensor import Tensor
from .base import InputSpec, Layer


class _RNN(Layer):
    """Shared machinery of the recurrent layers (weights, states, masks, dropout, config)."""

    supports_masking = True
    _gates = 1           # blocks of `units` columns in the kernels
    _state_names = ("h",)

    def _setup(self, units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
               kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
               bias_constraint, dropout, recurrent_dropout, seed, return_sequences, return_state, go_backwards,
               stateful, unroll, zero_output_for_mask):
        name = type(self).__name__
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or int(units) <= 0:
            raise ValueError(f"{name}: units must be a positive integer, got {units!r}.")
        for arg, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"{name}: {arg} must be in [0, 1), got {rate!r}.")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_options(locals(), "kernel", "recurrent", "bias")
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; the fused loop is always used
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states = None  # the carried states of a stateful layer (NumPy arrays)
        self.input_spec = InputSpec(ndim=3)

    # ----------------------------------------------------------------- weights
    @property
    def state_size(self) -> list:
        return [self.units] * len(self._state_names)

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        if len(input_shape) != 3:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) expects sequences of shape (batch, "
                             f"timesteps, features), got input shape {tuple(input_shape)}. A (batch, features) "
                             "array is one step per sample: reshape it, e.g. x[:, None, :] (or x[..., None] for "
                             "one feature per step).")
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) needs the feature dimension to be known, "
                             f"got input shape {tuple(input_shape)}.")
        width = self._gates * self.units
        self.kernel = self.add_weight((input_dim, width), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                name="recurrent_kernel", regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = self.add_weight(self._bias_shape(), self._bias_initializer(), name="bias",
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.input_spec = InputSpec(ndim=3, axes={-1: int(input_dim)})
        self.built = True

    # ----------------------------------------------------------------- states
    def reset_states(self, states=None) -> None:
        """Clear the carried states of a stateful layer (or set them to ``states``)."""
        if states is None:
            self.states = None
            return
        states = states if isinstance(states, (list, tuple)) else [states]
        self.states = [np.array(getattr(s, "data", s), dtype=self.dtype) for s in states]

    reset_state = reset_states

    def _initial_states(self, initial_state, batch):
        """The initial states as Tensors of the layer's dtype (None → zeros inside the op)."""
        count = len(self._state_names)
        if initial_state is None:
            if not self.stateful or self.states is None:
                return [None] * count
            if self.states[0].shape[0] != batch:
                raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) is stateful with batch size "
                                 f"{self.states[0].shape[0]}, but received a batch of {batch}; a stateful RNN "
                                 "needs the same batch size for every call (call reset_states() to start over).")
            initial_state = self.states
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if len(initial_state) != count:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) has {count} state(s) "
                             f"({', '.join(self._state_names)}) but initial_state has {len(initial_state)} element(s).")
        states = []
        for name, s in zip(self._state_names, initial_state):
            if isinstance(s, Tensor):
                if s.data.dtype != np.dtype(self.dtype):
                    s = ops.cast(s, self.dtype)
            else:
                s = Tensor(np.asarray(s, dtype=self.dtype))
            if s.shape != (batch, self.units):
                raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): initial state '{name}' should have "
                                 f"shape ({batch}, {self.units}), got {s.shape}.")
            states.append(s)
        return states

    def _keep_mask(self, shape, rate, dtype):
        rng = self._rng or backend.rng()
        keep = rng.random(shape, dtype=np.float32) >= rate
        return keep.astype(dtype) * np.asarray(1.0 / (1.0 - rate), dtype=dtype)

    def _fused_activation_names(self, *functions):
        """The names of the activations if all have a fused kernel, else None (use the composed cell)."""
        names = [activations.REGISTRY.name_of(fn) for fn in functions]
        return names if all(n in rnn_ops.FUSED_ACTIVATIONS for n in names) else None

    # ----------------------------------------------------------------- calling
    def call(self, sequences, initial_state=None, mask=None, training=None):
        x = sequences
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if mask is not None:
            mask = np.asarray(getattr(mask, "data", mask), dtype=bool)
            if mask.shape != tuple(x.shape[:2]):
                raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}): the mask has shape {mask.shape} "
                                 f"but the inputs have shape {tuple(x.shape)}; expected a (batch, timesteps) mask.")
        batch, _, features = x.shape
        states = self._initial_states(initial_state, batch)
        input_dropout = recurrent_dropout = None
        if training:
            if self.dropout > 0:
                input_dropout = self._keep_mask((batch, features), self.dropout, x.dtype)
            if self.recurrent_dropout > 0:
                recurrent_dropout = self._keep_mask((batch, self.units), self.recurrent_dropout, x.dtype)
        output, final_states = self._run(x, states, mask, input_dropout, recurrent_dropout)
        if self.stateful:
            self.states = [np.array(s.data) for s in final_states]
        if self.return_sequences and self.zero_output_for_mask and mask is not None:
            keep = mask[:, ::-1] if self.go_backwards else mask
            output = ops.multiply(output, keep[:, :, None].astype(output.dtype))
        if self.return_state:
            return [output, *final_states]
        return output

    def _run(self, x, states, mask, input_dropout, recurrent_dropout):
        """(output: every step's (N, T, U) in processing order or the last (N, U), [final states])."""
        raise NotImplementedError

    def _final_h(self, output):
        return ops.getitem(output, (slice(None), -1)) if self.return_sequences else output

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units) for _ in self._state_names]
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = None
        if mask is not None and self.return_sequences:
            mask = np.asarray(getattr(mask, "data", mask), dtype=bool)
            output_mask = mask[:, ::-1] if self.go_backwards else mask  # follows the (reversed) outputs
        if self.return_state:
            return [output_mask] + [None for _ in self._state_names]
        return output_mask

    # ----------------------------------------------------------------- config
    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                **self._weight_options_config("kernel", "recurrent", "bias"),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask}


class SimpleRNN(_RNN):
    """Fully connected recurrence: ``hₜ = activation(xₜ·W + hₜ₋₁·Ū + b)``; output = hₜ.

    Parameters: U·(F + U) + U.
    """

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 seed=None, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._setup(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
                    return_state, go_backwards, stateful, unroll, zero_output_for_mask)

    def _run(self, x, states, mask, input_dropout, recurrent_dropout):
        names = self._fused_activation_names(self.activation)
        args = (x, self.kernel, self.recurrent_kernel, self.bias, states[0], mask, input_dropout, recurrent_dropout,
                self.go_backwards)
        if names:
            out = rnn_ops.simple_rnn(*args, activation=names[0], return_sequences=self.return_sequences)
        else:
            out = rnn_ops.simple_rnn_composed(*args, activation=self.activation,
                                              return_sequences=self.return_sequences)
        return out, [self._final_h(out)]


class LSTM(_RNN):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), Keras gate order (i, f, c, o)::

        [i f c̃ o] = [σ σ φ σ](xₜ·W + hₜ₋₁·Ū + b),  cₜ = f⊙cₜ₋₁ + i⊙c̃,  hₜ = o⊙φ(cₜ)

    σ = ``recurrent_activation``, φ = ``activation``. One bias; ``unit_forget_bias`` starts the forget
    gate's bias at 1. Parameters: 4·(U·(F + U) + U). States: [h, c].
    """

    _gates = 4
    _state_names = ("h", "c")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._setup(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
                    return_state, go_backwards, stateful, unroll, zero_output_for_mask)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, units = self.bias_initializer, self.units

        def forget_bias_one(shape, dtype=None):  # [b_i, 1, b_c, b_o]
            parts = [init((units,), dtype=dtype), np.ones((units,), dtype=dtype), init((2 * units,), dtype=dtype)]
            return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])

        return forget_bias_one

    def _run(self, x, states, mask, input_dropout, recurrent_dropout):
        names = self._fused_activation_names(self.activation, self.recurrent_activation)
        args = (x, self.kernel, self.recurrent_kernel, self.bias, states[0], states[1], mask, input_dropout,
                recurrent_dropout, self.go_backwards)
        if names:
            out, c = rnn_ops.lstm(*args, activation=names[0], recurrent_activation=names[1],
                                  return_sequences=self.return_sequences)
        else:
            out, c = rnn_ops.lstm_composed(*args, activation=self.activation,
                                           recurrent_activation=self.recurrent_activation,
                                           return_sequences=self.return_sequences)
        return out, [self._final_h(out), c]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit (Cho et al. 2014), Keras gate order (z, r, h)::

        z = σ(xW_z + hₜ₋₁Ū_z + b),  r = σ(xW_r + hₜ₋₁Ū_r + b),  hₜ = z⊙hₜ₋₁ + (1 − z)⊙h̃
        reset_after=True:   h̃ = φ(xW_h + b_h + r⊙(hₜ₋₁Ū_h + b̄_h))   (bias (2, 3U): input row, recurrent row)
        reset_after=False:  h̃ = φ(xW_h + b_h + (r⊙hₜ₋₁)Ū_h)          (bias (3U,))

    ``reset_after=True`` (the Keras default) is PyTorch's ``nn.GRU``. Parameters: 3U(F + U) + 6U, or
    3(U(F + U) + U) with ``reset_after=False``.
    """

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, zero_output_for_mask=False, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._setup(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                    kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed, return_sequences,
                    return_state, go_backwards, stateful, unroll, zero_output_for_mask)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, x, states, mask, input_dropout, recurrent_dropout):
        names = self._fused_activation_names(self.activation, self.recurrent_activation)
        args = (x, self.kernel, self.recurrent_kernel, self.bias, states[0], mask, input_dropout, recurrent_dropout,
                self.go_backwards, self.reset_after)
        if names:
            out = rnn_ops.gru(*args, activation=names[0], recurrent_activation=names[1],
                              return_sequences=self.return_sequences)
        else:
            out = rnn_ops.gru_composed(*args, activation=self.activation,
                                       recurrent_activation=self.recurrent_activation,
                                       return_sequences=self.return_sequences)
        return out, [self._final_h(out)]

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


__all__ = ["GRU", "LSTM", "SimpleRNN"]
