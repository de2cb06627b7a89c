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


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring letters each cost 1 (so 'adma' is 1 away from 'adam')."""
    previous2, previous = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def closest_names(name: str, valid: Iterable[str], n: int = 3) -> list:
    """Up to ``n`` valid names closest to ``name``: small edit distances first, then similar spellings."""
    key = str(name).strip().lower()
    valid = list(valid)
    limit = max(1, len(key) // 3)
    # the length difference is a lower bound of the distance: skipping hopeless names keeps a huge
    # name (e.g. from a hostile file) from costing seconds of quadratic work
    by_distance = sorted((edit_distance(key, v.lower()), v) for v in valid if abs(len(v) - len(key)) <= limit)
    close = [v for d, v in by_distance if d <= limit]
    for v in difflib.get_close_matches(key, [v.lower() for v in valid], n=n, cutoff=0.6):
        original = next(c for c in valid if c.lower() == v)
        if original not in close:
            close.append(original)
    return close[:n]


class UnknownNameError(GlassnetError, ValueError):
    """A string identifier (activation, loss, optimizer, ...) that glassnet does not know."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        valid = sorted(set(valid))
        close = closest_names(name, valid)
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
