"""glassnet's exceptions. Every refusal says what was expected, what was received, and where.

Each class also derives from the built-in exception a Keras or NumPy user would catch
(``ValueError``, ``KeyError``...), so existing ``except`` clauses keep working.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class GlassnetError(Exception):
    """Base class of every error glassnet raises on purpose."""


class ShapeError(GlassnetError, ValueError):
    """An array has the wrong shape or rank for where it was used."""


class InputError(GlassnetError, ValueError):
    """Bad data given to ``fit``/``evaluate``/``predict`` or a loss (NaN, wrong labels, empty...)."""


class UnknownNameError(GlassnetError, ValueError):
    """A string identifier (activation, loss, optimizer, ...) that glassnet does not know."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        valid = sorted(set(valid))
        close = difflib.get_close_matches(str(name).lower(), valid, n=3, cutoff=0.5)
        message = f"Unknown {kind} {name!r}."
        if close:
            message += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        message += " Valid names: " + ", ".join(valid) + "."
        super().__init__(message)
        self.kind, self.name, self.suggestions = kind, name, close


class FileFormatError(GlassnetError, ValueError):
    """A model or checkpoint file that is truncated, corrupted, foreign or from a newer glassnet."""


class NotBuiltError(GlassnetError, RuntimeError):
    """Something needs weights that have not been created yet."""


class GradcheckError(GlassnetError, AssertionError):
    """Analytic and numerical gradients disagree."""
