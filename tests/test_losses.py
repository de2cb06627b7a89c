"""Losses: values (Keras examples, hand computations, PyTorch parity), gradients, shapes, weights, registry."""

import json
import math

import numpy as np
import pytest

from glassnet import losses, no_grad, ops, saving, tensor
from glassnet.diagnostics import gradcheck
from glassnet.errors import InputError, ShapeError, UnknownNameError

EPS = 1e-7


def rng(seed=0):
    return np.random.default_rng(seed)


def value_and_grad(loss_fn, y_true, y_pred, **kwargs):
    """Scalar loss value and d loss / d y_pred (float64)."""
    p = tensor(np.asarray(y_pred, dtype=np.float64), requires_grad=True)
    out = loss_fn(y_true, p, **kwargs)
    out.backward()
    return out.item(), p.grad


# ============================================================================ test data per loss
def _cases():
    r = rng(1)
    n = 4
    y_reg = r.normal(size=(n, 3))
    offsets = r.choice([-1.0, 1.0], size=(n, 3)) * r.uniform(0.2, 0.6, size=(n, 3))
    p_reg = y_reg + offsets  # |error| in [0.2, 0.6]: away from the kinks at 0 and at δ = 1
    huber_err = np.array([[0.3, -0.5, 1.7], [-2.5, 0.9, -0.2], [1.4, -1.3, 0.6], [0.1, 2.2, -0.7]])
    y_pos = r.uniform(0.5, 3.0, size=(n, 3))
    labels01 = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    probs = r.uniform(0.1, 0.9, size=(n, 3))
    logits = r.normal(scale=2.0, size=(n, 3))
    onehot = np.eye(3)[[0, 2, 1, 2]]
    sparse = np.array([0, 2, 1, 2])
    pm1 = 2 * labels01 - 1
    hinge_pred = pm1 * r.uniform(0.1, 0.8, size=(n, 3)) * r.choice([-1, 1], size=(n, 3))  # margins ≠ 1
    cat_hinge_pred = np.array([[0.9, 0.1, 0.35], [0.2, 0.3, 0.75], [0.15, 0.5, 0.05], [0.6, 0.1, 0.2]])
    y_dist = r.dirichlet(np.ones(3), size=n) * 0.7 + 0.1
    p_dist = r.dirichlet(np.ones(3), size=n) * 0.7 + 0.1
    masks = (r.uniform(size=(n, 3, 2)) > 0.5).astype(float)
    return [
        ("mse", losses.MeanSquaredError(), y_reg, p_reg),
        ("mae", losses.MeanAbsoluteError(), y_reg, p_reg),
        ("mape", losses.MeanAbsolutePercentageError(), y_pos, y_pos + offsets),
        ("msle", losses.MeanSquaredLogarithmicError(), y_pos, y_pos + offsets),
        ("huber", losses.Huber(), np.zeros((n, 3)), huber_err),
        ("huber_delta_0.4", losses.Huber(delta=0.4), np.zeros((n, 3)), huber_err),
        ("log_cosh", losses.LogCosh(), y_reg, p_reg * 3),
        ("quantile", losses.Quantile(0.3), y_reg, p_reg),
        ("bce", losses.BinaryCrossentropy(), labels01, probs),
        ("bce_soft_smoothing", losses.BinaryCrossentropy(label_smoothing=0.2), probs[::-1], probs),
        ("bce_logits", losses.BinaryCrossentropy(from_logits=True), labels01, logits),
        ("focal", losses.BinaryFocalCrossentropy(), labels01, probs),
        ("focal_logits_balanced", losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.5,
                                                                 from_logits=True, label_smoothing=0.1),
         labels01, logits),
        ("cce", losses.CategoricalCrossentropy(), onehot, probs),
        ("cce_logits_smoothing", losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
         onehot, logits),
        ("sparse", losses.SparseCategoricalCrossentropy(), sparse, probs),
        ("sparse_logits", losses.SparseCategoricalCrossentropy(from_logits=True), sparse, logits),
        ("sparse_ignore", losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1), sparse, logits),
        ("hinge", losses.Hinge(), labels01, hinge_pred),
        ("squared_hinge", losses.SquaredHinge(), pm1, hinge_pred),
        ("categorical_hinge", losses.CategoricalHinge(), onehot, cat_hinge_pred),
        ("kld", losses.KLDivergence(), y_dist, p_dist),
        ("poisson", losses.Poisson(), np.round(y_pos), y_pos),
        ("cosine_similarity", losses.CosineSimilarity(), y_reg, p_reg),
        ("cosine_distance", losses.CosineDistance(), y_reg, p_reg),
        ("dice", losses.Dice(), masks, r.uniform(0.05, 0.95, size=(n, 3, 2))),
    ]


CASES = _cases()


@pytest.mark.parametrize("name,loss,y_true,y_pred", CASES, ids=[c[0] for c in CASES])
def test_gradcheck_with_sample_weight(name, loss, y_true, y_pred):
    weights = np.array([0.5, 2.0, 1.0, 0.0])
    assert gradcheck(lambda p: loss(y_true, p, sample_weight=weights), y_pred)
    assert gradcheck(lambda p: loss(y_true, p), y_pred)


@pytest.mark.parametrize("name,loss,y_true,y_pred", CASES, ids=[c[0] for c in CASES])
def test_per_sample_function_shape_and_gradcheck(name, loss, y_true, y_pred):
    per_sample = lambda p: loss.fn(y_true, p, **loss._fn_kwargs)  # noqa: E731
    out = per_sample(tensor(y_pred))
    assert out.shape == (4,)
    assert np.all(np.isfinite(out.data))
    assert gradcheck(per_sample, y_pred)


@pytest.mark.parametrize("name,loss,y_true,y_pred", CASES, ids=[c[0] for c in CASES])
def test_sample_weight_and_reductions_by_hand(name, loss, y_true, y_pred):
    cls = type(loss)
    config = loss.get_config()
    per_sample = cls.from_config({**config, "reduction": "none"})(y_true, y_pred).data
    assert per_sample.shape == (4,)
    if name == "sparse_ignore":  # masked entries are left out of the mean
        valid = np.asarray(y_true) != 1
        expected_mean = per_sample[valid].sum() / valid.sum()
    else:
        expected_mean = per_sample.mean()
    assert np.isclose(loss(y_true, y_pred).item(), expected_mean)
    w = np.array([0.5, 2.0, 1.0, 0.0])
    assert np.isclose(cls.from_config({**config, "reduction": "sum"})(y_true, y_pred, sample_weight=w).item(),
                      (per_sample * w).sum())
    for shaped in (w, w[:, None], list(w)):
        weighted = cls.from_config({**config, "reduction": "none"})(y_true, y_pred, sample_weight=shaped)
        assert weighted.shape == (4,)
        assert np.allclose(weighted.data, per_sample * w)


# ============================================================================ Keras documented examples
def test_keras_examples_binary_crossentropy():
    assert np.allclose(losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).data,
                       [0.916, 0.714], atol=1e-3)
    y1, p1 = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert math.isclose(losses.BinaryCrossentropy(from_logits=True)(y1, p1).item(), 0.8654, abs_tol=2e-4)
    y, p = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert math.isclose(bce(y, p).item(), 0.8654, abs_tol=2e-4)
    assert math.isclose(bce(y, p, sample_weight=[0.8, 0.2]).item(), 0.243, abs_tol=1e-3)
    assert math.isclose(losses.BinaryCrossentropy(from_logits=True, reduction="sum")(y, p).item(), 1.730,
                        abs_tol=1e-3)
    assert np.allclose(losses.BinaryCrossentropy(from_logits=True, reduction=None)(y, p).data, [0.235, 1.496],
                       atol=1e-3)


def test_keras_examples_binary_focal_crossentropy():
    y1, p1 = np.array([0, 1, 0, 0]), np.array([-18.6, 0.51, 2.94, -12.8])
    F = losses.BinaryFocalCrossentropy
    assert math.isclose(F(gamma=2, from_logits=True)(y1, p1).item(), 0.691, abs_tol=1e-3)
    assert math.isclose(F(apply_class_balancing=True, gamma=2, from_logits=True)(y1, p1).item(), 0.51,
                        abs_tol=1e-3)
    y, p = np.array([[0, 1], [0, 0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert math.isclose(F(gamma=3, from_logits=True)(y, p).item(), 0.647, abs_tol=1e-3)
    assert math.isclose(F(apply_class_balancing=True, gamma=3, from_logits=True)(y, p).item(), 0.482, abs_tol=1e-3)
    assert math.isclose(F(gamma=3, from_logits=True)(y, p, sample_weight=[0.8, 0.2]).item(), 0.133, abs_tol=1e-3)
    assert math.isclose(F(apply_class_balancing=True, gamma=3, from_logits=True)(y, p, sample_weight=[0.8, 0.2])
                        .item(), 0.097, abs_tol=1e-3)
    assert math.isclose(F(gamma=4, from_logits=True, reduction="sum")(y, p).item(), 1.222, abs_tol=1e-3)
    assert math.isclose(F(apply_class_balancing=True, gamma=4, from_logits=True, reduction="sum")(y, p).item(),
                        0.914, abs_tol=1e-3)
    assert np.allclose(F(gamma=5, from_logits=True, reduction=None)(y, p).data, [0.0017, 1.1561], atol=1e-4)
    assert np.allclose(F(apply_class_balancing=True, gamma=5, from_logits=True, reduction=None)(y, p).data,
                       [0.0004, 0.8670], atol=1e-4)
    assert np.allclose(losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2).data,
                       [0.330, 0.206], atol=1e-3)


def test_keras_examples_categorical_and_sparse():
    y, p = np.array([[0, 1, 0], [0, 0, 1]]), np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    for loss_cls, labels in ((losses.CategoricalCrossentropy, y), (losses.SparseCategoricalCrossentropy, [1, 2])):
        assert math.isclose(loss_cls()(labels, p).item(), 1.177, abs_tol=1e-3)
        assert math.isclose(loss_cls()(labels, p, sample_weight=np.array([0.3, 0.7])).item(), 0.814, abs_tol=1e-3)
        assert math.isclose(loss_cls(reduction="sum")(labels, p).item(), 2.354, abs_tol=1e-3)
        assert np.allclose(loss_cls(reduction=None)(labels, p).data, [0.0513, 2.303], atol=1e-3)


def test_keras_examples_regression_and_margin_losses():
    y, p = [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]
    assert math.isclose(losses.MeanSquaredError()(y, p).item(), 0.5, rel_tol=1e-6)
    assert math.isclose(losses.MeanSquaredError()(y, p, sample_weight=[0.7, 0.3]).item(), 0.25, rel_tol=1e-6)
    assert math.isclose(losses.MeanSquaredError(reduction="sum")(y, p).item(), 1.0, rel_tol=1e-6)
    assert np.allclose(losses.MeanSquaredError(reduction="none")(y, p).data, [0.5, 0.5])
    assert math.isclose(losses.MeanAbsoluteError()(y, p).item(), 0.5, rel_tol=1e-6)
    assert math.isclose(losses.MeanAbsolutePercentageError()([[2.0, 1.0], [2.0, 3.0]], p).item(), 50.0, rel_tol=1e-6)
    assert math.isclose(losses.MeanSquaredLogarithmicError()(y, p).item(), 0.240, abs_tol=1e-3)
    yb, pb = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
    assert math.isclose(losses.Huber()(yb, pb).item(), 0.155, abs_tol=1e-3)
    assert math.isclose(losses.LogCosh()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).item(), 0.108,
                        abs_tol=1e-3)
    assert math.isclose(losses.Hinge()(yb, pb).item(), 1.3, abs_tol=1e-6)
    assert math.isclose(losses.SquaredHinge()(yb, pb).item(), 1.86, abs_tol=1e-6)
    assert math.isclose(losses.CategoricalHinge()(yb, pb).item(), 1.4, abs_tol=1e-6)
    assert math.isclose(losses.KLDivergence()(yb, pb).item(), 0.458, abs_tol=1e-3)
    assert math.isclose(losses.Poisson()(yb, [[1.0, 1.0], [0.0, 0.0]]).item(), 0.5, abs_tol=1e-6)
    assert np.allclose(losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
                                                [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]).data,
                       [0.0, -1.0, 1.0], atol=1e-6)
    assert math.isclose(losses.CosineSimilarity()([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]).item(), -0.5,
                        abs_tol=1e-6)
    assert np.allclose(losses.cosine_distance([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [-1.0, -1.0]]).data, [1.0, 2.0])


def test_keras_example_dice_per_sample_and_global():
    y = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
    p = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]
    assert np.allclose(losses.dice(y, p, axis=(1, 2, 3)).data, [0.5, 0.75757575], atol=1e-6)
    assert np.allclose(losses.dice(y, p).data, [0.5, 0.75757575], atol=1e-6)  # default: per sample
    assert math.isclose(losses.dice(y, p, axis=(0, 1, 2, 3)).item(), 0.6164384, abs_tol=1e-6)  # Keras axis=None
    assert np.allclose(losses.Dice(reduction=None)(y, p).data, [0.5, 0.75757575], atol=1e-6)
    assert math.isclose(losses.Dice()(y, p, sample_weight=[1.0, 0.0]).item(), 0.25, abs_tol=1e-6)


# ============================================================================ PyTorch parity
def _torch_value_and_grad(torch, fn, y_pred):
    p = torch.tensor(np.asarray(y_pred, dtype=np.float64), requires_grad=True)
    out = fn(p)
    out.backward()
    return out.item(), p.grad.numpy()


def _parity(torch, ours, theirs, y_true, y_pred, **kwargs):
    v1, g1 = value_and_grad(ours, y_true, y_pred, **kwargs)
    v2, g2 = _torch_value_and_grad(torch, theirs, y_pred)
    assert math.isclose(v1, v2, rel_tol=1e-9, abs_tol=1e-12), (v1, v2)
    assert np.allclose(g1, g2, rtol=1e-7, atol=1e-12)


def test_torch_parity_regression():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    r = rng(2)
    y = r.normal(size=(6, 3))
    p = y + r.choice([-1, 1], size=(6, 3)) * r.uniform(0.1, 2.0, size=(6, 3))
    Y = torch.tensor(y)
    _parity(torch, losses.MeanSquaredError(), lambda t: F.mse_loss(t, Y), y, p)
    _parity(torch, losses.MeanAbsoluteError(), lambda t: F.l1_loss(t, Y), y, p)
    _parity(torch, losses.Huber(delta=0.7), lambda t: F.huber_loss(t, Y, delta=0.7), y, p)
    _parity(torch, losses.Huber(), lambda t: F.smooth_l1_loss(t, Y, beta=1.0), y, p)  # equal for δ = β = 1
    _parity(torch, losses.LogCosh(), lambda t: torch.log(torch.cosh(t - Y)).mean(), y, p)
    _parity(torch, losses.Quantile(0.8), lambda t: torch.maximum(0.8 * (Y - t), -0.2 * (Y - t)).mean(), y, p)
    _parity(torch, losses.CosineSimilarity(), lambda t: -F.cosine_similarity(t, Y, dim=-1).mean(), y, p)
    _parity(torch, losses.CosineDistance(), lambda t: (1 - F.cosine_similarity(t, Y, dim=-1)).mean(), y, p)
    yp, pp = np.abs(y) + 0.5, np.abs(p) + 0.5
    Yp = torch.tensor(yp)
    _parity(torch, losses.MeanSquaredLogarithmicError(),
            lambda t: ((torch.log1p(t) - torch.log1p(Yp)) ** 2).mean(), yp, pp)
    _parity(torch, losses.MeanAbsolutePercentageError(), lambda t: 100 * (torch.abs(Yp - t) / Yp).mean(), yp, pp)


def test_torch_parity_poisson_and_kl():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    r = rng(3)
    counts = r.poisson(3.0, size=(5, 4)).astype(float)
    rate = r.uniform(0.5, 6.0, size=(5, 4))
    # Keras poisson is torch's Poisson NLL with log_input=False and full=False (no log(y!) / Stirling
    # term, a constant in ŷ); the only difference is the ε inside the log, 1e-7 in Keras vs 1e-8 in torch.
    _parity(torch, losses.Poisson(),
            lambda t: F.poisson_nll_loss(t, torch.tensor(counts), log_input=False, full=False, eps=1e-7),
            counts, rate)
    y = r.dirichlet(np.ones(4), size=5)
    p = r.dirichlet(np.ones(4), size=5)
    # Σ_c y log(y/ŷ) per sample, averaged over the batch = torch's kl_div(log ŷ, y, 'batchmean').
    _parity(torch, losses.KLDivergence(), lambda t: F.kl_div(torch.log(t), torch.tensor(y), reduction="batchmean"),
            y, p)


def test_torch_parity_binary():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    r = rng(4)
    y = (r.uniform(size=(6, 2)) > 0.5).astype(float)
    p = r.uniform(0.02, 0.98, size=(6, 2))
    z = r.normal(scale=3.0, size=(6, 2))
    Y = torch.tensor(y)
    _parity(torch, losses.BinaryCrossentropy(), lambda t: F.binary_cross_entropy(t, Y), y, p)
    _parity(torch, losses.BinaryCrossentropy(from_logits=True), lambda t: F.binary_cross_entropy_with_logits(t, Y),
            y, z)
    smoothed = torch.tensor(y * 0.8 + 0.1)
    _parity(torch, losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
            lambda t: F.binary_cross_entropy_with_logits(t, smoothed), y, z)

    def focal_reference(t, gamma=2.0, alpha=0.25):  # torchvision.ops.sigmoid_focal_loss, written out
        prob = torch.sigmoid(t)
        ce = F.binary_cross_entropy_with_logits(t, Y, reduction="none")
        p_t = prob * Y + (1 - prob) * (1 - Y)
        alpha_t = alpha * Y + (1 - alpha) * (1 - Y)
        return (alpha_t * ce * (1 - p_t) ** gamma).mean()

    _parity(torch, losses.BinaryFocalCrossentropy(apply_class_balancing=True, from_logits=True), focal_reference,
            y, z)


def test_torch_parity_categorical():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    r = rng(5)
    labels = np.array([0, 3, 1, 2, 3])
    onehot = np.eye(4)[labels]
    z = r.normal(scale=2.0, size=(5, 4))
    idx = torch.tensor(labels)
    _parity(torch, losses.SparseCategoricalCrossentropy(from_logits=True), lambda t: F.cross_entropy(t, idx),
            labels, z)
    _parity(torch, losses.CategoricalCrossentropy(from_logits=True), lambda t: F.cross_entropy(t, idx), onehot, z)
    _parity(torch, losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.15),
            lambda t: F.cross_entropy(t, idx, label_smoothing=0.15), onehot, z)
    soft = r.dirichlet(np.ones(4), size=5)
    _parity(torch, losses.CategoricalCrossentropy(from_logits=True),
            lambda t: F.cross_entropy(t, torch.tensor(soft)), soft, z)
    probs = r.uniform(0.05, 1.0, size=(5, 4))  # not normalised: Keras divides by the row sum first
    _parity(torch, losses.SparseCategoricalCrossentropy(),
            lambda t: F.nll_loss(torch.log(t / t.sum(-1, keepdim=True)), idx), labels, probs)
    _parity(torch, losses.CategoricalCrossentropy(),
            lambda t: F.nll_loss(torch.log(t / t.sum(-1, keepdim=True)), idx), onehot, probs)
    # ignore_class: ignored entries are left out of the mean, as torch's ignore_index.
    _parity(torch, losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=3),
            lambda t: F.cross_entropy(t, idx, ignore_index=3), labels, z)


def test_torch_parity_margin():
    torch = pytest.importorskip("torch")
    r = rng(6)
    y = r.choice([-1.0, 1.0], size=(5, 3))
    p = r.normal(size=(5, 3))
    p[np.isclose(np.abs(1 - y * p), 0, atol=1e-3)] += 0.1
    Y = torch.tensor(y)
    # torch has no Keras-style hinge loss (hinge_embedding_loss and soft_margin_loss are other losses):
    # compare with the formula differentiated by torch's autograd.
    _parity(torch, losses.Hinge(), lambda t: torch.clamp(1 - Y * t, min=0).mean(), y, p)
    _parity(torch, losses.SquaredHinge(), lambda t: (torch.clamp(1 - Y * t, min=0) ** 2).mean(), y, p)
    _parity(torch, losses.Hinge(), lambda t: torch.clamp(1 - Y * t, min=0).mean(), (y + 1) / 2, p)  # {0,1} labels


# ============================================================================ properties
def test_huber_is_continuous_at_delta():
    delta = 0.8
    for sign in (1.0, -1.0):
        zero = np.zeros((1, 1))
        below = losses.huber(zero, np.array([[sign * (delta - 1e-9)]]), delta=delta).item()
        above = losses.huber(zero, np.array([[sign * (delta + 1e-9)]]), delta=delta).item()
        assert math.isclose(below, 0.5 * delta ** 2, abs_tol=1e-8)
        assert math.isclose(above, 0.5 * delta ** 2, abs_tol=1e-8)
        _, g_below = value_and_grad(losses.Huber(delta), [[0.0]], [[sign * (delta - 1e-6)]])
        _, g_above = value_and_grad(losses.Huber(delta), [[0.0]], [[sign * (delta + 1e-6)]])
        assert np.allclose(g_below, g_above, atol=1e-5) and np.allclose(g_above, sign * delta)
    # far from δ: quadratic inside, linear outside
    assert math.isclose(losses.huber([[0.0]], [[0.5]]).item(), 0.125)
    assert math.isclose(losses.huber([[0.0]], [[3.0]]).item(), 2.5)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_equals_categorical_on_one_hot(from_logits):
    r = rng(7)
    labels = np.array([2, 0, 1, 1, 2])
    y_pred = r.normal(size=(5, 3)) if from_logits else r.uniform(0.05, 1.0, size=(5, 3))
    v1, g1 = value_and_grad(losses.SparseCategoricalCrossentropy(from_logits=from_logits), labels, y_pred)
    v2, g2 = value_and_grad(losses.CategoricalCrossentropy(from_logits=from_logits), np.eye(3)[labels], y_pred)
    v3, _ = value_and_grad(losses.SparseCategoricalCrossentropy(from_logits=from_logits), labels[:, None], y_pred)
    assert math.isclose(v1, v2, rel_tol=1e-12) and math.isclose(v1, v3, rel_tol=1e-12)
    assert np.allclose(g1, g2)


def test_label_smoothing_by_hand():
    value = losses.binary_crossentropy([[1.0]], [[0.8]], label_smoothing=0.2).item()
    assert math.isclose(value, -(0.9 * math.log(0.8) + 0.1 * math.log(0.2)), rel_tol=1e-6)
    p = np.array([[0.7, 0.2, 0.1]])
    value = losses.categorical_crossentropy([[1.0, 0.0, 0.0]], p, label_smoothing=0.3).item()
    assert math.isclose(value, -(0.8 * math.log(0.7) + 0.1 * math.log(0.2) + 0.1 * math.log(0.1)), rel_tol=1e-6)
    with pytest.raises(ValueError):
        losses.CategoricalCrossentropy(label_smoothing=1.5)


def test_sigmoid_output_uses_its_logits():
    z = np.array([[1e4], [-1e4], [0.3], [-2.0], [40.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    v_logits, g_logits = value_and_grad(losses.BinaryCrossentropy(from_logits=True), y, z)
    zt = tensor(z, requires_grad=True)
    out = losses.BinaryCrossentropy()(y, ops.sigmoid(zt))  # y (N,) vs σ(z) (N, 1)
    out.backward()
    assert math.isclose(out.item(), v_logits, rel_tol=1e-12)
    assert math.isclose(out.item(), (1e4 + 1e4 + math.log1p(math.exp(-0.3)) + math.log1p(math.exp(-2.0)) + 40.0) / 5,
                        rel_tol=1e-9)
    assert np.all(np.isfinite(zt.grad)) and np.allclose(zt.grad, g_logits)
    assert np.allclose(zt.grad.ravel(), (1 / (1 + np.exp(-z.ravel().clip(-50, 50))) - y) / 5)
    # through a reshape: σ(z) of shape (N,) against labels (N, 1)
    zt2 = tensor(z.ravel(), requires_grad=True)
    out2 = losses.BinaryCrossentropy()(y[:, None], ops.sigmoid(zt2))
    out2.backward()
    assert math.isclose(out2.item(), v_logits, rel_tol=1e-12) and np.allclose(zt2.grad, g_logits.ravel())
    # focal loss too
    v_focal, _ = value_and_grad(losses.BinaryFocalCrossentropy(from_logits=True), y, z)
    zt3 = tensor(z, requires_grad=True)
    assert math.isclose(losses.BinaryFocalCrossentropy()(y, ops.sigmoid(zt3)).item(), v_focal, rel_tol=1e-12)
    # without a recorded graph the clipped probabilities are used: finite, −log ε for a wrong certain answer
    with no_grad():
        clipped = losses.binary_crossentropy([[0.0]], ops.sigmoid(tensor([[1e4]], dtype="float64"))).item()
    assert math.isclose(clipped, -math.log(EPS), rel_tol=1e-5)


def test_softmax_output_uses_its_logits():
    z = np.array([[1e4, 0.0, -1e4], [0.1, 0.2, 0.3], [-1e4, 1e4, 0.0]])
    labels = np.array([2, 0, 1])
    for loss_cls, y in ((losses.SparseCategoricalCrossentropy, labels),
                        (losses.CategoricalCrossentropy, np.eye(3)[labels])):
        v_logits, g_logits = value_and_grad(loss_cls(from_logits=True), y, z)
        zt = tensor(z, requires_grad=True)
        out = loss_cls()(y, ops.softmax(zt))
        out.backward()
        assert math.isclose(out.item(), v_logits, rel_tol=1e-12)
        assert math.isclose(out.item(), (2e4 + (0.3 + np.log(np.exp(np.array([-0.2, -0.1, 0.0])).sum()) - 0.1)) / 3,
                            rel_tol=1e-9)
        assert np.all(np.isfinite(zt.grad)) and np.allclose(zt.grad, g_logits)
    # a softmax along another axis is not mistaken for the class distribution
    zt = tensor(z[1:], requires_grad=True)
    s = ops.softmax(zt * 10.0, axis=0)
    expected = losses.categorical_crossentropy(np.eye(3)[[0, 1]], tensor(s.data)).data
    assert np.allclose(losses.categorical_crossentropy(np.eye(3)[[0, 1]], s).data, expected)
    # ... even when its rows happen to sum to 1 along the class axis too
    zt = tensor(np.log([[0.7, 0.3], [0.3, 0.7]]) + np.array([0.0, 5.0]), requires_grad=True)
    s = ops.softmax(zt, axis=0)  # [[.7, .3], [.3, .7]]
    assert np.allclose(s.data.sum(axis=1), 1.0)
    assert np.allclose(losses.categorical_crossentropy(np.eye(2), s).data, -np.log(0.7))


def test_finite_at_extreme_logits_and_probabilities():
    z = np.array([[1e4, -1e4], [-1e4, 1e4]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    for loss in (losses.BinaryCrossentropy(from_logits=True), losses.BinaryFocalCrossentropy(from_logits=True),
                 losses.CategoricalCrossentropy(from_logits=True),
                 losses.SparseCategoricalCrossentropy(from_logits=True)):
        target = np.array([0, 0]) if isinstance(loss, losses.SparseCategoricalCrossentropy) else (
            np.eye(2)[[0, 0]] if isinstance(loss, losses.CategoricalCrossentropy) else y)
        v, g = value_and_grad(loss, target, z)
        assert np.isfinite(v) and np.all(np.isfinite(g))
        assert v > 1e3  # the confidently wrong entries cost ~1e4, not a clipped ~16
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    for loss, target in ((losses.BinaryCrossentropy(), y), (losses.BinaryFocalCrossentropy(gamma=0.5), y),
                         (losses.CategoricalCrossentropy(), np.eye(2)[[1, 1]]),
                         (losses.SparseCategoricalCrossentropy(), np.array([1, 1])),
                         (losses.KLDivergence(), np.eye(2)[[1, 1]]), (losses.Poisson(), np.ones((2, 2))),
                         (losses.MeanSquaredLogarithmicError(), -np.ones((2, 2))), (losses.Dice(), np.zeros((2, 2)))):
        v, g = value_and_grad(loss, target, p)
        assert np.isfinite(v) and np.all(np.isfinite(g)), type(loss).__name__
    v = losses.BinaryCrossentropy()(y, p).item()
    assert math.isclose(v, -0.5 * (math.log(EPS) + math.log(1 - EPS)), rel_tol=1e-6)  # clipped at [ε, 1−ε]


# ============================================================================ shapes
@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Huber(),
                                  losses.BinaryCrossentropy(), losses.LogCosh(), losses.Poisson(),
                                  losses.Hinge(), losses.KLDivergence(), losses.Quantile()],
                         ids=lambda loss: loss.name)
def test_n_vs_n1_never_broadcasts(loss):
    r = rng(8)
    y = (r.uniform(size=6) > 0.5).astype(float)
    p = r.uniform(0.1, 0.9, size=(6, 1))
    expected = loss(y[:, None], p).item()
    assert math.isclose(loss(y, p).item(), expected, rel_tol=1e-12)  # (N,) vs (N, 1)
    assert math.isclose(loss(y[:, None], p.ravel()).item(), expected, rel_tol=1e-12)  # (N, 1) vs (N,)
    none = type(loss).from_config({**loss.get_config(), "reduction": "none"})
    assert none(y, p).shape == (6,)
    assert np.allclose(none(y, p).data, loss.fn(y[:, None], p, **loss._fn_kwargs).data)
    with pytest.raises(ShapeError, match=r"\(6, 2\).*\(6, 3\)"):
        loss(np.zeros((6, 2)), np.full((6, 3), 0.5))
    with pytest.raises(ShapeError):
        loss.fn(np.zeros(6), np.full((3, 2), 0.5))


def test_mse_n_vs_n1_value_by_hand():
    y = np.array([1.0, 2.0, 3.0])
    p = np.array([[1.5], [2.0], [1.0]])
    assert math.isclose(losses.MeanSquaredError()(y, p).item(), (0.25 + 0 + 4) / 3)
    assert math.isclose(losses.mean_squared_error(y, p).data.mean(), (0.25 + 0 + 4) / 3)
    # the (N, N) broadcast this avoids would give a different number
    assert not math.isclose(np.mean((y - p) ** 2), (0.25 + 0 + 4) / 3)
    # a custom loss gets the same rank matching from Loss.__call__
    custom = losses.get(lambda yt, yp: ops.mean(ops.square(yt - yp), axis=-1))
    assert math.isclose(custom(y, p).item(), (0.25 + 0 + 4) / 3)


def test_sparse_and_categorical_label_format_errors():
    p = np.full((3, 4), 0.25)
    with pytest.raises(InputError, match="categorical_crossentropy"):
        losses.SparseCategoricalCrossentropy()(np.eye(4)[[0, 1, 2]], p)
    with pytest.raises(InputError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([0, 1, 3]), p)
    with pytest.raises(InputError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(np.array([[0], [1], [3]]), p)
    with pytest.raises(ShapeError):
        losses.CategoricalCrossentropy()(np.full((3, 2), 0.5), p)
    with pytest.raises(ShapeError):
        losses.SparseCategoricalCrossentropy()(np.array([0, 1]), p)
    with pytest.raises(InputError, match="out of range"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 1, 4]), p)
    with pytest.raises(InputError, match="non-integer"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 1, 2.5]), p)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        losses.BinaryCrossentropy()(np.array([[0.0], [2.0]]), np.full((2, 1), 0.5))


def test_categorical_axis_argument():
    r = rng(9)
    z = r.normal(size=(2, 3, 4))  # classes on axis 1
    y = np.eye(3)[[[0, 1, 2, 0], [2, 2, 1, 0]]].transpose(0, 2, 1)
    moved = losses.categorical_crossentropy(y.transpose(0, 2, 1), z.transpose(0, 2, 1), from_logits=True)
    assert np.allclose(losses.categorical_crossentropy(y, z, from_logits=True, axis=1).data, moved.data)
    labels = np.array([[0, 1, 2, 0], [2, 2, 1, 0]])
    assert np.allclose(losses.sparse_categorical_crossentropy(labels, z, from_logits=True, axis=1).data, moved.data)
    assert gradcheck(lambda t: losses.sparse_categorical_crossentropy(labels, t, axis=1), np.abs(z) + 0.1)


# ============================================================================ hinge labels
def test_hinge_label_conversion_and_checks():
    p = np.array([[0.3, -0.4, 2.0]])
    from01 = losses.hinge([[1, 0, 1]], p).item()
    frompm = losses.hinge([[1, -1, 1]], p).item()
    assert math.isclose(from01, frompm) and math.isclose(frompm, (0.7 + 0.6 + 0.0) / 3)
    mixed = losses.hinge([[1, 0, -1]], p).item()  # a mix of −1, 0, 1 is used as is
    assert math.isclose(mixed, (0.7 + 1.0 + 3.0) / 3)
    assert math.isclose(losses.squared_hinge([[0, 0, 0]], p).item(), (1.3 ** 2 + 0.6 ** 2 + 3.0 ** 2) / 3)
    for bad in (2.0, 0.5, -3.0):
        with pytest.raises(InputError, match=str(bad)):
            losses.Hinge()([[1, 0, bad]], p)
        with pytest.raises(InputError, match=str(bad)):
            losses.SquaredHinge()([[1, bad, 0]], p)


# ============================================================================ custom losses
def my_mse(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def make_huber(delta):
    def huber_loss(y_true, y_pred):
        error = y_pred - y_true
        small = ops.abs(error).data <= delta
        return ops.mean(ops.where(small, 0.5 * error * error, delta * ops.abs(error) - 0.5 * delta ** 2), axis=-1)

    return huber_loss


class WeightedAbsolute(losses.Loss):
    """A user subclass implementing only call()."""

    def call(self, y_true, y_pred):
        return ops.sum(ops.abs(y_true - y_pred) * np.array([1.0, 3.0]), axis=-1)


def test_custom_losses_function_closure_lambda_subclass():
    r = rng(10)
    y = r.normal(size=(5, 2))
    p = y + r.choice([-1, 1], size=(5, 2)) * r.uniform(0.1, 2.5, size=(5, 2))
    w = r.uniform(0.5, 2.0, size=5)

    fn_loss = losses.get(my_mse)
    assert isinstance(fn_loss, losses.LossFunctionWrapper) and fn_loss.name == "my_mse"
    assert math.isclose(fn_loss(y, p).item(), losses.MeanSquaredError()(y, p).item())
    assert gradcheck(lambda t: fn_loss(y, t, sample_weight=w), p)

    closure = losses.get(make_huber(0.6))
    assert math.isclose(closure(y, p, sample_weight=w).item(), losses.Huber(0.6)(y, p, sample_weight=w).item())
    assert np.allclose(value_and_grad(closure, y, p)[1], value_and_grad(losses.Huber(0.6), y, p)[1])
    assert gradcheck(lambda t: closure(y, t), p)

    lam = losses.get(lambda yt, yp: ops.mean(ops.abs(yt - yp), axis=-1))
    assert lam.name == "lambda"
    assert math.isclose(lam(y, p).item(), np.abs(y - p).mean())
    assert gradcheck(lambda t: lam(y, t), p)

    sub = WeightedAbsolute()
    assert sub.name == "weighted_absolute"
    per_sample = np.abs(y - p) @ np.array([1.0, 3.0])
    assert math.isclose(sub(y, p).item(), per_sample.mean())
    assert math.isclose(sub(y, p, sample_weight=w).item(), (per_sample * w).mean())
    assert gradcheck(lambda t: sub(y, t, sample_weight=w), p)
    assert losses.get(WeightedAbsolute).name == "weighted_absolute"
    rebuilt = losses.deserialize(losses.serialize(WeightedAbsolute(reduction="sum")),
                                 custom_objects={"WeightedAbsolute": WeightedAbsolute})
    assert isinstance(rebuilt, WeightedAbsolute) and rebuilt.reduction == "sum"

    class NoCall(losses.Loss):
        pass

    with pytest.raises(NotImplementedError):
        NoCall()(y, p)


def test_y_true_is_a_constant_and_float32_stays_float32():
    y = tensor([[1.0, 2.0]], requires_grad=True)
    p = tensor([[0.0, 0.0]], requires_grad=True)
    out = losses.MeanSquaredError()(y, p)
    out.backward()
    assert y.grad is None and np.allclose(p.grad, [[-1.0, -2.0]])
    assert out.dtype == np.float32
    assert losses.MeanSquaredError(dtype="float64")(y.data, p.data).dtype == np.float64


# ============================================================================ weights and reductions
def test_reductions_by_hand():
    y = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    p = np.array([[1.0, 1.0], [2.0, 0.0], [3.0, 3.0]])  # per-sample MSE: 1, 2, 9
    w = np.array([1.0, 2.0, 0.5])
    weighted = np.array([1.0, 4.0, 4.5])
    expected = {"sum_over_batch_size": weighted.sum() / 3, "mean": weighted.sum() / 3, "sum": weighted.sum(),
                "mean_with_sample_weight": weighted.sum() / w.sum()}
    for reduction, value in expected.items():
        assert math.isclose(losses.MeanSquaredError(reduction=reduction)(y, p, sample_weight=w).item(), value)
    for reduction in ("none", None):
        assert np.allclose(losses.MeanSquaredError(reduction=reduction)(y, p, sample_weight=w).data, weighted)
    assert math.isclose(losses.MeanSquaredError(reduction="mean_with_sample_weight")(y, p).item(), 4.0)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")


def test_sum_over_batch_size_divides_by_number_of_elements():
    # per-timestep losses (N, T) weighted per sample (N,): Σ w·ℓ / (N·T), as Keras reduce_values
    seq = losses.LossFunctionWrapper(lambda yt, yp: ops.square(yt - yp))
    y = np.zeros((2, 3))
    p = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    w = np.array([2.0, 1.0])
    assert math.isclose(seq(y, p, sample_weight=w).item(), (2 * (1 + 4 + 9) + 3) / 6)
    assert math.isclose(seq(y, p, sample_weight=w[:, None]).item(), (2 * (1 + 4 + 9) + 3) / 6)
    with pytest.raises(ShapeError, match="sample_weight"):
        seq(y, p, sample_weight=np.ones(3))


def test_sample_weight_cannot_weight_a_batch_scalar():
    with pytest.raises(ShapeError, match="single number"):
        losses.MeanSquaredError()(np.arange(3.0), np.arange(3.0) + 1, sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match="single number"):
        losses.get(lambda yt, yp: ops.mean(ops.square(yt - yp)))(np.zeros((3, 1)), np.ones((3, 1)),
                                                                   sample_weight=[1.0, 2.0, 3.0])


def test_class_weight_to_sample_weight():
    cw = {0: 1.0, 1: 5.0}
    assert np.array_equal(losses.class_weight_to_sample_weight(np.array([0, 1, 2, 1]), cw), [1, 5, 1, 5])
    assert np.array_equal(losses.class_weight_to_sample_weight(np.array([[0], [1], [2], [1]]), cw), [1, 5, 1, 5])
    assert np.array_equal(losses.class_weight_to_sample_weight(np.eye(3)[[2, 1, 0]], {1: 3.0, 2: 0.5}),
                          [0.5, 3.0, 1.0])
    assert np.array_equal(losses.class_weight_to_sample_weight(np.array([[0.2], [0.7], [0.9]]), {1: 3.0}),
                          [1.0, 3.0, 3.0])
    assert np.array_equal(losses.class_weight_to_sample_weight(np.array([1.0, 0.0]), {np.int64(1): 2, 0.0: 4}),
                          [2.0, 4.0])
    for bad_key in ("a", -1, 1.5, None):
        with pytest.raises(InputError, match=repr(bad_key).replace("(", r"\(").replace(".", r"\.")):
            losses.class_weight_to_sample_weight(np.array([0, 1]), {0: 1.0, bad_key: 2.0})
    with pytest.raises(InputError, match="3"):
        losses.class_weight_to_sample_weight(np.eye(3)[[0, 1]], {3: 2.0})
    with pytest.raises(InputError, match="2"):
        losses.class_weight_to_sample_weight(np.array([[0.2], [0.7]]), {2: 2.0})
    with pytest.raises(InputError, match="5"):
        losses.class_weight_to_sample_weight(np.array([0, 1]), {5: 1.0}, num_classes=3)
    with pytest.raises(InputError, match="weights must be"):
        losses.class_weight_to_sample_weight(np.array([0, 1]), {0: -1.0})
    # used as sample weights, checked by hand
    y = np.array([0, 1, 1])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    sw = losses.class_weight_to_sample_weight(y, {1: 2.0})
    value = losses.SparseCategoricalCrossentropy()(y, p, sample_weight=sw).item()
    assert math.isclose(value, -(math.log(0.9) + 2 * math.log(0.8) + 2 * math.log(0.5)) / 3, rel_tol=1e-6)


def test_ignore_class_by_hand():
    p = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    labels = np.array([0, -1, 1])
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    assert math.isclose(loss(labels, p).item(), -(math.log(0.5) + math.log(0.8)) / 2, rel_tol=1e-6)
    none = losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction=None)(labels, p).data
    assert np.allclose(none, [-math.log(0.5), 0.0, -math.log(0.8)])
    weighted = loss(labels, p, sample_weight=[2.0, 5.0, 1.0]).item()
    assert math.isclose(weighted, -(2 * math.log(0.5) + math.log(0.8)) / 2, rel_tol=1e-6)


# ============================================================================ registry
def test_get_names_aliases_and_instances():
    expected = {"mse": losses.MeanSquaredError, "MSE": losses.MeanSquaredError, "mae": losses.MeanAbsoluteError,
                "mape": losses.MeanAbsolutePercentageError, "msle": losses.MeanSquaredLogarithmicError,
                "kld": losses.KLDivergence, "kl_divergence": losses.KLDivergence, "logcosh": losses.LogCosh,
                "log_cosh": losses.LogCosh, "huber": losses.Huber, "huber_loss": losses.Huber,
                "bce": losses.BinaryCrossentropy, "binary_crossentropy": losses.BinaryCrossentropy,
                "categorical_crossentropy": losses.CategoricalCrossentropy,
                "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
                "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy, "pinball": losses.Quantile,
                "quantile": losses.Quantile, "hinge": losses.Hinge, "squared_hinge": losses.SquaredHinge,
                "categorical_hinge": losses.CategoricalHinge, "poisson": losses.Poisson,
                "cosine_similarity": losses.CosineSimilarity, "cosine_distance": losses.CosineDistance,
                "binary_focal_crossentropy": losses.BinaryFocalCrossentropy, "dice": losses.Dice,
                "Dice": losses.Dice}
    for name, cls in expected.items():
        assert type(losses.get(name)) is cls, name
    instance = losses.Huber(2.0)
    assert losses.get(instance) is instance
    assert losses.get(None) is None
    assert losses.deserialize("mse") is losses.mean_squared_error  # Keras: a name gives the function
    assert {"mse", "mean_squared_error", "MeanSquaredError", "LossFunctionWrapper"} <= set(losses.names())
    with pytest.raises(TypeError):
        losses.get(42)


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="mean_squared_error") as info:
        losses.get("mean_sqared_error")
    assert "mean_squared_error" in info.value.suggestions
    with pytest.raises(UnknownNameError, match="categorical_crossentropy"):
        losses.get("categorical_crossentropie")


ROUND_TRIP = [losses.MeanSquaredError(reduction="sum"), losses.Huber(delta=0.3, name="h"), losses.Quantile(0.9),
              losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
              losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=3.0),
              losses.CategoricalCrossentropy(label_smoothing=0.2), losses.SparseCategoricalCrossentropy(ignore_class=0),
              losses.CosineSimilarity(axis=0), losses.Dice(axis=(1,)), losses.KLDivergence(reduction=None),
              losses.LossFunctionWrapper(losses.huber, delta=2.5), losses.get("hinge"), losses.get("poisson")]


@pytest.mark.parametrize("loss", ROUND_TRIP, ids=lambda loss: loss.name)
def test_serialize_deserialize_round_trip(loss):
    config = json.loads(json.dumps(losses.serialize(loss)))
    rebuilt = losses.deserialize(config)
    assert type(rebuilt) is type(loss)
    assert rebuilt.get_config() == loss.get_config()
    assert losses.get(config).get_config() == loss.get_config()
    r = rng(11)
    labels = np.array([0, 2, 1, 1])
    y = labels if isinstance(loss, losses.SparseCategoricalCrossentropy) else np.eye(3)[labels]
    p = r.uniform(0.1, 0.9, size=(4, 3))
    assert np.allclose(rebuilt(y, p).data, loss(y, p).data)


def test_serializing_custom_functions():
    with pytest.raises(ValueError, match="register"):
        losses.serialize(losses.get(lambda yt, yp: ops.mean(yt - yp, axis=-1)))

    @saving.register_serializable(package="test_losses")
    def doubled_mae(y_true, y_pred, scale=2.0):
        return scale * ops.mean(ops.abs(y_true - y_pred), axis=-1)

    loss = losses.LossFunctionWrapper(doubled_mae, scale=3.0)
    rebuilt = losses.deserialize(json.loads(json.dumps(losses.serialize(loss))))
    assert rebuilt.fn is doubled_mae and rebuilt._fn_kwargs == {"scale": 3.0}
    assert math.isclose(rebuilt([[0.0, 0.0]], [[1.0, 3.0]]).item(), 6.0)
