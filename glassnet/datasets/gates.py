"""Truth tables of the two-input logic gates — the perceptron's classic toy problems.

Every gate uses the same inputs, in this order::

    X = [[0, 0],
         [0, 1],
         [1, 0],
         [1, 1]]

=====  ============  =============================================
name   y             linearly separable?
=====  ============  =============================================
and    [0, 0, 0, 1]  yes
or     [0, 1, 1, 1]  yes
nand   [1, 1, 1, 0]  yes
nor    [1, 0, 0, 0]  yes
xor    [0, 1, 1, 0]  no — a single perceptron can never learn it
xnor   [1, 0, 0, 1]  no
=====  ============  =============================================
"""

from __future__ import annotations

import numpy as np

from ..errors import UnknownNameError

_INPUTS = ((0, 0), (0, 1), (1, 0), (1, 1))

TRUTH_TABLES: dict[str, tuple[int, int, int, int]] = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
    "xnor": (1, 0, 0, 1),
}


def gate_names() -> list[str]:
    """The names :func:`logic_gate` accepts."""
    return sorted(TRUTH_TABLES)


def logic_gate(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of the gate ``name``: X float32 of shape (4, 2), y float32 of shape (4,).

    >>> X, y = logic_gate("xor")
    >>> y
    array([0., 1., 1., 0.], dtype=float32)
    """
    key = str(name).lower()
    if key not in TRUTH_TABLES:
        raise UnknownNameError("logic gate", name, TRUTH_TABLES)
    X = np.array(_INPUTS, dtype=np.float32)
    y = np.array(TRUTH_TABLES[key], dtype=np.float32)
    return X, y
