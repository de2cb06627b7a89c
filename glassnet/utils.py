"""Keras-style utilities gathered under one name: ``glassnet.utils.to_categorical`` etc."""

from .backend import set_seed as set_random_seed
from .datasets.preprocessing import one_hot, to_categorical
from .datasets.sequences import pad_sequences
from .model_diagram import model_graph, model_to_dot, plot_model
from .saving import custom_object_scope, get_custom_objects, register_serializable

register_keras_serializable = register_serializable

__all__ = [
    "custom_object_scope", "get_custom_objects", "model_graph", "model_to_dot", "one_hot", "pad_sequences",
    "plot_model", "register_keras_serializable", "register_serializable", "set_random_seed", "to_categorical",
]
