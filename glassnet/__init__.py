"""glassnet: a deep-learning library on NumPy, with its own autodiff, a Keras-style API,
a PyTorch-style low-level loop, and tools to see inside a network.

>>> import glassnet as gn
>>> model = gn.Sequential([gn.layers.Dense(16, activation="relu", input_shape=(8,)),
...                        gn.layers.Dense(1, activation="sigmoid")])
>>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
"""

__version__ = "0.1.0"

from .allocator import tune_malloc as _tune_malloc

_tune_malloc()  # keep large freed blocks mapped: see glassnet/allocator.py

from .blas import tune_spin_wait as _tune_spin_wait  # noqa: E402

_tune_spin_wait()  # OpenBLAS's idle threads stop spinning after ~0.1 ms: see glassnet/blas.py

from . import backend, ops  # noqa: E402
from .backend import floatx, set_floatx, set_seed
from .tensor import Parameter, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from . import (  # noqa: E402  (order matters: each module only imports those above it)
    activations, constraints, diagnostics, initializers, regularizers, saving,
)
from . import losses, metrics, schedules, optimizers  # noqa: E402
from . import callbacks, layers, models  # noqa: E402
from . import datasets, utils  # noqa: E402
from .diagnostics import explain, gradcheck  # noqa: E402
from .lr_finder import lr_finder  # noqa: E402
from .tune import tune  # noqa: E402  (the function; glassnet.tune.Choice etc. are attached to it)
from .layers import Input  # noqa: E402
from .models import Model, Sequential, load_model, model_from_json, save_model  # noqa: E402
from .perceptron import Perceptron  # noqa: E402
from .saving import register_serializable  # noqa: E402
from .layers.base import clear_session  # noqa: E402

__all__ = [
    "__version__", "Tensor", "Parameter", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "set_seed",
    "floatx", "set_floatx", "ops", "activations", "losses", "metrics", "optimizers", "initializers",
    "regularizers", "constraints", "callbacks", "layers", "models", "datasets", "diagnostics", "saving",
    "gradcheck", "Input", "Model", "Sequential", "load_model", "save_model", "model_from_json", "Perceptron",
    "register_serializable", "clear_session", "utils", "schedules", "lr_finder", "explain", "tune",
]
