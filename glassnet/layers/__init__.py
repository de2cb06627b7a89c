"""Layers: ``from glassnet.layers import Dense, Dropout, ...`` (Keras names and arguments)."""

from ..saving import deserialize as _deserialize, serialize as _serialize
from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax, Swish
from .base import REGISTRY, InputSpec, Layer, clear_session
from .core import Dense, Dropout, Flatten, Identity, Reshape
from .embedding import Embedding
from .input import Input, InputLayer, KerasTensor
from .merge import (
    Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate, maximum, minimum,
    multiply, subtract,
)
from .attention import MultiHeadAttention
from .augmentation import RandomContrast, RandomFlip, RandomRotation, RandomRotation90, RandomTranslation
from .misc import RBF, Lambda, Maxout, Permute, RepeatVector
from .normalization import BatchNormalization, GroupNormalization, LayerNormalization
from .preprocessing import Normalization
from .recurrent import GRU, LSTM, SimpleRNN
from .regularization import (
    ActivityRegularization, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
)
from .transformer import PositionalEmbedding, TransformerEncoder
from .wrappers import Bidirectional, TimeDistributed


def serialize(layer) -> dict:
    return _serialize(layer, REGISTRY)


def deserialize(config, custom_objects=None):
    return _deserialize(config, REGISTRY, custom_objects)


def get(identifier):
    if isinstance(identifier, Layer):
        return identifier
    return deserialize(identifier)
