"""glassnet.datasets: logic gates, scikit-learn loaders/generators, splitting, one-hot and scaling."""

import sys

import numpy as np
import pytest

import glassnet
from glassnet import datasets
from glassnet.datasets import (
    MinMaxScaler, StandardScaler, load, logic_gate, min_max_scale, one_hot, standardize, to_categorical,
    train_test_split,
)
from glassnet.errors import InputError, NotBuiltError, ShapeError, UnknownNameError


@pytest.fixture
def sk_datasets():
    return pytest.importorskip("sklearn.datasets")


@pytest.fixture
def sk_preprocessing():
    return pytest.importorskip("sklearn.preprocessing")


# ------------------------------------------------------------------------------ logic gates
TRUTH = {
    "and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0], "nor": [1, 0, 0, 0],
    "xor": [0, 1, 1, 0], "xnor": [1, 0, 0, 1],
}


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_logic_gate_truth_table(name):
    X, y = logic_gate(name)
    assert X.dtype == np.float32 and y.dtype == np.float32
    assert X.shape == (4, 2) and y.shape == (4,)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, TRUTH[name])
    # the table is the boolean function of the inputs
    a, b = X[:, 0].astype(bool), X[:, 1].astype(bool)
    expected = {"and": a & b, "or": a | b, "nand": ~(a & b), "nor": ~(a | b), "xor": a ^ b, "xnor": ~(a ^ b)}[name]
    np.testing.assert_array_equal(y, expected.astype(np.float32))


def test_logic_gate_is_case_insensitive_and_through_load():
    np.testing.assert_array_equal(logic_gate("XOR")[1], [0, 1, 1, 0])
    X, y = load("nand")
    np.testing.assert_array_equal(y, [1, 1, 1, 0])
    with pytest.raises(InputError, match="takes no arguments"):
        load("xor", n_samples=10)


def test_unknown_gate_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'xor'"):
        logic_gate("xorr")


# ------------------------------------------------------------------------------ scikit-learn datasets
def test_load_digits_shapes_and_values(sk_datasets):
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(X, sk_datasets.load_digits().data.astype(np.float32))
    images, y2 = datasets.load_digits(images=True)
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(images.reshape(1797, 64), X)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("name, shape, n_classes", [
    ("iris", (150, 4), 3), ("breast_cancer", (569, 30), 2), ("wine", (178, 13), 3),
])
def test_classification_loaders(sk_datasets, name, shape, n_classes):
    X, y = getattr(datasets, f"load_{name}")()
    assert X.shape == shape and X.dtype == np.float32
    assert y.dtype == np.int64 and len(np.unique(y)) == n_classes
    Xs, ys = getattr(sk_datasets, f"load_{name}")(return_X_y=True)
    np.testing.assert_allclose(X, Xs, rtol=1e-6)
    np.testing.assert_array_equal(y, ys)


def test_load_diabetes_is_regression(sk_datasets):
    X, y = datasets.load_diabetes()
    assert X.shape == (442, 10) and X.dtype == np.float32
    assert y.shape == (442,) and y.dtype == np.float32
    assert 25 <= y.min() and y.max() <= 346
    (x_tr, y_tr), (x_te, y_te) = datasets.load_diabetes(return_split=True, seed=1)
    assert len(x_te) == 89 and len(x_tr) == 353 and y_te.dtype == np.float32


def test_return_split_is_stratified_and_seeded(sk_datasets):
    (x_tr, y_tr), (x_te, y_te) = datasets.load_digits(return_split=True, test_size=0.2, seed=3)
    assert x_tr.shape == (1437, 64) and x_te.shape == (360, 64)
    full = np.bincount(datasets.load_digits()[1]) / 1797
    np.testing.assert_allclose(np.bincount(y_te) / 360, full, atol=1 / 360 + 1e-9)
    (a, _), (b, _) = datasets.load_digits(return_split=True, seed=3)
    np.testing.assert_array_equal(a, x_tr)
    np.testing.assert_array_equal(b, x_te)
    # the split is a partition of the data
    X = datasets.load_digits()[0]
    assert len(np.unique(np.concatenate([x_tr, x_te]), axis=0)) == len(np.unique(X, axis=0))


@pytest.mark.parametrize("name, sk_name, kwargs", [
    ("make_classification", "make_classification", dict(n_samples=120, n_features=6, n_informative=3)),
    ("make_moons", "make_moons", dict(n_samples=90, noise=0.1)),
    ("make_circles", "make_circles", dict(n_samples=80, noise=0.05, factor=0.5)),
    ("make_blobs", "make_blobs", dict(n_samples=70, centers=3, n_features=4)),
])
def test_generators_match_sklearn(sk_datasets, name, sk_name, kwargs):
    X, y = getattr(datasets, name)(random_state=7, **kwargs)
    Xs, ys = getattr(sk_datasets, sk_name)(random_state=7, **kwargs)
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, Xs.astype(np.float32))
    np.testing.assert_array_equal(y, ys)


def test_make_classification_like_the_exercise(sk_datasets):
    X, y = datasets.make_classification(1000, 20, random_state=42)
    assert X.shape == (1000, 20) and set(np.unique(y)) == {0, 1}


def test_make_regression_and_extras(sk_datasets):
    X, y = datasets.make_regression(n_samples=50, n_features=4, noise=0.1, random_state=0)
    Xs, ys = sk_datasets.make_regression(n_samples=50, n_features=4, noise=0.1, random_state=0)
    assert X.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(y, ys.astype(np.float32), rtol=1e-6)
    X, y, coef = datasets.make_regression(n_samples=20, n_features=3, coef=True, random_state=0)
    assert coef.shape == (3,)
    X, y, centers = datasets.make_blobs(n_samples=20, centers=2, return_centers=True, random_state=0)
    assert centers.shape == (2, 2)


def test_generator_without_random_state_follows_set_seed(sk_datasets):
    glassnet.set_seed(11)
    a = datasets.make_moons(30, noise=0.2)
    glassnet.set_seed(11)
    b = datasets.make_moons(30, noise=0.2)
    c = datasets.make_moons(30, noise=0.2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(b[0], c[0])


def test_load_by_name(sk_datasets):
    for name in ("digits", "iris", "wine", "breast_cancer", "diabetes", "moons", "circles", "classification",
                 "blobs", "regression", "xor", "and"):
        X, y = load(name)
        assert len(X) == len(y) and X.dtype == np.float32
    np.testing.assert_array_equal(load("load_iris")[1], load("iris")[1])
    np.testing.assert_array_equal(load("make_moons", random_state=0)[0], datasets.make_moons(random_state=0)[0])
    (x_tr, y_tr), (x_te, y_te) = load("moons", n_samples=100, random_state=0, return_split=True, seed=0)
    assert len(x_te) == 20 and np.bincount(y_te).tolist() == [10, 10]
    assert set(datasets.names()) >= {"digits", "iris", "breast_cancer", "wine", "diabetes", "moons", "circles",
                                     "classification", "xor", "and", "or", "nand"}


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownNameError) as info:
        load("digit")
    assert "Did you mean 'digits'" in str(info.value)
    with pytest.raises(UnknownNameError, match="'breast_cancer'"):
        load("breast-cancr")


def test_missing_sklearn_gives_install_hint(monkeypatch):
    for module in [m for m in list(sys.modules) if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    for call in (datasets.load_digits, lambda: datasets.make_moons(10), lambda: load("iris")):
        with pytest.raises(ImportError, match=r"pip install glassnet\[datasets\]"):
            call()
    # the NumPy-only parts keep working without scikit-learn
    assert logic_gate("and")[1].sum() == 1
    assert train_test_split(np.arange(10), seed=0)[1].shape == (2,)


# ------------------------------------------------------------------------------ train_test_split
def test_split_sizes_order_and_alignment():
    X = np.arange(50).reshape(25, 2)
    y = np.arange(25)
    x_tr, x_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, seed=0)
    assert x_tr.shape == (20, 2) and x_te.shape == (5, 2) and y_tr.shape == (20,) and y_te.shape == (5,)
    np.testing.assert_array_equal(x_tr[:, 0] // 2, y_tr)  # rows stay aligned
    np.testing.assert_array_equal(x_te[:, 0] // 2, y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(25))  # a partition
    # fractions round the test set up (scikit-learn): 0.25 * 25 = 6.25 → 7
    assert len(train_test_split(y, test_size=0.25, seed=0)[1]) == 7
    assert len(train_test_split(y, test_size=3, seed=0)[1]) == 3
    assert len(train_test_split(y, train_size=0.6, seed=0)[0]) == 15
    # lists are accepted
    a, b = train_test_split(list(range(10)), seed=1)
    assert isinstance(a, np.ndarray) and len(a) == 8


def test_split_seed_and_random_state_alias():
    y = np.arange(100)
    a = train_test_split(y, seed=5)
    b = train_test_split(y, random_state=5)
    c = train_test_split(y, seed=6)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    glassnet.set_seed(2)
    d = train_test_split(y)
    glassnet.set_seed(2)
    np.testing.assert_array_equal(train_test_split(y)[1], d[1])


def test_split_without_shuffle_keeps_order():
    y = np.arange(10)
    tr, te = train_test_split(y, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(tr, np.arange(7))
    np.testing.assert_array_equal(te, [7, 8, 9])
    with pytest.raises(InputError, match="shuffle=True"):
        train_test_split(y, shuffle=False, stratify=y % 2)


def test_stratified_split_keeps_class_proportions():
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat([0, 1, 2], [700, 200, 100]))
    X = np.arange(1000)
    x_tr, x_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, seed=0)
    assert np.bincount(y_te).tolist() == [140, 40, 20]
    assert np.bincount(y_tr).tolist() == [560, 160, 80]
    np.testing.assert_array_equal(y[x_te], y_te)
    # uneven shares are rounded so that the total is exact and every share is within one sample
    y2 = np.repeat([0, 1, 2], [5, 7, 11])
    _, te = train_test_split(y2, test_size=0.3, stratify=y2, seed=1)
    counts = np.bincount(te, minlength=3)
    assert counts.sum() == 7
    assert np.all(np.abs(counts - np.array([5, 7, 11]) * 7 / 23) < 1)
    # one-hot stratify gives the same proportions
    _, _, _, y_te_oh = train_test_split(X, one_hot(y), test_size=0.2, stratify=one_hot(y), seed=0)
    assert y_te_oh.sum(axis=0).tolist() == [140, 40, 20]


def test_split_errors():
    with pytest.raises(ShapeError, match="same number of samples"):
        train_test_split(np.zeros(5), np.zeros(6))
    with pytest.raises(InputError, match="only 1 member"):
        train_test_split(np.zeros(6), stratify=[0, 0, 0, 1, 1, 2])
    with pytest.raises(InputError, match=r"\(0, 1\)"):
        train_test_split(np.zeros(6), test_size=1.5)
    with pytest.raises(InputError, match="at least one sample"):
        train_test_split(np.zeros(3), test_size=3)
    with pytest.raises(InputError):
        train_test_split()


# ------------------------------------------------------------------------------ one-hot
def test_one_hot_round_trip_and_shape():
    y = np.array([3, 0, 2, 1, 3])
    Y = one_hot(y)
    assert Y.shape == (5, 4) and Y.dtype == np.float32
    np.testing.assert_array_equal(Y.sum(axis=1), 1)
    np.testing.assert_array_equal(np.argmax(Y, axis=1), y)
    assert one_hot(y, num_classes=6).shape == (5, 6)
    np.testing.assert_array_equal(one_hot(y[:, None]), Y)  # (N, 1) labels like Keras
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])  # integer-valued floats
    assert one_hot(np.array([[0, 1], [2, 1]])).shape == (2, 2, 3)
    assert to_categorical is one_hot
    assert one_hot([1], dtype="float64").dtype == np.float64


@pytest.mark.parametrize("labels, kwargs, needle", [
    ([0, 1.5, 2], {}, "1.5"),
    ([0, -1, 2], {}, "-1"),
    ([0, 4, 2], {"num_classes": 3}, "Label 4 at index 1"),
    ([0, np.nan], {}, "nan"),
    (["a", "b"], {}, "dtype"),
])
def test_one_hot_bad_labels(labels, kwargs, needle):
    with pytest.raises(InputError, match=needle):
        one_hot(np.array(labels), **kwargs)


# ------------------------------------------------------------------------------ scaling
def _data(rng, n=40):
    X = rng.normal(3.0, 2.0, size=(n, 4))
    X[:, 2] = 5.0  # a constant column
    return X


def test_standard_scaler_matches_sklearn(sk_preprocessing):
    rng = np.random.default_rng(0)
    train, test = _data(rng), _data(rng, 10)
    ours, ref = StandardScaler().fit(train), sk_preprocessing.StandardScaler().fit(train)
    np.testing.assert_allclose(ours.mean_, ref.mean_)
    np.testing.assert_allclose(ours.var_, ref.var_)
    np.testing.assert_allclose(ours.scale_, ref.scale_)
    np.testing.assert_allclose(ours.transform(test), ref.transform(test), atol=1e-12)
    np.testing.assert_allclose(ours.fit_transform(train), ref.fit_transform(train), atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(test)), test, atol=1e-12)
    assert np.all(ours.transform(train)[:, 2] == 0)  # constant column centred, not divided by 0
    assert StandardScaler().fit_transform(train.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(standardize(train), ref.transform(train), atol=1e-12)
    np.testing.assert_allclose(standardize(test, mean=ref.mean_, std=ref.scale_), ref.transform(test), atol=1e-12)


def test_min_max_scaler_matches_sklearn(sk_preprocessing):
    rng = np.random.default_rng(1)
    train, test = _data(rng), _data(rng, 10)
    for feature_range in ((0, 1), (-1, 2)):
        ours = MinMaxScaler(feature_range=feature_range).fit(train)
        ref = sk_preprocessing.MinMaxScaler(feature_range=feature_range).fit(train)
        for attr in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
            np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr))
        np.testing.assert_allclose(ours.transform(test), ref.transform(test), atol=1e-12)
        np.testing.assert_allclose(ours.inverse_transform(ours.transform(test)), test, atol=1e-12)
        np.testing.assert_allclose(min_max_scale(train, feature_range), ref.transform(train), atol=1e-12)
    scaled = MinMaxScaler().fit_transform(train)
    assert scaled.min() == 0 and scaled.max() == 1
    clipped = MinMaxScaler(clip=True).fit(train).transform(train * 10)
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_scaler_errors_and_channels():
    with pytest.raises(NotBuiltError, match="fit"):
        StandardScaler().transform(np.zeros((2, 2)))
    with pytest.raises(NotBuiltError, match="fit"):
        MinMaxScaler().transform(np.zeros((2, 2)))
    with pytest.raises(ShapeError, match="features"):
        StandardScaler().fit(np.ones((4, 3))).transform(np.ones((4, 2)))
    with pytest.raises(InputError, match="min < max"):
        MinMaxScaler(feature_range=(1, 0))
    # images: statistics per channel (last axis) over N, H, W
    images = np.random.default_rng(2).normal(size=(5, 4, 4, 3)) * [1, 10, 100] + [0, 5, -5]
    z = StandardScaler().fit_transform(images)
    np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=(0, 1, 2)), 1, atol=1e-12)


# ---------------------------------------------------------------------------------- pad_sequences
def _keras_pad_reference(sequences, maxlen, dtype, padding, truncating, value):
    """Keras' own per-sequence loop (keras/src/utils/sequence_utils.py), to compare the vectorised version with."""
    lengths = [len(s) for s in sequences]
    item_shape = next((np.asarray(s).shape[1:] for s in sequences if len(s)), ())
    maxlen = max(lengths) if maxlen is None else maxlen
    out = np.full((len(sequences), maxlen) + item_shape, value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        trunc = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, -len(trunc):] = trunc
    return out


def test_pad_sequences_keras_documented_examples():
    sequence = [[1], [2, 3], [4, 5, 6]]
    out = glassnet.utils.pad_sequences(sequence)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(glassnet.utils.pad_sequences(sequence, value=-1),
                                  [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(glassnet.utils.pad_sequences(sequence, padding="post"),
                                  [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(glassnet.utils.pad_sequences(sequence, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    np.testing.assert_array_equal(glassnet.utils.pad_sequences(sequence, maxlen=2, truncating="post"),
                                  [[0, 1], [2, 3], [4, 5]])
    assert datasets.pad_sequences is glassnet.utils.pad_sequences


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 0, 1, 4, 12])
def test_pad_sequences_matches_the_keras_loop(padding, truncating, maxlen):
    rng = np.random.default_rng(maxlen or 0)
    sequences = [list(rng.integers(1, 100, n)) for n in rng.integers(0, 9, 30)] + [[]]
    for dtype, value in (("int32", 0), ("float32", -1.5), ("int64", 7)):
        want = _keras_pad_reference(sequences, maxlen, dtype, padding, truncating, value)
        got = glassnet.utils.pad_sequences(sequences, maxlen, dtype, padding, truncating, value)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    vectors = [rng.standard_normal((n, 3)) for n in (2, 5, 0, 3)]  # items may be arrays of one shape
    got = glassnet.utils.pad_sequences(vectors, maxlen, "float32", padding, truncating)
    np.testing.assert_array_equal(got, _keras_pad_reference(vectors, maxlen, "float32", padding, truncating, 0.0))


def test_pad_sequences_errors():
    with pytest.raises(UnknownNameError, match="'post'"):
        glassnet.utils.pad_sequences([[1]], padding="postt")
    with pytest.raises(UnknownNameError, match="truncating.*'pre'"):
        glassnet.utils.pad_sequences([[1]], truncating="pr")
    with pytest.raises(InputError, match="sequence 1 is not a sequence"):
        glassnet.utils.pad_sequences([[1], 5])
    with pytest.raises(InputError, match=r"sequence 1 has items of shape \(3,\).*\(2,\)"):
        glassnet.utils.pad_sequences([np.zeros((2, 2)), np.zeros((1, 3))])
    with pytest.raises(InputError, match="maxlen"):
        glassnet.utils.pad_sequences([[1]], maxlen=-1)
    assert glassnet.utils.pad_sequences([]).shape == (0, 0)
