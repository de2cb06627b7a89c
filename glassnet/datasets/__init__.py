"""Datasets: logic gates, scikit-learn's small datasets and generators, and preprocessing helpers.

>>> from glassnet import datasets
>>> X, y = datasets.logic_gate("xor")                      # (4, 2) float32, (4,) float32
>>> (x_tr, y_tr), (x_te, y_te) = datasets.load("digits", return_split=True, seed=0)
>>> X, y = datasets.make_moons(500, noise=0.2, random_state=0)
>>> "iris" in datasets.names()                             # everything load() knows
True

The logic gates and the preprocessing helpers are pure NumPy; the loaders and generators need
scikit-learn (``pip install glassnet[datasets]``), imported only when called.

Real datasets from files (pure NumPy + the standard library, see :mod:`glassnet.datasets.files`):
``load_idx``, ``load_mnist(folder)``, ``load_cifar10(folder)``, ``load_cifar100``, ``load_csv``,
``load_npz`` and the dispatcher ``load_images(path)``.
"""

from __future__ import annotations

from ..errors import InputError, UnknownNameError
from .files import (
    CIFAR10_CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES, load_cifar10, load_cifar100, load_csv, load_idx,
    load_images, load_mnist, load_npz, read_pickled_arrays,
)
from .gates import TRUTH_TABLES, gate_names, logic_gate
from .preprocessing import (
    MinMaxScaler, StandardScaler, min_max_scale, one_hot, standardize, to_categorical, train_test_split,
)
from .sequences import pad_sequences
from .sklearn_data import (
    load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine, make_blobs, make_circles,
    make_classification, make_moons, make_regression,
)

__all__ = [
    "load", "names", "logic_gate", "gate_names", "load_digits", "load_iris", "load_breast_cancer", "load_wine",
    "load_diabetes", "make_classification", "make_moons", "make_circles", "make_blobs", "make_regression",
    "train_test_split", "one_hot", "to_categorical", "standardize", "StandardScaler", "min_max_scale",
    "MinMaxScaler", "pad_sequences", "load_idx", "load_mnist", "load_cifar10", "load_cifar100", "load_csv",
    "load_npz", "load_images",
    "read_pickled_arrays", "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES",
]

_LOADERS = {
    "digits": load_digits, "iris": load_iris, "breast_cancer": load_breast_cancer, "wine": load_wine,
    "diabetes": load_diabetes,
}
# generator → is it a classification task (labels to stratify on)?
_GENERATORS = {
    "classification": (make_classification, True), "moons": (make_moons, True), "circles": (make_circles, True),
    "blobs": (make_blobs, True), "regression": (make_regression, False),
}


def names() -> list[str]:
    """Every name :func:`load` accepts (``load_``/``make_`` prefixes are also accepted)."""
    return sorted([*_LOADERS, *_GENERATORS, *TRUTH_TABLES])


def _key(name: str) -> str:
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    for prefix in ("load_", "make_"):
        if key.startswith(prefix) and key[len(prefix):] in (*_LOADERS, *_GENERATORS):
            return key[len(prefix):]
    return key


def load(name: str, **kwargs):
    """Load a dataset by name: ``load("iris")``, ``load("moons", n_samples=500, noise=0.1)``, ``load("xor")``.

    Keyword arguments go to the loader or generator. Every scikit-learn dataset also takes
    ``return_split=True, test_size=0.2, seed=None`` to get ``((x_train, y_train), (x_test, y_test))``
    (stratified for classification). Logic gates take no arguments.
    """
    key = _key(name)
    if key in TRUTH_TABLES:
        if kwargs:
            raise InputError(f"The logic gate {key!r} takes no arguments, got {sorted(kwargs)}.")
        return logic_gate(key)
    if key in _LOADERS:
        return _LOADERS[key](**kwargs)
    if key in _GENERATORS:
        make, classification = _GENERATORS[key]
        return_split = kwargs.pop("return_split", False)
        test_size = kwargs.pop("test_size", 0.2)
        seed = kwargs.pop("seed", None)
        if kwargs.get("return_centers") or kwargs.get("coef"):
            if return_split:
                raise InputError("return_split cannot be combined with return_centers/coef.")
            return make(**kwargs)
        X, y = make(**kwargs)
        if not return_split:
            return X, y
        x_train, x_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y if classification else None, seed=seed
        )
        return (x_train, y_train), (x_test, y_test)
    raise UnknownNameError("dataset", name, names())
