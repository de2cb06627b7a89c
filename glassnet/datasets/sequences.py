"""Ragged sequences → one array: ``pad_sequences`` (Keras ``keras.utils.pad_sequences``).

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
    array([[0, 0, 1],
           [0, 2, 3],
           [4, 5, 6]], dtype=int32)
    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post")
    array([[1, 0],
           [2, 3],
           [5, 6]], dtype=int32)
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, UnknownNameError

__all__ = ["pad_sequences"]

_SIDES = ("pre", "post")


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0) -> np.ndarray:
    """Pad (or cut) every sequence to ``maxlen`` steps: an array ``(len(sequences), maxlen, *item_shape)``.

    ``maxlen`` None → the longest sequence's length. A longer sequence loses its first steps
    (``truncating='pre'``, Keras' default) or its last ones ('post'); a shorter one gets ``value``
    before it (``padding='pre'``, the default) or after it ('post'). Items may be scalars or arrays
    of one shape (``item_shape``); values are cast to ``dtype``. Empty sequences are all padding.
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in _SIDES:
            raise UnknownNameError(f"pad_sequences {name} side", str(side), _SIDES)
    if not hasattr(sequences, "__len__"):
        raise InputError(f"pad_sequences: `sequences` must be a list of sequences, got {type(sequences).__name__}.")
    arrays = []
    for index, sequence in enumerate(sequences):
        if not hasattr(sequence, "__len__"):
            raise InputError(f"pad_sequences: sequence {index} is not a sequence (got {sequence!r:.60}); "
                             "`sequences` must be a list of lists or arrays.")
        arrays.append(np.asarray(sequence))
    item_shape = next((a.shape[1:] for a in arrays if len(a)), ())
    for index, array in enumerate(arrays):
        if len(array) and array.shape[1:] != item_shape:
            raise InputError(f"pad_sequences: sequence {index} has items of shape {array.shape[1:]}, but earlier "
                             f"sequences have items of shape {item_shape}; all items must share one shape.")
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    if maxlen is None:
        maxlen = int(lengths.max()) if len(lengths) else 0
    elif isinstance(maxlen, (bool, np.bool_)) or int(maxlen) != maxlen or maxlen < 0:
        raise InputError(f"pad_sequences: maxlen must be a non-negative integer or None, got {maxlen!r}.")
    maxlen = int(maxlen)
    out = np.full((len(arrays), maxlen) + item_shape, value, dtype=dtype)
    kept = np.minimum(lengths, maxlen)
    if not kept.sum():
        return out
    # One scatter for all sequences: step j of sequence i (0 ≤ j < length_i) is kept when it survives
    # truncation, and lands in column (j − first kept step) + (maxlen − kept_i if pre-padding else 0).
    rows = np.repeat(np.arange(len(arrays)), lengths)
    steps = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    first = (lengths - kept) if truncating == "pre" else np.zeros_like(lengths)
    keep = (steps >= first[rows]) & (steps < (first + kept)[rows])
    columns = steps - first[rows] + ((maxlen - kept)[rows] if padding == "pre" else 0)
    values = np.concatenate([a.reshape((len(a),) + item_shape) for a in arrays]).astype(dtype, copy=False)
    out[rows[keep], columns[keep]] = values[keep]
    return out
