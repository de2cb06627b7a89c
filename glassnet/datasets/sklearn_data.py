"""Classic small datasets and synthetic generators, through scikit-learn (an optional dependency).

scikit-learn is imported only when one of these functions is called; without it they raise an
``ImportError`` that says to ``pip install glassnet[datasets]``.

=================  ==============  ==========  =======================================
loader             X               y           task
=================  ==============  ==========  =======================================
load_digits        (1797, 64)      int64 0..9  8×8 grey digits, pixels 0..16
load_iris          (150, 4)        int64 0..2  3 iris species
load_breast_cancer (569, 30)       int64 0/1   malignant (0) / benign (1)
load_wine          (178, 13)       int64 0..2  3 cultivars
load_diabetes      (442, 10)       float32     disease progression (regression)
=================  ==============  ==========  =======================================

X is ``floatx()`` (float32). With ``return_split=True`` a loader returns
``((x_train, y_train), (x_test, y_test))`` (Keras's ``load_data`` layout), split by
:func:`~glassnet.datasets.train_test_split` — stratified by class for classification.

The generators (``make_classification``, ``make_moons``, ``make_circles``, ``make_blobs``,
``make_regression``) take scikit-learn's argument names and defaults and return the same
numbers as scikit-learn for the same ``random_state``, cast to float32 X (int64 labels,
float32 regression targets). With ``random_state=None`` the seed is drawn from glassnet's
global generator, so :func:`glassnet.set_seed` makes them reproducible too.
"""

from __future__ import annotations

import importlib

import numpy as np

from .. import backend
from .preprocessing import train_test_split

PIP_HINT = "pip install glassnet[datasets]"


def import_sklearn(module: str = "sklearn.datasets", what: str = "this function"):
    """Import a scikit-learn module, or raise an ImportError that names the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"glassnet.datasets.{what} needs scikit-learn, which is not installed. "
            f"Install it with `{PIP_HINT}` (or `pip install scikit-learn`)."
        ) from exc


def _X(x) -> np.ndarray:
    return np.asarray(x, dtype=backend.floatx())


def _labels(y) -> np.ndarray:
    return np.asarray(y).astype(np.int64)


def _targets(y) -> np.ndarray:
    return np.asarray(y, dtype=backend.floatx())


def _maybe_split(X, y, return_split, test_size, seed, classification):
    if not return_split:
        return X, y
    x_train, x_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y if classification else None, seed=seed
    )
    return (x_train, y_train), (x_test, y_test)


def _seed(random_state):
    """sklearn's random_state; None draws a seed from glassnet's global generator."""
    if random_state is None:
        return int(backend.rng().integers(0, 2**31 - 1))
    return random_state


# ---------------------------------------------------------------------------------- loaders
def load_digits(*, images: bool = False, return_split: bool = False, test_size=0.2, seed=None):
    """The 8×8 handwritten digits: X (1797, 64) with pixel values 0..16, y int64 in 0..9.

    ``images=True`` gives X of shape (1797, 8, 8, 1) (channels-last, ready for Conv2D).
    Pixel values are not rescaled: divide by 16 (or standardise) before training.
    """
    bunch = import_sklearn(what="load_digits()").load_digits()
    X = _X(bunch.images[..., None] if images else bunch.data)
    return _maybe_split(X, _labels(bunch.target), return_split, test_size, seed, True)


def load_iris(*, return_split: bool = False, test_size=0.2, seed=None):
    """Fisher's iris: X (150, 4) in cm, y int64 in {0, 1, 2}."""
    X, y = import_sklearn(what="load_iris()").load_iris(return_X_y=True)
    return _maybe_split(_X(X), _labels(y), return_split, test_size, seed, True)


def load_breast_cancer(*, return_split: bool = False, test_size=0.2, seed=None):
    """Wisconsin breast cancer: X (569, 30) unscaled features, y int64 (0 malignant, 1 benign)."""
    X, y = import_sklearn(what="load_breast_cancer()").load_breast_cancer(return_X_y=True)
    return _maybe_split(_X(X), _labels(y), return_split, test_size, seed, True)


def load_wine(*, return_split: bool = False, test_size=0.2, seed=None):
    """Wine recognition: X (178, 13) unscaled features, y int64 in {0, 1, 2}."""
    X, y = import_sklearn(what="load_wine()").load_wine(return_X_y=True)
    return _maybe_split(_X(X), _labels(y), return_split, test_size, seed, True)


def load_diabetes(*, scaled: bool = True, return_split: bool = False, test_size=0.2, seed=None):
    """Diabetes regression: X (442, 10) (mean-centred and scaled by sklearn unless ``scaled=False``),
    y float32 disease progression one year later (25..346)."""
    X, y = import_sklearn(what="load_diabetes()").load_diabetes(return_X_y=True, scaled=scaled)
    return _maybe_split(_X(X), _targets(y), return_split, test_size, seed, False)


# ---------------------------------------------------------------------------------- generators
def make_classification(n_samples=100, n_features=20, *, n_informative=2, n_redundant=2, n_repeated=0,
                        n_classes=2, n_clusters_per_class=2, weights=None, flip_y=0.01, class_sep=1.0,
                        hypercube=True, shift=0.0, scale=1.0, shuffle=True, random_state=None):
    """sklearn's ``make_classification``: Gaussian clusters on hypercube vertices → (X float32, y int64)."""
    X, y = import_sklearn(what="make_classification()").make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=n_informative, n_redundant=n_redundant,
        n_repeated=n_repeated, n_classes=n_classes, n_clusters_per_class=n_clusters_per_class, weights=weights,
        flip_y=flip_y, class_sep=class_sep, hypercube=hypercube, shift=shift, scale=scale, shuffle=shuffle,
        random_state=_seed(random_state),
    )
    return _X(X), _labels(y)


def make_moons(n_samples=100, *, shuffle=True, noise=None, random_state=None):
    """sklearn's ``make_moons``: two interleaving half circles → (X float32 (n, 2), y int64)."""
    X, y = import_sklearn(what="make_moons()").make_moons(
        n_samples=n_samples, shuffle=shuffle, noise=noise, random_state=_seed(random_state)
    )
    return _X(X), _labels(y)


def make_circles(n_samples=100, *, shuffle=True, noise=None, random_state=None, factor=0.8):
    """sklearn's ``make_circles``: a small circle inside a large one → (X float32 (n, 2), y int64)."""
    X, y = import_sklearn(what="make_circles()").make_circles(
        n_samples=n_samples, shuffle=shuffle, noise=noise, random_state=_seed(random_state), factor=factor
    )
    return _X(X), _labels(y)


def make_blobs(n_samples=100, n_features=2, *, centers=None, cluster_std=1.0, center_box=(-10.0, 10.0),
               shuffle=True, random_state=None, return_centers=False):
    """sklearn's ``make_blobs``: isotropic Gaussian blobs → (X float32, y int64[, centers])."""
    out = import_sklearn(what="make_blobs()").make_blobs(
        n_samples=n_samples, n_features=n_features, centers=centers, cluster_std=cluster_std,
        center_box=center_box, shuffle=shuffle, random_state=_seed(random_state), return_centers=return_centers,
    )
    X, y = _X(out[0]), _labels(out[1])
    return (X, y, np.asarray(out[2])) if return_centers else (X, y)


def make_regression(n_samples=100, n_features=100, *, n_informative=10, n_targets=1, bias=0.0,
                    effective_rank=None, tail_strength=0.5, noise=0.0, shuffle=True, coef=False,
                    random_state=None):
    """sklearn's ``make_regression``: a random linear model plus noise → (X float32, y float32[, coef])."""
    out = import_sklearn(what="make_regression()").make_regression(
        n_samples=n_samples, n_features=n_features, n_informative=n_informative, n_targets=n_targets, bias=bias,
        effective_rank=effective_rank, tail_strength=tail_strength, noise=noise, shuffle=shuffle, coef=coef,
        random_state=_seed(random_state),
    )
    X, y = _X(out[0]), _targets(out[1])
    return (X, y, np.asarray(out[2])) if coef else (X, y)
