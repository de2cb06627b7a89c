"""``Embedding``: integer indices → rows of a trainable (input_dim, output_dim) matrix.

``outputs[..., :] = embeddings[indices[...]]``; the gradient of a row is the sum of the output
gradients of every position holding its index (a scatter-add). With ``mask_zero=True`` index 0 is
padding: the output carries the mask ``indices != 0`` that recurrent layers and losses honour
(so ``input_dim`` should then be the vocabulary size + 1).
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import InputError, ShapeError
from ..tensor import Tensor
from .base import Layer


class Embedding(Layer):
    """Turns indices in ``[0, input_dim)`` into dense vectors of size ``output_dim``.

    Input (batch, ...) of integer indices (integer-valued floats are accepted, as ``fit`` passes
    them); output (batch, ..., output_dim). Parameters: input_dim·output_dim.
    ``input_length`` (Keras 2) is accepted and ignored; ``weights=[matrix]`` sets the initial matrix.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, input_length=None,
                 activity_regularizer=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) <= 0:
                raise ValueError(f"Embedding: {arg} must be a positive integer, got {value!r}.")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self._set_weight_options(locals(), "embeddings")
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self._initial_weights = weights

    def build(self, input_shape=None):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                          name="embeddings", regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            weights = self._initial_weights
            matrix = np.asarray(weights[0] if isinstance(weights, (list, tuple)) else weights)
            if matrix.shape != (self.input_dim, self.output_dim):
                raise ShapeError(f"Layer '{self.name}' (Embedding): weights should have shape "
                                 f"({self.input_dim}, {self.output_dim}), got {matrix.shape}.")
            self.embeddings.data[...] = matrix
            self._initial_weights = None
        self.built = True

    def _convert_input(self, x):
        """Integer arrays stay integer (the base would cast them to the float compute dtype)."""
        if not isinstance(x, Tensor):
            array = np.asarray(x)
            if array.dtype.kind in "iub":
                return Tensor(array, dtype=array.dtype)
        return super()._convert_input(x)

    def _indices(self, inputs) -> np.ndarray:
        """The indices as an integer array, after checking they are whole numbers in [0, input_dim)."""
        data = np.asarray(getattr(inputs, "data", inputs))
        where = f"Layer '{self.name}' (Embedding)"
        if data.dtype.kind == "f":
            bad = ~np.isfinite(data) | (data != np.floor(data))
            if bad.any():
                position = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputError(f"{where} expects integer indices, but received {data[position]!r} at "
                                 f"position {position} (inputs of shape {data.shape}).")
            indices = data.astype(np.intp)
        elif data.dtype.kind in "iub":
            indices = data.astype(np.intp, copy=False)
        else:
            raise InputError(f"{where} expects integer indices, got an array of dtype {data.dtype}.")
        if indices.size:
            bad = (indices < 0) | (indices >= self.input_dim)
            if bad.any():
                position = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputError(f"{where}: index {indices[position]} at position {position} is out of range for "
                                 f"input_dim={self.input_dim} (valid indices are 0 to {self.input_dim - 1}).")
        return indices

    def call(self, inputs):
        return ops.take(self.embeddings, self._indices(inputs), axis=0)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(getattr(inputs, "data", inputs)) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                **self._weight_options_config("embeddings"),
                "mask_zero": self.mask_zero}


__all__ = ["Embedding"]
