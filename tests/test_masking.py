"""Time-step masks travel with tensors between layers (Keras semantics) and losses honour them."""

import numpy as np
import pytest

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


# ------------------------------------------------------------------ the Masking layer
def _padded(mask_value=-1.0):
    """Three sequences of 2, 5 and 3 real steps (3 features), padded at the end to 5 steps with mask_value;
    sample 0 has a real step whose features are partly equal to mask_value (it must stay unmasked)."""
    rng = np.random.default_rng(0)
    lengths = [2, 5, 3]
    x = rng.standard_normal((3, 5, 3)).astype("float32")
    for n, length in enumerate(lengths):
        x[n, length:] = mask_value
    x[0, 1, :2] = mask_value
    return x, lengths


def test_masking_marks_steps_whose_features_all_equal_the_mask_value_and_zeroes_them():
    x, lengths = _padded()
    layer = layers.Masking(mask_value=-1.0)
    inputs = gn.Tensor(x, requires_grad=True)
    out = layer(inputs)
    expected_mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    np.testing.assert_array_equal(out._keras_mask, expected_mask)
    np.testing.assert_array_equal(out.data, x * expected_mask[..., None])
    out.sum().backward()
    np.testing.assert_array_equal(inputs.grad, np.broadcast_to(expected_mask[..., None], x.shape))
    assert layers.deserialize(layers.serialize(layer)).mask_value == -1.0


def test_masked_lstm_ignores_the_padding_like_the_unpadded_sequences():
    """An LSTM behind Masking gives each padded sequence the final state of its unpadded steps alone
    (with the compiled loops over time when numba is installed, and on the NumPy path)."""
    from glassnet import accel

    x, lengths = _padded()
    for enabled in (True, False):
        gn.set_seed(0)
        lstm = layers.LSTM(4, bias_initializer="random_normal")
        model = gn.Sequential([layers.Input(shape=(5, 3)), layers.Masking(-1.0), lstm])
        with accel.disabled() if not enabled else gn.no_grad():
            padded = model.predict(x, verbose=0)
            for n, length in enumerate(lengths):
                alone = lstm(gn.Tensor(x[n:n + 1, :length])).data
                np.testing.assert_allclose(padded[n:n + 1], alone, rtol=1e-5, atol=1e-6)


def test_masked_lstm_matches_torch_packed_sequences():
    """Masking + LSTM against torch's LSTM on a PackedSequence (the lengths): final h and c, and the
    gradients of the weights and the inputs (padding gets none)."""
    torch = pytest.importorskip("torch")
    x, lengths = _padded()
    units = 4
    gn.set_seed(1)
    layer = layers.LSTM(units, return_state=True, bias_initializer="random_normal")
    inputs = gn.Tensor(x, requires_grad=True)
    _, h, c = layer(layers.Masking(-1.0)(inputs))
    rng = np.random.default_rng(2)
    ph, pc = rng.standard_normal(h.shape).astype("float32"), rng.standard_normal(c.shape).astype("float32")
    ((h * ph).sum() + (c * pc).sum()).backward()

    module = torch.nn.LSTM(3, units, batch_first=True)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(layer.kernel.data.T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(layer.recurrent_kernel.data.T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(layer.bias.data.copy()))
        module.bias_hh_l0.zero_()
    xt = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True,
                                                     enforce_sorted=False)
    _, (ht, ct) = module(packed)
    ((ht[0] * torch.from_numpy(ph)).sum() + (ct[0] * torch.from_numpy(pc)).sum()).backward()
    np.testing.assert_allclose(h.data, ht[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(c.data, ct[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(layer.kernel.grad, module.weight_ih_l0.grad.numpy().T, atol=2e-5)
    np.testing.assert_allclose(layer.recurrent_kernel.grad, module.weight_hh_l0.grad.numpy().T, atol=2e-5)
    np.testing.assert_allclose(layer.bias.grad, module.bias_ih_l0.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(inputs.grad, xt.grad.numpy(), atol=2e-5)
