"""Shape and indexing operations. Their gradients only move values around (reshape back,
transpose back, scatter back into place), so each backward is the forward's adjoint."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from .elementwise import as_float_tensor


def reshape(x, shape) -> Tensor:
    """Same values, new shape (one dimension may be −1)."""
    x = as_float_tensor(x)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    source = x.data.shape
    return make_result(x.data.reshape(shape), (x,), lambda g: (g.reshape(source),), "reshape")


def flatten(x, start_axis: int = 1) -> Tensor:
    """Merge all axes from ``start_axis`` on (keeps the batch axis by default)."""
    x = as_float_tensor(x)
    return reshape(x, x.data.shape[:start_axis] + (-1,))


def transpose(x, axes=None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None)."""
    x = as_float_tensor(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
    inverse = tuple(np.argsort(axes))
    return make_result(np.transpose(x.data, axes), (x,), lambda g: (np.transpose(g, inverse),), "transpose")


def permute(x, *axes) -> Tensor:
    """``transpose`` with the axes given as arguments or one tuple (PyTorch style)."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    return transpose(x, axes)


def swapaxes(x, axis1: int, axis2: int) -> Tensor:
    x = as_float_tensor(x)
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


def expand_dims(x, axis) -> Tensor:
    """Insert a size-1 axis at ``axis``."""
    x = as_float_tensor(x)
    return reshape(x, np.expand_dims(x.data, axis).shape)


def squeeze(x, axis=None) -> Tensor:
    """Remove size-1 axes (only ``axis`` if given)."""
    x = as_float_tensor(x)
    return reshape(x, np.squeeze(x.data, axis=axis).shape)


def broadcast_to(x, shape) -> Tensor:
    """Repeat along size-1 axes to ``shape``; the gradient is summed back."""
    from ..tensor import unbroadcast

    x = as_float_tensor(x)
    source = x.data.shape
    return make_result(np.broadcast_to(x.data, tuple(shape)), (x,),
                       lambda g: (unbroadcast(g, source),), "broadcast_to")


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; the gradient is split back into pieces."""
    tensors = [as_float_tensor(t) for t in tensors]
    out = np.concatenate([t.data for t in tensors], axis=axis)
    bounds = np.cumsum([t.data.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=axis))

    return make_result(out, tensors, backward, "concatenate")


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    tensors = [as_float_tensor(t) for t in tensors]
    out = np.stack([t.data for t in tensors], axis=axis)

    def backward(g):
        return tuple(np.moveaxis(g, axis, 0))

    return make_result(out, tensors, backward, "stack")


def split(x, indices_or_sections, axis: int = 0) -> list:
    """Split into pieces (NumPy semantics); each piece is a differentiable slice."""
    x = as_float_tensor(x)
    pieces = np.array_split(np.arange(x.data.shape[axis]), indices_or_sections) \
        if isinstance(indices_or_sections, int) else \
        np.split(np.arange(x.data.shape[axis]), indices_or_sections)
    result = []
    for piece in pieces:
        index = [slice(None)] * x.ndim
        index[axis] = slice(int(piece[0]), int(piece[-1]) + 1) if len(piece) else slice(0, 0)
        result.append(getitem(x, tuple(index)))
    return result


def _normalize_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (np.ndarray, list)) for i in items)


def getitem(x, index) -> Tensor:
    """``x[index]`` with slices, integers, ``None``, ellipsis, integer arrays and boolean masks.

    The gradient scatters back into a zero array; repeated integer indices accumulate.
    """
    x = as_float_tensor(x)
    index = _normalize_index(index)
    out = x.data[index]
    advanced = _is_advanced(index)
    shape, dtype = x.data.shape, x.data.dtype

    def backward(g):
        full = np.zeros(shape, dtype=dtype)
        if advanced:
            np.add.at(full, index, g)
        else:
            full[index] = g
        return (full,)

    return make_result(np.asarray(out), (x,), backward, "getitem")


def take(x, indices, axis: int = 0) -> Tensor:
    """Gather ``indices`` along ``axis`` (as ``np.take``); repeated indices accumulate gradient."""
    x = as_float_tensor(x)
    indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices).astype(np.intp)
    axis = axis % x.ndim
    out = np.take(x.data, indices, axis=axis)
    shape, dtype = x.data.shape, x.data.dtype

    def backward(g):
        full = np.zeros(shape, dtype=dtype)
        moved = np.moveaxis(full, axis, 0)
        g_moved = np.moveaxis(g, list(range(axis, axis + indices.ndim)), list(range(indices.ndim)))
        np.add.at(moved, indices, g_moved)
        return (full,)

    return make_result(out, (x,), backward, "take")


def pad(x, pad_width, mode: str = "constant", constant_values=0) -> Tensor:
    """Pad with a constant (NumPy ``pad_width`` format); the gradient is the un-padded slice."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, got {mode!r}.")
    x = as_float_tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (x.ndim, 2))  # NumPy's pad_width rules
    out = np.pad(x.data, widths, mode="constant", constant_values=constant_values)
    inner = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, x.data.shape))
    return make_result(out, (x,), lambda g: (g[inner],), "pad")


def repeat(x, repeats: int, axis: int) -> Tensor:
    """Repeat each element ``repeats`` times along ``axis`` (``np.repeat``)."""
    x = as_float_tensor(x)
    axis = axis % x.ndim
    n = x.data.shape[axis]

    def backward(g):
        shape = g.shape[:axis] + (n, repeats) + g.shape[axis + 1:]
        return (g.reshape(shape).sum(axis=axis + 1),)

    return make_result(np.repeat(x.data, repeats, axis=axis), (x,), backward, "repeat")


def tile(x, reps) -> Tensor:
    """Tile the whole tensor ``reps`` times per axis (``np.tile``)."""
    x = as_float_tensor(x)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    if len(reps) > x.ndim:
        x = reshape(x, (1,) * (len(reps) - x.ndim) + x.data.shape)
    reps = (1,) * (x.ndim - len(reps)) + reps
    source = x.data.shape

    def backward(g):
        split_shape = []
        for r, n in zip(reps, source):
            split_shape += [r, n]
        summed = g.reshape(split_shape).sum(axis=tuple(range(0, 2 * len(reps), 2)))
        return (summed,)

    return make_result(np.tile(x.data, reps), (x,), backward, "tile")
