"""glassnet: a deep-learning library on NumPy that lets you see inside."""

__version__ = "0.1.0"

from . import backend, ops
from .backend import set_seed
from .tensor import Parameter, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from . import diagnostics
from . import activations, saving
