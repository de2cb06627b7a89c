"""Names and configs: how every glassnet object is looked up by a string and rebuilt from JSON.

Each kind of object (activation, loss, optimizer, layer...) has a :class:`Registry` that maps
Keras-style names to the one definition of that object. ``serialize`` turns an object into a
JSON-able value, ``deserialize`` rebuilds it — only ever from a registered name, never by
importing a module named in a file, so loading a config cannot run foreign code.

User classes and functions become loadable with ``@glassnet.saving.register_serializable()``
or by passing ``custom_objects={"Name": obj}`` to the loader.
"""

from __future__ import annotations

import contextlib
import inspect
import reprlib
from typing import Any, Callable, Iterable

from .errors import FileFormatError, UnknownNameError

_CUSTOM_OBJECTS: dict[str, Any] = {}
_SCOPE_STACK: list[dict] = []


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable:
    """Decorator registering a custom class or function under ``package>name`` (and ``name``)."""

    def decorator(obj):
        key = name or obj.__name__
        _CUSTOM_OBJECTS[f"{package}>{key}"] = obj
        _CUSTOM_OBJECTS[key] = obj
        obj._glassnet_registered_name = f"{package}>{key}"
        return obj

    return decorator


# Keras spelling.
register_keras_serializable = register_serializable


@contextlib.contextmanager
def custom_object_scope(objects: dict):
    """Within this block, the names in ``objects`` resolve to those objects when loading."""
    _SCOPE_STACK.append(dict(objects or {}))
    try:
        yield
    finally:
        _SCOPE_STACK.pop()


CustomObjectScope = custom_object_scope


def get_custom_objects() -> dict:
    """The global dict of registered custom objects (as in Keras)."""
    return _CUSTOM_OBJECTS


def _custom_lookup(name: str, custom_objects: dict | None):
    for table in ([custom_objects] if custom_objects else []) + list(reversed(_SCOPE_STACK)) + [_CUSTOM_OBJECTS]:
        if name in table:
            return table[name]
    return None


class Registry:
    """Maps names (case-insensitive for snake_case strings, exact for class names) to objects."""

    def __init__(self, kind: str):
        self.kind = kind
        self._objects: dict[str, Any] = {}

    def register(self, *names: str) -> Callable:
        def decorator(obj):
            for n in names or (obj.__name__,):
                self._objects[n] = obj
            if inspect.isclass(obj):
                self._objects.setdefault(obj.__name__, obj)
            return obj

        return decorator

    def add(self, name: str, obj) -> None:
        self._objects[name] = obj

    def names(self) -> list[str]:
        return sorted(self._objects)

    def __contains__(self, name: str) -> bool:
        return name in self._objects or name.lower() in self._objects

    def lookup(self, name: str, custom_objects: dict | None = None):
        """The object registered as ``name``; a custom object; or UnknownNameError with suggestions."""
        if not isinstance(name, str):
            raise TypeError(f"Expected a {self.kind} name (str), got {type(name).__name__}.")
        found = _custom_lookup(name, custom_objects)
        if found is not None:
            return found
        if name in self._objects:
            return self._objects[name]
        if name.lower() in self._objects:
            return self._objects[name.lower()]
        raise UnknownNameError(self.kind, name, self._snake_names())

    def _snake_names(self) -> Iterable[str]:
        return [n for n in self._objects if n == n.lower()] or list(self._objects)

    def name_of(self, obj) -> str | None:
        """A registered name for ``obj`` (the first registered one), if any."""
        registered = getattr(obj, "_glassnet_registered_name", None)
        if registered:
            return registered
        for n, candidate in self._objects.items():
            if candidate is obj:
                return n
        return None


def serialize(obj, registry: Registry | None = None):
    """A JSON-able description: a name for functions, ``{"class_name", "config"}`` for objects."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or (callable(obj) and not hasattr(obj, "get_config")
                                                             and not inspect.isclass(obj)):
        name = registry.name_of(obj) if registry is not None else getattr(obj, "_glassnet_registered_name", None)
        if name is None:
            name = getattr(obj, "_glassnet_registered_name", None)
        if name is None:
            raise ValueError(
                f"Cannot serialize the function {getattr(obj, '__name__', obj)!r}: register it with "
                "@glassnet.saving.register_serializable() so it can be saved and loaded by name."
            )
        return name
    if hasattr(obj, "get_config"):
        cls = type(obj)
        class_name = getattr(cls, "_glassnet_registered_name", None) or cls.__name__
        return {"class_name": class_name, "config": obj.get_config()}
    raise ValueError(f"Cannot serialize {obj!r} of type {type(obj).__name__}.")


def deserialize(config, registry: Registry, custom_objects: dict | None = None):
    """Rebuild what :func:`serialize` produced. Names resolve only through registries."""
    if config is None:
        return None
    if isinstance(config, str):
        obj = registry.lookup(config, custom_objects)
        return obj
    if isinstance(config, dict):
        if "class_name" not in config:
            raise FileFormatError(f"A {registry.kind} config must have a 'class_name' key, got keys {sorted(config)}.")
        cls = registry.lookup(config["class_name"], custom_objects)
        inner = config.get("config", {}) or {}
        if not isinstance(inner, dict):
            raise FileFormatError(f"The config of {config['class_name']!r} must be a JSON object, got "
                                  f"{type(inner).__name__}.")
        try:
            if hasattr(cls, "from_config"):
                if _accepts_custom_objects(cls):
                    return cls.from_config(dict(inner), custom_objects=custom_objects)
                return cls.from_config(dict(inner))
            if inspect.isclass(cls):
                return cls(**inner)
            return cls
        except Exception as error:  # remember where it happened (the type and message stay as they are)
            name = inner.get("name")
            add_context(error, f"{config['class_name']}" + (f" {name!r}" if isinstance(name, str) else ""))
            raise
    raise FileFormatError(f"Cannot rebuild a {registry.kind} from {type(config).__name__} "
                          f"{reprlib.repr(config)}.")


def add_context(error: BaseException, where: str) -> None:
    """Record that ``error`` happened while rebuilding ``where`` (innermost first)."""
    try:
        error.__dict__.setdefault("_glassnet_context", []).append(where)
    except AttributeError:  # an exception type without a __dict__
        pass


def context_of(error: BaseException) -> str:
    """Where a rebuild failed, e.g. " (in Dense 'dense' in Sequential 'model')", or ""."""
    context = getattr(error, "_glassnet_context", None)
    return f" (in {' in '.join(context)})" if context else ""


def _accepts_custom_objects(cls) -> bool:
    try:
        return "custom_objects" in inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        return False
