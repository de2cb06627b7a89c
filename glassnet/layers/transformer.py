"""Transformer building blocks: ``TransformerEncoder`` (one encoder block) and ``PositionalEmbedding``.

Encoder block (Vaswani et al., 2017), post-norm by default (as ``torch.nn.TransformerEncoderLayer``)::

    x = LN₁(x + Dropout(MHA(x, x)))                 FF(x) = W₂·act(W₁x + b₁) + b₂
    y = LN₂(x + Dropout(FF(x)))

and with ``norm_first=True`` (pre-norm): ``x = x + Dropout(MHA(LN₁x))``, ``y = x + Dropout(FF(LN₂x))``.

Positional embedding: ``out[b, t] = E_token[ids[b, t]] + P[t]`` with P learned (``position_encoding=
"learned"``) or fixed sinusoids ``P[t, 2i] = sin(t/10000^(2i/d))``, ``P[t, 2i+1] = cos(t/10000^(2i/d))``.
"""

from __future__ import annotations

import numpy as np

from .. import activations, ops
from ..errors import InputError, ShapeError
from ..tensor import Tensor
from .attention import MultiHeadAttention, _build_sublayer
from .base import InputSpec, Layer
from .core import Dense, Dropout


class TransformerEncoder(Layer):
    """One Transformer encoder block: self-attention and a feed-forward net, each with dropout, a residual
    connection and layer normalisation (formulas in the module docstring).

    ``key_dim`` defaults to d_model // num_heads (so heads·key_dim = d_model, as in PyTorch); ``ff_dim``
    (alias ``intermediate_dim``, the keras-hub name) is the width of the hidden feed-forward layer.
    ``dropout`` applies after the attention and feed-forward outputs and, unless ``attention_dropout``
    is given, to the attention probabilities too (as PyTorch). A padding mask (B, T) — the ``_keras_mask``
    carried by the input, or ``padding_mask=`` — stops every position attending to padded keys (PyTorch's
    ``key_padding_mask``); ``attention_mask`` and ``use_causal_mask`` are passed on to the attention.
    """

    supports_masking = True

    def __init__(self, num_heads, key_dim=None, ff_dim=None, dropout=0.1, activation="relu", norm_first=False,
                 epsilon=1e-6, attention_dropout=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, seed=None,
                 intermediate_dim=None, **kwargs):
        super().__init__(**kwargs)
        if ff_dim is None:
            ff_dim = intermediate_dim
        elif intermediate_dim is not None and int(intermediate_dim) != int(ff_dim):
            raise ValueError(f"TransformerEncoder: ff_dim={ff_dim} and intermediate_dim={intermediate_dim} disagree "
                             "(they are the same argument).")
        if ff_dim is None or int(ff_dim) <= 0:
            raise ValueError(f"TransformerEncoder: ff_dim (the feed-forward width) must be a positive integer, "
                             f"got {ff_dim!r}.")
        if int(num_heads) <= 0 or (key_dim is not None and int(key_dim) <= 0):
            raise ValueError(f"TransformerEncoder: num_heads and key_dim must be positive, got num_heads={num_heads!r}, "
                             f"key_dim={key_dim!r}.")
        for name, rate in (("dropout", dropout), ("attention_dropout", attention_dropout)):
            if rate is not None and not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"TransformerEncoder: {name} must be in [0, 1), got {rate!r}.")
        self.num_heads = int(num_heads)
        self.key_dim = None if key_dim is None else int(key_dim)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.attention_dropout = None if attention_dropout is None else float(attention_dropout)
        self.activation = activations.get(activation)
        self.norm_first = bool(norm_first)
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self._set_weight_options(locals(), "kernel", "bias")
        self.seed = seed

    def build(self, input_shape):
        from .normalization import LayerNormalization

        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ShapeError(f"Layer '{self.name}' (TransformerEncoder) expects input of shape (batch, time, "
                             f"features) with known features, got {input_shape}.")
        d_model = int(input_shape[-1])
        key_dim = self.key_dim
        if key_dim is None:
            if d_model % self.num_heads:
                raise ValueError(f"Layer '{self.name}' (TransformerEncoder): the model width {d_model} is not "
                                 f"divisible by num_heads={self.num_heads}; pass key_dim explicitly.")
            key_dim = d_model // self.num_heads
        dense = {"use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                 "bias_initializer": self.bias_initializer, "kernel_regularizer": self.kernel_regularizer,
                 "bias_regularizer": self.bias_regularizer, "dtype": self.dtype}
        seeds = [None] * 3 if self.seed is None else [self.seed + i for i in range(3)]
        attention_rate = self.dropout if self.attention_dropout is None else self.attention_dropout
        # Sub-layers in keras-hub's order (it fixes the order of `weights`).
        self._self_attention_layer = MultiHeadAttention(self.num_heads, key_dim, dropout=attention_rate,
                                                        seed=seeds[0], name="self_attention", **dense)
        self._self_attention_layer.build(input_shape, input_shape)
        self._self_attention_layer_norm = LayerNormalization(epsilon=self.epsilon, dtype=self.dtype,
                                                             name="self_attention_layer_norm")
        _build_sublayer(self._self_attention_layer_norm, input_shape)
        self._self_attention_dropout = Dropout(self.dropout, seed=seeds[1], name="self_attention_dropout",
                                               dtype=self.dtype)
        self._feedforward_layer_norm = LayerNormalization(epsilon=self.epsilon, dtype=self.dtype,
                                                          name="feedforward_layer_norm")
        _build_sublayer(self._feedforward_layer_norm, input_shape)
        self._feedforward_intermediate_dense = Dense(self.ff_dim, activation=self.activation,
                                                     name="feedforward_intermediate_dense", **dense)
        _build_sublayer(self._feedforward_intermediate_dense, input_shape)
        self._feedforward_output_dense = Dense(d_model, name="feedforward_output_dense", **dense)
        _build_sublayer(self._feedforward_output_dense, input_shape[:-1] + (self.ff_dim,))
        self._feedforward_dropout = Dropout(self.dropout, seed=seeds[2], name="feedforward_dropout",
                                            dtype=self.dtype)
        self.input_spec = InputSpec(ndim=3, axes={-1: d_model})
        self.built = True

    def call(self, inputs, mask=None, padding_mask=None, attention_mask=None, use_causal_mask=False, training=None):
        padding = mask if padding_mask is None else np.asarray(getattr(padding_mask, "data", padding_mask))
        every_query = None if padding is None else np.ones(np.shape(padding), dtype=bool)

        x = inputs
        h = self._self_attention_layer_norm(x) if self.norm_first else x
        h = self._self_attention_layer(h, h, query_mask=every_query, value_mask=padding,
                                       attention_mask=attention_mask, use_causal_mask=use_causal_mask,
                                       training=training)
        x = ops.add(x, self._self_attention_dropout(h, training=training))
        if not self.norm_first:
            x = self._self_attention_layer_norm(x)

        h = self._feedforward_layer_norm(x) if self.norm_first else x
        h = self._feedforward_output_dense(self._feedforward_intermediate_dense(h))
        x = ops.add(x, self._feedforward_dropout(h, training=training))
        if not self.norm_first:
            x = self._feedforward_layer_norm(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim, "ff_dim": self.ff_dim,
                "dropout": self.dropout, "attention_dropout": self.attention_dropout,
                "activation": activations.serialize(self.activation), "norm_first": self.norm_first,
                "epsilon": self.epsilon, "use_bias": self.use_bias,
                **self._weight_options_config("kernel", "bias"), "seed": self.seed}


def sinusoidal_positions(length: int, depth: int, max_wavelength: float = 10000.0, dtype="float32") -> np.ndarray:
    """(length, depth) table: P[t, 2i] = sin(t·ω_i), P[t, 2i+1] = cos(t·ω_i), ω_i = max_wavelength^(−2i/depth)."""
    positions = np.arange(length, dtype=np.float64)[:, None]
    pair = np.arange(depth) // 2 * 2  # 2i for both columns 2i and 2i+1
    angles = positions * max_wavelength ** (-pair / depth)
    return np.where(np.arange(depth) % 2 == 0, np.sin(angles), np.cos(angles)).astype(dtype)


class PositionalEmbedding(Layer):
    """Token embedding plus position embedding, for integer sequences (batch, time) → (batch, time, output_dim).

    ``input_dim`` is the vocabulary size, ``sequence_length`` the longest sequence (shorter ones use the
    first positions). ``position_encoding="learned"`` (default) trains a (sequence_length, output_dim)
    table; ``"sinusoidal"`` uses the fixed sinusoids (no weights). ``mask_zero=True`` marks token 0 as
    padding: the output carries the mask ``ids != 0`` for later layers (attention, losses).
    Parameters: input_dim·output_dim (+ sequence_length·output_dim when learned).
    """

    def __init__(self, sequence_length, input_dim, output_dim, mask_zero=False, embeddings_initializer="uniform",
                 position_encoding="learned", embeddings_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("sequence_length", sequence_length), ("input_dim", input_dim),
                            ("output_dim", output_dim)):
            if isinstance(value, bool) or int(value) != value or int(value) <= 0:
                raise ValueError(f"PositionalEmbedding: {name} must be a positive integer, got {value!r}.")
        if position_encoding not in ("learned", "sinusoidal"):
            raise ValueError(f"PositionalEmbedding: position_encoding must be 'learned' or 'sinusoidal', got "
                             f"{position_encoding!r}.")
        self.sequence_length = int(sequence_length)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.mask_zero = bool(mask_zero)
        self._set_weight_options(locals(), "embeddings")
        self.position_encoding = position_encoding
        self.input_spec = InputSpec(ndim=2)

    def build(self, input_shape):
        length = input_shape[-1] if len(input_shape) == 2 else None
        if length is not None and int(length) > self.sequence_length:
            raise ShapeError(f"Layer '{self.name}' (PositionalEmbedding) was made for sequences of at most "
                             f"{self.sequence_length} steps, got input shape {tuple(input_shape)}.")
        self.token_embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                                name="token_embeddings", regularizer=self.embeddings_regularizer)
        if self.position_encoding == "learned":
            self.position_embeddings = self.add_weight((self.sequence_length, self.output_dim),
                                                       self.embeddings_initializer, name="position_embeddings",
                                                       regularizer=self.embeddings_regularizer)
        else:
            table = sinusoidal_positions(self.sequence_length, self.output_dim, dtype=self.dtype)
            self.position_embeddings = Tensor(table, dtype=table.dtype)  # a constant, not a weight
        self.built = True

    def _token_ids(self, inputs) -> np.ndarray:
        values = np.asarray(inputs.data)
        ids = values.astype(np.intp)
        if values.dtype.kind == "f" and not np.array_equal(ids, values):
            raise InputError(f"Layer '{self.name}' (PositionalEmbedding) expects integer token ids, got "
                             f"non-integer values such as {values[ids != values].ravel()[0]!r}.")
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            bad = ids[(ids < 0) | (ids >= self.input_dim)].ravel()[0]
            raise InputError(f"Layer '{self.name}' (PositionalEmbedding): token ids must be in [0, {self.input_dim}) "
                             f"(input_dim={self.input_dim}), got {bad}.")
        if ids.shape[1] > self.sequence_length:
            raise ShapeError(f"Layer '{self.name}' (PositionalEmbedding) was made for sequences of at most "
                             f"{self.sequence_length} steps, got {ids.shape[1]} (input shape {ids.shape}).")
        return ids

    def call(self, inputs):
        ids = self._token_ids(inputs)
        tokens = ops.take(self.token_embeddings, ids, axis=0)                        # (B, T, d)
        positions = ops.getitem(self.position_embeddings, slice(0, ids.shape[1]))   # (T, d)
        return ops.add(tokens, positions)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs.data) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length, "input_dim": self.input_dim,
                "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "position_encoding": self.position_encoding, **self._weight_options_config("embeddings")}


__all__ = ["PositionalEmbedding", "TransformerEncoder", "sinusoidal_positions"]
