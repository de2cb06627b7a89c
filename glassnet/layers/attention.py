"""Multi-head attention (Vaswani et al., 2017) with Keras 3's arguments, weights and masks.

With query (B, T, d_q), value (B, S, d_v) and key (B, S, d_k) (key defaults to value), for every head h::

    Q_h = query·Wq[:, h] + bq[h]      K_h = key·Wk[:, h] + bk[h]      V_h = value·Wv[:, h] + bv[h]
    A_h = softmax(Q_h K_hᵀ / √key_dim, masked logits set to −10⁹)          (B, T, S)  attention scores
    out = Σ_h dropout(A_h) V_h · Wo[h] + bo                                 (B, T, d_out)

Weight shapes are Keras': Wq (d_q, heads, key_dim), bq (heads, key_dim), Wk, bk likewise, Wv (d_v, heads,
value_dim), bv (heads, value_dim), Wo (heads, value_dim, d_out), bo (d_out,), so parameter counts match.
All heads and samples are computed at once with batched matrix products.

Masks (True = may attend) are combined with a logical AND, as Keras does: ``attention_mask`` (B, T, S)
(or broadcastable, e.g. (T, S)), the causal mask (query t sees keys s ≤ t), and the time-step masks
of the inputs — ``query_mask`` (B, T) masks rows, ``value_mask``/``key_mask`` (B, S) mask columns;
each defaults to the ``_keras_mask`` its tensor carries. A fully masked row attends uniformly.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops, regularizers
from ..errors import ShapeError
from .base import InputSpec, Layer, _batchless, _contains
from .core import Dropout

_MASKED_LOGIT = -1e9  # Keras' large negative number for masked attention logits


def _shape_of(x) -> tuple:
    """Shape of a Tensor, KerasTensor, or anything NumPy can read."""
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else np.shape(x)


class _Projection(Layer):
    """Affine map of the last ``in_rank`` axes onto ``out_shape`` (Keras' EinsumDense as used in attention):

    ``y[..., o] = Σ_i x[..., i] W[i, o] + b[o]`` with kernel (*in_dims, *out_shape) and bias (*out_shape),
    computed as one ``ops.dense`` on the flattened axes.
    """

    def __init__(self, out_shape, in_rank: int = 1, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.out_shape = tuple(int(s) for s in out_shape)
        self.in_rank = int(in_rank)
        self.use_bias = bool(use_bias)
        self._set_weight_options(locals(), "kernel", "bias")
        self.bias = None

    def build(self, input_shape):
        in_dims = tuple(input_shape[-self.in_rank:])
        if len(input_shape) <= self.in_rank or any(d is None for d in in_dims):
            raise ShapeError(f"Layer '{self.name}' needs input of rank > {self.in_rank} whose last {self.in_rank} "
                             f"dimension(s) are known, got input shape {tuple(input_shape)}.")
        in_dims = tuple(int(d) for d in in_dims)
        self.kernel = self.add_weight(in_dims + self.out_shape, self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight(self.out_shape, self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.input_spec = InputSpec(min_ndim=self.in_rank + 1,
                                    axes={-self.in_rank + i: d for i, d in enumerate(in_dims)})
        self.built = True

    def call(self, inputs):
        lead = inputs.shape[:inputs.ndim - self.in_rank]
        n_in = int(np.prod(self.kernel.shape[:self.in_rank]))
        n_out = int(np.prod(self.out_shape))
        kernel = ops.reshape(self.kernel, (n_in, n_out))
        bias = None if self.bias is None else ops.reshape(self.bias, (n_out,))
        flat = ops.dense(ops.reshape(inputs, (-1, n_in)), kernel, bias)
        return ops.reshape(flat, tuple(lead) + self.out_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:len(input_shape) - self.in_rank]) + self.out_shape


def _build_sublayer(layer: Layer, input_shape) -> None:
    layer._build_input_shape = input_shape
    layer.build(input_shape)
    layer.built = True


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (list, tuple))


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (see the module docstring for the formulas and masks).

    ``mha(query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)`` returns (B, T, d_out), and with
    ``return_attention_scores=True`` also the softmax probabilities (B, heads, T, S) (before dropout).
    ``output_shape`` (int or tuple) sets the trailing output dims; by default d_out = d_q.
    Parameters: (d_q + d_k)·H·key_dim + 2·H·key_dim + d_v·H·value_dim + H·value_dim + H·value_dim·d_out + d_out.
    """

    supports_masking = True  # the output carries the query's time-step mask

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, seed=None, **kwargs):
        super().__init__(**kwargs)  # the activity regularizer goes to the four projections, as in Keras
        for arg, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim)):
            if value is not None and (isinstance(value, bool) or int(value) != value or int(value) <= 0):
                raise ValueError(f"MultiHeadAttention: {arg} must be a positive integer, got {value!r}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout!r}.")
        if output_shape is not None:
            output_shape = (int(output_shape),) if np.isscalar(output_shape) else tuple(int(s) for s in output_shape)
        if attention_axes is not None:
            axes = (attention_axes,) if np.isscalar(attention_axes) else tuple(attention_axes)
            if axes not in ((1,), (-2,)):
                raise NotImplementedError(
                    f"MultiHeadAttention: only attention over the time axis of (batch, time, features) inputs is "
                    f"supported (attention_axes=None or 1), got attention_axes={attention_axes!r}.")
            attention_axes = None
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self._output_shape = output_shape
        self.attention_axes = attention_axes
        self._set_weight_options(locals(), "kernel", "bias")
        self.projection_activity_regularizer = regularizers.get(activity_regularizer)
        self.seed = seed
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(self.key_dim)
        self._dropout_layer = Dropout(self.dropout, seed=seed, name="attention_dropout", dtype=self.dtype)
        self._query_dense = self._key_dense = self._value_dense = self._output_dense = None
        self._scores_requested = False
        self._symbolic_lengths = None
        self._returned_scores = False

    # Keras exposes the projections under these names.
    query_dense = property(lambda self: self._query_dense)
    key_dense = property(lambda self: self._key_dense)
    value_dense = property(lambda self: self._value_dense)
    output_dense = property(lambda self: self._output_dense)

    # ----------------------------------------------------------------- building
    def _projection(self, out_shape, name, in_rank=1) -> _Projection:
        return _Projection(out_shape, in_rank=in_rank, use_bias=self.use_bias,
                           kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
                           kernel_regularizer=self.kernel_regularizer, bias_regularizer=self.bias_regularizer,
                           kernel_constraint=self.kernel_constraint, bias_constraint=self.bias_constraint,
                           activity_regularizer=self.projection_activity_regularizer, name=name, dtype=self.dtype,
                           trainable=self.trainable)

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the four projections for inputs of these shapes (a list [query, value, key] is accepted;
        value defaults to query, key to value)."""
        if value_shape is None and _is_shape_list(query_shape):
            query_shape, value_shape, key_shape = (list(query_shape) + [None, None])[:3]
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        shapes = {"query": tuple(query_shape), "value": tuple(value_shape), "key": tuple(key_shape)}
        for role, shape in shapes.items():
            self._check_rank(role, shape)
        if shapes["value"][1:-1] != shapes["key"][1:-1] and None not in shapes["value"][1:-1] + shapes["key"][1:-1]:
            raise ShapeError(f"Layer '{self.name}' (MultiHeadAttention): value and key must have the same length, "
                             f"got value shape {shapes['value']} and key shape {shapes['key']}.")
        heads = self.num_heads
        self._query_dense = self._projection((heads, self.key_dim), "query")
        _build_sublayer(self._query_dense, shapes["query"])
        self._key_dense = self._projection((heads, self.key_dim), "key")
        _build_sublayer(self._key_dense, shapes["key"])
        self._value_dense = self._projection((heads, self.value_dim), "value")
        _build_sublayer(self._value_dense, shapes["value"])
        self._output_dense = self._projection(self._output_shape or (int(shapes["query"][-1]),), "attention_output",
                                              in_rank=2)
        _build_sublayer(self._output_dense, tuple(shapes["query"][:-1]) + (heads, self.value_dim))
        self._build_input_shape = [shapes["query"], shapes["value"], shapes["key"]]
        self.built = True

    def _check_rank(self, role: str, shape) -> None:
        if len(shape) != 3 or shape[-1] is None:
            raise ShapeError(f"Layer '{self.name}' (MultiHeadAttention) expects {role} of shape "
                             f"(batch, time, features) with known features, but received shape "
                             f"{tuple(shape)}.")

    # ----------------------------------------------------------------- calling
    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None:
            raise TypeError(f"Layer '{self.name}' (MultiHeadAttention) needs both query and value: call it as "
                            "mha(query, value) (self-attention: mha(x, x)).")
        if not self.built:
            shapes = [_batchless(_shape_of(t)) for t in (query, value, value if key is None else key)]
            self.build(*shapes)
        symbolic = _contains([query, value, key], _keras_tensor_class())
        self._scores_requested = bool(kwargs.get("return_attention_scores")) and symbolic
        lengths = (_shape_of(query)[1:2], _shape_of(value)[1:2])
        self._symbolic_lengths = (lengths[0] + lengths[1]) if symbolic and all(lengths) else None
        try:
            return super().__call__(query, value, key, **kwargs)
        finally:
            self._scores_requested = False

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        value = self._convert_input(value)
        key = value if key is None else self._convert_input(key)
        if query_mask is None:
            query_mask = getattr(query, "_keras_mask", None)
        if value_mask is None:
            value_mask = getattr(value, "_keras_mask", None)
        if key_mask is None and key is not value:
            key_mask = getattr(key, "_keras_mask", None)
        for role, tensor in (("query", query), ("value", value), ("key", key)):
            self._check_rank(role, tensor.shape)
        batch, target, source = query.shape[0], query.shape[1], value.shape[1]
        if value.shape[0] != batch or key.shape[0] != batch:
            raise ShapeError(f"Layer '{self.name}' (MultiHeadAttention): query, value and key must have the same "
                             f"batch size; got query {query.shape}, value {value.shape}, key {key.shape}.")
        if key.shape[1] != source:
            raise ShapeError(f"Layer '{self.name}' (MultiHeadAttention): value and key must have the same length, "
                             f"got value shape {value.shape} and key shape {key.shape}.")
        mask = self._compute_attention_mask(batch, target, source, query_mask, value_mask, key_mask,
                                            attention_mask, use_causal_mask)
        self._returned_scores = bool(return_attention_scores)

        q = ops.transpose(self._query_dense(query), (0, 2, 1, 3))     # (B, H, T, key_dim)
        k = ops.transpose(self._key_dense(key), (0, 2, 3, 1))         # (B, H, key_dim, S)
        v = ops.transpose(self._value_dense(value), (0, 2, 1, 3))     # (B, H, S, value_dim)
        logits = ops.matmul(ops.multiply(q, self._inverse_sqrt_key_dim), k)  # (B, H, T, S)
        if mask is not None:
            logits = ops.where(mask, logits, _MASKED_LOGIT)
        scores = ops.softmax(logits, axis=-1)
        context = ops.matmul(self._dropout_layer(scores, training=training), v)  # (B, H, T, value_dim)
        output = self._output_dense(ops.transpose(context, (0, 2, 1, 3)))        # (B, T, *output_shape)
        return (output, scores) if return_attention_scores else output

    def _compute_attention_mask(self, batch, target, source, query_mask, value_mask, key_mask, attention_mask,
                                use_causal_mask):
        """The AND of every mask given, as a boolean array broadcastable to (B, H, T, S), or None."""
        parts = []
        for name, m, expected in (("query_mask", query_mask, (batch, target)),
                                  ("value_mask", value_mask, (batch, source)),
                                  ("key_mask", key_mask, (batch, source))):
            if m is None:
                continue
            m = np.asarray(getattr(m, "data", m)).astype(bool)
            if m.shape != expected:
                raise ShapeError(f"Layer '{self.name}' (MultiHeadAttention): {name} should have shape {expected} "
                                 f"(batch, {'query' if name == 'query_mask' else 'value'} length), got {m.shape}.")
            parts.append(m[:, None, :, None] if name == "query_mask" else m[:, None, None, :])
        if use_causal_mask:
            parts.append(np.tril(np.ones((target, source), dtype=bool))[None, None])  # query t sees keys s <= t
        if attention_mask is not None:
            given = np.asarray(getattr(attention_mask, "data", attention_mask)).astype(bool)
            while 2 <= given.ndim < 4:
                given = np.expand_dims(given, -3)  # (B, T, S) -> (B, 1, T, S); (T, S) -> (1, 1, T, S)
            try:
                if given.ndim != 4:
                    raise ValueError
                np.broadcast_shapes(given.shape, (batch, self.num_heads, target, source))
            except ValueError:
                raise ShapeError(f"Layer '{self.name}' (MultiHeadAttention): attention_mask should have shape "
                                 f"(batch, query length, value length) = ({batch}, {target}, {source}) or "
                                 f"broadcast to it, got {np.shape(getattr(attention_mask, 'data', attention_mask))}."
                                 ) from None
            parts.append(given)
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined

    def compute_mask(self, inputs, mask=None):
        """The output keeps the query's time-step mask; the attention scores carry none."""
        if mask is None:
            return None
        return [mask, None] if getattr(self, "_returned_scores", False) else mask

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        output = query_shape[:-1] + (self._output_shape or (query_shape[-1],))
        if self._scores_requested:
            target, source = self._symbolic_lengths or (query_shape[1], query_shape[1])
            return [output, (query_shape[0], self.num_heads, target, source)]
        return output

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": None if self._output_shape is None else list(self._output_shape),
                "attention_axes": self.attention_axes,
                **self._weight_options_config("kernel", "bias"),
                "activity_regularizer": regularizers.serialize(self.projection_activity_regularizer),
                "seed": self.seed}


def _keras_tensor_class():
    from .input import KerasTensor

    return KerasTensor


__all__ = ["MultiHeadAttention"]
