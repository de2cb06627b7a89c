"""Saving and loading models: one zip file, no pickle, atomic writes, checked on the way in.

Layout of a ``.glassnet`` file (a zip)::

    glassnet.json        {"format": "glassnet-model", "format_version": 1, "glassnet_version": ...,
                          "sha256": {entry name: digest of its bytes}}
    config.json          {"model": {"class_name", "config"}, "build_config", "compile_config",
                          "weights": [paths], "optimizer": {"iterations", "slots": {name: count},
                          "scalars": {name: float}}}  (scalars, e.g. Nadam's momentum product, are
                          absent from files written before they existed; those still load)
    weights/00000.npy    each weight, in ``model.weights`` order (NumPy .npy, loaded with
    ...                  allow_pickle=False)
    optimizer/<slot>/00000.npy

Writing goes to a temporary file in the same folder, then ``os.replace`` — a crash never leaves
a half-written model where the old one was. Loading verifies the format, refuses files written by
a newer format version, checks every entry's SHA-256, and rebuilds objects only through
glassnet's registries (and ``custom_objects``), so a model file cannot run code.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from . import backend
from .errors import FileFormatError, GlassnetError, UnknownNameError
from .saving import context_of

FORMAT_NAME = "glassnet-model"
FORMAT_VERSION = 1
WEIGHTS_FORMAT_NAME = "glassnet-weights"


def atomic_write(path, write_fn) -> None:
    """Call ``write_fn(file_object)`` on a temporary file next to ``path``, then move it into place."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)  # (ascontiguousarray would make a scalar 1-D)
    return buffer.getvalue()


def _load_npy(raw: bytes, entry: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as error:  # ValueError for object arrays, others for corrupt headers
        raise FileFormatError(f"Entry {entry!r} is not a valid NumPy array file ({error}).") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise FileFormatError(f"Entry {entry!r} does not hold a numeric array.")
    return array


def _write_archive(path, entries: dict, format_name: str) -> None:
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in entries.items()}
    from . import __version__

    header = {"format": format_name, "format_version": FORMAT_VERSION, "glassnet_version": __version__,
              "sha256": digests}

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("glassnet.json", json.dumps(header, indent=1))
            for name, content in entries.items():
                archive.writestr(name, content)

    atomic_write(path, write)


# The entries each kind of archive may hold (besides glassnet.json). Anything else — a pickle, a
# path such as ``../x`` or ``/etc/x``, a duplicate name — makes the file refused before it is read.
ENTRY_PATTERNS = {
    FORMAT_NAME: re.compile(r"config\.json|weights/\d{5,}\.npy|optimizer/\w+/\d{5,}\.npy", re.ASCII),
    WEIGHTS_FORMAT_NAME: re.compile(r"weights\.json|weights/\d{5,}\.npy", re.ASCII),
    "glassnet-checkpoint": re.compile(r"training\.json|order\.npy|weights/\d{5,}\.npy|optimizer/\w+/\d{5,}\.npy",
                                      re.ASCII),
}
# glassnet writes uncompressed archives; a (re)compressed one may expand this much, not more (zip bombs).
MAX_EXPANSION = 100


def _read_archive(path, format_name: str) -> dict:
    """All entries of a glassnet archive, after format, version, layout, size and checksum checks."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}.")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if "glassnet.json" not in names:
                raise FileFormatError(f"{path!r} is not a glassnet file (it has no glassnet.json entry).")
            if len(set(names)) != len(names):
                repeated = sorted(n for n, count in collections.Counter(names).items() if count > 1)
                raise FileFormatError(f"{path!r} holds several entries named {repeated} (each name may appear "
                                      "only once); it was tampered with.")
            declared, size = sum(info.file_size for info in infos), os.path.getsize(path)
            if declared > MAX_EXPANSION * size + 2 ** 20:
                raise FileFormatError(f"{path!r} declares {declared} bytes of contents in a {size}-byte file; "
                                      "refusing it (glassnet writes uncompressed files; this looks like a zip bomb).")
            header = _parse_json(archive.read("glassnet.json"), "glassnet.json")
            _check_header(path, header, format_name)
            pattern = ENTRY_PATTERNS.get(format_name)
            unexpected = [n for n in names if n != "glassnet.json" and pattern is not None and not pattern.fullmatch(n)]
            if unexpected:
                raise FileFormatError(f"{path!r} holds unexpected entries {unexpected[:5]}: a {format_name!r} file "
                                      "holds only glassnet.json, JSON descriptions and .npy arrays; it was modified.")
            entries = {name: archive.read(name) for name in names if name != "glassnet.json"}
    except (FileFormatError, FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except zipfile.BadZipFile as error:  # not a zip, truncated, or an entry failing its CRC-32
        raise FileFormatError(f"{path!r} is not a glassnet model file, or it is truncated or corrupted: expected "
                              f"a readable zip archive, but zipfile reports: {error}.") from None
    except Exception as error:  # a damaged zip can raise almost anything: flag bits claiming encryption
        # (RuntimeError), unknown compression codes (NotImplementedError), zlib.error, struct.error,
        # MemoryError for a huge declared size...
        raise FileFormatError(f"{path!r} could not be read as a glassnet file, it is damaged "
                              f"({type(error).__name__}: {error}).") from None
    digests = header.get("sha256")
    if not isinstance(digests, dict) or set(digests) != set(entries):
        extra = sorted(set(entries) - set(digests if isinstance(digests, dict) else {}))
        missing = sorted(set(digests if isinstance(digests, dict) else {}) - set(entries))
        raise FileFormatError(f"{path!r} does not match its manifest (unexpected entries {extra}, "
                              f"missing entries {missing}); it was modified or damaged.")
    for name, content in entries.items():
        digest = hashlib.sha256(content).hexdigest()
        if digest != digests[name]:
            raise FileFormatError(f"{path!r}: entry {name!r} fails its checksum (the manifest expects SHA-256 "
                                  f"{str(digests[name])[:16]}..., the entry has {digest[:16]}...); the file is "
                                  "corrupted.")
    return entries


def _check_header(path: str, header, format_name: str) -> None:
    """glassnet.json names the expected format, with a version this glassnet can read."""
    if not isinstance(header, dict) or header.get("format") != format_name:
        found = header.get("format") if isinstance(header, dict) else None
        raise FileFormatError(f"{path!r} is a {found!r} file, not a {format_name!r} file.")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FileFormatError(f"{path!r} has no valid format_version (expected a positive integer, found "
                              f"{version!r}).")
    if version > FORMAT_VERSION:
        raise FileFormatError(f"{path!r} was written with format version {version} by glassnet "
                              f"{header.get('glassnet_version')}, newer than this glassnet understands "
                              f"(version {FORMAT_VERSION}). Upgrade glassnet to load it.")


def _parse_json(raw: bytes, entry: str):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise FileFormatError(f"Entry {entry!r} is not valid JSON ({error}).") from None


# ----------------------------------------------------------------- models
def state_entries(model, include_optimizer: bool = True) -> tuple:
    """The model's weights (and optimizer slots) as archive entries, plus their JSON description:
    ``({entry: bytes}, {"weights": [paths], "optimizer": {...} or None})``."""
    weights = model.weights
    entries = {f"weights/{i:05d}.npy": _npy_bytes(w.data) for i, w in enumerate(weights)}
    description = {"weights": [w.path for w in weights], "optimizer": None}
    optimizer = getattr(model, "optimizer", None)
    if model.compiled and include_optimizer and optimizer is not None and optimizer.variables:
        state = optimizer.get_state()
        index = {id(w): i for i, w in enumerate(weights)}
        if all(id(v) in index for v in optimizer.variables):
            description["optimizer"] = {"iterations": state["iterations"],
                                        "variables": [index[id(v)] for v in optimizer.variables],
                                        "slots": {name: len(arrays) for name, arrays in state["slots"].items()},
                                        "scalars": dict(state.get("scalars") or {})}
            for name, arrays in state["slots"].items():
                for i, array in enumerate(arrays):
                    entries[f"optimizer/{name}/{i:05d}.npy"] = _npy_bytes(array)
    return entries, description


def restore_state(model, entries: dict, description: dict, with_optimizer: bool = True,
                  allow_nonfinite: bool = False, load_call: str | None = "load_model") -> None:
    """Load what :func:`state_entries` wrote into an already built (and compiled) ``model``. NaN/inf
    weights are refused unless ``allow_nonfinite`` (``load_call``: the function offering that override,
    None where there is none)."""
    if not isinstance(description, dict):
        raise FileFormatError(f"The description of the saved state must be a JSON object, got "
                              f"{type(description).__name__}.")
    weights = model.weights
    stored = sorted(name for name in entries if name.startswith("weights/"))
    if len(stored) != len(weights):
        raise FileFormatError(f"The file holds {len(stored)} weight arrays but the model has {len(weights)} "
                              "weights: it was saved from a different architecture.")
    values = [_load_npy(entries[name], name) for name in stored]
    for weight, value, name in zip(weights, values, stored):
        if value.shape != weight.shape:
            raise FileFormatError(f"Weight {weight.path!r} has shape {weight.shape} but {name} holds shape "
                                  f"{value.shape}: the file was saved from a different architecture.")
        if not allow_nonfinite:
            _check_finite_weight(value, weight.path, name, load_call)
    for weight, value in zip(weights, values):
        weight.data[...] = value
    if with_optimizer and getattr(model, "optimizer", None) is not None:
        _restore_optimizer(model, description.get("optimizer"), entries, weights)


def _check_finite_weight(value: np.ndarray, path: str, entry: str, load_call: str | None) -> None:
    """FileFormatError when a float weight read from a file holds NaN or inf; the message names
    ``load_call``'s ``allow_nonfinite`` override when there is one."""
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = int(value.size - np.isfinite(value).sum())
        override = (f" To open it anyway (to inspect where it diverged), pass allow_nonfinite=True to {load_call}."
                    if load_call else "")
        raise FileFormatError(f"Weight {path!r} ({entry}) must be finite but holds {bad} NaN or infinite value(s) "
                              f"out of {value.size}: the model had diverged when it was saved, or the file was "
                              f"edited.{override}")


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to ``filepath``."""
    from . import layers

    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} exists and overwrite=False.")
    if not model.built:
        raise GlassnetError(f"Model '{model.name}' is not built yet; call it on data (or fit it) before saving.")
    entries, state = state_entries(model, include_optimizer)
    config = {"model": layers.serialize(model), "build_config": model.get_build_config(), **state,
              "compile_config": model.get_compile_config() if model.compiled else None}
    entries["config.json"] = json.dumps(config).encode("utf-8")
    _write_archive(filepath, entries, FORMAT_NAME)


def load_model(filepath, custom_objects=None, compile: bool = True, allow_nonfinite: bool = False):
    """Rebuild a model saved with ``model.save``; refuses corrupted, foreign or newer files, and weights
    holding NaN or inf unless ``allow_nonfinite=True`` (to open a diverged model for inspection)."""
    from . import layers
    from .layers.base import weight_budget
    from .models.model import Model

    entries = _read_archive(filepath, FORMAT_NAME)
    if "config.json" not in entries:
        raise FileFormatError(f"{os.fspath(filepath)!r} has no config.json entry.")
    config = _parse_json(entries["config.json"], "config.json")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise FileFormatError("config.json must hold an object with a 'model' description.")
    # Every weight is in the file, at least one byte per value: a config asking for much more than
    # that is refused as it builds, before it can allocate gigabytes.
    budget = 2 * sum(len(raw) for name, raw in entries.items() if name.startswith("weights/")) + 2 ** 20
    rng_state = backend.get_rng_state()  # initialising the weights we are about to overwrite must not
    try:                                  # disturb the global random stream (a resumed run stays identical)
        with weight_budget(budget, f"{os.fspath(filepath)!r}"):
            model = layers.deserialize(config["model"], custom_objects)
            if not isinstance(model, Model):
                raise FileFormatError(f"{os.fspath(filepath)!r} describes a {type(model).__name__}, not a model.")
            if not model.built and config.get("build_config"):
                model.build_from_config(config["build_config"])
    except UnknownNameError as error:
        raise _with_custom_object_hint(error, os.fspath(filepath)) from None
    except GlassnetError:
        raise
    except _CONFIG_ERRORS as error:
        raise FileFormatError(f"The model described in {os.fspath(filepath)!r} could not be rebuilt"
                              f"{context_of(error)}: {type(error).__name__}: {error}") from None
    finally:
        backend.set_rng_state(rng_state)
    restore_state(model, entries, config, with_optimizer=False, allow_nonfinite=allow_nonfinite)
    check_runs(model, repr(os.fspath(filepath)))
    if compile and config.get("compile_config"):
        try:
            model.compile_from_config(config["compile_config"], custom_objects)
        except UnknownNameError as error:
            raise _with_custom_object_hint(error, os.fspath(filepath)) from None
        except GlassnetError:
            raise
        except _CONFIG_ERRORS as error:
            raise FileFormatError(f"The compile settings in {os.fspath(filepath)!r} are invalid"
                                  f"{context_of(error)}: {type(error).__name__}: {error}") from None
        _restore_optimizer(model, config.get("optimizer"), entries, model.weights)
    return model


def check_runs(model, where: str) -> None:
    """Run the rebuilt ``model`` once on an all-zeros sample of its input shape (inference mode), so a
    config that rebuilds into a model that cannot run (e.g. a node calling a layer with arguments it
    does not take) is refused at load time rather than at the first ``predict``. Skipped when the
    input shape is unknown or has free axes besides the batch (a 1-pixel image may be legitimately
    too small for the model), and for models with stateful layers (the run would change their state)."""
    from .layers.base import _CallContext
    from .tensor import Tensor, no_grad
    from .training import flatten_structure, map_structure

    structure = getattr(model, "_input_structure", None)
    if structure is not None:
        specs = map_structure(lambda t: _Spec(t.shape, t.dtype), structure)
    elif getattr(model, "_build_input_shape", None) is not None:
        specs = _shape_specs(model._build_input_shape, model.dtype)
    else:
        return
    flat = flatten_structure(specs)
    if not flat or not all(isinstance(spec, _Spec) and spec.concrete for spec in flat):
        return
    if any(getattr(layer, "stateful", False) for layer in model._flatten_layers()):
        return
    saved = (_CallContext.training, _CallContext.depth, _CallContext.losses)
    try:
        inputs = map_structure(lambda spec: Tensor(np.zeros((1,) + spec.shape[1:], spec.dtype), dtype=spec.dtype),
                               specs)
        with no_grad(), np.errstate(all="ignore"):
            model(inputs, training=False)
    except (GlassnetError, NotImplementedError) + _CONFIG_ERRORS as error:
        raise FileFormatError(f"The model described in {where} does not run on an input of its own shape "
                              f"({type(error).__name__}: {error}); the file is damaged or was edited.") from None
    finally:
        _CallContext.training, _CallContext.depth, _CallContext.losses = saved


class _Spec:
    """The shape (batch axis first) and dtype of one model input."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype
        self.concrete = len(self.shape) >= 1 and all(isinstance(s, int) and s >= 0 for s in self.shape[1:])


def _shape_specs(shapes, dtype):
    """A :class:`_Spec` for each shape in ``shapes`` (a shape, or a list/dict of shapes)."""
    if isinstance(shapes, dict):
        return {k: _shape_specs(v, dtype) for k, v in shapes.items()}
    if isinstance(shapes, list) or (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], (list, tuple))):
        return [_shape_specs(s, dtype) for s in shapes]
    return _Spec(shapes, dtype)


# What rebuilding objects from a damaged or hostile config can raise (besides glassnet's own errors):
# wrong types, missing keys, absurd values (int(inf), 10**30 units), nesting deeper than the stack.
_CONFIG_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError, OverflowError,
                  MemoryError, ZeroDivisionError)


def _with_custom_object_hint(error: UnknownNameError, where: str) -> UnknownNameError:
    """The same error, saying where it was found and how to make a custom class or function loadable."""
    error.args = (f"{error.args[0] if error.args else error} Found in {where!r}{context_of(error)}. "
                  f"If {error.name!r} is your own {error.kind}, pass "
                  f"custom_objects={{{error.name!r}: ...}} to load_model, or decorate it with "
                  "@glassnet.saving.register_serializable().",)
    return error


def _restore_optimizer(model, optimizer_config, entries, weights) -> None:
    if not optimizer_config:
        return
    try:
        indices = optimizer_config["variables"]
        if not isinstance(indices, list) or not all(type(i) is int and 0 <= i < len(weights) for i in indices) \
                or len(set(indices)) != len(indices):
            raise FileFormatError(f"The optimizer state in the file names variables {indices!r:.200}; expected "
                                  f"distinct weight indices in 0..{len(weights) - 1}.")
        variables = [weights[i] for i in indices]
        slots = {}
        for name, count in optimizer_config["slots"].items():
            slots[name] = [_load_npy(entries[f"optimizer/{name}/{i:05d}.npy"], name) for i in range(int(count))]
        scalars = optimizer_config.get("scalars") or {}  # files written before scalars existed have none
        if not isinstance(scalars, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in scalars.values()):
            raise FileFormatError(f"The optimizer scalars in the file must map names to numbers, got {scalars!r}.")
        model.optimizer.build(variables)
        model.optimizer.set_state({"iterations": int(optimizer_config["iterations"]), "slots": slots,
                                   "scalars": scalars})
    except FileFormatError:
        raise
    except _CONFIG_ERRORS as error:
        raise FileFormatError(f"The optimizer state in the file is inconsistent: {type(error).__name__}: "
                              f"{error}") from None


# ----------------------------------------------------------------- weights only
def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write only the weights (in ``model.weights`` order)."""
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} exists and overwrite=False.")
    if not model.built:
        raise GlassnetError(f"Model '{model.name}' is not built yet, so it has no weights to save; call it on "
                            "data (or fit it) first.")
    weights = model.weights
    entries = {f"weights/{i:05d}.npy": _npy_bytes(w.data) for i, w in enumerate(weights)}
    entries["weights.json"] = json.dumps({"weights": [w.path for w in weights],
                                          "shapes": [list(w.shape) for w in weights]}).encode("utf-8")
    _write_archive(filepath, entries, WEIGHTS_FORMAT_NAME)


def load_weights(model, filepath, allow_nonfinite: bool = False) -> None:
    """Load weights written by ``save_weights`` (or the weights of a full model file); NaN/inf weights
    are refused unless ``allow_nonfinite=True``."""
    try:
        entries = _read_archive(filepath, WEIGHTS_FORMAT_NAME)
    except FileFormatError as error:
        if "glassnet-model" not in str(error):
            raise
        entries = _read_archive(filepath, FORMAT_NAME)
    if not model.built:
        raise GlassnetError(f"Model '{model.name}' must be built before load_weights (call it on data first).")
    stored = sorted(name for name in entries if name.startswith("weights/"))
    values = [_load_npy(entries[name], name) for name in stored]
    if not allow_nonfinite and len(values) == len(model.weights):  # a count mismatch: set_weights says so
        for weight, value, name in zip(model.weights, values, stored):
            _check_finite_weight(value, weight.path, name, "load_weights")
    model.set_weights(values)
