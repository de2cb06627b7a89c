"""Keras-style utilities gathered under one name: ``glassnet.utils.to_categorical`` etc."""

from .backend import set_seed as set_random_seed
from .datasets.preprocessing import one_hot, to_categorical
from .saving import custom_object_scope, get_custom_objects, register_serializable

register_keras_serializable = register_serializable

__all__ = ["to_categorical", "one_hot", "set_random_seed", "register_serializable", "register_keras_serializable",
           "custom_object_scope", "get_custom_objects"]
