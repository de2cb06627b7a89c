"""Models: ``Sequential``, ``Model`` (subclass with ``call``), ``clone_model``, loading and JSON round trips."""

import json

from ..errors import FileFormatError, GlassnetError
from .cloning import clone_model
from .functional import Functional
from .model import Model
from .sequential import Sequential


def model_from_json(json_string: str, custom_objects=None):
    """Rebuild an (untrained) model from ``model.to_json()``. Names resolve only through glassnet's
    registries and ``custom_objects``; any malformed description raises a ``FileFormatError``."""
    from .. import layers
    from ..io import _CONFIG_ERRORS, check_runs
    from ..saving import context_of

    try:
        config = json.loads(json_string)
    except (TypeError, ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise FileFormatError(f"model_from_json: not valid JSON ({type(error).__name__}: {error}).") from None
    if not isinstance(config, dict):
        raise FileFormatError(f"model_from_json: expected a JSON object describing a model, got "
                              f"{type(config).__name__}.")
    try:
        model = layers.deserialize(config, custom_objects)
    except GlassnetError:
        raise
    except _CONFIG_ERRORS as error:
        raise FileFormatError(f"model_from_json: the model could not be rebuilt{context_of(error)}: "
                              f"{type(error).__name__}: {error}") from None
    if not isinstance(model, Model):
        raise FileFormatError(f"model_from_json: the JSON describes a {type(model).__name__}, not a model.")
    check_runs(model, "the JSON given to model_from_json")
    return model


def load_model(filepath, custom_objects=None, compile: bool = True, allow_nonfinite: bool = False):
    from ..io import load_model as _load

    return _load(filepath, custom_objects=custom_objects, compile=compile, allow_nonfinite=allow_nonfinite)


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True):
    from ..io import save_model as _save

    _save(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
