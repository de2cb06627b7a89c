"""Image augmentation layers: random flips, whole-pixel translations, quarter-turn rotations, contrast.

They transform images only in training (``fit``, or ``training=True``) and are the identity
otherwise, so they can sit at the front of a model that is later used for prediction. Inputs are
batches (batch, height, width, channels) or single images (height, width, channels);
``data_format='channels_first'`` takes (batch, channels, height, width). Every image of a batch
gets its own random transformation, applied to the whole batch at once by one gather (no loop
over images). Random draws use the layer's ``seed`` if given, else the global generator.
"""

from __future__ import annotations

import numpy as np

from .. import backend, ops
from ..errors import ShapeError
from .base import InputSpec, Layer


class _ImageAugmentation(Layer):
    """Shared plumbing: identity unless training, rank 3/4 inputs, channels_first, seeded generator."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(int(seed))
        self.data_format = data_format or "channels_last"
        if self.data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__}: data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}.")
        self.input_spec = InputSpec(min_ndim=3, max_ndim=4)

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else backend.rng()

    def _spatial_shape(self, shape):
        """(height, width) of an input shape (batched or not)."""
        if self.data_format == "channels_first":
            return tuple(shape[-2:])
        return tuple(shape[-3:-1])

    def build(self, input_shape):
        self._check_shape(self._spatial_shape(input_shape), tuple(input_shape))
        self.built = True

    def _check_shape(self, spatial, full_shape) -> None:
        """Raise for image sizes the transformation cannot handle (override)."""

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = inputs
        single = x.ndim == 3
        if single:
            x = ops.expand_dims(x, 0)
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        self._check_shape(tuple(x.shape[1:3]), tuple(inputs.shape))
        y = self._augment(x, self._generator())
        if self.data_format == "channels_first":
            y = ops.transpose(y, (0, 3, 1, 2))
        return ops.squeeze(y, 0) if single else y

    def _augment(self, x, rng):
        """Transform a channels-last batch (N, H, W, C) Tensor. Override."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


def _gather(x, rows, cols):
    """``out[n, i, j] = x[n, rows[n, i, j], cols[n, i, j]]`` for a (N, H, W, C) Tensor; ``rows`` and
    ``cols`` are integer arrays broadcasting to (N, H', W'). Differentiable (gradients scatter back)."""
    batch = np.arange(x.shape[0])[:, None, None]
    return ops.getitem(x, (batch, rows, cols))


class RandomFlip(_ImageAugmentation):
    """Flips each image, independently and with probability ½ per direction: ``'horizontal'``
    (left ↔ right, the width axis), ``'vertical'`` (top ↔ bottom, the height axis) or
    ``'horizontal_and_vertical'`` (each, independently)."""

    _MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in self._MODES:
            raise ValueError(f"RandomFlip: mode must be one of {self._MODES}, got {mode!r}.")
        self.mode = mode

    def _augment(self, x, rng):
        n, height, width = x.shape[:3]
        horizontal = self.mode in ("horizontal", "horizontal_and_vertical")
        vertical = self.mode in ("vertical", "horizontal_and_vertical")
        flip_h = rng.random(n) < 0.5 if horizontal else np.zeros(n, bool)
        flip_v = rng.random(n) < 0.5 if vertical else np.zeros(n, bool)
        i, j = np.arange(height), np.arange(width)
        rows = np.where(flip_v[:, None, None], (height - 1 - i)[None, :, None], i[None, :, None])
        cols = np.where(flip_h[:, None, None], (width - 1 - j)[None, None, :], j[None, None, :])
        return _gather(x, rows, cols)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _factor_range(factor, name: str, layer: str) -> tuple:
    """Keras factor convention: ``f`` → (−f, f); ``(lower, upper)`` as given; all within [−1, 1]."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{layer}: {name} must be a number or a (lower, upper) pair, got {factor!r}.")
        lower, upper = float(factor[0]), float(factor[1])
    else:
        lower, upper = -abs(float(factor)), abs(float(factor))
    if upper < lower:
        raise ValueError(f"{layer}: {name} has lower bound {lower} above its upper bound {upper}.")
    if abs(lower) > 1.0 or abs(upper) > 1.0:
        raise ValueError(f"{layer}: {name} must lie in [-1, 1] (a fraction of the image size), got {factor!r}.")
    return lower, upper


def _source_index(source: np.ndarray, size: int, fill_mode: str):
    """Map (possibly out-of-range) source coordinates into [0, size) for ``fill_mode``; also return
    the in-range mask (used by 'constant')."""
    valid = (source >= 0) & (source < size)
    if fill_mode == "constant":
        return np.clip(source, 0, size - 1), valid
    if fill_mode == "nearest":                                 # a a a | a b c d | d d d
        return np.clip(source, 0, size - 1), None
    if fill_mode == "wrap":                                    # b c d | a b c d | a b c
        return np.mod(source, size), None
    if fill_mode == "reflect":                                 # c b a | a b c d | d c b (edge repeated)
        m = np.mod(source, 2 * size)
        return np.where(m < size, m, 2 * size - 1 - m), None
    # mirror:                                                    d c b | a b c d | c b a (edge not repeated)
    if size == 1:
        return np.zeros_like(source), None
    m = np.mod(source, 2 * size - 2)
    return np.where(m < size, m, 2 * size - 2 - m), None


class RandomTranslation(_ImageAugmentation):
    """Shifts each image by a random *whole number of pixels*:
    ``dy = round(u·height)``, u ~ U[height_lower, height_upper] (positive = down), and likewise
    ``dx`` with ``width_factor`` (positive = right); ``out[i, j] = in[i − dy, j − dx]``.

    ``height_factor``/``width_factor``: a fraction f (the range [−f, f]) or a (lower, upper) pair,
    within [−1, 1] (Keras convention). Pixels shifted in from outside are filled by ``fill_mode``:
    ``'reflect'`` (default, as Keras: c b a | a b c d | d c b), ``'mirror'`` (d c b | a b c d | c b a),
    ``'wrap'``, ``'nearest'`` (edge pixel repeated) or ``'constant'`` (``fill_value``).
    Unlike Keras, shifts are rounded to whole pixels, so no interpolation happens (``interpolation``
    is accepted for compatibility and has no effect).
    """

    _FILL_MODES = ("reflect", "wrap", "constant", "nearest", "mirror")

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height_factor = list(height_factor) if isinstance(height_factor, (tuple, list)) else float(height_factor)
        self.width_factor = list(width_factor) if isinstance(width_factor, (tuple, list)) else float(width_factor)
        self._height_range = _factor_range(height_factor, "height_factor", "RandomTranslation")
        self._width_range = _factor_range(width_factor, "width_factor", "RandomTranslation")
        if fill_mode not in self._FILL_MODES:
            raise ValueError(f"RandomTranslation: fill_mode must be one of {self._FILL_MODES}, got {fill_mode!r}.")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomTranslation: interpolation must be 'bilinear' or 'nearest', "
                             f"got {interpolation!r}.")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def _shifts(self, rng, n: int, height: int, width: int):
        """Per-image integer shifts (dy, dx)."""
        dy = np.rint(rng.uniform(*self._height_range, size=n) * height).astype(np.intp)
        dx = np.rint(rng.uniform(*self._width_range, size=n) * width).astype(np.intp)
        return dy, dx

    def _augment(self, x, rng):
        n, height, width = x.shape[:3]
        dy, dx = self._shifts(rng, n, height, width)
        rows, valid_rows = _source_index(np.arange(height)[None, :] - dy[:, None], height, self.fill_mode)
        cols, valid_cols = _source_index(np.arange(width)[None, :] - dx[:, None], width, self.fill_mode)
        out = _gather(x, rows[:, :, None], cols[:, None, :])
        if self.fill_mode == "constant":
            inside = (valid_rows[:, :, None] & valid_cols[:, None, :])[..., None]
            out = ops.where(inside, out, np.asarray(self.fill_value, dtype=x.dtype))
        return out

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomRotation90(_ImageAugmentation):
    """Rotates each image counter-clockwise by k quarter turns (k·90°), k drawn uniformly from
    ``turns`` (default (0, 1, 2, 3)); one image equals ``np.rot90(image, k, axes=(0, 1))``.

    glassnet's rotation is restricted to multiples of 90°, which move pixels exactly (no
    interpolation, nothing cropped); it is named differently from Keras's ``RandomRotation``
    (arbitrary angles) so code written for that fails loudly rather than silently differing.
    Odd turns swap height and width, so they need square images (a clear error otherwise);
    ``turns=(0, 2)`` works for any size.
    """

    def __init__(self, turns=(0, 1, 2, 3), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        turns = (turns,) if isinstance(turns, (int, np.integer)) else tuple(turns)
        if not turns or not all(isinstance(t, (int, np.integer)) for t in turns):
            raise ValueError(f"RandomRotation90: turns must be a non-empty list of integers (quarter turns), "
                             f"got {turns!r}.")
        self.turns = [int(t) for t in turns]
        self._k = np.array([t % 4 for t in self.turns])  # drawn uniformly from this list

    def _check_shape(self, spatial, full_shape):
        height, width = spatial
        if any(k % 2 for k in self._k) and height is not None and width is not None and height != width:
            raise ShapeError(f"Layer '{self.name}' (RandomRotation90): quarter turns {self.turns} include odd ones, "
                             f"which swap height and width, so images must be square; got height {height} and "
                             f"width {width} (input shape {tuple(full_shape)}). Use turns=(0, 2) for non-square "
                             "images.")

    def _augment(self, x, rng):
        n, height, width = x.shape[:3]
        k = self._k[rng.integers(0, len(self._k), size=n)][:, None, None]
        i = np.arange(height)[None, :, None]
        j = np.arange(width)[None, None, :]
        # Source pixel of out[i, j] after k counter-clockwise quarter turns (np.rot90 on axes (1, 2)).
        rows = np.select([k == 0, k == 1, k == 2], [i, j, height - 1 - i], width - 1 - j)
        cols = np.select([k == 0, k == 1, k == 2], [j, width - 1 - i, width - 1 - j], i)
        return _gather(x, rows, cols)

    def get_config(self):
        return {**super().get_config(), "turns": list(self.turns)}


class RandomContrast(_ImageAugmentation):
    """Adjusts the contrast of each image by a random factor c ~ U[1 − lower, 1 + upper]:
    ``y = (x − μ)·c + μ`` with μ the mean of each channel of that image, then clipped to
    ``value_range`` (Keras 3). ``factor``: f (lower = upper = f) or (lower, upper), in [0, 1].
    ``value_range=None`` skips the clipping.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2:
                raise ValueError(f"RandomContrast: factor must be a number or a (lower, upper) pair, got {factor!r}.")
            lower, upper = float(factor[0]), float(factor[1])
            self.factor = [lower, upper]
        else:
            lower = upper = float(factor)
            self.factor = lower
        if not (0.0 <= lower <= 1.0 and 0.0 <= upper <= 1.0):
            raise ValueError(f"RandomContrast: factor values must be in [0, 1], got {factor!r}.")
        self._range = (1.0 - lower, 1.0 + upper)
        if value_range is not None:
            if len(value_range) != 2 or float(value_range[0]) >= float(value_range[1]):
                raise ValueError(f"RandomContrast: value_range must be (low, high) with low < high, "
                                 f"got {value_range!r}.")
            value_range = [float(value_range[0]), float(value_range[1])]
        self.value_range = value_range

    def _augment(self, x, rng):
        c = rng.uniform(*self._range, size=(x.shape[0], 1, 1, 1)).astype(x.dtype)
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        out = ops.add(ops.multiply(ops.subtract(x, mean), c), mean)
        if self.value_range is not None:
            out = ops.clip(out, self.value_range[0], self.value_range[1])
        return out

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


__all__ = ["RandomFlip", "RandomTranslation", "RandomRotation90", "RandomContrast"]


class RandomRotation(RandomRotation90):
    """Keras' name, restricted to quarter turns: rotates by a random multiple of 90° within
    ±``factor``·360° (``factor`` must be a multiple of 0.25: 0.25 → −90°, 0° or +90°; 0.5 → also 180°).

    Keras' ``RandomRotation`` draws arbitrary angles and interpolates; glassnet's rotations move
    pixels exactly, so a factor that is not a whole number of quarter turns is refused with a clear
    error instead of being silently rounded.
    """

    def __init__(self, factor=0.25, seed=None, data_format=None, **kwargs):
        kwargs.pop("turns", None)
        quarters = float(factor) * 4
        if factor is None or quarters <= 0 or abs(quarters - round(quarters)) > 1e-9:
            raise ValueError(f"RandomRotation rotates by multiples of 90°: factor must be a positive multiple of "
                             f"0.25 (of a full turn), got {factor!r}. Use RandomRotation90(turns=...) to list the "
                             "quarter turns explicitly.")
        k = int(round(quarters))
        super().__init__(turns=tuple(range(-k, k + 1)), seed=seed, data_format=data_format, **kwargs)
        self.factor = float(factor)

    def get_config(self):
        config = super().get_config()
        config.pop("turns", None)
        return {**config, "factor": self.factor}
