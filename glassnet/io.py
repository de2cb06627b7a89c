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

import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from . import backend
from .errors import FileFormatError, GlassnetError, UnknownNameError

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
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
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


def _read_archive(path, format_name: str) -> dict:
    """All entries of a glassnet archive, after format, version and checksum checks."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}.")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "glassnet.json" not in names:
                raise FileFormatError(f"{path!r} is not a glassnet file (it has no glassnet.json entry).")
            entries = {name: archive.read(name) for name in names}
    except (FileFormatError, FileNotFoundError, PermissionError, IsADirectoryError, MemoryError):
        raise
    except zipfile.BadZipFile:
        raise FileFormatError(f"{path!r} is not a glassnet model file, or it is truncated or corrupted "
                              "(not a readable zip archive).") from None
    except Exception as error:  # a damaged zip can raise almost anything: flag bits claiming encryption
        # (RuntimeError), unknown compression codes (NotImplementedError), zlib.error, struct.error...
        raise FileFormatError(f"{path!r} could not be read as a glassnet file, it is damaged "
                              f"({type(error).__name__}: {error}).") from None
    header = _parse_json(entries.pop("glassnet.json"), "glassnet.json")
    if not isinstance(header, dict) or header.get("format") != format_name:
        found = header.get("format") if isinstance(header, dict) else None
        raise FileFormatError(f"{path!r} is a {found!r} file, not a {format_name!r} file.")
    version = header.get("format_version")
    if not isinstance(version, int):
        raise FileFormatError(f"{path!r} has no valid format_version.")
    if version > FORMAT_VERSION:
        raise FileFormatError(f"{path!r} was written with format version {version} by glassnet "
                              f"{header.get('glassnet_version')}, newer than this glassnet understands "
                              f"(version {FORMAT_VERSION}). Upgrade glassnet to load it.")
    digests = header.get("sha256")
    if not isinstance(digests, dict) or set(digests) != set(entries):
        extra = sorted(set(entries) - set(digests or {}))
        missing = sorted(set(digests or {}) - set(entries))
        raise FileFormatError(f"{path!r} does not match its manifest (unexpected entries {extra}, "
                              f"missing entries {missing}); it was modified or damaged.")
    for name, content in entries.items():
        if hashlib.sha256(content).hexdigest() != digests[name]:
            raise FileFormatError(f"{path!r}: entry {name!r} fails its checksum; the file is corrupted.")
    return entries


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


def restore_state(model, entries: dict, description: dict, with_optimizer: bool = True) -> None:
    """Load what :func:`state_entries` wrote into an already built (and compiled) ``model``."""
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
    for weight, value in zip(weights, values):
        weight.data[...] = value
    if with_optimizer and getattr(model, "optimizer", None) is not None:
        _restore_optimizer(model, description.get("optimizer"), entries, weights)


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


def load_model(filepath, custom_objects=None, compile: bool = True):
    """Rebuild a model saved with ``model.save``; refuses corrupted, foreign or newer files."""
    from . import layers

    entries = _read_archive(filepath, FORMAT_NAME)
    if "config.json" not in entries:
        raise FileFormatError(f"{os.fspath(filepath)!r} has no config.json entry.")
    config = _parse_json(entries["config.json"], "config.json")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise FileFormatError("config.json must hold an object with a 'model' description.")
    rng_state = backend.get_rng_state()  # initialising the weights we are about to overwrite must not
    try:                                  # disturb the global random stream (a resumed run stays identical)
        model = layers.deserialize(config["model"], custom_objects)
        if not model.built and config.get("build_config"):
            model.build_from_config(config["build_config"])
    except UnknownNameError as error:
        raise _with_custom_object_hint(error) from None
    except GlassnetError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as error:
        raise FileFormatError(f"The model described in {os.fspath(filepath)!r} could not be rebuilt: "
                              f"{type(error).__name__}: {error}") from None
    finally:
        backend.set_rng_state(rng_state)
    restore_state(model, entries, config, with_optimizer=False)
    if compile and config.get("compile_config"):
        try:
            model.compile_from_config(config["compile_config"], custom_objects)
        except UnknownNameError as error:
            raise _with_custom_object_hint(error) from None
        except GlassnetError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise FileFormatError(f"The compile settings in {os.fspath(filepath)!r} are invalid: {error}") from None
        _restore_optimizer(model, config.get("optimizer"), entries, model.weights)
    return model


def _with_custom_object_hint(error: UnknownNameError) -> UnknownNameError:
    """The same error, telling how to make a custom class or function loadable."""
    error.args = (f"{error.args[0] if error.args else error} If {error.name!r} is your own {error.kind}, pass "
                  f"custom_objects={{{error.name!r}: ...}} to load_model, or decorate it with "
                  "@glassnet.saving.register_serializable().",)
    return error


def _restore_optimizer(model, optimizer_config, entries, weights) -> None:
    if not optimizer_config:
        return
    try:
        variables = [weights[i] for i in optimizer_config["variables"]]
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
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise FileFormatError(f"The optimizer state in the file is inconsistent: {error}") from None


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


def load_weights(model, filepath) -> None:
    """Load weights written by ``save_weights`` (or the weights of a full model file)."""
    try:
        entries = _read_archive(filepath, WEIGHTS_FORMAT_NAME)
    except FileFormatError as error:
        if "glassnet-model" not in str(error):
            raise
        entries = _read_archive(filepath, FORMAT_NAME)
    if not model.built:
        raise GlassnetError(f"Model '{model.name}' must be built before load_weights (call it on data first).")
    stored = sorted(name for name in entries if name.startswith("weights/"))
    model.set_weights([_load_npy(entries[name], name) for name in stored])
