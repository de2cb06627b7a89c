"""One test per row of docs/errors.md (issue 8, item 3).

Each row triggers its situation and checks: the exception class; that the message says what was
expected, what was received and where (the layer, argument, file or entry); and that the table in
docs/errors.md agrees — the same situations, the same class, an example message carrying the same
three facts, and the same place the error is raised (file and function of the ``raise``).
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import re
import traceback
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import glassnet as gn
from glassnet import checkpoint, layers, losses, optimizers
from glassnet.errors import FileFormatError, GlassnetError, InputError, ShapeError, UnknownNameError

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "errors.md"
PACKAGE = pathlib.Path(gn.__file__).resolve().parent


# ====================================================================== fixtures used by the rows
class Context:
    """Data, models and saved files the rows use (fresh layer names: 'dense', 'dense_1', ...)."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((40, 3)).astype(np.float32)
        self.y = (self.x[:, 0] > 0).astype(np.float32)
        self.labels = np.arange(40) % 3

    def binary(self, features=3):
        model = gn.Sequential([layers.Dense(4, activation="relu", input_shape=(features,)),
                               layers.Dense(1, activation="sigmoid")])
        model.compile(optimizers.SGD(0.1), "binary_crossentropy")
        return model

    def softmax(self, loss="sparse_categorical_crossentropy"):
        model = gn.Sequential([layers.Dense(3, activation="softmax", input_shape=(3,))])
        model.compile(optimizers.SGD(0.1), loss)
        return model

    def fit(self, model, x=None, y=None, **kwargs):
        return model.fit(self.x if x is None else x, self.y if y is None else y, verbose=0, **kwargs)

    def with_label(self, values, index, value):
        values = np.array(values, dtype=np.float64 if isinstance(value, float) else None)
        values[index] = value
        return values

    # ---------------------------------------------------------------- files
    def saved(self) -> pathlib.Path:
        """A trained model saved to model.glassnet (4 inputs, Dense 5 then Dense 1)."""
        path = self.folder / "model.glassnet"
        if not path.exists():
            model = gn.Sequential([gn.Input(shape=(4,)), layers.Dense(5, activation="relu"), layers.Dense(1)])
            model.compile("adam", "mse")
            model.fit(np.ones((8, 4), np.float32), np.ones(8, np.float32), verbose=0)
            model.save(path)
        return path

    def entries(self) -> dict:
        with zipfile.ZipFile(self.saved()) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    def rewrite(self, change=None, config_change=None, fix_manifest=True, header_change=None,
                name="bad.glassnet", compression=zipfile.ZIP_STORED) -> pathlib.Path:
        """bad.glassnet: model.glassnet with its entries changed, and a matching manifest."""
        entries = self.entries()
        header = json.loads(entries.pop("glassnet.json"))
        if config_change is not None:
            config = json.loads(entries["config.json"])
            config_change(config)
            entries["config.json"] = json.dumps(config).encode()
        if change is not None:
            change(entries)
        if fix_manifest:
            header["sha256"] = {n: hashlib.sha256(c).hexdigest() for n, c in entries.items()}
        if header_change is not None:
            header_change(header)
        path = self.folder / name
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            archive.writestr("glassnet.json", json.dumps(header))
            for entry, content in entries.items():
                archive.writestr(entry, content)
        return path

    def bytes_file(self, content: bytes) -> pathlib.Path:
        path = self.folder / "bad.glassnet"
        path.write_bytes(content)
        return path

    def flipped(self) -> pathlib.Path:
        raw = bytearray(self.saved().read_bytes())
        with zipfile.ZipFile(self.saved()) as archive:
            info = archive.getinfo("weights/00000.npy")
        raw[info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 4] ^= 0x10  # in the array data
        return self.bytes_file(bytes(raw))

    def checkpoint_dir(self, change) -> pathlib.Path:
        """A checkpoint folder (functional 3-class model) with training.json changed by ``change``."""
        folder = self.folder / "ckpt"
        model = self.functional()
        model.fit(self.x, self.labels, epochs=1, batch_size=8, verbose=0, checkpoint_dir=folder)
        path = folder / checkpoint.FILENAME
        with zipfile.ZipFile(path) as archive:
            entries = {name: archive.read(name) for name in archive.namelist()}
        header = json.loads(entries.pop("glassnet.json"))
        training = json.loads(entries["training.json"])
        change(training, entries)
        entries["training.json"] = json.dumps(training).encode()
        header["sha256"] = {n: hashlib.sha256(c).hexdigest() for n, c in entries.items()}
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("glassnet.json", json.dumps(header))
            for entry, content in entries.items():
                archive.writestr(entry, content)
        self.resume_model = model
        return folder

    def functional(self):
        inputs = gn.Input(shape=(3,), name="features")
        model = gn.Model(inputs, layers.Dense(3, activation="softmax")(inputs))
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model


def _npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _set_layer(index, key, value):
    def change(config):
        config["model"]["config"]["layers"][index]["config"][key] = value
    return change


def _bad_order(training, entries):
    training.update(epoch=0, step=1, shuffled=True)
    entries["order.npy"] = _npy(np.arange(40) + 3)


# ====================================================================== the rows
@dataclass
class Row:
    situation: str  # exactly as in docs/errors.md
    error: type
    trigger: Callable
    expected: tuple  # fragments of the message saying what was expected...
    received: tuple  # ... what was received ...
    where: tuple  # ... and where (layer, argument, file, entry)
    raised_in: str  # "glassnet/<file>.py · <function>", where the raise statement is


def row(situation, error, trigger, expected, received, where, raised_in):
    as_tuple = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731
    return Row(situation, error, trigger, as_tuple(expected), as_tuple(received), as_tuple(where), raised_in)


ROWS = [
    # ------------------------------------------------------------------ shapes
    row("Input with the wrong number of features", ShapeError,
        lambda c: c.fit(c.binary(3), x=np.ones((40, 5), np.float32)),
        "expected input of shape (None, 3)", "axis 1 should be 3 but is 5", "Layer 'dense' (Dense)",
        "glassnet/layers/base.py · check"),
    row("Input of the wrong rank", ShapeError,
        lambda c: c.binary(3).predict(np.ones((4, 3, 2), np.float32), verbose=0),
        "expected input of shape (None, 3)", ("received input of shape (4, 3, 2)", "rank should be 2 but is 3"),
        "Layer 'dense' (Dense)", "glassnet/layers/base.py · check"),
    row("Functional model input of the wrong shape", ShapeError,
        lambda c: c.functional().predict(np.ones((2, 4), np.float32), verbose=0),
        "expects shape (None, 3)", "received input of shape (2, 4)", "Input 'features' of model 'functional'",
        "glassnet/models/functional.py · _check_input_shape"),
    row("Targets whose shape does not match the output", ShapeError,
        lambda c: (m := c.binary(), m.compile("sgd", "mse"), c.fit(m, y=np.zeros((40, 4)))),
        "y_pred has shape (40, 1)", "y_true has shape (40, 4)", "y: mean_squared_error",
        "glassnet/models/model.py · _check_target_array"),
    # ------------------------------------------------------------------ data
    row("Data of dtype object", InputError,
        lambda c: c.fit(c.binary(), x=np.array([[object(), 1, 2]] * 40, dtype=object)),
        "expected numbers", "dtype object (Python objects)", "x has", "glassnet/training.py · to_array"),
    row("Strings as data or labels", InputError,
        lambda c: c.fit(c.binary(), y=np.array(["yes", "no"] * 20)),
        "expected numbers", "(strings)", "y has dtype", "glassnet/training.py · to_array"),
    row("Ragged nested lists", InputError,
        lambda c: c.fit(c.binary(), x=[[1.0, 2.0, 3.0], [1.0, 2.0]] * 20),
        "pad sequences to the same length", "Ragged lists are not supported", "x could not be converted",
        "glassnet/training.py · to_array"),
    row("NaN or inf in the inputs", InputError,
        lambda c: c.fit(c.binary(), x=np.where(np.arange(120).reshape(40, 3) == 100, np.nan, c.x)),
        "must hold finite numbers", ("1 NaN or infinite value(s)", "(value nan)"), ("x must", "index (33, 1)"),
        "glassnet/training.py · check_finite"),
    row("NaN or inf in the targets", InputError,
        lambda c: c.fit(c.binary(), y=c.with_label(c.y, 7, np.inf)),
        "must hold finite numbers", "(value inf)", ("y must", "index (7,)"), "glassnet/training.py · check_finite"),
    row("Empty arrays", InputError,
        lambda c: c.fit(c.binary(), x=np.empty((0, 3)), y=np.empty((0,))),
        "expected at least one sample", "shape (0, 3)", "x is empty", "glassnet/training.py · to_array"),
    row("A scalar instead of an array", InputError,
        lambda c: c.fit(c.binary(), x=np.float32(1.0), y=np.float32(1.0)),
        "expected an array with a batch axis", "is a scalar", "x is", "glassnet/training.py · to_array"),
    row("Inputs and targets of different lengths", InputError,
        lambda c: c.fit(c.binary(), y=c.y[:30]),
        "must have the same number of samples", "x has 40, y has 30", ("x has", "y has"),
        "glassnet/training.py · check_lengths"),
    row("batch_size <= 0 or not an integer", InputError,
        lambda c: c.fit(c.binary(), batch_size=0),
        "must be a positive integer", "got 0", "batch_size", "glassnet/training.py · check_batch_size"),
    row("validation_split outside (0, 1)", InputError,
        lambda c: c.fit(c.binary(), validation_split=1.5),
        "must be in (0, 1)", "got 1.5", "validation_split", "glassnet/training.py · split_validation"),
    row("validation_split that leaves no training or validation sample", InputError,
        lambda c: c.fit(c.binary(), x=c.x[:1], y=c.y[:1], validation_split=0.1),
        "both need at least one sample", "(0 training and 1 validation samples)", "validation_split=0.1",
        "glassnet/training.py · split_validation"),
    row("Malformed validation_data", InputError,
        lambda c: c.fit(c.binary(), validation_data=(c.x,)),
        "a tuple (x_val, y_val)", "got a tuple of 1 items", "validation_data", "glassnet/models/model.py · fit"),
    row("Negative sample weights", InputError,
        lambda c: c.fit(c.binary(), sample_weight=-np.ones(40)),
        "must be non-negative", "minimum of -1.0", "sample_weight",
        "glassnet/models/model.py · _prepare_sample_weight"),
    # ------------------------------------------------------------------ labels
    row("Sparse label out of range", InputError,
        lambda c: c.fit(c.softmax(), y=c.with_label(c.labels, 39, 7)),
        "must lie in [0, 2]", "Label 7", ("y: ", "at index (39,)"), "glassnet/models/model.py · _check_target_array"),
    row("Non-integer sparse labels", InputError,
        lambda c: c.fit(c.softmax(), y=c.with_label(c.labels, 39, 1.5)),
        "must be integer class indices", "non-integer label 1.5", ("y: ", "at index (39,)"),
        "glassnet/models/model.py · _check_target_array"),
    row("One-hot targets given to a sparse loss", InputError,
        lambda c: c.fit(c.softmax(), y=np.eye(3)[c.labels]),
        "expects integer class labels of shape (40,)", "y_true of shape (40, 3)", "y: sparse_categorical_crossentropy",
        "glassnet/models/model.py · _check_target_array"),
    row("Integer labels given to a one-hot loss", InputError,
        lambda c: c.fit(c.softmax("categorical_crossentropy"), y=c.labels),
        "targets of shape (40, 3)", "integer class labels of shape (40,)", "y: categorical_crossentropy",
        "glassnet/models/model.py · _check_target_array"),
    row("Binary crossentropy targets outside [0, 1]", InputError,
        lambda c: c.fit(c.binary(), y=c.with_label(c.y, 5, 2.0)),
        "must lie in [0, 1]", "the label 2.0", ("y: binary_crossentropy", "at index (5, 0)"),
        "glassnet/models/model.py · _check_target_array"),
    row("Hinge labels outside {-1, 0, 1}", InputError,
        lambda c: (m := gn.Sequential([layers.Dense(1, input_shape=(3,))]), m.compile("sgd", "hinge"),
                   c.fit(m, y=c.with_label(c.y, 5, 2.0))),
        "must be -1 or 1", "the label 2.0", ("y: hinge", "at index (5, 0)"),
        "glassnet/models/model.py · _check_target_array"),
    row("class_weight key that is not a class", InputError,
        lambda c: c.fit(c.softmax(), y=c.labels, class_weight={0: 1.0, 3: 2.0}),
        "expected 0..2", "key 3", "class_weight", "glassnet/losses.py · class_weight_to_sample_weight"),
    row("fit before compile", GlassnetError,
        lambda c: c.fit(gn.Sequential([layers.Dense(1, input_shape=(3,))])),
        "compile the model with a loss", "before calling fit()", "fit()",
        "glassnet/models/model.py · _require_compiled"),
    # ------------------------------------------------------------------ names
    row("Unknown activation name", UnknownNameError, lambda c: layers.Dense(2, activation="rleu"),
        "Did you mean 'relu'", "'rleu'", "activation", "glassnet/saving.py · lookup"),
    row("Unknown loss name", UnknownNameError, lambda c: c.binary().compile("sgd", loss="binary_crossentopy"),
        "Did you mean 'binary_crossentropy'", "'binary_crossentopy'", "loss", "glassnet/saving.py · lookup"),
    row("Unknown optimizer name", UnknownNameError, lambda c: c.binary().compile("adma", loss="mse"),
        "Did you mean 'adam'", "'adma'", "optimizer", "glassnet/saving.py · lookup"),
    row("Unknown metric name", UnknownNameError, lambda c: c.binary().compile("sgd", "mse", metrics=["acuracy"]),
        "Did you mean 'accuracy'", "'acuracy'", "metric", "glassnet/metrics.py · _lookup"),
    row("Unknown initializer name", UnknownNameError, lambda c: layers.Dense(2, kernel_initializer="glorot_unifrom"),
        "Did you mean 'glorot_uniform'", "'glorot_unifrom'", "initializer", "glassnet/saving.py · lookup"),
    row("Unknown regularizer name", UnknownNameError, lambda c: layers.Dense(2, kernel_regularizer="l3"),
        "Did you mean 'l1' or 'l2'", "'l3'", "regularizer", "glassnet/saving.py · lookup"),
    row("Unknown constraint name", UnknownNameError, lambda c: layers.Dense(2, kernel_constraint="max_nrom"),
        "Did you mean 'max_norm'", "'max_nrom'", "constraint", "glassnet/saving.py · lookup"),
    row("Unknown layer class", UnknownNameError, lambda c: layers.get("Dens"),
        "Did you mean 'Dense'", "'Dens'", "Unknown layer", "glassnet/saving.py · lookup"),
    row("Unknown loss reduction", UnknownNameError, lambda c: losses.MeanSquaredError(reduction="sum_over_batch_siz"),
        "Did you mean 'sum_over_batch_size'", "'sum_over_batch_siz'", "reduction",
        "glassnet/losses.py · standardize_reduction"),
    row("Unknown layer name in get_layer", UnknownNameError, lambda c: c.binary().get_layer("dens"),
        "Did you mean 'dense'", "'dens'", "Unknown layer", "glassnet/models/model.py · get_layer"),
    row("Unknown keyword argument", TypeError, lambda c: layers.Dense(2, activaton="relu"),
        "Did you mean 'activation'", "'activaton'", "keyword argument to Dense", "glassnet/layers/base.py · __init__"),
    # ------------------------------------------------------------------ layers and weights
    row("Layer dtype that is not numeric", InputError, lambda c: layers.Dense(2, dtype="object"),
        "must be a numeric type", "got 'object'", "Layer 'dense' (Dense)", "glassnet/layers/base.py · dtype"),
    row("set_weights with the wrong number of arrays", ShapeError,
        lambda c: c.binary().set_weights([np.zeros((3, 4))]),
        "has 4 weights", "received 1 arrays", "Layer 'sequential'", "glassnet/layers/base.py · set_weights"),
    row("set_weights with an array of the wrong shape", ShapeError,
        lambda c: c.binary().layers[0].set_weights([np.zeros((3, 5)), np.zeros(4)]),
        "has shape (3, 4)", "has shape (3, 5)", ("Layer 'dense'", "weight 'kernel'"),
        "glassnet/layers/base.py · set_weights"),
    # ------------------------------------------------------------------ files
    row("Model file that does not exist", FileNotFoundError, lambda c: gn.load_model(c.folder / "missing.glassnet"),
        "No such model file", "missing.glassnet", "missing.glassnet", "glassnet/io.py · _read_archive"),
    row("Truncated file, or not a zip archive", FileFormatError,
        lambda c: gn.load_model(c.bytes_file(c.saved().read_bytes()[:300])),
        "expected a readable zip archive", "File is not a zip file", "bad.glassnet", "glassnet/io.py · _read_archive"),
    row("Flipped byte inside an entry", FileFormatError, lambda c: gn.load_model(c.flipped()),
        "expected a readable zip archive", "Bad CRC-32", ("bad.glassnet", "'weights/00000.npy'"),
        "glassnet/io.py · _read_archive"),
    row("Entry changed after saving (CRC-32 recomputed, checksum not)", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.__setitem__("weights/00000.npy",
                                                                    _npy(np.ones((4, 5), np.float32))),
                                          fix_manifest=False)),
        "the manifest expects SHA-256", "the entry has", ("bad.glassnet", "entry 'weights/00000.npy'"),
        "glassnet/io.py · _read_archive"),
    row("Extra entry (e.g. payload.pkl, ../x), even with a valid manifest", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.__setitem__("payload.pkl", b"\x80\x04K\x01."))),
        "holds only glassnet.json, JSON descriptions and .npy arrays", "unexpected entries ['payload.pkl']",
        "bad.glassnet", "glassnet/io.py · _read_archive"),
    row("Entry missing from the archive", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.pop("weights/00001.npy"), fix_manifest=False)),
        "does not match its manifest", "missing entries ['weights/00001.npy']", "bad.glassnet",
        "glassnet/io.py · _read_archive"),
    row("Duplicate entry names", FileFormatError,
        lambda c: gn.load_model(_duplicate(c)),
        "each name may appear only once", "several entries named ['config.json']", "bad.glassnet",
        "glassnet/io.py · _read_archive"),
    row("File written by a newer glassnet (format version)", FileFormatError,
        lambda c: gn.load_model(c.rewrite(header_change=lambda h: h.__setitem__("format_version", 999))),
        "(version 1)", "format version 999", "bad.glassnet", "glassnet/io.py · _check_header"),
    row("Wrong kind of glassnet file (a checkpoint or weights file to load_model)", FileFormatError,
        lambda c: gn.load_model(c.rewrite(header_change=lambda h: h.__setitem__("format", "glassnet-checkpoint"))),
        "not a 'glassnet-model' file", "a 'glassnet-checkpoint' file", "bad.glassnet",
        "glassnet/io.py · _check_header"),
    row("Compressed entry that would expand enormously (zip bomb)", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.__setitem__("weights/00000.npy",
                                                                    _npy(np.zeros(2 ** 23, np.uint8))),
                                          compression=zipfile.ZIP_DEFLATED)),
        "glassnet writes uncompressed files", "declares", "bad.glassnet", "glassnet/io.py · _read_archive"),
    row("Config naming an unregistered class (or a Python callable such as os.system)", UnknownNameError,
        lambda c: gn.load_model(c.rewrite(config_change=lambda k: k["model"]["config"]["layers"][0].__setitem__(
            "class_name", "os.system"))),
        ("Valid names: Activation", "custom_objects="), "Unknown layer 'os.system'",
        ("bad.glassnet", "(in Sequential 'sequential')"), "glassnet/saving.py · lookup"),
    row("Weight entry holding a pickle or object array", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.__setitem__(
            "weights/00000.npy", _npy(np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)))),
        "is not a valid NumPy array file", "Object arrays cannot be loaded", "'weights/00000.npy'",
        "glassnet/io.py · _load_npy"),
    row("Weight of the wrong shape", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.__setitem__("weights/00000.npy",
                                                                    _npy(np.zeros((5, 8), np.float32))))),
        "has shape (4, 5)", "holds shape (5, 8)", ("Weight 'dense/kernel'", "weights/00000.npy"),
        "glassnet/io.py · restore_state"),
    row("NaN or inf weights in a model file", FileFormatError,
        lambda c: gn.load_model(c.rewrite(lambda e: e.__setitem__("weights/00000.npy",
                                                                    _npy(np.full((4, 5), np.nan, np.float32))))),
        "must be finite", ("holds 20 NaN or infinite value(s)", "pass allow_nonfinite=True to load_model"),
        ("Weight 'dense/kernel'", "weights/00000.npy"), "glassnet/io.py · _check_finite_weight"),
    row("Config asking for far more weights than the file holds", FileFormatError,
        lambda c: gn.load_model(c.rewrite(config_change=_set_layer(0, "units", 10 ** 9))),
        "more than", "(4000000000 values)", ("Layer 'dense'", "bad.glassnet"), "glassnet/layers/base.py · charge"),
    row("Config value of the wrong type", FileFormatError,
        lambda c: gn.load_model(c.rewrite(config_change=_set_layer(0, "units", "many"))),
        "invalid literal for int()", "'many'", ("bad.glassnet", "(in Dense 'dense' in Sequential 'sequential')"),
        "glassnet/io.py · load_model"),
    row("Config that rebuilds into a model that cannot run", FileFormatError,
        lambda c: gn.load_model(c.broken_functional()),
        "does not run on an input of its own shape", "takes 2 positional arguments but 3 were given",
        "bad_functional.glassnet", "glassnet/io.py · check_runs"),
    row("Bare Model class in a config", FileFormatError,
        lambda c: gn.model_from_json(json.dumps({"class_name": "Model", "config": {}})),
        "custom_objects={'MyModel': MyModel}", "a bare 'Model'", "from a config",
        "glassnet/models/model.py · from_config"),
    row("model_from_json on text that is not JSON", FileFormatError, lambda c: gn.model_from_json("{not json"),
        "not valid JSON", "Expecting property name", "model_from_json",
        "glassnet/models/__init__.py · model_from_json"),
    row("Checkpoint with an inconsistent training state", FileFormatError,
        lambda c: c.resume(c.checkpoint_dir(lambda t, e: t.__setitem__("step", "x"))),
        "must be a non-negative integer", "got 'x'", ("'step'", "checkpoint.glassnet"),
        "glassnet/checkpoint.py · load_checkpoint"),
    row("Checkpoint whose sample order does not fit the data", FileFormatError,
        lambda c: c.resume(c.checkpoint_dir(_bad_order)),
        "a permutation of the 40 training samples", "a sample order of 40 entries", "ckpt",
        "glassnet/models/model.py · fit"),
]


def _duplicate(c):
    """bad.glassnet: model.glassnet with a second 'config.json' entry."""
    import warnings

    path = c.folder / "bad.glassnet"
    entries = c.entries()
    with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, content in entries.items():
            archive.writestr(name, content)
        archive.writestr("config.json", entries["config.json"])
    return path


def _broken_functional(self):
    """bad_functional.glassnet: a saved functional model whose Concatenate node passes an extra argument."""
    path = self.folder / "functional.glassnet"
    inputs = gn.Input(shape=(3,))
    merged = layers.Concatenate()([inputs, layers.Dense(2)(inputs)])
    gn.Model(inputs, layers.Dense(1)(merged)).save(path)
    entries = _entries(path)
    header = json.loads(entries.pop("glassnet.json"))
    config = json.loads(entries["config.json"])
    nodes = config["model"]["config"]["nodes"]
    concat = next(i for i, node in enumerate(nodes) if node["layer"].startswith("concatenate"))
    nodes[concat]["args"] = [[]]  # Concatenate called with an argument it does not take
    entries["config.json"] = json.dumps(config).encode()
    header["sha256"] = {n: hashlib.sha256(c).hexdigest() for n, c in entries.items()}
    path = self.folder / "bad_functional.glassnet"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glassnet.json", json.dumps(header))
        for entry, content in entries.items():
            archive.writestr(entry, content)
    return path


def _resume(self, folder):
    return self.resume_model.fit(self.x, self.labels, epochs=2, batch_size=8, verbose=0, checkpoint_dir=folder,
                                 resume=True)


def _entries(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


Context.broken_functional = _broken_functional
Context.resume = _resume


# ====================================================================== the doc's table
def doc_rows() -> dict:
    """{situation: (exception, example message, where raised)} from the table in docs/errors.md."""
    rows = {}
    text = DOC.read_text(encoding="utf-8")
    assert "\n## The table\n" in text
    for line in text.split("\n## The table\n", 1)[1].splitlines():
        if not line.startswith("| ") or line.startswith("| situation") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        assert len(cells) == 4, line
        situation, exception, message, where = cells
        rows[situation] = (exception.strip("`"), message.strip("`"), where.replace("`", ""))
    return rows


def test_the_doc_lists_exactly_these_situations():
    assert DOC.exists(), "docs/errors.md is missing"
    documented = doc_rows()
    assert sorted(documented) == sorted(r.situation for r in ROWS)
    assert len({r.situation for r in ROWS}) == len(ROWS)


def _raise_site(error: BaseException) -> str:
    frame = traceback.extract_tb(error.__traceback__)[-1]
    path = pathlib.Path(frame.filename).resolve()
    relative = path.relative_to(PACKAGE.parent).as_posix() if PACKAGE in path.parents else path.name
    return f"{relative} · {frame.name}"


@pytest.fixture
def context(tmp_path):
    gn.clear_session()
    gn.set_seed(0)
    return Context(tmp_path)


@pytest.mark.parametrize("case", ROWS, ids=[r.situation for r in ROWS])
def test_row(case: Row, context):
    with pytest.raises(case.error) as info:
        case.trigger(context)
    error = info.value
    assert isinstance(error, GlassnetError) or case.error in (TypeError, FileNotFoundError)
    message = str(error)
    for part in ("expected", "received", "where"):
        for fragment in getattr(case, part):
            assert fragment in message, f"the message does not say {part} ({fragment!r}): {message}"
    assert _raise_site(error) == case.raised_in
    # the documented row says the same
    exception, example, where = doc_rows()[case.situation]
    assert exception == case.error.__name__
    assert where == case.raised_in
    for fragment in case.expected + case.received + case.where:
        assert fragment in example, f"docs/errors.md's example for {case.situation!r} lacks {fragment!r}"
