"""Layers: ``from glassnet.layers import Dense, Dropout, ...`` (Keras names and arguments)."""

from ..saving import deserialize as _deserialize, serialize as _serialize
from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax, Swish
from .base import REGISTRY, InputSpec, Layer, clear_session
from .conv import (
    Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Convolution1D, Convolution2D, Convolution2DTranspose,
    Convolution3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D, SeparableConvolution1D,
    SeparableConvolution2D,
)
from .core import Dense, Dropout, Flatten, Identity, Masking, Reshape
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
from .pooling import (
    AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
    MaxPool1D, MaxPool2D, MaxPool3D, MaxPooling1D, MaxPooling2D, MaxPooling3D,
)
from .preprocessing import Normalization, Rescaling
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import (
    Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D,
    ZeroPadding3D,
)
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
