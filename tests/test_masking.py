"""Time-step masks travel with tensors between layers (Keras semantics) and losses honour them."""

import numpy as np

import glassnet as gn
from glassnet import layers, ops
from glassnet.layers.base import Layer


class MaskZeros(Layer):
    """Marks time steps whose features are all zero as padding."""

    supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_mask(self, inputs, mask=None):
        return np.any(inputs.data != 0, axis=-1)


class MaskedMean(Layer):
    """Averages over the valid time steps only (receives the mask through call)."""

    def call(self, inputs, mask=None):
        self.received = mask
        weights = np.ones(inputs.shape[:2], dtype=inputs.dtype) if mask is None else mask.astype(inputs.dtype)
        total = ops.sum(ops.multiply(inputs, weights[..., None]), axis=1)
        return ops.divide(total, weights.sum(axis=1, keepdims=True))


def _sequences():
    x = np.ones((2, 4, 3), dtype="float32")
    x[0, 2:] = 0.0  # sample 0 has two padded steps
    return x


def test_mask_is_created_passed_through_dense_and_consumed():
    masked_mean = MaskedMean()
    model = gn.Sequential([MaskZeros(input_shape=(4, 3)), layers.Dense(2, kernel_initializer="ones"), masked_mean])
    out = model(_sequences())
    np.testing.assert_array_equal(masked_mean.received, [[True, True, False, False], [True] * 4])
    np.testing.assert_allclose(out.numpy(), 3.0)  # zero steps excluded: every valid step gives 1+1+1


def test_layers_without_masking_support_drop_the_mask():
    x = gn.tensor(_sequences())
    hidden = layers.Flatten()(MaskZeros()(x))
    assert getattr(hidden, "_keras_mask", None) is None


def test_loss_ignores_masked_time_steps():
    y_pred = gn.tensor(np.array([[[1.0], [5.0]], [[2.0], [2.0]]]), requires_grad=True)
    y_pred._keras_mask = np.array([[True, False], [True, True]])
    y_true = np.zeros((2, 2, 1))
    loss = gn.losses.MeanSquaredError()(y_true, y_pred)
    np.testing.assert_allclose(loss.item(), (1 + 4 + 4) / 3)  # the masked 25 is left out
    loss.backward()
    assert y_pred.grad[0, 1, 0] == 0.0
