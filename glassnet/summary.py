"""``model.summary()``: the Keras 3 table of layers, output shapes and parameter counts."""

from __future__ import annotations

from .errors import NotBuiltError
from .layers.base import _shape_str


def format_bytes(n: int) -> str:
    """1,024-based sizes as Keras prints them: ``10.75 KB``."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _bytes_of(weights) -> int:
    return int(sum(w.data.nbytes for w in weights))


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return _shape_str(shape)


def layer_rows(model) -> list:
    """(name (type), output shape, params[, connected to]) for each layer of the model."""
    if hasattr(model, "output_shapes") and model.built:
        shapes = model.output_shapes()
    else:
        shapes = [getattr(layer, "_last_output_shape", None) for layer in model.layers]
    connections = getattr(model, "connections", None)
    rows = []
    for layer, shape in zip(model.layers, shapes):
        params = sum(w.size for w in layer.weights) if (layer.built or layer.weights) else 0
        row = [f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{params:,}"]
        if connections is not None:
            row.append(", ".join(connections(layer)) or "-")
        rows.append(row)
    return rows


def summary_text(model) -> str:
    """The Keras 3 layout; functional models get a fourth column, "Connected to"."""
    if not model.built:
        raise NotBuiltError(
            f"Model '{model.name}' has not been built yet, so it has no weights to summarise. Give the first layer "
            "an input shape (e.g. Input(shape=(8,)) or input_shape=(8,)), call model.build(...), or call the "
            "model on a batch of data first.")
    rows = layer_rows(model)
    headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(rows[0]) if rows else 3]
    minimum = [31, 22, 13, 20]
    widths = [max(minimum[i], max((len(r[i]) for r in rows), default=0) + 2) for i in range(len(headers))]
    widths[2] = 13

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values):
        parts = []
        for i, (value, width) in enumerate(zip(values, widths)):
            parts.append(f" {value:>{width}} " if i == 2 else f" {value:<{width}} ")
        return parts

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"),
           "┃" + "┃".join(cells(headers)) + "┃", line("┡", "╇", "┩", "━")]
    for i, values in enumerate(rows):
        out.append("│" + "│".join(cells(values)) + "│")
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    weights = model.weights
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    count = lambda ws: int(sum(w.size for w in ws))  # noqa: E731
    out.append(f" Total params: {count(weights):,} ({format_bytes(_bytes_of(weights))})")
    out.append(f" Trainable params: {count(trainable):,} ({format_bytes(_bytes_of(trainable))})")
    out.append(f" Non-trainable params: {count(non_trainable):,} ({format_bytes(_bytes_of(non_trainable))})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "variables", None):
        slots = [a for arrays in optimizer._slots.values() for a in arrays]
        n = int(sum(a.size for a in slots)) + 1
        out.append(f" Optimizer params: {n:,} ({format_bytes(int(sum(a.nbytes for a in slots)) + 8)})")
    return "\n".join(out)
