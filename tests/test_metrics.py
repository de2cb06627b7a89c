"""glassnet.metrics against scikit-learn: batched accumulation, weights, resolution rules, reports."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import metrics
from glassnet.errors import InputError, ShapeError, UnknownNameError
from glassnet.tensor import tensor

SIZES = (7, 13, 1, 29)


@pytest.fixture
def skm():
    return pytest.importorskip("sklearn.metrics")


def feed(metric, y_true, y_pred, sample_weight=None, sizes=SIZES):
    """Update ``metric`` over uneven batches (7, 13, 1, 29, 7, ...) covering all the data; return result()."""
    n, start, i = len(y_true), 0, 0
    while start < n:
        stop = min(n, start + sizes[i % len(sizes)])
        w = None if sample_weight is None else sample_weight[start:stop]
        metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=w)
        start, i = stop, i + 1
    return metric.result()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def binary_data(rng, n=157):
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + rng.random(n) * 0.65, 0, 1)  # informative but imperfect scores
    w = rng.random(n) * 2
    return y, p, w


def multiclass_data(rng, n=203, c=5):
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.2 * np.eye(c)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p, rng.random(n) * 2


# ------------------------------------------------------------------------------ Mean and the wrapper
def test_mean_keras_examples():
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.reset_state()
    assert m.result() == 0.0
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    m.update_state(10.0)  # a scalar counts once
    assert m.result() == pytest.approx((1 + 3 + 10) / 3)


def test_mean_reduces_values_to_samples():
    m = metrics.Mean()
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]), sample_weight=[1.0, 3.0])
    assert m.result() == pytest.approx((2 * 1 + 6 * 3) / 4)
    with pytest.raises(ShapeError):
        m.update_state(np.ones(4), sample_weight=np.ones(3))


def test_mean_metric_wrapper_custom_function_and_tensor_output():
    def squared(y_true, y_pred):
        return tensor((np.asarray(y_true) - np.asarray(y_pred)) ** 2)

    m = metrics.MeanMetricWrapper(squared)
    assert m.name == "squared"
    assert m([1.0, 2.0], [3.0, 2.0]) == 2.0  # __call__ updates and returns the result
    named = metrics.MeanMetricWrapper(lambda t, p: np.abs(np.subtract(t, p)), name="l1")
    assert named.name == "l1" and named([0.0, 0.0], [1.0, 3.0]) == 2.0


# ------------------------------------------------------------------------------ accuracies vs sklearn
def test_binary_accuracy_batched_and_weighted(rng, skm):
    y, p, w = binary_data(rng)
    assert feed(metrics.BinaryAccuracy(), y, p) == pytest.approx(skm.accuracy_score(y, p > 0.5))
    assert feed(metrics.BinaryAccuracy(), y, p, w) == pytest.approx(skm.accuracy_score(y, p > 0.5, sample_weight=w))
    assert feed(metrics.BinaryAccuracy(threshold=0.7), y[:, None], p[:, None]) == pytest.approx(
        skm.accuracy_score(y, p > 0.7))
    # (N,) labels against (N, 1) predictions: matched, not broadcast to (N, N)
    assert feed(metrics.BinaryAccuracy(), y, p[:, None]) == pytest.approx(skm.accuracy_score(y, p > 0.5))


def test_accuracy_exact_match(rng, skm):
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, y, (y + 1) % 3)
    assert feed(metrics.Accuracy(), y, pred) == pytest.approx(skm.accuracy_score(y, pred))


def test_categorical_and_sparse_accuracy(rng, skm):
    y, p, w = multiclass_data(rng)
    expected = skm.accuracy_score(y, p.argmax(1))
    expected_w = skm.accuracy_score(y, p.argmax(1), sample_weight=w)
    onehot = np.eye(5)[y]
    assert feed(metrics.CategoricalAccuracy(), onehot, p) == pytest.approx(expected)
    assert feed(metrics.CategoricalAccuracy(), onehot, p, w) == pytest.approx(expected_w)
    assert feed(metrics.SparseCategoricalAccuracy(), y, p) == pytest.approx(expected)
    assert feed(metrics.SparseCategoricalAccuracy(), y[:, None], p, w) == pytest.approx(expected_w)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy(rng, skm, k):
    y, p, w = multiclass_data(rng)
    expected = skm.top_k_accuracy_score(y, p, k=k, labels=range(5))
    assert feed(metrics.SparseTopKCategoricalAccuracy(k=k), y, p) == pytest.approx(expected)
    assert feed(metrics.TopKCategoricalAccuracy(k=k), np.eye(5)[y], p) == pytest.approx(expected)
    assert feed(metrics.SparseTopKCategoricalAccuracy(k=k), y, p, w) == pytest.approx(
        skm.top_k_accuracy_score(y, p, k=k, labels=range(5), sample_weight=w))


def test_top_k_ties_and_sorted_ids():
    # class 2 ties with the 2nd best: in the top 2 (fewer than 2 classes score strictly higher)
    assert metrics.sparse_top_k_categorical_accuracy([2], [[0.5, 0.3, 0.3]], k=2)[0] == 1.0
    assert metrics.sparse_top_k_categorical_accuracy([2], [[0.5, 0.4, 0.1]], k=2)[0] == 0.0
    ids = np.array([[2, 0, 1], [1, 2, 0]])  # class ids, best first
    np.testing.assert_array_equal(metrics.sparse_top_k_categorical_accuracy([0, 0], ids, k=2, from_sorted_ids=True),
                                  [1.0, 0.0])
    with pytest.raises(InputError, match="label 3"):
        metrics.sparse_top_k_categorical_accuracy([3], [[0.5, 0.3, 0.2]], k=2)


# ------------------------------------------------------------------------------ regression vs sklearn
def regression_data(rng, n=149, outputs=None):
    shape = (n,) if outputs is None else (n, outputs)
    y = rng.normal(2.0, 3.0, size=shape)
    return y, y + rng.normal(0.0, 1.5, size=shape), rng.random(n) * 2


@pytest.mark.parametrize("outputs", [None, 3])
def test_regression_metrics(rng, skm, outputs):
    y, p, w = regression_data(rng, outputs=outputs)
    pairs = [
        (metrics.MeanSquaredError, skm.mean_squared_error),
        (metrics.MeanAbsoluteError, skm.mean_absolute_error),
        # Keras's RMSE is √(overall MSE); for several outputs sklearn averages per-output RMSEs instead
        (metrics.RootMeanSquaredError, lambda a, b, **kw: np.sqrt(skm.mean_squared_error(a, b, **kw))),
        (metrics.R2Score, skm.r2_score),
    ]
    for cls, ref in pairs:
        assert feed(cls(), y, p) == pytest.approx(ref(y, p), rel=1e-10), cls.__name__
        assert feed(cls(), y, p, w) == pytest.approx(ref(y, p, sample_weight=w), rel=1e-10), cls.__name__
    if outputs is None:
        assert feed(metrics.RootMeanSquaredError(), y, p, w) == pytest.approx(
            skm.root_mean_squared_error(y, p, sample_weight=w), rel=1e-10)
    assert feed(metrics.MeanAbsolutePercentageError(), y, p) == pytest.approx(
        100 * skm.mean_absolute_percentage_error(y, p), rel=1e-6)
    pos_y, pos_p = np.abs(y), np.abs(p)
    assert feed(metrics.MeanSquaredLogarithmicError(), pos_y, pos_p) == pytest.approx(
        skm.mean_squared_log_error(pos_y, pos_p), rel=1e-6)


def test_r2_aggregations(rng, skm):
    y, p, w = regression_data(rng, outputs=3)
    p[:, 2] = y[:, 2] + rng.normal(0, 5.0, size=len(y))  # a much worse output
    raw = feed(metrics.R2Score(class_aggregation=None), y, p, w)
    np.testing.assert_allclose(raw, skm.r2_score(y, p, sample_weight=w, multioutput="raw_values"), rtol=1e-10)
    assert feed(metrics.R2Score(class_aggregation="variance_weighted_average"), y, p) == pytest.approx(
        skm.r2_score(y, p, multioutput="variance_weighted"), rel=1e-10)
    # adjusted R²
    n, k = len(y), 4
    r2 = skm.r2_score(y[:, 0], p[:, 0])
    assert feed(metrics.R2Score(num_regressors=k), y[:, 0], p[:, 0]) == pytest.approx(
        1 - (1 - r2) * (n - 1) / (n - k - 1))
    # constant target: 1 if predicted exactly, else 0 (scikit-learn)
    assert metrics.r2_score(np.ones(5), np.ones(5)) == 1.0
    assert metrics.r2_score(np.ones(5), np.zeros(5)) == 0.0


def test_r2_is_accurate_for_large_offsets(rng, skm):
    y = 1e6 + rng.normal(size=300)
    p = y + 0.3 * rng.normal(size=300)
    assert feed(metrics.R2Score(), y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-6)


def test_functional_forms_shapes(rng):
    y, p, _ = regression_data(rng, n=6, outputs=3)
    assert metrics.mse(y, p).shape == (6,)
    np.testing.assert_allclose(metrics.mean_squared_error(y, p), ((y - p) ** 2).mean(axis=1))
    np.testing.assert_allclose(metrics.mae(y, p), np.abs(y - p).mean(axis=1))
    assert metrics.mse(y[:, 0], p[:, 0]).shape == (6,)  # rank-1: one value per sample
    assert metrics.mse(y[:, :1], p[:, 0]).shape == (6,)
    assert isinstance(metrics.rmse(y, p), float) and isinstance(metrics.r2_score(y, p), float)
    assert metrics.rmse(y, p) == pytest.approx(np.sqrt(((y - p) ** 2).mean()))
    assert metrics.binary_accuracy([[1.0], [0.0]], [[0.9], [0.6]]).tolist() == [1.0, 0.0]
    assert metrics.binary_accuracy([1.0, 0.0], [0.9, 0.6], threshold=0.7).tolist() == [1.0, 1.0]
    assert metrics.categorical_accuracy(np.eye(3), np.eye(3)[[0, 2, 2]]).tolist() == [1.0, 0.0, 1.0]
    assert metrics.sparse_categorical_accuracy([0, 1, 2], np.eye(3)[[0, 2, 2]]).tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ShapeError, match=r"\(4,\).*\(4, 4\)"):
        metrics.mse(np.zeros(4), np.zeros((4, 4)))
    with pytest.raises(ShapeError):
        metrics.sparse_categorical_accuracy(np.zeros((4, 3)), np.zeros((4, 2)))


# ------------------------------------------------------------------------------ cross-entropies
def test_crossentropy_metrics(rng, skm):
    y, p, w = binary_data(rng)
    p = np.clip(p, 0.02, 0.98)
    assert feed(metrics.BinaryCrossentropy(), y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert feed(metrics.BinaryCrossentropy(), y, p, w) == pytest.approx(skm.log_loss(y, p, sample_weight=w),
                                                                        rel=1e-9)
    z = np.log(p / (1 - p))
    assert feed(metrics.BinaryCrossentropy(from_logits=True), y, z) == pytest.approx(skm.log_loss(y, p), rel=1e-9)

    yc, pc, wc = multiclass_data(rng)
    ref = skm.log_loss(yc, pc, labels=range(5))
    assert feed(metrics.SparseCategoricalCrossentropy(), yc, pc) == pytest.approx(ref, rel=1e-9)
    assert feed(metrics.CategoricalCrossentropy(), np.eye(5)[yc], pc) == pytest.approx(ref, rel=1e-9)
    logits = np.log(pc) + 3.0  # softmax is shift invariant
    assert feed(metrics.SparseCategoricalCrossentropy(from_logits=True), yc, logits) == pytest.approx(ref, rel=1e-9)
    assert feed(metrics.CategoricalCrossentropy(from_logits=True), np.eye(5)[yc], logits, wc) == pytest.approx(
        skm.log_loss(yc, pc, sample_weight=wc, labels=range(5)), rel=1e-9)
    # label smoothing (Keras): y → y(1 − s) + s/C
    smooth = metrics.categorical_crossentropy(np.eye(5)[yc], pc, label_smoothing=0.1)
    target = np.eye(5)[yc] * 0.9 + 0.02
    np.testing.assert_allclose(smooth, -(target * np.log(pc)).sum(axis=1), rtol=1e-9)


# ------------------------------------------------------------------------------ precision / recall / F1 / AUC
def test_precision_recall_binary(rng, skm):
    y, p, w = binary_data(rng)
    for cls, ref in ((metrics.Precision, skm.precision_score), (metrics.Recall, skm.recall_score)):
        assert feed(cls(), y, p) == pytest.approx(ref(y, p > 0.5))
        assert feed(cls(), y, p, w) == pytest.approx(ref(y, p > 0.5, sample_weight=w))
        assert feed(cls(thresholds=0.3), y[:, None], p[:, None]) == pytest.approx(ref(y, p > 0.3))
        several = feed(cls(thresholds=[0.7, 0.2, 0.5]), y, p)
        np.testing.assert_allclose(several, [ref(y, p > t) for t in (0.7, 0.2, 0.5)])


def test_precision_recall_keras_examples():
    assert metrics.Precision()([0, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)
    assert metrics.Precision()([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0]) == 1.0
    assert metrics.Precision(top_k=2)([0, 0, 1, 1], [1, 1, 1, 1]) == 0.0
    assert metrics.Recall()([0, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(2 / 3)


def test_precision_class_id_and_sparse_labels(rng, skm):
    y, p, _ = multiclass_data(rng)
    for c in range(3):
        expected = skm.precision_score(y == c, p[:, c] > 0.5)
        assert feed(metrics.Precision(class_id=c), np.eye(5)[y], p) == pytest.approx(expected)
        assert feed(metrics.Precision(class_id=c), y, p) == pytest.approx(expected)  # labels one-hot encoded
    with pytest.raises(InputError, match="0/1"):
        metrics.Precision().update_state([0, 2, 1], [0.1, 0.9, 0.5])
    with pytest.raises(InputError, match="class_id=7"):
        metrics.Recall(class_id=7).update_state(np.eye(5)[y], p)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_f1_multiclass_averages(rng, skm, average):
    y, p, w = multiclass_data(rng)
    expected = skm.f1_score(y, p.argmax(1), average=average)
    np.testing.assert_allclose(feed(metrics.F1Score(average=average), y, p), expected, rtol=1e-12)
    np.testing.assert_allclose(feed(metrics.F1Score(average=average), np.eye(5)[y], p, w),
                               skm.f1_score(y, p.argmax(1), average=average, sample_weight=w), rtol=1e-12)
    beta = skm.fbeta_score(y, p.argmax(1), beta=2.0, average=average)
    np.testing.assert_allclose(feed(metrics.FBetaScore(average=average, beta=2.0), y, p), beta, rtol=1e-12)


def test_f1_binary_and_macro_over_present_classes(rng, skm):
    y, p, w = binary_data(rng)
    assert feed(metrics.F1Score(), y, p) == pytest.approx(skm.f1_score(y, p > 0.5))
    assert feed(metrics.F1Score(), y, p[:, None], w) == pytest.approx(skm.f1_score(y, p > 0.5, sample_weight=w))
    assert feed(metrics.F1Score(average="macro"), y, p) == pytest.approx(skm.f1_score(y, p > 0.5, average="macro"))
    # classes absent from both y and ŷ are left out of the macro average, as in scikit-learn
    y3 = np.array([0, 2, 2, 0, 2])
    p3 = np.eye(3)[[0, 2, 0, 0, 2]]
    assert metrics.F1Score(average="macro")(y3, p3) == pytest.approx(skm.f1_score(y3, p3.argmax(1), average="macro"))
    with pytest.raises(InputError, match="average='binary'"):
        metrics.F1Score(average="binary")(y3, p3)


def test_auc_exact_matches_sklearn(rng, skm):
    y, p, w = binary_data(rng)
    p = np.round(p, 2)  # ties
    assert feed(metrics.AUC(num_thresholds=None), y, p) == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert feed(metrics.AUC(num_thresholds=None), y, p, w) == pytest.approx(
        skm.roc_auc_score(y, p, sample_weight=w), rel=1e-12)
    assert feed(metrics.AUC(num_thresholds=None, curve="PR"), y, p, w) == pytest.approx(
        skm.average_precision_score(y, p, sample_weight=w), rel=1e-12)


def test_auc_thresholded_like_keras(rng, skm):
    y, p, w = binary_data(rng, n=2000)
    assert feed(metrics.AUC(), y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=5e-3)
    assert feed(metrics.AUC(), y, p, w) == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), abs=5e-3)
    assert feed(metrics.AUC(curve="PR"), y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-2)
    lower = feed(metrics.AUC(summation_method="minoring"), y, p)
    upper = feed(metrics.AUC(summation_method="majoring"), y, p)
    assert lower <= skm.roc_auc_score(y, p) <= upper
    # Keras docstring example
    m = metrics.AUC(num_thresholds=3)
    assert m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9]) == pytest.approx(0.75)
    m.reset_state()
    assert m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1]) == pytest.approx(1.0)
    assert metrics.AUC(thresholds=[0.5]).thresholds[1] == 0.5


def test_auc_from_logits(rng, skm):
    y, p, _ = binary_data(rng)
    z = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
    assert feed(metrics.AUC(num_thresholds=None, from_logits=True), y, z) == pytest.approx(skm.roc_auc_score(y, p))


# ------------------------------------------------------------------------------ state handling
def test_reset_state_and_one_pass_equivalence(rng):
    y, p, w = binary_data(rng)
    yc, pc, _ = multiclass_data(rng)
    yr, pr, _ = regression_data(rng)
    cases = [(metrics.BinaryAccuracy, y, p), (metrics.Precision, y, p), (metrics.AUC, y, p),
             (metrics.F1Score, yc, pc), (metrics.R2Score, yr, pr), (metrics.RootMeanSquaredError, yr, pr),
             (metrics.SparseCategoricalAccuracy, yc, pc)]
    for cls, a, b in cases:
        m = cls()
        feed(m, a[::-1], b[::-1])  # something else first
        m.reset_state()
        batched = feed(m, a, b)
        one_pass = cls()(a, b)
        np.testing.assert_allclose(batched, one_pass, rtol=1e-12, err_msg=cls.__name__)
    assert metrics.F1Score().result() == 0.0 and metrics.AUC(num_thresholds=None).result() == 0.0


def test_metrics_accept_tensors(rng):
    y, p, _ = binary_data(rng, n=20)
    assert metrics.BinaryAccuracy()(tensor(y), tensor(p)) == pytest.approx(np.mean(y == (p > 0.5)))
    assert metrics.Precision()(tensor(y), tensor(p)) == pytest.approx(metrics.Precision()(y, p))


# ------------------------------------------------------------------------------ resolve()
N, C = 6, 4


@pytest.mark.parametrize("t_shape, p_shape, cls", [
    ((N,), (N,), metrics.BinaryAccuracy),
    ((N,), (N, 1), metrics.BinaryAccuracy),
    ((N, 1), (N, 1), metrics.BinaryAccuracy),
    ((N,), (N, C), metrics.SparseCategoricalAccuracy),
    ((N, 1), (N, C), metrics.SparseCategoricalAccuracy),
    ((N, 5), (N, 5, C), metrics.SparseCategoricalAccuracy),
    ((N, C), (N, C), metrics.CategoricalAccuracy),
    ((N, 5, C), (N, 5, C), metrics.CategoricalAccuracy),
])
@pytest.mark.parametrize("name", ["accuracy", "acc", "Accuracy"])
def test_resolve_accuracy_by_shapes(t_shape, p_shape, cls, name):
    m = metrics.resolve(name, np.zeros(t_shape), np.zeros(p_shape))
    assert type(m) is cls
    assert m.name == name


@pytest.mark.parametrize("t_shape, p_shape, cls", [
    ((N,), (N, 1), metrics.BinaryCrossentropy),
    ((N,), (N, C), metrics.SparseCategoricalCrossentropy),
    ((N, 1), (N, C), metrics.SparseCategoricalCrossentropy),
    ((N, C), (N, C), metrics.CategoricalCrossentropy),
])
@pytest.mark.parametrize("name", ["crossentropy", "ce"])
def test_resolve_crossentropy_by_shapes(t_shape, p_shape, cls, name):
    m = metrics.resolve(name, np.zeros(t_shape), np.zeros(p_shape), from_logits=True)
    assert type(m) is cls and m.name == name
    assert m.get_config()["from_logits"] is True


def test_resolve_from_logits_moves_thresholds(rng, skm):
    y, p, _ = binary_data(rng)
    z = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
    acc = metrics.resolve("accuracy", y, z[:, None], from_logits=True)
    assert acc.get_config()["threshold"] == 0.0
    assert acc(y, z[:, None]) == pytest.approx(skm.accuracy_score(y, p > 0.5))
    assert metrics.resolve("accuracy", y, p[:, None]).get_config()["threshold"] == 0.5
    assert metrics.resolve("binary_accuracy", y, z, from_logits=True)(y, z) == pytest.approx(
        skm.accuracy_score(y, p > 0.5))
    assert metrics.resolve("precision", y, z, from_logits=True)(y, z) == pytest.approx(skm.precision_score(y, p > 0.5))
    assert metrics.resolve("recall", y, z, from_logits=True)(y, z) == pytest.approx(skm.recall_score(y, p > 0.5))
    assert metrics.resolve("f1", y, z, from_logits=True)(y, z) == pytest.approx(skm.f1_score(y, p > 0.5))
    assert metrics.resolve("auc", y, z, from_logits=True).get_config()["from_logits"] is True
    # multi-class logits: argmax is unaffected; F1 keeps the argmax rule
    yc, pc, _ = multiclass_data(rng)
    f1 = metrics.resolve("f1", yc, np.log(pc), from_logits=True)
    assert f1.get_config()["threshold"] is None
    assert f1(yc, np.log(pc)) == pytest.approx(skm.f1_score(yc, pc.argmax(1), average="macro"))


@pytest.mark.parametrize("name, cls", [
    ("mse", metrics.MeanSquaredError), ("mean_squared_error", metrics.MeanSquaredError),
    ("mae", metrics.MeanAbsoluteError), ("mape", metrics.MeanAbsolutePercentageError),
    ("binary_accuracy", metrics.BinaryAccuracy), ("categorical_accuracy", metrics.CategoricalAccuracy),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy),
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
    ("precision", metrics.Precision), ("recall", metrics.Recall), ("f1", metrics.F1Score),
    ("f1_score", metrics.F1Score), ("auc", metrics.AUC), ("rmse", metrics.RootMeanSquaredError),
    ("root_mean_squared_error", metrics.RootMeanSquaredError), ("r2", metrics.R2Score),
    ("r2_score", metrics.R2Score), ("MSE", metrics.MeanSquaredError), ("AUC", metrics.AUC),
])
def test_resolve_names(name, cls):
    m = metrics.resolve(name, np.zeros(3), np.zeros(3))
    assert type(m) is cls and m.name == name
    assert type(metrics.get(name)) is cls


def test_resolve_other_identifiers():
    instance = metrics.Precision(thresholds=0.3, name="p30")
    assert metrics.resolve(instance, None, None) is instance
    from_class = metrics.resolve(metrics.Recall, np.zeros(3), np.zeros(3))
    assert type(from_class) is metrics.Recall and from_class.name == "recall"

    def my_error(y_true, y_pred):
        return np.abs(np.subtract(y_true, y_pred))

    wrapped = metrics.resolve(my_error, np.zeros(3), np.zeros(3))
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "my_error"
    assert wrapped([1.0, 2.0], [0.0, 0.0]) == 1.5
    from_config = metrics.resolve({"class_name": "BinaryAccuracy", "config": {"threshold": 0.2, "name": "b"}})
    assert type(from_config) is metrics.BinaryAccuracy and from_config.get_config()["threshold"] == 0.2
    assert metrics.resolve(None) is None


def test_resolve_errors():
    with pytest.raises(UnknownNameError) as info:
        metrics.resolve("acuracy", np.zeros(3), np.zeros(3))
    assert "Did you mean 'accuracy'" in str(info.value)
    with pytest.raises(UnknownNameError, match="'precision'"):
        metrics.resolve("precison")
    with pytest.raises(InputError, match="y_true"):
        metrics.resolve("accuracy")
    with pytest.raises(TypeError):
        metrics.resolve(42)


# ------------------------------------------------------------------------------ serialization
def test_serialize_round_trip_every_registered_metric():
    for name in metrics.REGISTRY.names():
        cls = metrics.REGISTRY.lookup(name)
        if cls in (metrics.Mean, metrics.MeanMetricWrapper):
            continue
        m = cls()
        config = json.loads(json.dumps(metrics.serialize(m)))
        rebuilt = metrics.deserialize(config)
        assert type(rebuilt) is cls and rebuilt.get_config() == m.get_config(), name
    tuned = metrics.AUC(num_thresholds=50, curve="PR", from_logits=True, name="pr")
    again = metrics.deserialize(metrics.serialize(tuned))
    assert again.get_config() == tuned.get_config() and again.name == "pr"
    wrapper = metrics.MeanMetricWrapper(metrics.mean_absolute_error, name="l1")
    assert metrics.deserialize(metrics.serialize(wrapper))([0.0], [2.0]) == 2.0
    assert metrics.serialize(metrics.mean_squared_error) == "mean_squared_error"


def test_unregistered_function_cannot_be_serialized_but_custom_objects_load():
    def odd(y_true, y_pred):
        return np.zeros(len(y_true))

    with pytest.raises(ValueError, match="register"):
        metrics.serialize(metrics.MeanMetricWrapper(odd))
    config = {"class_name": "MeanMetricWrapper", "config": {"name": "odd", "fn": "odd"}}
    m = metrics.deserialize(config, custom_objects={"odd": odd})
    assert m.name == "odd" and m([1.0, 1.0], [0.0, 0.0]) == 0.0


# ------------------------------------------------------------------------------ confusion matrix and report
def test_confusion_matrix_matches_sklearn(rng, skm):
    y, p, w = multiclass_data(rng)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, p), skm.confusion_matrix(y, p.argmax(1)))
    np.testing.assert_array_equal(metrics.confusion_matrix(np.eye(5)[y], p.argmax(1)),
                                  skm.confusion_matrix(y, p.argmax(1)))
    np.testing.assert_allclose(metrics.confusion_matrix(y, p, sample_weight=w),
                               skm.confusion_matrix(y, p.argmax(1), sample_weight=w))
    big = metrics.confusion_matrix([0, 1], [1, 1], num_classes=4)
    assert big.shape == (4, 4) and big[0, 1] == 1 and big[1, 1] == 1 and big.sum() == 2
    yb, pb, _ = binary_data(rng)
    np.testing.assert_array_equal(metrics.confusion_matrix(yb, pb[:, None]), skm.confusion_matrix(yb, pb > 0.5))
    with pytest.raises(InputError, match="label 3"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=3)


def test_classification_report_text_multiclass(rng, skm):
    y, p, w = multiclass_data(rng, n=301, c=4)
    assert metrics.classification_report(y, p) == skm.classification_report(y, p.argmax(1), digits=2)
    assert metrics.classification_report(y, p.argmax(1), digits=4) == skm.classification_report(y, p.argmax(1),
                                                                                                digits=4)
    names = ["cat", "dog", "a very long class name", "x"]
    assert metrics.classification_report(y, p, target_names=names) == skm.classification_report(
        y, p.argmax(1), target_names=names)
    assert metrics.classification_report(y, p, sample_weight=w) == skm.classification_report(
        y, p.argmax(1), sample_weight=w)
    subset = [2, 0]
    assert metrics.classification_report(y, p, labels=subset) == skm.classification_report(
        y, p.argmax(1), labels=subset)


def test_classification_report_text_binary_and_zero_division(rng, skm):
    y, p, _ = binary_data(rng)
    assert metrics.classification_report(y, p[:, None]) == skm.classification_report(y, (p > 0.5).astype(int))
    assert metrics.classification_report(y, p) == skm.classification_report(y, (p > 0.5).astype(int))
    # class 2 is never predicted and class 3 never occurs: zero divisions are 0.0
    y_true = np.array([0, 1, 2, 2, 1, 0, 0])
    y_pred = np.array([0, 1, 1, 3, 1, 0, 1])
    assert metrics.classification_report(y_true, y_pred) == skm.classification_report(y_true, y_pred,
                                                                                     zero_division=0.0)


def test_classification_report_dict(rng, skm):
    y, p, _ = multiclass_data(rng, n=250, c=3)
    ours = metrics.classification_report(y, p, output_dict=True)
    ref = skm.classification_report(y, p.argmax(1), output_dict=True)
    assert set(ours) == set(ref)
    assert ours["accuracy"] == pytest.approx(ref["accuracy"])
    for key in ref:
        if key != "accuracy":
            for field, value in ref[key].items():
                assert ours[key][field] == pytest.approx(value), (key, field)
    partial = metrics.classification_report(y, p, labels=[0, 1], output_dict=True)
    ref_partial = skm.classification_report(y, p.argmax(1), labels=[0, 1], output_dict=True)
    assert set(partial) == set(ref_partial) and "micro avg" in partial
    assert partial["micro avg"]["f1-score"] == pytest.approx(ref_partial["micro avg"]["f1-score"])
    with pytest.raises(InputError, match="target_names"):
        metrics.classification_report(y, p, target_names=["a", "b"])


# ---------------------------------------------------------------------- custom metrics written the Keras way
class BinaryTruePositives(gn.metrics.Metric):
    """keras.io's example: state made with add_variable after super().__init__, updated with assign_add."""

    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = gn.ops.cast(y_true, "bool")
        y_pred = gn.ops.cast(gn.ops.greater(y_pred, 0.5), "bool")
        values = gn.ops.cast(gn.ops.logical_and(gn.ops.equal(y_true, True), gn.ops.equal(y_pred, True)), "float32")
        if sample_weight is not None:
            values = values * gn.ops.cast(sample_weight, "float32")
        self.true_positives.assign_add(gn.ops.sum(values))

    def result(self):
        return self.true_positives


class Keras2Counter(gn.metrics.Metric):
    """Keras 2's form: add_weight(name=...) and a reset_state of its own."""

    def __init__(self, **kwargs):
        super().__init__(name="seen", **kwargs)
        self.seen = self.add_weight(name="seen", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.seen.assign_add(len(y_true))

    def result(self):
        return self.seen

    def reset_state(self):
        self.seen.assign(0.0)


def test_keras_style_metric_subclasses_accumulate_reset_and_train():
    metric = BinaryTruePositives()
    assert [v.name for v in metric.variables] == ["true_positives"] and metric.variables[0].shape == ()
    metric.update_state(np.array([1, 1, 0, 1]), np.array([0.9, 0.2, 0.8, 0.7]))
    metric.update_state(np.array([1]), np.array([0.6]), sample_weight=np.array([3.0]))
    assert float(metric.result()) == 5.0  # 2 + 3
    metric.reset_state()
    assert float(metric.result()) == 0.0
    assert Keras2Counter()(np.zeros(7), np.zeros(7)) == 7.0

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)  # (N, 1) like the predictions: the example does not match ranks
    model = gn.Sequential([gn.Input(shape=(3,)), gn.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[BinaryTruePositives(), Keras2Counter()])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert history["seen"] == [64.0, 64.0]  # reset at each epoch start
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = np.sum((model.predict(x, verbose=0) > 0.5) & (y == 1))
    assert result["binary_true_positives"] == expected and result["seen"] == 64.0


def test_confusion_counts_match_scikit_learn_with_weights_and_several_thresholds():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300)
    p = rng.uniform(size=300)
    w = rng.uniform(0, 2, 300)
    for threshold in (0.5, 0.2):
        tn, fp, fn, tp = sklearn_metrics.confusion_matrix(y, p > threshold, sample_weight=w).ravel()
        for cls, expected in ((metrics.TruePositives, tp), (metrics.FalsePositives, fp),
                              (metrics.FalseNegatives, fn), (metrics.TrueNegatives, tn)):
            metric = cls(thresholds=threshold)
            metric.update_state(y[:100], p[:100], sample_weight=w[:100])  # in two batches
            metric.update_state(y[100:], p[100:], sample_weight=w[100:])
            assert metric.result() == pytest.approx(expected)
    several = metrics.TruePositives(thresholds=[0.2, 0.5])
    several.update_state(y, p)
    np.testing.assert_allclose(several.result(), [np.sum((p > 0.2) & (y == 1)), np.sum((p > 0.5) & (y == 1))])
    assert metrics.TruePositives().name == "true_positives" and isinstance(metrics.get("TruePositives"),
                                                                             metrics.TruePositives)
    assert metrics.deserialize(metrics.serialize(metrics.FalseNegatives(thresholds=0.3))).thresholds == 0.3
