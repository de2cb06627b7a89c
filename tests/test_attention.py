"""Attention: MultiHeadAttention (Keras 3 semantics), TransformerEncoder and PositionalEmbedding — weight
shapes and parameter counts, masks, gradients (gradcheck and PyTorch parity), config round trips, and a tiny
Transformer classifier that learns."""

import json
import math

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, ops
from glassnet.diagnostics import gradcheck
from glassnet.errors import InputError, ShapeError
from glassnet.layers.attention import MultiHeadAttention
from glassnet.layers.base import Layer
from glassnet.layers.transformer import PositionalEmbedding, TransformerEncoder, sinusoidal_positions
from glassnet.tensor import Parameter, Tensor


@pytest.fixture(autouse=True)
def _fresh_names():
    gn.clear_session()
    gn.set_seed(0)
    yield
    gn.clear_session()


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def mha_params(d_q, d_v, d_k, heads, key_dim, value_dim, d_out):
    """Keras' parameter count of MultiHeadAttention (EinsumDense kernels and biases)."""
    return ((d_q * heads * key_dim + heads * key_dim) + (d_k * heads * key_dim + heads * key_dim)
            + (d_v * heads * value_dim + heads * value_dim) + (heads * value_dim * d_out + d_out))


def gradcheck_weights(layer, forward, **kwargs):
    """gradcheck ``forward()`` with respect to every weight of ``layer`` (and its sub-layers): the checked
    leaves are swapped in as the layers' weight attributes."""
    slots = [(sub, attr, value) for sub in layer._flatten_layers() for attr, value in list(vars(sub).items())
             if isinstance(value, Parameter)]
    assert len(slots) == len(layer.weights)  # every weight is checked

    def fn(*leaves):
        for (sub, attr, _), leaf in zip(slots, leaves):
            object.__setattr__(sub, attr, leaf)
        return forward()

    try:
        return gradcheck(fn, *[w.data.copy() for _, _, w in slots], **kwargs)
    finally:
        for sub, attr, weight in slots:
            object.__setattr__(sub, attr, weight)


def reference_attention(mha, q, v, k, allowed):
    """Plain NumPy multi-head attention with a loop over heads (the formula, written independently)."""
    w = {x.path.split("/")[0] + "/" + x.name: x.data for x in mha.weights}
    out = w["attention_output/bias"].copy()
    probs = []
    for h in range(mha.num_heads):
        qh = q @ w["query/kernel"][:, h] + w["query/bias"][h]
        kh = k @ w["key/kernel"][:, h] + w["key/bias"][h]
        vh = v @ w["value/kernel"][:, h] + w["value/bias"][h]
        logits = qh @ kh.transpose(0, 2, 1) / math.sqrt(mha.key_dim)
        logits = np.where(allowed, logits, -np.inf)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        probs.append(p)
        out = out + (p @ vh) @ w["attention_output/kernel"][h]
    return out, np.stack(probs, axis=1)


# ====================================================================== MultiHeadAttention: structure
def test_weight_shapes_names_and_parameter_count_follow_keras():
    mha = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=5)
    q, v, k = rand(2, 4, 6), rand(2, 7, 8), rand(2, 7, 9)
    out = mha(q, v, k)
    assert out.shape == (2, 4, 6)  # projected back to the query's width
    assert [(w.path, w.shape) for w in mha.weights] == [
        ("query/kernel", (6, 2, 3)), ("query/bias", (2, 3)), ("key/kernel", (9, 2, 3)), ("key/bias", (2, 3)),
        ("value/kernel", (8, 2, 5)), ("value/bias", (2, 5)), ("attention_output/kernel", (2, 5, 6)),
        ("attention_output/bias", (6,))]
    assert mha.count_params() == mha_params(6, 8, 9, 2, 3, 5, 6) == 42 + 60 + 90 + 66
    assert mha.query_dense.kernel.shape == (6, 2, 3) and mha.output_dense.bias.shape == (6,)


def test_output_shape_and_no_bias_options():
    mha = MultiHeadAttention(num_heads=3, key_dim=2, output_shape=10, use_bias=False)
    out = mha(rand(2, 4, 6), rand(2, 5, 6))
    assert out.shape == (2, 4, 10)
    assert len(mha.weights) == 4 and mha.count_params() == 6 * 6 * 3 + 3 * 2 * 10
    assert mha.compute_output_shape((None, 4, 6)) == (None, 4, 10)


def test_matches_a_per_head_numpy_reference_with_all_mask_kinds():
    mha = MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, dtype="float64")
    q, v, k = rand(2, 5, 6, seed=1), rand(2, 5, 6, seed=2), rand(2, 5, 7, seed=3)
    attention_mask = rand(2, 5, 5, seed=4) > -0.5
    value_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    attention_mask[:, :, 0] = True  # every row keeps a key
    out, scores = mha(q, v, k, value_mask=value_mask, attention_mask=attention_mask, use_causal_mask=True,
                      return_attention_scores=True)
    allowed = attention_mask & value_mask[:, None, :] & np.tril(np.ones((5, 5), bool))
    expected_out, expected_scores = reference_attention(mha, q, v, k, allowed)
    np.testing.assert_allclose(out.data, expected_out, atol=1e-12)
    np.testing.assert_allclose(scores.data, expected_scores, atol=1e-12)


def test_masked_positions_get_exactly_zero_attention_and_do_not_influence_the_output():
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    q, v = rand(2, 3, 8, seed=1), rand(2, 5, 8, seed=2)
    value_mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    out, scores = mha(q, v, value_mask=value_mask, return_attention_scores=True)
    assert scores.shape == (2, 2, 3, 5)
    assert np.all(scores.data[0, :, :, [2, 4]] == 0.0)
    assert np.all(scores.data[1] > 0.0)
    np.testing.assert_allclose(scores.data.sum(-1), 1.0, rtol=1e-6)
    changed = v.copy()
    changed[0, [2, 4]] = 100.0  # the padded steps' contents must not matter
    np.testing.assert_allclose(mha(q, changed, value_mask=value_mask).data, out.data, atol=1e-6)


def test_causal_mask_hides_the_future():
    mha = MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    x = rand(1, 6, 5)
    out, scores = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    assert np.all(scores.data[..., np.triu_indices(6, k=1)[0], np.triu_indices(6, k=1)[1]] == 0.0)
    later = x.copy()
    later[0, 4:] += 3.0
    np.testing.assert_allclose(mha(later, later, use_causal_mask=True).data[0, :4], out.data[0, :4], atol=1e-12)
    assert not np.allclose(mha(later, later, use_causal_mask=True).data[0, 4:], out.data[0, 4:])


def test_masks_carried_by_tensors_are_combined_like_keras():
    mha = MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    q, v = rand(2, 3, 4, seed=1), rand(2, 4, 4, seed=2)
    q_mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    v_mask = np.array([[1, 0, 1, 1], [1, 1, 1, 0]], bool)
    query, value = gn.tensor(q), gn.tensor(v)
    query._keras_mask, value._keras_mask = q_mask, v_mask
    out, scores = mha(query, value, return_attention_scores=True)
    explicit_out, explicit_scores = mha(q, v, query_mask=q_mask, value_mask=v_mask, return_attention_scores=True)
    np.testing.assert_allclose(scores.data, explicit_scores.data)
    np.testing.assert_allclose(out.data, explicit_out.data)
    assert np.all(scores.data[0, :, :2, 1] == 0) and np.all(scores.data[1, :, :, 3] == 0)
    # a masked query row attends to nothing, which Keras turns into uniform attention over all keys
    np.testing.assert_allclose(scores.data[0, :, 2], 0.25)
    # the output keeps the query's mask; the scores carry none
    np.testing.assert_array_equal(out._keras_mask, q_mask)
    assert getattr(scores, "_keras_mask", None) is None
    assert getattr(mha(query, value), "_keras_mask", None) is not None
    # a key given separately contributes its own mask
    key = gn.tensor(v)
    key._keras_mask = np.array([[1, 1, 1, 0], [0, 1, 1, 1]], bool)
    _, scores = mha(q, value, key, return_attention_scores=True)
    assert np.all(scores.data[0, :, :, [1, 3]] == 0) and np.all(scores.data[1, :, :, [0, 3]] == 0)


def test_attention_mask_broadcasts_over_batch_and_heads():
    mha = MultiHeadAttention(num_heads=2, key_dim=2)
    q, v = rand(3, 4, 4), rand(3, 5, 4)
    mask = np.tril(np.ones((4, 5), bool))
    _, a = mha(q, v, attention_mask=mask, return_attention_scores=True)
    _, b = mha(q, v, attention_mask=np.broadcast_to(mask, (3, 4, 5)), return_attention_scores=True)
    np.testing.assert_allclose(a.data, b.data)
    assert np.all(a.data[:, :, 0, 1:] == 0)


def test_dropout_on_attention_probabilities_only_in_training():
    x = rand(2, 6, 8)
    mha = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=3)
    plain = MultiHeadAttention(num_heads=2, key_dim=4)
    plain(x, x)
    plain.set_weights(mha(x, x).shape and mha.get_weights())
    inference = mha(x, x, training=False).data
    np.testing.assert_allclose(inference, mha(x, x).data)
    np.testing.assert_allclose(inference, plain(x, x).data, rtol=1e-6)
    trained = mha(x, x, training=True).data
    assert not np.allclose(trained, inference)
    assert np.isfinite(trained).all()


# ====================================================================== MultiHeadAttention: gradients
def _masks():
    attention_mask = np.ones((2, 3, 4), bool)
    attention_mask[0, 1, 2] = attention_mask[1, 0, 0] = False
    value_mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    query_mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    return {"attention_mask": attention_mask, "value_mask": value_mask, "query_mask": query_mask}


def test_gradcheck_wrt_query_value_and_key_with_masks():
    mha = MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, dtype="float64")
    q, v, k = rand(2, 3, 4, seed=1), rand(2, 4, 5, seed=2), rand(2, 4, 3, seed=3)
    mha(q, v, k)
    assert gradcheck(lambda a, b, c: mha(a, b, c, **_masks()), q, v, k)


def test_gradcheck_wrt_inputs_with_causal_mask_and_through_the_scores():
    mha = MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    x = rand(2, 4, 4, seed=5)
    assert gradcheck(lambda t: mha(t, t, use_causal_mask=True), x)
    assert gradcheck(lambda t: mha(t, t, use_causal_mask=True, return_attention_scores=True)[1], x)


def test_gradcheck_wrt_every_weight_with_masks():
    mha = MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, output_shape=3, dtype="float64")
    q, v, k = rand(2, 3, 4, seed=1), rand(2, 4, 5, seed=2), rand(2, 4, 3, seed=3)
    mha(q, v, k)
    assert gradcheck_weights(mha, lambda: mha(q, v, k, use_causal_mask=False, **_masks()))
    assert gradcheck_weights(mha, lambda: mha(q, v, k, use_causal_mask=True, value_mask=_masks()["value_mask"]))


# ====================================================================== PyTorch parity
def _torch_mha_from(mha, torch):
    """torch.nn.MultiheadAttention holding ``mha``'s weights (E = heads·key_dim, value_dim = key_dim)."""
    w = {x.path: x.data for x in mha.weights}
    embed = w["query/kernel"].shape[0]
    module = torch.nn.MultiheadAttention(embed, mha.num_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # torch computes x @ Wᵀ with W (out, in); heads are contiguous blocks of `out`
        module.in_proj_weight.copy_(torch.tensor(np.concatenate(
            [w[f"{n}/kernel"].reshape(embed, embed).T for n in ("query", "key", "value")])))
        module.in_proj_bias.copy_(torch.tensor(np.concatenate(
            [w[f"{n}/bias"].ravel() for n in ("query", "key", "value")])))
        module.out_proj.weight.copy_(torch.tensor(w["attention_output/kernel"].reshape(embed, embed).T))
        module.out_proj.bias.copy_(torch.tensor(w["attention_output/bias"]))
    return module


def test_mha_matches_torch_outputs_weights_and_gradients_with_padding_and_attention_masks():
    torch = pytest.importorskip("torch")
    B, T, S, H, K = 2, 4, 5, 2, 3
    E = H * K
    mha = MultiHeadAttention(num_heads=H, key_dim=K, dtype="float64")
    q, k, v = rand(B, T, E, seed=1), rand(B, S, E, seed=2), rand(B, S, E, seed=3)
    mha(q, v, k)
    module = _torch_mha_from(mha, torch)
    assert mha.count_params() == sum(p.numel() for p in module.parameters())
    value_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    attention_mask = rand(B, T, S, seed=4) > -0.3
    attention_mask[:, :, 0] = True  # no fully masked row (torch returns NaN there)
    upstream = rand(B, T, E, seed=5)

    qt, kt, vt = (Tensor(a, requires_grad=True) for a in (q, k, v))
    out, scores = mha(qt, vt, kt, value_mask=value_mask, attention_mask=attention_mask,
                      return_attention_scores=True)
    (out * upstream).sum().backward()

    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    torch_mask = torch.tensor(np.repeat(~attention_mask, H, axis=0))  # torch: True = NOT allowed, (B·H, T, S)
    t_out, t_scores = module(tq, tk, tv, key_padding_mask=torch.tensor(~value_mask), attn_mask=torch_mask,
                             need_weights=True, average_attn_weights=False)
    (t_out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(scores.data, t_scores.detach().numpy(), atol=1e-12)
    for ours, theirs in ((qt, tq), (kt, tk), (vt, tv)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)
    grads = {w.path: w.grad for w in mha.weights}
    torch_in_grad = module.in_proj_weight.grad.numpy()
    for i, name in enumerate(("query", "key", "value")):
        np.testing.assert_allclose(grads[f"{name}/kernel"].reshape(E, E).T, torch_in_grad[i * E:(i + 1) * E],
                                   atol=1e-12)
    np.testing.assert_allclose(grads["attention_output/kernel"].reshape(E, E).T, module.out_proj.weight.grad,
                               atol=1e-12)
    # averaged over heads, as torch returns by default
    _, t_mean = module(tq, tk, tv, key_padding_mask=torch.tensor(~value_mask), attn_mask=torch_mask)
    np.testing.assert_allclose(scores.data.mean(axis=1), t_mean.detach().numpy(), atol=1e-12)


def test_causal_mask_matches_torch_is_causal():
    torch = pytest.importorskip("torch")
    mha = MultiHeadAttention(num_heads=3, key_dim=2, dtype="float64")
    x = rand(2, 5, 6, seed=7)
    out, scores = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    module = _torch_mha_from(mha, torch)
    xt = torch.tensor(x)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    t_out, t_scores = module(xt, xt, xt, attn_mask=causal, is_causal=True, average_attn_weights=False)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(scores.data, t_scores.detach().numpy(), atol=1e-12)


def _torch_encoder_from(encoder, torch, d_model, ff_dim, norm_first, eps):
    layer = torch.nn.TransformerEncoderLayer(d_model, encoder.num_heads, ff_dim, dropout=0.0, activation="relu",
                                             layer_norm_eps=eps, batch_first=True, norm_first=norm_first,
                                             dtype=torch.float64)
    layer.self_attn = _torch_mha_from(encoder._self_attention_layer, torch)
    w = {x.path: x.data for x in encoder.weights}
    pairs = [(layer.linear1.weight, w["feedforward_intermediate_dense/kernel"].T),
             (layer.linear1.bias, w["feedforward_intermediate_dense/bias"]),
             (layer.linear2.weight, w["feedforward_output_dense/kernel"].T),
             (layer.linear2.bias, w["feedforward_output_dense/bias"]),
             (layer.norm1.weight, w["self_attention_layer_norm/gamma"]),
             (layer.norm1.bias, w["self_attention_layer_norm/beta"]),
             (layer.norm2.weight, w["feedforward_layer_norm/gamma"]),
             (layer.norm2.bias, w["feedforward_layer_norm/beta"])]
    with torch.no_grad():
        for param, value in pairs:
            param.copy_(torch.tensor(value))
    return layer.train()  # dropout is 0; train mode keeps torch off its fast path (which zeroes padded rows)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_matches_torch_with_padding_mask(norm_first):
    torch = pytest.importorskip("torch")
    B, T, E, H, F, eps = 2, 5, 8, 2, 12, 1e-5
    encoder = TransformerEncoder(num_heads=H, ff_dim=F, dropout=0.0, norm_first=norm_first, epsilon=eps,
                                 dtype="float64")
    x = rand(B, T, E, seed=1)
    encoder(x)
    rng = np.random.default_rng(0)
    for w in encoder.weights:  # move γ, β and the biases away from 1 and 0 so every mapping is tested
        w.data[...] += 0.1 * rng.standard_normal(w.shape)
    module = _torch_encoder_from(encoder, torch, E, F, norm_first, eps)
    assert encoder.count_params() == sum(p.numel() for p in module.parameters())

    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    xs = gn.tensor(x, requires_grad=True)
    xs._keras_mask = padding  # the padding mask travels with the tensor
    out = encoder(xs)
    upstream = rand(B, T, E, seed=2)
    (out * upstream).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    t_out = module(xt, src_key_padding_mask=torch.tensor(~padding))
    (t_out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), atol=1e-10)
    grads = {w.path: w.grad for w in encoder.weights}
    np.testing.assert_allclose(grads["feedforward_intermediate_dense/kernel"].T, module.linear1.weight.grad,
                               atol=1e-10)
    np.testing.assert_allclose(grads["self_attention_layer_norm/gamma"], module.norm1.weight.grad, atol=1e-10)
    np.testing.assert_allclose(grads["query/kernel"].reshape(E, E).T, module.self_attn.in_proj_weight.grad[:E],
                               atol=1e-10)
    np.testing.assert_array_equal(out._keras_mask, padding)
    np.testing.assert_allclose(encoder(x, padding_mask=padding).data, out.data)  # explicit mask: same result


def test_transformer_encoder_causal_matches_torch():
    torch = pytest.importorskip("torch")
    encoder = TransformerEncoder(num_heads=2, ff_dim=6, dropout=0.0, epsilon=1e-5, dtype="float64")
    x = rand(2, 4, 4, seed=3)
    out = encoder(x, use_causal_mask=True)
    module = _torch_encoder_from(encoder, torch, 4, 6, False, 1e-5)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    t_out = module(torch.tensor(x), src_mask=causal, is_causal=True)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), atol=1e-10)


# ====================================================================== TransformerEncoder
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_gradcheck_inputs_and_weights_with_padding(norm_first):
    encoder = TransformerEncoder(num_heads=2, ff_dim=5, dropout=0.0, norm_first=norm_first, dtype="float64",
                                 activation="tanh")
    x = rand(2, 3, 4, seed=1)
    padding = np.array([[1, 1, 0], [1, 1, 1]], bool)
    encoder(x)
    assert gradcheck(lambda t: encoder(t, padding_mask=padding), x)
    assert gradcheck_weights(encoder, lambda: encoder(x, padding_mask=padding))


def test_transformer_encoder_parameter_count_and_structure():
    encoder = TransformerEncoder(num_heads=4, ff_dim=32)
    out = encoder(np.zeros((2, 7, 16), np.float32))
    assert out.shape == (2, 7, 16) and out.dtype == np.float32
    d, f = 16, 32
    attention = mha_params(d, d, d, 4, 4, 4, d)
    assert encoder.count_params() == attention + 2 * 2 * d + (d * f + f) + (f * d + d)
    assert encoder._self_attention_layer.key_dim == 4  # d_model / num_heads by default
    wide = TransformerEncoder(num_heads=2, key_dim=8, ff_dim=4)
    wide(np.zeros((1, 3, 6), np.float32))
    assert wide._self_attention_layer.query_dense.kernel.shape == (6, 2, 8)
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoder(num_heads=4, ff_dim=8)(np.zeros((1, 3, 6), np.float32))


def test_transformer_encoder_dropout_only_in_training():
    encoder = TransformerEncoder(num_heads=2, ff_dim=8, dropout=0.3, seed=1)
    x = rand(2, 5, 4).astype(np.float32)
    a, b = encoder(x).data, encoder(x, training=False).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(encoder(x, training=True).data, a)


def test_transformer_encoder_padding_keeps_valid_positions_independent_of_padded_contents():
    encoder = TransformerEncoder(num_heads=2, ff_dim=8, dropout=0.0, dtype="float64")
    x = rand(1, 5, 4)
    padding = np.array([[1, 1, 1, 0, 0]], bool)
    out = encoder(x, padding_mask=padding).data
    changed = x.copy()
    changed[0, 3:] = 50.0
    np.testing.assert_allclose(encoder(changed, padding_mask=padding).data[0, :3], out[0, :3], atol=1e-12)
    assert not np.allclose(encoder(changed).data[0, :3], out[0, :3])  # without the mask they would matter


# ====================================================================== PositionalEmbedding
def test_positional_embedding_adds_token_and_position_rows_and_masks_zero():
    embed = PositionalEmbedding(sequence_length=6, input_dim=10, output_dim=4, mask_zero=True, dtype="float64")
    ids = np.array([[3, 1, 0, 0], [9, 2, 5, 7]])
    out = embed(ids)
    assert out.shape == (2, 4, 4) and embed.count_params() == 10 * 4 + 6 * 4
    expected = embed.token_embeddings.data[ids] + embed.position_embeddings.data[:4]
    np.testing.assert_allclose(out.data, expected)
    np.testing.assert_array_equal(out._keras_mask, ids != 0)
    assert getattr(PositionalEmbedding(6, 10, 4)(ids), "_keras_mask", None) is None
    assert embed.compute_output_shape((None, 4)) == (None, 4, 4)


def test_positional_embedding_sinusoidal_table_and_gradients():
    table = sinusoidal_positions(5, 6, dtype="float64")
    np.testing.assert_allclose(table[0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(table[3, :2], [np.sin(3.0), np.cos(3.0)])
    np.testing.assert_allclose(table[2, 4:], [np.sin(2 / 10000 ** (4 / 6)), np.cos(2 / 10000 ** (4 / 6))])
    embed = PositionalEmbedding(5, 7, 6, position_encoding="sinusoidal", dtype="float64")
    ids = np.array([[1, 2, 2], [6, 0, 1]])
    out = embed(ids)
    np.testing.assert_allclose(out.data, embed.token_embeddings.data[ids] + table[:3])
    assert len(embed.weights) == 1  # the sinusoids are fixed
    learned = PositionalEmbedding(5, 7, 6, dtype="float64")
    learned(ids)
    assert gradcheck_weights(learned, lambda: learned(ids))  # repeated ids accumulate gradient


def test_positional_embedding_rejects_bad_ids_and_long_sequences():
    embed = PositionalEmbedding(4, 5, 3, name="pe")
    with pytest.raises(InputError, match=r"\[0, 5\)"):
        embed(np.array([[1, 5]]))
    with pytest.raises(InputError, match="integer"):
        embed(np.array([[1.5, 2.0]]))
    with pytest.raises(ShapeError, match="at most 4"):
        embed(np.zeros((1, 6), int))


# ====================================================================== errors, config, symbolic use
def test_bad_calls_raise_clear_errors():
    mha = MultiHeadAttention(num_heads=2, key_dim=2, name="att")
    with pytest.raises(TypeError, match="query and value"):
        mha(rand(1, 3, 4))
    with pytest.raises(ShapeError, match=r"\(batch, time, features\)"):
        MultiHeadAttention(2, 2)(rand(3, 4), rand(3, 4))
    mha(rand(2, 3, 4), rand(2, 5, 4))
    with pytest.raises(ShapeError, match="value_mask"):
        mha(rand(2, 3, 4), rand(2, 5, 4), value_mask=np.ones((2, 3), bool))
    with pytest.raises(ShapeError, match="attention_mask"):
        mha(rand(2, 3, 4), rand(2, 5, 4), attention_mask=np.ones((2, 5, 3), bool))
    with pytest.raises(ShapeError, match="same length"):
        mha(rand(2, 3, 4), rand(2, 5, 4), rand(2, 4, 4))
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(num_heads=0, key_dim=2)
    with pytest.raises(ValueError, match="ff_dim"):
        TransformerEncoder(num_heads=2)


def test_get_config_round_trips_and_rebuilt_layers_compute_the_same():
    x = rand(2, 4, 6).astype(np.float32)
    mha = MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, dropout=0.1, output_shape=5, seed=2,
                             kernel_regularizer="l2")
    out = mha(x, x)
    clone = layers.deserialize(layers.serialize(mha))
    assert type(clone) is MultiHeadAttention and clone.get_config() == mha.get_config()
    clone(x, x)
    clone.set_weights(mha.get_weights())
    np.testing.assert_allclose(clone(x, x).data, out.data)
    assert len(mha.losses) == 4  # the l2 penalty of each projection kernel
    cross = MultiHeadAttention(num_heads=2, key_dim=3)
    cross(x, rand(2, 5, 7), rand(2, 5, 3))
    rebuilt = MultiHeadAttention.from_config(cross.get_config())
    rebuilt.build_from_config(json.loads(json.dumps(cross.get_build_config())))  # as load_model does
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in cross.weights]

    encoder = TransformerEncoder(num_heads=2, ff_dim=8, dropout=0.2, activation="gelu", norm_first=True,
                                 epsilon=1e-5)
    out = encoder(x)
    clone = layers.deserialize(layers.serialize(encoder))
    assert clone.get_config() == encoder.get_config()
    clone(x)
    clone.set_weights(encoder.get_weights())
    np.testing.assert_allclose(clone(x).data, out.data, rtol=1e-6)

    embed = PositionalEmbedding(5, 9, 3, mask_zero=True, position_encoding="sinusoidal")
    assert PositionalEmbedding.from_config(embed.get_config()).get_config() == embed.get_config()


def test_symbolic_calls_build_with_every_input_shape():
    query, value = gn.Input((4, 6)), gn.Input((7, 8))
    mha = MultiHeadAttention(num_heads=2, key_dim=3)
    out = mha(query, value)
    assert out.shape == (None, 4, 6)
    assert mha.value_dense.kernel.shape == (8, 2, 3)
    out, scores = MultiHeadAttention(num_heads=2, key_dim=3)(query, value, return_attention_scores=True)
    assert out.shape == (None, 4, 6) and scores.shape == (None, 2, 4, 7)


def test_sequential_transformer_saves_and_loads(tmp_path):
    model = gn.Sequential([PositionalEmbedding(6, 12, 8, mask_zero=True, input_shape=(6,)),
                           TransformerEncoder(num_heads=2, ff_dim=16)])
    ids = np.array([[1, 4, 2, 0, 0, 0], [3, 3, 5, 7, 11, 1]])
    expected = model.predict(ids, verbose=0)
    model.save(tmp_path / "transformer.glassnet")
    loaded = gn.load_model(tmp_path / "transformer.glassnet")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), expected, rtol=1e-6)


# ====================================================================== a tiny Transformer learns
class MeanOverTime(Layer):
    """Average over the valid time steps (the mask carried by the input), (B, T, d) → (B, d)."""

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        weights = mask.astype(inputs.dtype)[..., None]
        return ops.divide(ops.sum(ops.multiply(inputs, weights), axis=1), weights.sum(axis=1))


def test_tiny_transformer_classifier_learns_a_sequence_task():
    # Label: does token 1 come before token 2 in the sequence? (needs positions, not just token counts)
    rng = np.random.default_rng(0)
    n, length = 600, 6
    ids = rng.integers(3, 8, size=(n, length))
    first = rng.choice(length, size=n)
    second = (first + rng.integers(1, length, size=n)) % length
    ids[np.arange(n), first] = 1
    ids[np.arange(n), second] = 2
    labels = (first < second).astype(int)
    model = gn.Sequential([
        PositionalEmbedding(length, 8, 16, input_shape=(length,)),
        TransformerEncoder(num_heads=2, ff_dim=32, dropout=0.0),
        MeanOverTime(),
        layers.Dense(2),
    ])
    model.compile(optimizer=gn.optimizers.Adam(0.01),
                  loss=gn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(ids[:500], labels[:500], batch_size=50, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(ids[500:], labels[500:], verbose=0)
    assert accuracy > 0.8  # chance is about 0.5
