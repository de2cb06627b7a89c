"""Spatial reshaping layers (Keras 3 names and arguments), channels-last only.

``UpSampling1D/2D/3D`` (repeat each element ``size`` times; 2-D also bilinear), ``ZeroPadding1D/2D/3D``
(zeros around the spatial axes) and ``Cropping1D/2D/3D`` (remove rows/columns at the borders).
No weights; the gradients come from :mod:`glassnet.ops` (repeat-sum, pad-slice, slice-scatter).
"""

from __future__ import annotations

from .. import ops
from ..errors import ShapeError, UnknownNameError
from ..ops import conv as conv_ops
from .base import InputSpec, Layer, _shape_str
from .conv import check_rank, standardize_data_format

INTERPOLATIONS = ("nearest", "bilinear")


def _pairs(value, rank: int, what: str) -> tuple:
    """Keras border spec → ((before, after),) * rank.

    int n → n everywhere; ``rank`` ints → symmetric per axis; ``rank`` pairs → as given (1-D: one pair).
    """
    try:
        if isinstance(value, int):
            pairs = ((value, value),) * rank
        elif rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
            pairs = (tuple(value),)
        elif len(value) == rank and all(isinstance(v, int) for v in value):
            pairs = tuple((v, v) for v in value)
        else:
            pairs = tuple(tuple(int(v) for v in pair) for pair in value)
    except (TypeError, ValueError):
        pairs = ()
    if len(pairs) != rank or any(len(p) != 2 or min(p) < 0 for p in pairs):
        shape = "(before, after)" if rank == 1 else f"{rank} ints or {rank} (before, after) pairs"
        raise ValueError(f"{what} must be a non-negative int or {shape}, got {value!r}.")
    return tuple((int(a), int(b)) for a, b in pairs)


class _Spatial(Layer):
    rank = 2

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self.compute_output_shape(input_shape)
        self.built = True

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.rank == 1:
            config.pop("data_format")  # Keras' 1-D versions take no data_format
        return config


# ============================================================== upsampling
class _UpSampling(_Spatial):
    def __init__(self, size=2, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.size = conv_ops.normalize_tuple(size, self.rank, f"{type(self).__name__}: size")
        self.interpolation = "nearest"

    def call(self, inputs):
        return conv_ops.upsample_nearest(inputs, self.size)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        return ((input_shape[0],) + tuple(None if n is None else n * s for n, s in zip(input_shape[1:-1], self.size))
                + (input_shape[-1],))

    def get_config(self):
        return {**super().get_config(), "size": self.size[0] if self.rank == 1 else list(self.size)}


class UpSampling1D(_UpSampling):
    """Repeat each time step ``size`` times: (batch, steps, C) → (batch, steps·size, C)."""

    rank = 1

    def __init__(self, size: int = 2, **kwargs):
        super().__init__(size=size, **kwargs)


class UpSampling2D(_UpSampling):
    """Upsample (batch, H, W, C) → (batch, H·sh, W·sw, C).

    'nearest' repeats each pixel; 'bilinear' interpolates linearly with half-pixel centres (TensorFlow
    ``resize``, PyTorch ``align_corners=False``): ``out = A_h · x · A_wᵀ`` per channel with fixed
    interpolation matrices (see :func:`glassnet.ops.conv.linear_resize_matrix`).
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation: str = "nearest", **kwargs):
        super().__init__(size=size, data_format=data_format, **kwargs)
        if interpolation not in INTERPOLATIONS:
            raise UnknownNameError("UpSampling2D interpolation", interpolation, INTERPOLATIONS)
        self.interpolation = interpolation

    def call(self, inputs):
        if self.interpolation == "nearest":
            return conv_ops.upsample_nearest(inputs, self.size)
        n, h, w, c = inputs.shape
        dtype = inputs.dtype
        rows = conv_ops.linear_resize_matrix(h, h * self.size[0], dtype)      # (H·sh, H)
        cols = conv_ops.linear_resize_matrix(w, w * self.size[1], dtype)      # (W·sw, W)
        x = ops.matmul(rows, ops.reshape(inputs, (n, h, w * c)))              # (N, H·sh, W·C)
        x = ops.matmul(cols, ops.reshape(x, (n, h * self.size[0], w, c)))     # (N, H·sh, W·sw, C)
        return x

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class UpSampling3D(_UpSampling):
    """Repeat each voxel: (batch, d1, d2, d3, C) → (batch, d1·s1, d2·s2, d3·s3, C)."""

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(size=size, data_format=data_format, **kwargs)


# ============================================================== zero padding
class _ZeroPadding(_Spatial):
    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = _pairs(padding, self.rank, f"{type(self).__name__}: padding")

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        return ((input_shape[0],) + tuple(None if n is None else n + a + b
                                          for n, (a, b) in zip(input_shape[1:-1], self.padding))
                + (input_shape[-1],))

    def get_config(self):
        padding = list(self.padding[0]) if self.rank == 1 else [list(p) for p in self.padding]
        return {**super().get_config(), "padding": padding}


class ZeroPadding1D(_ZeroPadding):
    """Zeros at the start and end of the steps axis: ``padding`` int or (left, right)."""

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding=padding, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Zeros around images: ``padding`` int, (symmetric_h, symmetric_w) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around volumes: int, 3 ints, or 3 (before, after) pairs."""

    rank = 3

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(padding=padding, data_format=data_format, **kwargs)


# ============================================================== cropping
class _Cropping(_Spatial):
    def __init__(self, cropping=1, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = _pairs(cropping, self.rank, f"{type(self).__name__}: cropping")

    def _check(self, input_shape):
        for n, (a, b) in zip(input_shape[1:-1], self.cropping):
            if n is not None and a + b >= n:
                raise ShapeError(f"Layer '{self.name}' ({type(self).__name__}) cannot crop {self.cropping} from an "
                                 f"input of shape {_shape_str(tuple(input_shape))}: nothing would be left.")

    def call(self, inputs):
        self._check(inputs.shape)
        index = (slice(None),) + tuple(slice(a, n - b) for n, (a, b) in zip(inputs.shape[1:-1], self.cropping))
        return ops.getitem(inputs, index + (slice(None),))

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self._check(input_shape)
        return ((input_shape[0],) + tuple(None if n is None else n - a - b
                                          for n, (a, b) in zip(input_shape[1:-1], self.cropping))
                + (input_shape[-1],))

    def get_config(self):
        cropping = list(self.cropping[0]) if self.rank == 1 else [list(p) for p in self.cropping]
        return {**super().get_config(), "cropping": cropping}


class Cropping1D(_Cropping):
    """Remove ``cropping`` = int or (start, end) steps from the steps axis."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping=cropping, **kwargs)


class Cropping2D(_Cropping):
    """Remove rows/columns at the borders: int, (symmetric_h, symmetric_w) or ((top, bottom), (left, right))."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)


class Cropping3D(_Cropping):
    """Remove borders of volumes: int, 3 ints, or 3 (before, after) pairs."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping=cropping, data_format=data_format, **kwargs)


__all__ = ["UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
           "Cropping1D", "Cropping2D", "Cropping3D"]
