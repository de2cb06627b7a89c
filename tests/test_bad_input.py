"""Bad input is refused with a clear error before any work is lost (weights unchanged)."""

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, optimizers
from glassnet.errors import GlassnetError, InputError, ShapeError, UnknownNameError


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)


def data(n=40, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.float32)


def binary_model(features=3):
    model = gn.Sequential([layers.Dense(4, activation="relu", input_shape=(features,)),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.SGD(learning_rate=0.1), "binary_crossentropy", metrics=["accuracy"])
    return model


def softmax_model(classes=3, features=3, loss="sparse_categorical_crossentropy"):
    model = gn.Sequential([layers.Dense(classes, activation="softmax", input_shape=(features,))])
    model.compile(optimizers.SGD(learning_rate=0.1), loss)
    return model


def assert_refused(model, error, match=None, **fit_kwargs):
    """``model.fit(**fit_kwargs)`` raises ``error`` and leaves every weight and the optimizer untouched."""
    before = model.get_weights()
    iterations = model.optimizer.iterations
    with pytest.raises(error, match=match) as info:
        model.fit(verbose=0, **fit_kwargs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == iterations
    return str(info.value)


# ====================================================================== non-finite values
@pytest.mark.parametrize("where", ["x", "y", "sample_weight"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_anywhere_is_refused_before_training(where, bad):
    x, y = data()
    sw = np.ones(len(y), np.float32)
    {"x": x, "y": y, "sample_weight": sw}[where][-1] = bad  # in the LAST batch
    message = assert_refused(binary_model(), InputError, x=x, y=y, sample_weight=sw, batch_size=8,
                             shuffle=False)
    assert where in message and "NaN or inf" in message and "index (39" in message


def test_nan_in_validation_data_is_refused_before_training():
    x, y = data()
    x_val = x[:5].copy()
    x_val[2, 1] = np.nan
    message = assert_refused(binary_model(), InputError, x=x, y=y, validation_data=(x_val, y[:5]))
    assert "x_val" in message


def test_nan_in_evaluate_and_predict():
    x, y = data()
    model = binary_model()
    x[3, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(InputError, match="NaN"):
        model.predict(x, verbose=0)
    with pytest.raises(InputError, match="NaN"):
        model.train_on_batch(x, y)


# ====================================================================== types, emptiness, lengths
@pytest.mark.parametrize("bad_x, words", [
    (np.array([["a", "b", "c"]] * 40), "strings"),
    (np.array([[object(), 1, 2]] * 40, dtype=object), "objects"),
    ([[1.0, 2.0, 3.0], [1.0, 2.0]] * 20, "Ragged"),
])
def test_non_numeric_x_is_refused(bad_x, words):
    _, y = data()
    message = assert_refused(binary_model(), InputError, x=bad_x, y=y)
    assert words in message


def test_string_labels_are_refused():
    x, _ = data()
    assert_refused(binary_model(), InputError, match="dtype", x=x, y=np.array(["yes", "no"] * 20))


@pytest.mark.parametrize("x, y", [
    (np.empty((0, 3), np.float32), np.empty((0,), np.float32)),
    (np.ones((4, 3), np.float32), np.empty((0,), np.float32)),
    (np.float32(1.0), np.float32(1.0)),
    (None, np.ones(4, np.float32)),
])
def test_empty_scalar_or_missing_data_is_refused(x, y):
    assert_refused(binary_model(), InputError, x=x, y=y)


def test_missing_targets_is_refused():
    x, _ = data()
    assert_refused(binary_model(), InputError, match="targets", x=x, y=None)


def test_length_mismatch_names_both_lengths():
    x, y = data()
    message = assert_refused(binary_model(), InputError, x=x, y=y[:30])
    assert "40" in message and "30" in message
    message = assert_refused(binary_model(), InputError, x=x, y=y, sample_weight=np.ones(7))
    assert "sample_weight" in message and "7" in message


def test_negative_sample_weight_is_refused():
    x, y = data()
    assert_refused(binary_model(), InputError, match="non-negative", x=x, y=y, sample_weight=-np.ones(40))


def test_wrong_feature_count_is_a_shape_error_naming_the_layer():
    x, y = data(features=5)
    message = assert_refused(binary_model(features=3), ShapeError, x=x, y=y)
    assert "dense" in message and "(None, 3)" in message and "5" in message


# ====================================================================== batch size, validation split
@pytest.mark.parametrize("batch_size", [0, -4, 2.5, "32", True, 8.0])
def test_bad_batch_size(batch_size):
    x, y = data()
    message = assert_refused(binary_model(), InputError, x=x, y=y, batch_size=batch_size)
    assert "batch_size" in message and repr(batch_size) in message
    with pytest.raises(InputError, match="batch_size"):
        binary_model().evaluate(x, y, batch_size=batch_size, verbose=0)
    with pytest.raises(InputError, match="batch_size"):
        binary_model().predict(x, batch_size=batch_size, verbose=0)


def test_numpy_integer_batch_size_is_fine():
    x, y = data()
    binary_model().fit(x, y, batch_size=np.int64(8), epochs=1, verbose=0)


@pytest.mark.parametrize("split", [0.0 - 0.1, 1.0, 1.5, -1.0])
def test_validation_split_outside_open_unit_interval(split):
    x, y = data()
    message = assert_refused(binary_model(), InputError, x=x, y=y, validation_split=split)
    assert "validation_split" in message


def test_validation_split_that_leaves_nothing_is_refused():
    x, y = data(n=1)
    assert_refused(binary_model(), InputError, match="empty", x=x, y=y, validation_split=0.1)
    x, y = data(n=5)
    binary_model().fit(x, y, validation_split=0.1, verbose=0)  # 4 train, 1 validation sample: fine


# ====================================================================== labels
def test_sparse_label_out_of_range_in_last_batch_is_refused_before_training():
    x, _ = data()
    y = np.arange(40) % 3
    y[-1] = 7
    message = assert_refused(softmax_model(3), InputError, x=x, y=y, batch_size=8, shuffle=False)
    assert "7" in message and "3 classes" in message


def test_negative_sparse_label_is_refused():
    x, _ = data()
    y = np.arange(40) % 3
    y[20] = -1
    message = assert_refused(softmax_model(3), InputError, x=x, y=y, batch_size=8)
    assert "-1" in message and "3 classes" in message


def test_bad_label_in_validation_data_is_refused_before_training():
    x, _ = data()
    y = np.arange(40) % 3
    y_val = y[:10].copy()
    y_val[4] = 3
    message = assert_refused(softmax_model(3), InputError, x=x, y=y, validation_data=(x[:10], y_val))
    assert "y_val" in message and "3" in message


def test_non_integer_sparse_labels_are_refused():
    x, _ = data()
    y = (np.arange(40) % 3).astype(np.float32)
    y[-1] = 1.5
    message = assert_refused(softmax_model(3), InputError, x=x, y=y, batch_size=8, shuffle=False)
    assert "1.5" in message and "integer" in message


def test_float_labels_with_integer_values_are_accepted_for_sparse_loss():
    x, _ = data()
    y = (np.arange(40) % 3).astype(np.float64)
    softmax_model(3).fit(x, y, epochs=1, verbose=0)


def test_one_hot_targets_to_sparse_loss_and_sparse_to_categorical():
    x, _ = data()
    labels = np.arange(40) % 3
    message = assert_refused(softmax_model(3), InputError, x=x, y=np.eye(3)[labels])
    assert "one-hot" in message and "categorical_crossentropy" in message
    message = assert_refused(softmax_model(3, loss="categorical_crossentropy"), InputError, x=x, y=labels)
    assert "sparse_categorical_crossentropy" in message


def test_binary_crossentropy_with_multiclass_labels_is_refused():
    x, _ = data()
    y = (np.arange(40) % 3).astype(np.float32)
    message = assert_refused(binary_model(), InputError, x=x, y=y, batch_size=8)
    assert "sparse_categorical_crossentropy" in message


def test_targets_that_do_not_match_the_output_shape():
    x, _ = data()
    y = np.zeros((40, 4), np.float32)
    model = binary_model()
    model.compile("sgd", "mse")
    with pytest.raises(ShapeError):
        model.fit(x, y, verbose=0)


def test_bad_class_weight_keys_and_values():
    x, y = data()
    # one sigmoid unit: the classes are 0 and 1
    message = assert_refused(binary_model(), InputError, x=x, y=y, class_weight={5: 1.0})
    assert "class_weight key 5" in message and "0..1" in message
    x3 = x
    message = assert_refused(softmax_model(3), InputError, x=x3, y=np.arange(40) % 3, class_weight={3: 1.0})
    assert "0..2" in message
    assert_refused(binary_model(), InputError, match="class_weight", x=x, y=y, class_weight={0: -1.0})
    assert_refused(binary_model(), InputError, match="class_weight", x=x, y=y, class_weight=[1.0, 2.0])


# ====================================================================== unknown names
@pytest.mark.parametrize("make, typo, suggestion", [
    (lambda name: layers.Dense(2, activation=name), "rleu", "relu"),
    (lambda name: layers.Dense(2, activation=name), "sigmoide", "sigmoid"),
    (lambda name: layers.Activation(name), "tahn", "tanh"),
    (lambda name: layers.Dense(2, kernel_initializer=name), "glorot_unifrom", "glorot_uniform"),
    (lambda name: layers.Dense(2, kernel_initializer=name), "he_normall", "he_normal"),
    (lambda name: layers.Dense(2, kernel_regularizer=name), "l3", "l2"),
    (lambda name: binary_model().compile(optimizer=name, loss="mse"), "adma", "adam"),
    (lambda name: binary_model().compile(optimizer=name, loss="mse"), "rmsporp", "rmsprop"),
    (lambda name: binary_model().compile(optimizer="sgd", loss=name), "mse ", "mse"),
    (lambda name: binary_model().compile(optimizer="sgd", loss=name), "binary_crossentopy",
     "binary_crossentropy"),
    (lambda name: binary_model().compile(optimizer="sgd", loss=name), "sparse_categorical_crosentropy",
     "sparse_categorical_crossentropy"),
    (lambda name: gn.optimizers.get(name), "SGD_", "sgd"),
    (lambda name: layers.get(name), "Dens", "Dense"),
])
def test_unknown_names_suggest_the_closest_valid_name(make, typo, suggestion):
    with pytest.raises(UnknownNameError) as info:
        make(typo)
    message = str(info.value)
    suggestions = message.split("Did you mean ")[1].split("?")[0]
    assert repr(typo) in message and repr(suggestion) in suggestions.split(" or ")
    assert suggestion in info.value.suggestions


def test_unknown_metric_name_is_reported_at_compile():
    model = binary_model()
    with pytest.raises(UnknownNameError, match="Did you mean 'accuracy'"):
        model.compile("sgd", "binary_crossentropy", metrics=["acuracy"])
    with pytest.raises(UnknownNameError, match="Did you mean 'precision'"):
        model.compile("sgd", "binary_crossentropy", metrics=["accuracy", "precison"])
    model.compile("sgd", "binary_crossentropy", metrics=["acc", "AUC", "mse", "crossentropy"])


def test_unknown_keyword_arguments_are_type_errors_with_suggestions():
    with pytest.raises(TypeError, match="Did you mean 'activation'"):
        layers.Dense(2, activaton="relu")
    with pytest.raises(TypeError, match="Did you mean 'kernel_initializer'"):
        layers.Dense(2, kernel_initialiser="zeros")
    with pytest.raises(TypeError, match="Did you mean 'learning_rate'"):
        optimizers.Adam(learning_rat=0.1)
    with pytest.raises(TypeError, match="Did you mean 'momentum'"):
        optimizers.SGD(momentun=0.9)
    with pytest.raises(TypeError, match="Did you mean 'rate'"):
        layers.Dropout(0.5, rat=0.2)


def test_fit_evaluate_before_compile_are_clear_errors():
    x, y = data()
    model = gn.Sequential([layers.Dense(1, input_shape=(3,))])
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y), lambda: model.test_on_batch(x, y)):
        with pytest.raises(GlassnetError, match=r"compile"):
            call()
    model.compile("sgd")  # no loss
    with pytest.raises(GlassnetError, match="loss"):
        model.fit(x, y, verbose=0)


def test_bad_optimizer_arguments():
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=-1.0)
    with pytest.raises(ValueError, match="global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="nesterov"):
        optimizers.SGD(nesterov=True)
    with pytest.raises(TypeError):
        gn.optimizers.get(3.5)
