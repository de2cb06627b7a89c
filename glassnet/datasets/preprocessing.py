"""Splitting, one-hot encoding and feature scaling — pure NumPy, no scikit-learn needed.

=====================  ==================================================================
function / class        what it does
=====================  ==================================================================
train_test_split       shuffled (optionally stratified) split, sklearn's return order
one_hot / to_categorical  integer labels → one-hot rows (Keras ``to_categorical``)
standardize             z = (x − μ) / σ per feature
StandardScaler          the same as an object: ``fit`` on train, ``transform`` train and test
min_max_scale           x' = a + (x − min)·(b − a)/(max − min) per feature
MinMaxScaler            the same as an object
=====================  ==================================================================

Statistics are taken per feature over every axis but the last (rows of a table, or all the
pixels of one channel of an image batch), and a constant feature (σ = 0 or max = min) is left
unscaled — divided by 1 — as scikit-learn does, instead of producing NaN.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..errors import InputError, NotBuiltError, ShapeError

__all__ = [
    "train_test_split", "one_hot", "to_categorical", "standardize", "StandardScaler", "min_max_scale",
    "MinMaxScaler",
]


def _array(x) -> np.ndarray:
    data = getattr(x, "data", None)  # a glassnet Tensor
    return data if isinstance(data, np.ndarray) and not isinstance(x, np.ndarray) else np.asarray(x)


# ---------------------------------------------------------------------------------- split
def _split_sizes(n: int, test_size, train_size) -> tuple[int, int]:
    def count(size, name, rounding):
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, float, np.integer, np.floating)):
            raise InputError(f"{name} must be a float in (0, 1) or a number of samples, got {size!r}.")
        if isinstance(size, (float, np.floating)):
            if not 0.0 < size < 1.0:
                raise InputError(f"{name} as a fraction must lie in (0, 1), got {size}.")
            return int(rounding(size * n))
        return int(size)

    if train_size is not None:
        n_train = count(train_size, "train_size", math.floor)
        n_test = n - n_train
    else:
        n_test = count(test_size, "test_size", math.ceil)
        n_train = n - n_test
    if n_test < 1 or n_train < 1 or n_test + n_train > n:
        raise InputError(
            f"With {n} samples, test_size={test_size!r} and train_size={train_size!r} give {n_train} training "
            f"and {n_test} test samples; both sets need at least one sample."
        )
    return n_train, n_test


def _approximate_mode(counts: np.ndarray, n_draw: int, rng: np.random.Generator) -> np.ndarray:
    """Integer per-class draws summing to ``n_draw``, as close as possible to counts·n_draw/Σcounts.

    Floors the exact shares, then gives the left-over samples to the classes with the largest
    fractional parts (ties broken at random).
    """
    exact = counts * (n_draw / counts.sum())
    draws = np.floor(exact).astype(np.int64)
    left = int(n_draw - draws.sum())
    if left:
        fraction = exact - draws
        # random tie-break: shuffle, then stable sort by descending fraction
        order = rng.permutation(counts.size)
        order = order[np.argsort(-fraction[order], kind="stable")]
        draws[order[:left]] += 1
    return draws


def train_test_split(*arrays, test_size=0.2, train_size=None, shuffle: bool = True, stratify=None,
                     seed=None, random_state=None):
    """Split arrays into random train and test subsets, in scikit-learn's return order.

    ``x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y, seed=0)``

    * ``test_size``: a fraction in (0, 1) (rounded up, as sklearn) or a number of samples.
      ``train_size`` (fraction, rounded down, or count), when given, wins and the rest is test.
    * ``stratify``: labels (1-D, or one-hot rows) whose class proportions both subsets keep.
      Each class gets ``n_test·n_c/n`` test samples rounded so that the total is exact.
    * ``seed`` (alias ``random_state``, sklearn's name): an int for a reproducible split; ``None``
      draws from glassnet's global generator (see :func:`glassnet.set_seed`).
    * ``shuffle=False`` takes the first samples for training and the last ones for testing.
    """
    if not arrays:
        raise InputError("train_test_split needs at least one array to split.")
    if seed is not None and random_state is not None and seed != random_state:
        raise InputError(f"Pass either seed or random_state, not both (got seed={seed}, random_state={random_state}).")
    seed = seed if seed is not None else random_state
    arrays = [_array(a) for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ShapeError(f"Array {i} given to train_test_split is a scalar; expected one row per sample.")
    n = len(arrays[0])
    lengths = [len(a) for a in arrays]
    if any(length != n for length in lengths):
        raise ShapeError(f"All arrays must have the same number of samples; got lengths {lengths}.")
    n_train, n_test = _split_sizes(n, test_size, train_size)

    if not shuffle:
        if stratify is not None:
            raise InputError("A stratified split needs shuffle=True (as in scikit-learn).")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        rng = backend.make_rng(seed)
        if stratify is None:
            perm = rng.permutation(n)
            train, test = perm[n_test:n_test + n_train], perm[:n_test]
        else:
            train, test = _stratified_indices(_array(stratify), n, n_train, n_test, rng)

    out = []
    for a in arrays:
        out.extend((a[train], a[test]))
    return out


def _stratified_indices(labels: np.ndarray, n: int, n_train: int, n_test: int, rng: np.random.Generator):
    if len(labels) != n:
        raise ShapeError(f"stratify has {len(labels)} labels for {n} samples.")
    if labels.ndim > 1:  # one-hot (or any) rows: each distinct row is a class
        classes, codes, counts = np.unique(labels.reshape(n, -1), axis=0, return_inverse=True, return_counts=True)
    else:
        classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    codes = codes.reshape(-1)
    if counts.min() < 2:
        rare = classes[np.argmin(counts)]
        raise InputError(
            f"The least populated class in stratify ({rare!r}) has only 1 member; every class needs at least 2 "
            "to appear in both subsets. Remove it or split without stratify."
        )
    if n_test < classes.shape[0] or n_train < classes.shape[0]:
        raise InputError(
            f"A stratified split of {n} samples into {n_train} train / {n_test} test cannot hold one sample of "
            f"each of the {classes.shape[0]} classes in both subsets; increase the smaller subset."
        )
    test_counts = _approximate_mode(counts, n_test, rng)
    perm = rng.permutation(n)
    by_class = perm[np.argsort(codes[perm], kind="stable")]  # random order within each class
    class_sorted = codes[by_class]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(n) - starts[class_sorted]  # position of each sample within its class
    in_test = rank < test_counts[class_sorted]
    return rng.permutation(by_class[~in_test]), rng.permutation(by_class[in_test])


# ---------------------------------------------------------------------------------- labels
def one_hot(labels, num_classes: int | None = None, dtype=None) -> np.ndarray:
    """Integer class labels → one-hot vectors: ``out[..., c] = 1 if labels[...] == c``.

    A trailing axis of size 1 is dropped first (``(N, 1)`` labels give ``(N, C)``), as Keras's
    ``to_categorical`` does. ``num_classes`` defaults to ``max(labels) + 1``. Labels must be
    non-negative integers (integer-valued floats are accepted) below ``num_classes``; anything
    else raises :class:`~glassnet.errors.InputError` naming the first bad label. Returns
    ``floatx()`` (float32) unless ``dtype`` says otherwise. ``argmax(one_hot(y), -1) == y``.
    """
    y = _array(labels)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    y = _check_labels(y, "one_hot")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    else:
        if isinstance(num_classes, (bool, np.bool_)) or int(num_classes) != num_classes or num_classes < 1:
            raise InputError(f"num_classes must be a positive integer, got {num_classes!r}.")
        num_classes = int(num_classes)
        if y.size and y.max() >= num_classes:
            position = np.unravel_index(int(np.argmax(y >= num_classes)), y.shape)
            raise InputError(
                f"Label {int(y[position])} at index {_where(position)} is out of range for num_classes={num_classes}: "
                f"labels must lie in [0, {num_classes - 1}]."
            )
    return np.eye(num_classes, dtype=backend.standardize_dtype(dtype))[y]


to_categorical = one_hot


def _where(position: tuple) -> str:
    return str(position[0]) if len(position) == 1 else str(tuple(int(p) for p in position))


def _check_labels(y: np.ndarray, where: str) -> np.ndarray:
    """Non-negative integer labels as intp, or an InputError naming the first bad one."""
    if y.dtype.kind == "b":
        return y.astype(np.intp)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y)) | (y < 0)
        if bad.any():
            position = np.unravel_index(int(np.argmax(bad)), y.shape)
            raise InputError(
                f"{where} expects non-negative integer class labels, got the label {y[position].item()!r} at index "
                f"{_where(position)}."
            )
    elif y.dtype.kind in "iu":
        if y.size and y.min() < 0:
            position = np.unravel_index(int(np.argmin(y)), y.shape)
            raise InputError(
                f"{where} expects non-negative integer class labels, got the label {int(y[position])} at index "
                f"{_where(position)}."
            )
    else:
        raise InputError(f"{where} expects integer class labels, got an array of dtype {y.dtype}.")
    return y.astype(np.intp)


# ---------------------------------------------------------------------------------- scaling
def _float_array(x) -> np.ndarray:
    x = _array(x)
    if x.dtype.kind != "f":
        x = x.astype(backend.floatx())
    return x


def _feature_axes(x: np.ndarray) -> tuple:
    """Statistics are per feature (the last axis), over every other axis."""
    return tuple(range(x.ndim - 1)) if x.ndim > 1 else (0,)


def _check_features(x: np.ndarray, expected: np.ndarray, who: str) -> None:
    feat = x.shape[-1:] if x.ndim > 1 else ()
    if np.shape(expected) != feat:
        raise ShapeError(
            f"{who} was fitted on data with {np.shape(expected) or 'scalar'} features but received an array of "
            f"shape {x.shape}."
        )


def _nonzero(scale: np.ndarray) -> np.ndarray:
    """Constant features get scale 1 (left unscaled) instead of a division by zero."""
    return np.where(scale == 0, 1.0, scale)


def standardize(X, mean=None, std=None) -> np.ndarray:
    """z = (X − mean) / std per feature; ``mean``/``std`` default to X's own (population std, ddof=0).

    Pass the training set's ``mean``/``std`` to scale a test set the same way. Features with
    std 0 are only centred.
    """
    X = _float_array(X)
    axes = _feature_axes(X)
    x64 = X.astype(np.float64)
    mean = x64.mean(axis=axes) if mean is None else np.asarray(mean, dtype=np.float64)
    std = x64.std(axis=axes) if std is None else np.asarray(std, dtype=np.float64)
    return ((x64 - mean) / _nonzero(std)).astype(X.dtype)


class StandardScaler:
    """z = (x − μ) / σ per feature, with μ, σ learned by :meth:`fit` (scikit-learn's API).

    Attributes after ``fit``: ``mean_``, ``var_`` (population variance), ``scale_`` (σ, with 0 → 1),
    ``n_samples_seen_``. ``with_mean=False`` / ``with_std=False`` skip centring / scaling.
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_ = self.var_ = self.scale_ = None
        self.n_samples_seen_ = 0

    def fit(self, X, y=None) -> "StandardScaler":
        X = _float_array(X).astype(np.float64)
        axes = _feature_axes(X)
        self.n_samples_seen_ = int(np.prod([X.shape[a] for a in axes]))
        self.mean_ = X.mean(axis=axes) if self.with_mean else None
        self.var_ = X.var(axis=axes) if self.with_std else None
        self.scale_ = _nonzero(np.sqrt(self.var_)) if self.with_std else None
        self._fitted = True
        return self

    def _check(self, X, who):
        if not getattr(self, "_fitted", False):
            raise NotBuiltError(f"This StandardScaler is not fitted yet: call fit(X) before {who}().")
        X = _float_array(X)
        ref = self.mean_ if self.mean_ is not None else self.scale_
        if ref is not None:
            _check_features(X, ref, "StandardScaler")
        return X

    def transform(self, X) -> np.ndarray:
        X = self._check(X, "transform")
        out = X.astype(np.float64)
        if self.with_mean:
            out = out - self.mean_
        if self.with_std:
            out = out / self.scale_
        return out.astype(X.dtype)

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        X = self._check(X, "inverse_transform")
        out = X.astype(np.float64)
        if self.with_std:
            out = out * self.scale_
        if self.with_mean:
            out = out + self.mean_
        return out.astype(X.dtype)

    def get_config(self) -> dict:
        return {"with_mean": self.with_mean, "with_std": self.with_std}

    @classmethod
    def from_config(cls, config: dict) -> "StandardScaler":
        return cls(**config)


def _check_range(feature_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in feature_range)
    except (TypeError, ValueError):
        raise InputError(f"feature_range must be a pair (min, max), got {feature_range!r}.") from None
    if not low < high:
        raise InputError(f"feature_range must have min < max, got {feature_range!r}.")
    return low, high


def min_max_scale(X, feature_range=(0, 1), data_min=None, data_max=None) -> np.ndarray:
    """x' = a + (x − min)·(b − a)/(max − min) per feature, into ``feature_range=(a, b)``.

    ``data_min``/``data_max`` default to X's own; pass the training set's to scale a test set.
    Constant features (max = min) are only shifted to ``a``.
    """
    low, high = _check_range(feature_range)
    X = _float_array(X)
    axes = _feature_axes(X)
    x64 = X.astype(np.float64)
    lo = x64.min(axis=axes) if data_min is None else np.asarray(data_min, dtype=np.float64)
    hi = x64.max(axis=axes) if data_max is None else np.asarray(data_max, dtype=np.float64)
    scale = (high - low) / _nonzero(hi - lo)
    return (low + (x64 - lo) * scale).astype(X.dtype)


class MinMaxScaler:
    """x' = x·scale_ + min_ with scale_ = (b − a)/(max − min) and min_ = a − min·scale_ (scikit-learn's API).

    Attributes after ``fit``: ``data_min_``, ``data_max_``, ``data_range_``, ``scale_``, ``min_``.
    ``clip=True`` clips transformed values into ``feature_range`` (for test data outside the train range).
    """

    def __init__(self, feature_range=(0, 1), clip: bool = False):
        self.feature_range = tuple(feature_range)
        _check_range(self.feature_range)
        self.clip = bool(clip)
        self.data_min_ = self.data_max_ = self.data_range_ = self.scale_ = self.min_ = None

    def fit(self, X, y=None) -> "MinMaxScaler":
        low, high = _check_range(self.feature_range)
        X = _float_array(X).astype(np.float64)
        axes = _feature_axes(X)
        self.data_min_ = X.min(axis=axes)
        self.data_max_ = X.max(axis=axes)
        self.data_range_ = self.data_max_ - self.data_min_
        self.scale_ = (high - low) / _nonzero(self.data_range_)
        self.min_ = low - self.data_min_ * self.scale_
        return self

    def _check(self, X, who):
        if self.scale_ is None:
            raise NotBuiltError(f"This MinMaxScaler is not fitted yet: call fit(X) before {who}().")
        X = _float_array(X)
        _check_features(X, self.scale_, "MinMaxScaler")
        return X

    def transform(self, X) -> np.ndarray:
        X = self._check(X, "transform")
        out = X.astype(np.float64) * self.scale_ + self.min_
        if self.clip:
            out = np.clip(out, *self.feature_range)
        return out.astype(X.dtype)

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        X = self._check(X, "inverse_transform")
        return ((X.astype(np.float64) - self.min_) / self.scale_).astype(X.dtype)

    def get_config(self) -> dict:
        return {"feature_range": list(self.feature_range), "clip": self.clip}

    @classmethod
    def from_config(cls, config: dict) -> "MinMaxScaler":
        return cls(**config)
