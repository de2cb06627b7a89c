"""Models: ``Sequential``, ``Model`` (subclass with ``call``), loading and JSON round trips."""

import json

from ..errors import FileFormatError
from .functional import Functional
from .model import Model
from .sequential import Sequential


def model_from_json(json_string: str, custom_objects=None):
    """Rebuild an (untrained) model from ``model.to_json()``."""
    from .. import layers

    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as error:
        raise FileFormatError(f"model_from_json: not valid JSON ({error}).") from None
    return layers.deserialize(config, custom_objects)


def load_model(filepath, custom_objects=None, compile: bool = True):
    from ..io import load_model as _load

    return _load(filepath, custom_objects=custom_objects, compile=compile)


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True):
    from ..io import save_model as _save

    _save(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
