"""Saving and loading: round trips (architecture, weights, compile settings, optimizer state),
JSON architecture, weights-only files, atomic writes, and refusal of damaged or hostile files."""

import hashlib
import io
import json
import os
import pathlib
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet import io as gio
from glassnet import layers, ops, optimizers, regularizers
from glassnet.errors import FileFormatError, GlassnetError, UnknownNameError


@pytest.fixture(autouse=True)
def _fresh():
    gn.clear_session()
    gn.set_seed(0)


@gn.register_serializable(package="tests_io")
def scaled_tanh(x):
    return ops.tanh(x) * 1.5


def unregistered_softsign(x):
    return x / (1.0 + ops.abs(x))


class Offset(layers.Layer):
    """A user layer (not registered): y = x + c, with c learned."""

    def __init__(self, start=0.0, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape):
        self.c = self.add_weight((input_shape[-1],), gn.initializers.Constant(self.start), name="c")

    def call(self, inputs):
        return inputs + self.c

    def get_config(self):
        return {**super().get_config(), "start": self.start}


def dataset(n=64, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, features)) * 3 + 1).astype(np.float32)
    return x, (x[:, 0] - 1 + 0.3 * x[:, 1] > 0).astype(np.float32)


def rich_model(x):
    norm = layers.Normalization()
    norm.adapt(x)
    model = gn.Sequential([
        gn.Input(shape=(x.shape[1],)), norm,
        layers.Dense(8, activation=scaled_tanh, kernel_regularizer=regularizers.L2(0.01),
                     bias_regularizer=regularizers.L1(0.001)),
        layers.Dropout(0.3),
        layers.Dense(6, activation="relu", kernel_constraint="max_norm"),
        layers.LeakyReLU(negative_slope=0.1),
        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(learning_rate=0.01, amsgrad=True, clipnorm=1.0), "binary_crossentropy",
                  metrics=["accuracy"])
    return model


def plain_model():
    model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(8, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(learning_rate=0.01), "binary_crossentropy", metrics=["accuracy"])
    return model


def saved(tmp_path, model, name="model.glassnet"):
    path = tmp_path / name
    model.save(path)
    return path


def rewrite(path, target, change):
    """Copy ``path`` to ``target`` with ``change(entries)`` applied and a VALID checksum manifest
    (what a careful attacker or a buggy tool would produce)."""
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(entries.pop("glassnet.json"))
    change(entries, header)
    header["sha256"] = {name: hashlib.sha256(content).hexdigest() for name, content in entries.items()}
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("glassnet.json", json.dumps(header))
        for name, content in entries.items():
            archive.writestr(name, content)
    return target


# ====================================================================== round trips
def test_save_load_round_trip_gives_identical_predictions_and_settings(tmp_path):
    x, y = dataset()
    model = rich_model(x)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = saved(tmp_path, model)
    loaded = gn.load_model(path)
    assert type(loaded) is gn.Sequential and loaded.name == model.name
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # compile settings, regularizers (the loss includes them) and metrics came back
    assert loaded.compiled and isinstance(loaded.optimizer, optimizers.Adam)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    assert loaded.layers[1].activation is scaled_tanh
    assert loaded.to_json() == model.to_json()
    assert [w.requires_grad for w in loaded.weights] == [w.requires_grad for w in model.weights]


def test_pathlib_and_string_paths_and_compile_false(tmp_path):
    x, _ = dataset()
    model = plain_model()
    model(x[:1])
    model.save(str(tmp_path / "a.glassnet"))
    loaded = gn.load_model(pathlib.Path(tmp_path / "a.glassnet"), compile=False)
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_uncompiled_model_round_trip(tmp_path):
    model = gn.Sequential([layers.Dense(3, input_shape=(2,)), layers.Softmax()])
    loaded = gn.load_model(saved(tmp_path, model))
    assert not loaded.compiled
    x = np.ones((2, 2), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_custom_layer_needs_custom_objects(tmp_path):
    x, y = dataset()
    model = gn.Sequential([gn.Input(shape=(4,)), Offset(0.5), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    path = saved(tmp_path, model)
    with pytest.raises(UnknownNameError) as info:
        gn.load_model(path)
    assert "'Offset'" in str(info.value) and "custom_objects" in str(info.value)
    loaded = gn.load_model(path, custom_objects={"Offset": Offset})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with gn.saving.custom_object_scope({"Offset": Offset}):
        assert isinstance(gn.load_model(path).layers[0], Offset)


def test_custom_activation_and_loss_via_custom_objects(tmp_path):
    def my_loss(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1) * 2.0

    x, y = dataset()
    model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(3, activation=scaled_tanh), layers.Dense(1)])
    gn.saving.get_custom_objects()["tests_io>my_loss"] = my_loss  # registered by hand
    my_loss._glassnet_registered_name = "tests_io>my_loss"
    try:
        model.compile("sgd", loss=my_loss)
        model.fit(x, y, epochs=1, verbose=0)
        path = saved(tmp_path, model)
    finally:
        del gn.saving.get_custom_objects()["tests_io>my_loss"]
    with pytest.raises(UnknownNameError, match="my_loss"):
        gn.load_model(path)
    loaded = gn.load_model(path, custom_objects={"tests_io>my_loss": my_loss})
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_unregistered_function_cannot_be_saved_and_the_old_file_survives(tmp_path):
    x, _ = dataset()
    path = saved(tmp_path, plain_model().__class__([gn.Input(shape=(4,)), layers.Dense(1)]))
    before = path.read_bytes()
    model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(2, activation=unregistered_softsign)])
    with pytest.raises(ValueError, match="register"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.glassnet"]


def test_subclassed_model_round_trip_with_custom_objects(tmp_path):
    class Net(gn.Model):
        def __init__(self, hidden=5, **kwargs):
            super().__init__(**kwargs)
            self.hidden_units = hidden
            self.inner = layers.Dense(hidden, activation="relu")
            self.head = layers.Dense(1)

        def call(self, inputs):
            return self.head(self.inner(inputs))

        def get_config(self):
            return {**super().get_config(), "hidden": self.hidden_units}

    x, y = dataset()
    model = Net(hidden=6)
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, verbose=0)
    loaded = gn.load_model(saved(tmp_path, model), custom_objects={"Net": Net})
    assert loaded.hidden_units == 6 and loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations


# ====================================================================== optimizer state
def resume_matches_uninterrupted(tmp_path, make, shuffle):
    x, y = dataset(96)

    gn.set_seed(3)
    straight = make(x)
    straight.fit(x, y, epochs=5, batch_size=16, shuffle=shuffle, verbose=0)

    gn.set_seed(3)
    first = make(x)
    first.fit(x, y, epochs=3, batch_size=16, shuffle=shuffle, verbose=0)
    path = saved(tmp_path, first)
    resumed = gn.load_model(path)
    assert resumed.optimizer.iterations == 3 * 6
    resumed.fit(x, y, epochs=5, initial_epoch=3, batch_size=16, shuffle=shuffle, verbose=0)
    assert resumed.optimizer.iterations == straight.optimizer.iterations
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    for name, arrays in straight.optimizer.get_state()["slots"].items():
        for a, b in zip(arrays, resumed.optimizer.get_state()["slots"][name]):
            np.testing.assert_array_equal(a, b)


def test_optimizer_state_survives_save_and_load_exactly(tmp_path):
    resume_matches_uninterrupted(tmp_path, lambda x: plain_model(), shuffle=False)


def test_resume_is_exact_even_with_shuffling_dropout_and_amsgrad(tmp_path):
    # loading must not consume the global random stream, so shuffles and dropout masks continue
    resume_matches_uninterrupted(tmp_path, rich_model, shuffle=True)


@pytest.mark.parametrize("optimizer", [lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                                       lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True)])
def test_other_optimizers_resume_exactly(tmp_path, optimizer):
    def make(x):
        model = plain_model()
        model.compile(optimizer(), "binary_crossentropy")
        return model

    resume_matches_uninterrupted(tmp_path, make, shuffle=False)


def test_include_optimizer_false_saves_no_state(tmp_path):
    x, y = dataset()
    model = plain_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "no_opt.glassnet"
    model.save(path, include_optimizer=False)
    assert not any(n.startswith("optimizer/") for n in zipfile.ZipFile(path).namelist())
    loaded = gn.load_model(path)
    assert loaded.compiled and loaded.optimizer.iterations == 0


# ====================================================================== JSON and weights-only
def test_to_json_model_from_json_round_trip():
    x, _ = dataset()
    model = rich_model(x)
    text = model.to_json()
    config = json.loads(text)
    assert config["class_name"] == "Sequential"
    rebuilt = gn.model_from_json(text)
    assert rebuilt.to_json() == text
    assert rebuilt.count_params() == model.count_params()
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not rebuilt.compiled
    with pytest.raises(FileFormatError, match="JSON"):
        gn.model_from_json("{not json")
    with pytest.raises(UnknownNameError, match="Dens"):
        gn.model_from_json(json.dumps({"class_name": "Dens", "config": {}}))


def test_save_weights_load_weights(tmp_path):
    x, y = dataset()
    model = plain_model()
    model.fit(x, y, epochs=2, verbose=0)
    model.save_weights(tmp_path / "w.weights")
    other = plain_model()
    assert not np.array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.load_weights(tmp_path / "w.weights")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    # the weights of a full model file load too
    third = plain_model()
    third.load_weights(saved(tmp_path, model))
    np.testing.assert_array_equal(third.predict(x, verbose=0), model.predict(x, verbose=0))
    # a different architecture is refused
    wrong = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(3)])
    with pytest.raises(ValueError):
        wrong.load_weights(tmp_path / "w.weights")
    unbuilt = gn.Sequential([layers.Dense(8), layers.Dense(1)])
    with pytest.raises(GlassnetError, match="built"):
        unbuilt.load_weights(tmp_path / "w.weights")
    with pytest.raises(GlassnetError, match="built"):
        unbuilt.save_weights(tmp_path / "unbuilt.weights")
    with pytest.raises(FileFormatError):
        gn.load_model(tmp_path / "w.weights")  # a weights file is not a model file


def test_overwrite_false_and_unbuilt_model(tmp_path):
    model = plain_model()
    path = saved(tmp_path, model)
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    with pytest.raises(GlassnetError, match="built"):
        gn.Sequential([layers.Dense(2)]).save(tmp_path / "unbuilt.glassnet")
    with pytest.raises(FileNotFoundError):
        gn.load_model(tmp_path / "missing.glassnet")


# ====================================================================== atomic writes
def test_save_is_atomic_when_the_writer_fails_midway(tmp_path, monkeypatch):
    x, y = dataset()
    model = plain_model()
    path = saved(tmp_path, model)
    before = path.read_bytes()
    model.fit(x, y, epochs=1, verbose=0)  # the new save would differ

    real_writestr = zipfile.ZipFile.writestr
    calls = {"n": 0}

    def failing_writestr(self, name, data, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert calls["n"] == 3
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.glassnet"]  # no temporary file left behind
    gn.load_model(path)


def test_saved_file_has_normal_permissions(tmp_path):
    path = saved(tmp_path, plain_model())
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


# ====================================================================== damaged and hostile files
def test_truncated_file_is_refused(tmp_path):
    path = saved(tmp_path, plain_model())
    raw = path.read_bytes()
    bad = tmp_path / "bad.glassnet"
    for cut in (0, 10, len(raw) // 3, len(raw) // 2, len(raw) - 30, len(raw) - 1):
        bad.write_bytes(raw[:cut])
        with pytest.raises(FileFormatError):
            gn.load_model(bad)


def test_flipped_bytes_are_refused_or_harmless(tmp_path):
    """Flip bits all over the file: loading either fails with FileFormatError or (when the byte was
    irrelevant, e.g. a timestamp) gives exactly the saved model — never another error, never a silently
    different model."""
    x, y = dataset(16)
    model = plain_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = saved(tmp_path, model)
    raw = path.read_bytes()
    reference = model.predict(x, verbose=0)
    bad = tmp_path / "bad.glassnet"
    # every 29th byte, and every 3rd byte of the central directory at the end (names, flags, offsets)
    positions = sorted(set(range(0, len(raw), 29)) | set(range(len(raw) - 1000, len(raw), 3)))
    refused = 0
    for position in positions:
        damaged = bytearray(raw)
        damaged[position] ^= 0x01 if position % 2 else 0x80
        bad.write_bytes(bytes(damaged))
        try:
            loaded = gn.load_model(bad)
        except FileFormatError:
            refused += 1
            continue
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), reference)
        assert loaded.optimizer.iterations == model.optimizer.iterations
    assert refused > len(positions) // 2  # most flips are caught


def test_flipped_byte_in_weight_data_fails_the_checksum(tmp_path):
    path = saved(tmp_path, plain_model())
    raw = bytearray(path.read_bytes())
    # find the first weight array's data inside the (uncompressed) zip and damage it
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights/00000.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 4
    raw[start] ^= 0xFF
    bad = tmp_path / "bad.glassnet"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError) as error:
        gn.load_model(bad)
    assert "corrupt" in str(error.value).lower() or "damaged" in str(error.value).lower()


def test_non_zip_files_are_refused(tmp_path):
    for content in (b"", b"hello world", b"PK\x03\x04garbage", json.dumps({"model": 1}).encode(),
                    np.arange(10).tobytes()):
        bad = tmp_path / "bad.glassnet"
        bad.write_bytes(content)
        with pytest.raises(FileFormatError, match="bad.glassnet"):
            gn.load_model(bad)


def test_foreign_zip_is_refused(tmp_path):
    bad = tmp_path / "foreign.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(FileFormatError, match="glassnet.json"):
        gn.load_model(bad)


def test_extra_pickle_entry_is_refused(tmp_path):
    path = saved(tmp_path, plain_model())
    bad = tmp_path / "bad.glassnet"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bad, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name))
        target.writestr("payload.pkl", b"\x80\x04K\x01.")
    with pytest.raises(FileFormatError, match="payload.pkl"):
        gn.load_model(bad)


def test_pickled_object_array_is_never_unpickled(tmp_path, monkeypatch):
    """A weight entry holding a pickled object array, with a valid manifest, is refused, and every
    np.load call made by glassnet passes allow_pickle=False."""
    path = saved(tmp_path, plain_model())
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)

    def poison(entries, header):
        entries["weights/00000.npy"] = buffer.getvalue()

    bad = rewrite(path, tmp_path / "bad.glassnet", poison)
    seen = []
    real_load = np.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle", "default"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    with pytest.raises(FileFormatError, match="weights/00000.npy"):
        gn.load_model(bad)
    gn.load_model(path)
    assert seen and all(flag is False for flag in seen)


def test_config_naming_an_unregistered_class_is_refused(tmp_path):
    path = saved(tmp_path, plain_model())

    def evil(entries, header):
        config = json.loads(entries["config.json"])
        config["model"]["config"]["layers"][0]["class_name"] = "os.system"
        entries["config.json"] = json.dumps(config).encode()

    bad = rewrite(path, tmp_path / "bad.glassnet", evil)
    with pytest.raises(UnknownNameError, match="os.system"):
        gn.load_model(bad)


@pytest.mark.parametrize("version", [999, 2, "1", None, 1.5])
def test_newer_or_invalid_format_version_is_refused(tmp_path, version):
    path = saved(tmp_path, plain_model())

    def bump(entries, header):
        header["format_version"] = version

    bad = rewrite(path, tmp_path / "bad.glassnet", bump)
    with pytest.raises(FileFormatError, match="format" if version != 999 else "999") as error:
        gn.load_model(bad)
    if version == 999:
        assert "newer" in str(error.value) and "Upgrade" in str(error.value)


@pytest.mark.parametrize("change, words", [
    (lambda e, h: e.pop("config.json"), "config.json"),
    (lambda e, h: e.__setitem__("config.json", b"{broken"), "JSON"),
    (lambda e, h: e.__setitem__("config.json", b"[1, 2]"), "model"),
    (lambda e, h: e.pop("weights/00001.npy"), "weight"),
    (lambda e, h: e.__setitem__("weights/00000.npy", np.zeros(3).tobytes()), "weights/00000.npy"),
    (lambda e, h: h.__setitem__("format", "something-else"), "something-else"),
])
def test_inconsistent_contents_are_refused(tmp_path, change, words):
    path = saved(tmp_path, plain_model())
    bad = rewrite(path, tmp_path / "bad.glassnet", change)
    with pytest.raises(FileFormatError, match=words):
        gn.load_model(bad)


def test_weight_of_wrong_shape_is_refused(tmp_path):
    path = saved(tmp_path, plain_model())

    def reshape(entries, header):
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((5, 8), np.float32))
        entries["weights/00000.npy"] = buffer.getvalue()

    with pytest.raises(FileFormatError, match="shape"):
        gn.load_model(rewrite(path, tmp_path / "bad.glassnet", reshape))


class ScalarCounter(layers.Layer):
    """A layer with a 0-d (scalar) weight."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, x):
        return x * 1.0


def test_scalar_weight_round_trips(tmp_path):
    inputs = gn.Input(shape=(2,))
    model = gn.Model(inputs, ScalarCounter()(inputs))
    model.layers[-1].count.data[...] = 3.5
    model.save_weights(tmp_path / "w.weights")
    loaded = gn.load_model(saved(tmp_path, model), custom_objects={"ScalarCounter": ScalarCounter})
    assert loaded.layers[-1].count.shape == () and float(loaded.layers[-1].count.data) == 3.5
    loaded.layers[-1].count.data[...] = 0.0
    loaded.load_weights(tmp_path / "w.weights")
    assert float(loaded.layers[-1].count.data) == 3.5


def diverged_model():
    """plain_model after a step of training, with NaN and inf put into its first kernel."""
    x, y = dataset()
    model = plain_model()
    model.fit(x, y, epochs=1, verbose=0)
    weights = model.get_weights()
    weights[0][1, 2], weights[0][3, 0] = np.nan, -np.inf
    model.set_weights(weights)
    return model


def test_nonfinite_weights_are_refused_unless_allowed(tmp_path):
    model = diverged_model()
    path = saved(tmp_path, model)  # saving a diverged model is allowed: the file is the evidence
    model.save_weights(tmp_path / "w.weights")
    with pytest.raises(FileFormatError, match=r"holds 2 NaN or infinite value\(s\) out of 32.*"
                                              r"pass allow_nonfinite=True to load_model"):
        gn.load_model(path)
    with pytest.raises(FileFormatError, match="allow_nonfinite=True to load_weights"):
        plain_model().load_weights(tmp_path / "w.weights")
    with pytest.raises(FileFormatError, match="allow_nonfinite=True to load_weights"):
        plain_model().load_weights(path)  # a full model file through load_weights
    with pytest.raises(FileFormatError, match="allow_nonfinite=True to load_model"):
        gn.models.load_model(path)
    # allowed: every weight, NaN and inf where they were, and the optimizer state come back
    loaded = gn.load_model(path, allow_nonfinite=True)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)  # NaN compares equal to NaN here
    assert loaded.optimizer.iterations == model.optimizer.iterations
    expected, restored = model.optimizer.get_state()["slots"], loaded.optimizer.get_state()["slots"]
    assert expected.keys() == restored.keys() and expected
    for name in expected:
        for a, b in zip(expected[name], restored[name], strict=True):
            np.testing.assert_array_equal(a, b)
    assert np.isnan(loaded.get_weights()[0][1, 2]) and loaded.get_weights()[0][3, 0] == -np.inf
    other = plain_model()
    other.load_weights(tmp_path / "w.weights", allow_nonfinite=True)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_resuming_from_a_checkpoint_with_nonfinite_weights_offers_no_override(tmp_path):
    from glassnet import checkpoint

    model = diverged_model()
    checkpoint.save_checkpoint(model, tmp_path, epoch=1, step=0, order=None, history={})
    with pytest.raises(FileFormatError, match="must be finite") as caught:
        checkpoint.load_checkpoint(plain_model(), tmp_path)
    assert "allow_nonfinite" not in str(caught.value)


def test_bad_optimizer_state_is_refused(tmp_path):
    x, y = dataset()
    model = plain_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = saved(tmp_path, model)

    def drop_slot(entries, header):
        entries.pop("optimizer/m/00001.npy")

    with pytest.raises(FileFormatError, match="optimizer"):
        gn.load_model(rewrite(path, tmp_path / "bad.glassnet", drop_slot))


def test_layer_config_with_bad_arguments_is_refused(tmp_path):
    path = saved(tmp_path, plain_model())

    def bad_units(entries, header):
        config = json.loads(entries["config.json"])
        config["model"]["config"]["layers"][0]["config"]["units"] = "many"
        entries["config.json"] = json.dumps(config).encode()

    with pytest.raises(FileFormatError, match="could not be rebuilt"):
        gn.load_model(rewrite(path, tmp_path / "bad.glassnet", bad_units))


def test_archive_layout_is_documented(tmp_path):
    x, y = dataset()
    model = plain_model()
    model.fit(x, y, epochs=1, verbose=0)
    path = saved(tmp_path, model)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        header = json.loads(archive.read("glassnet.json"))
        config = json.loads(archive.read("config.json"))
    assert names[0] == "glassnet.json" and "config.json" in names
    assert header["format"] == gio.FORMAT_NAME and header["format_version"] == gio.FORMAT_VERSION
    assert set(header["sha256"]) == set(names) - {"glassnet.json"}
    assert config["weights"] == [w.path for w in model.weights]
    assert config["optimizer"]["iterations"] == model.optimizer.iterations
    assert sum(n.startswith("weights/") for n in names) == len(model.weights)


def test_layer_instance_used_as_activation_round_trips(tmp_path):
    """Dense(activation=ReLU(max_value=1)) saves the layer's config and loads the same layer back."""
    from glassnet.layers import Dense, ReLU

    model = gn.Sequential([Dense(3, activation=ReLU(max_value=1.0), input_shape=(2,))])
    model.compile("sgd", "mse")
    path = tmp_path / "relu_activation.glassnet"
    model.save(path)
    loaded = gn.load_model(path)
    x = 5 * np.random.default_rng(0).standard_normal((40, 2)).astype("float32")
    assert isinstance(loaded.layers[0].activation, ReLU)
    assert loaded.layers[0].activation.max_value == 1.0
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.predict(x, verbose=0).max() == 1.0
